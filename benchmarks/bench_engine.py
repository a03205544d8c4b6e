"""Engine overhead on the CPU: a thin wrapper of ``gpugrad bench engine`` (see gpugrad/bench/engine.py
and benchmarks/README.md for the method).

    python benchmarks/bench_engine.py [--quick] [--threads N] [--out DIR] [--profile chain|mlp]
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv=None) -> int:
    from gpugrad.bench.cli import main as bench_main
    argv = list(sys.argv[1:] if argv is None else argv)
    return bench_main(["engine", *argv])


if __name__ == "__main__":
    sys.exit(main())
