"""Epochs of `gpugrad train`'s default model on the CPU: a thin wrapper of ``gpugrad bench train-cpu``
(see gpugrad/bench/train_cpu.py and benchmarks/README.md for the method).

    python benchmarks/bench_train_cpu.py [--epochs 15] [--threads 1] [--out DIR]
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv=None) -> int:
    from gpugrad.bench.cli import main as bench_main
    argv = list(sys.argv[1:] if argv is None else argv)
    return bench_main(["train-cpu", *argv])


if __name__ == "__main__":
    sys.exit(main())
