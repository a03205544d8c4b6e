"""ReLU forward ``y = max(x, 0)`` and VJP ``dx = g * (x > 0)``.

Contract: inputs of any shape, C-contiguous (they are processed as their flat view; a
non-contiguous input raises ValueError rather than being copied behind the caller's back).
Grid-stride loops, so any size works with a grid sized to fill the GPU.

NaN handling: ``relu(nan) = nan`` (like ``numpy.maximum`` and PyTorch); ``relu_vjp`` passes
``g`` where ``x > 0`` and writes 0 elsewhere (so a NaN ``x`` gives 0).
"""
from __future__ import annotations

import numpy as np

from . import _launch as L

THREADS = 256
BLOCKS_PER_SM = 16  # grid cap on a GPU: enough resident warps to saturate HBM

#: ``numba.cuda``, bound on first build (a module global so the simulator can swap it).
cuda = None


def _build_forward(dtype: str):
    global cuda
    import numba
    cuda = L.numba_cuda()
    ZERO = getattr(numba, dtype)(0)

    def relu_kernel(x, y, n):
        i = cuda.grid(1)
        stride = cuda.gridsize(1)
        while i < n:
            v = x[i]
            y[i] = ZERO if v < ZERO else v  # NaN fails `v < 0` and passes through
            i += stride

    return relu_kernel


def _build_vjp(dtype: str):
    global cuda
    import numba
    cuda = L.numba_cuda()
    ZERO = getattr(numba, dtype)(0)

    def relu_vjp_kernel(g, x, dx, n):
        i = cuda.grid(1)
        stride = cuda.gridsize(1)
        while i < n:
            dx[i] = ZERO if x[i] <= ZERO else g[i]   # PyTorch's threshold_backward: NaN passes g
            i += stride

    return relu_vjp_kernel


def _specs(dtype: str):
    v = f"{dtype}[::1]"
    return {
        "relu": L.KernelSpec("relu", dtype, lambda: _build_forward(dtype),
                             f"void({v}, {v}, int64)", THREADS, min_blocks_per_sm=BLOCKS_PER_SM // 2),
        "relu_vjp": L.KernelSpec("relu_vjp", dtype, lambda: _build_vjp(dtype),
                                 f"void({v}, {v}, {v}, int64)", THREADS, min_blocks_per_sm=BLOCKS_PER_SM // 2),
    }


_SPECS = {dt: _specs(dt) for dt in ("float32", "float64")}


@L.register
def _all_specs():
    return [s for d in _SPECS.values() for s in d.values()]


def _launch(name, xp, n, *arrays):
    kernel = L.jit_kernel(_SPECS[arrays[0].dtype.name][name])
    blocks = L.cap_blocks(xp, -(-n // THREADS), L.sm_count(xp) * BLOCKS_PER_SM)
    with L.device_guard(xp, arrays[0]):
        kernel[blocks, THREADS, L.launch_stream(xp)](*[a.reshape(-1) for a in arrays], n)


def relu(x, *, out=None):
    """``max(x, 0)`` elementwise, for any-shape C-contiguous float32/float64 ``x``."""
    xp = L.array_module("relu", x)
    dt = L.check_dtype("relu", x)
    L.check_contiguous("relu", "x", x)
    out = L.check_out("relu", out, x.shape, dt, xp)
    if x.size:
        _launch("relu", xp, x.size, x, out)
    return out


def relu_vjp(g, x, *, out=None):
    """``g * (x > 0)``: the gradient of ``relu`` at ``x`` given upstream gradient ``g``."""
    xp = L.array_module("relu_vjp", g, x)
    dt = L.check_dtype("relu_vjp", g, x)
    if tuple(g.shape) != tuple(x.shape):
        raise ValueError(
            f"gpugrad.kernels.relu_vjp: g and x must have the same shape, got g {tuple(g.shape)} "
            f"and x {tuple(x.shape)}.")
    L.check_contiguous("relu_vjp", "g", g)
    L.check_contiguous("relu_vjp", "x", x)
    out = L.check_out("relu_vjp", out, x.shape, dt, xp)
    if x.size:
        _launch("relu_vjp", xp, x.size, g, x, out)
    return out
