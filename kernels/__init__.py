"""Hand-written Numba CUDA kernels (installed as gpugrad.kernels)."""
