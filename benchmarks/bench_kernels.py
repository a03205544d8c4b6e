"""Benchmark gpugrad's hand-written kernels against their vendor counterparts (GPU only).

    python benchmarks/bench_kernels.py [--json results.json] [--quick] [--repeats N] [--out DIR]

A thin wrapper: the benchmark lives in ``gpugrad.bench.kernels`` and is the same as
``gpugrad bench kernels`` / ``python -m gpugrad.bench kernels`` (see that module for what is
measured and how: matmul vs cuBLAS FP32 and TF32, the elementwise kernels vs CuPy, copy bandwidth
and cuBLAS peak as ceilings, CUDA events, L2 rotation, roofline plot).

Exits with status 2 and one line when no GPU is present. Importing this module needs neither
CuPy nor a GPU.
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv=None) -> int:
    from gpugrad.bench.cli import main as bench_main
    argv = list(sys.argv[1:] if argv is None else argv)
    return bench_main(["kernels", *argv])


if __name__ == "__main__":
    sys.exit(main())
