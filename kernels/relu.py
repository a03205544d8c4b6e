"""ReLU forward ``y = max(x, 0)`` and VJP ``dx = g * (x > 0)``.

Contract: inputs of any shape, C-contiguous (they are processed as their flat view; a
non-contiguous input raises ValueError rather than being copied behind the caller's back).
Grid-stride loops, so any size works with a grid sized to fill the GPU. Each trip of a thread
reads UNROLL elements of every input (``i + u*THREADS``: coalesced) before it writes any output,
so the loads are in flight together whether or not ``out`` aliases an input; an ``out`` that *is*
an input (same array) is therefore safe: every element is read before it is written, by the one
thread that writes it. 32-bit indexing: fewer than 2**31 elements.

NaN handling: ``relu(nan) = nan`` (like ``numpy.maximum`` and PyTorch); ``relu_vjp`` passes
``g`` where ``x > 0`` and writes 0 elsewhere (so a NaN ``x`` gives 0).
"""
from __future__ import annotations

import numpy as np

from . import _launch as L

THREADS = 256
BLOCKS_PER_SM = 16  # grid cap on a GPU: enough resident warps to saturate HBM
#: Elements per thread per trip of the grid-stride loop: all of a trip's loads are issued before
#: its first store, so a warp has UNROLL (relu) or 2*UNROLL (relu_vjp) loads in flight.
UNROLL = 4
#: Inputs are indexed in 32 bits (no 64-bit IMAD chains, no negative-index wraparound).
MAX_ELEMENTS = 2 ** 31 - 1

#: ``numba.cuda``, bound on first build (a module global so the simulator can swap it).
cuda = None
u32 = np.uint32


def _build_forward(dtype: str):
    global cuda
    import numba
    cuda = L.numba_cuda()
    nbt = getattr(numba, dtype)
    ZERO = nbt(0)
    U, T = UNROLL, THREADS

    def relu_kernel(x, y, n):
        v = cuda.local.array(U, nbt)
        i = u32(u32(cuda.blockIdx.x) * u32(T * U) + u32(cuda.threadIdx.x))
        stride = u32(u32(cuda.gridDim.x) * u32(T * U))
        while u32(i + u32((U - 1) * T)) < n:   # whole trips: U loads, then U stores
            for u in range(U):
                v[u] = x[u32(i + u32(u * T))]
            for u in range(U):
                w = v[u]
                y[u32(i + u32(u * T))] = ZERO if w < ZERO else w  # NaN fails `w < 0` and passes
            i = u32(i + stride)
        for u in range(U):                      # the last, partial trip
            j = u32(i + u32(u * T))
            if j < n:
                w = x[j]
                y[j] = ZERO if w < ZERO else w

    return relu_kernel


def _build_vjp(dtype: str):
    global cuda
    import numba
    cuda = L.numba_cuda()
    nbt = getattr(numba, dtype)
    ZERO = nbt(0)
    U, T = UNROLL, THREADS

    def relu_vjp_kernel(g, x, dx, n):
        vg = cuda.local.array(U, nbt)
        vx = cuda.local.array(U, nbt)
        i = u32(u32(cuda.blockIdx.x) * u32(T * U) + u32(cuda.threadIdx.x))
        stride = u32(u32(cuda.gridDim.x) * u32(T * U))
        while u32(i + u32((U - 1) * T)) < n:
            for u in range(U):
                vx[u] = x[u32(i + u32(u * T))]
                vg[u] = g[u32(i + u32(u * T))]
            for u in range(U):   # PyTorch's threshold_backward: x <= 0 ? 0 : g (NaN x passes g)
                dx[u32(i + u32(u * T))] = ZERO if vx[u] <= ZERO else vg[u]
            i = u32(i + stride)
        for u in range(U):
            j = u32(i + u32(u * T))
            if j < n:
                dx[j] = ZERO if x[j] <= ZERO else g[j]

    return relu_vjp_kernel


def _specs(dtype: str):
    v = f"{dtype}[::1]"
    return {
        "relu": L.KernelSpec("relu", dtype, lambda: _build_forward(dtype),
                             f"void({v}, {v}, uint32)", THREADS, min_blocks_per_sm=BLOCKS_PER_SM // 2,
                             meta=dict(kind="elementwise", elements_per_trip=UNROLL)),
        "relu_vjp": L.KernelSpec("relu_vjp", dtype, lambda: _build_vjp(dtype),
                                 f"void({v}, {v}, {v}, uint32)", THREADS, min_blocks_per_sm=BLOCKS_PER_SM // 2,
                                 meta=dict(kind="elementwise", elements_per_trip=UNROLL)),
    }


_SPECS = {dt: _specs(dt) for dt in ("float32", "float64")}


@L.register
def _all_specs():
    return [s for d in _SPECS.values() for s in d.values()]


def _launch(name, xp, n, *arrays):
    kernel = L.jit_kernel(_SPECS[arrays[0].dtype.name][name])
    if n > MAX_ELEMENTS:
        raise ValueError(
            f"gpugrad.kernels.{name}: {n} elements ({L._describe(arrays[0])}) is more than 2**31-1; the "
            f"kernel indexes in 32 bits. Use gpugrad.set_kernels(relu='cupy') for this size.")
    blocks = L.cap_blocks(xp, -(-n // (THREADS * UNROLL)), L.sm_count(xp) * BLOCKS_PER_SM)
    with L.device_guard(xp, arrays[0]):
        kernel[blocks, THREADS, L.launch_stream(xp)](*[a.reshape(-1) for a in arrays], np.uint32(n))


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
