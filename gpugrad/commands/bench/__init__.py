"""``gpugrad bench``: benchmarks as a library and a command.

* ``kernels`` (GPU only): each hand-written kernel against cuBLAS / CuPy, against the device's
  measured ceilings (copy bandwidth, cuBLAS peak), with a roofline plot.
* ``mlp``: full MLP training steps, gpugrad against PyTorch eager from the same initial weights,
  losses checked, peak GPU memory, per kernel policy (and as a CUDA graph) on a GPU.

Modules: ``timing`` (timers, medians, L2 rotation), ``report`` (table, JSON, plots, environment),
``kernels``, ``mlp``, ``cli`` (``add_bench_parser``, ``run_bench``). Importing this package imports
neither CuPy, Numba, PyTorch nor matplotlib.

    python -m gpugrad.commands.bench mlp --quick --out results/
"""
from .cli import add_bench_parser, run_bench

__all__ = ["add_bench_parser", "run_bench"]
