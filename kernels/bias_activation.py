"""The fused bias + activation family (``bias_sigmoid``, ``bias_sigmoid_vjp``, ``bias_relu_vjp``, and
the ``column_sum`` their VJPs finish with). Sigmoid: forward ``H = sigmoid(Z + b)`` and VJP ``dZ = g*H*(1-H)``,
``db = dZ.sum(0)``. ReLU (whose forward is the matmul epilogue): VJP ``dZ = (Y <= 0 ? 0 : g)`` and
``db = dZ.sum(0)`` in the same pass, ``bias_relu_vjp``.

Z is (M, N) C-contiguous, b is (N,) broadcast over rows.

Launch shape, for both directions: 256 threads as 32 columns x 8 rows. A warp covers 32
consecutive columns of one row (coalesced), each thread keeps its column's bias (or its
partial column sum) in a register and walks rows with a grid stride, so there is no integer
division per element. Each trip of the row loop reads UNROLL rows of every input before it writes
any output (4 loads per input in flight per thread, whatever ``out`` aliases), with 32-bit flat
offsets (fewer than 2**31 elements). Sigmoid uses ``e = exp(-|x|)`` and ``1/(1+e)`` or ``e/(1+e)``,
which never overflows (|x| of 1e4 in float32 gives exactly 0 or 1, no inf/nan); in float32 the
reciprocal is MUFU.RCP plus one Newton step (``_reciprocal``: no IEEE-division slow path, within
2 ulp of the IEEE formula, tests/kernels/test_sigmoid_ulp.py).

The VJP reduces db deterministically, without atomics: each block sums its threads' column
partials through shared memory into one row of a (grid_rows, N) scratch array; a second tiny
kernel sums that scratch over rows in a fixed order (skipped when grid_rows == 1).
"""
from __future__ import annotations

import math

import numpy as np

from . import _launch as L

COLS = 32        # threads along columns (one warp)
ROWS = 8         # threads along rows
THREADS = COLS * ROWS
BLOCKS_PER_SM = 8     # grid target on a GPU
MIN_BLOCKS_PER_SM = 6  # occupancy the register budget is checked against (float64 needs ~36)
#: Rows per thread per trip of the row loop: all of a trip's loads are issued before its first
#: store, so a warp has UNROLL (forward) or 2*UNROLL (VJP) loads in flight.
UNROLL = 4
#: 32-bit indexing: arrays of fewer than 2**31 elements.
MAX_ELEMENTS = 2 ** 31 - 1

#: ``numba.cuda``, bound on first build (a module global so the simulator can swap it).
cuda = None
u32 = np.uint32


def _reciprocal(nbt):
    """``1/d`` for d in [1, 2] without the IEEE division's slow path: the approximate reciprocal
    (``div.approx``: MUFU.RCP) refined by one Newton step, r + r*(1 - d*r), two FFMA. Error after
    the step is below 1 ulp for d in [1, 2] (the step squares the approximation's relative error,
    ~2**-22, and adds the rounding of the two FFMA). float64 keeps IEEE division (its MUFU.RCP64H
    seed would need two steps). Under the simulator: an exact float32 division, the seed the
    Newton step then refines (see tests/kernels/test_sigmoid_ulp.py for the error bound)."""
    ONE = nbt(1)
    if L.simulator_enabled() or nbt.bitwidth == 64:
        def rcp(d):
            return ONE / d
        return rcp if L.simulator_enabled() else cuda.jit(device=True, inline="always", **L.JIT_OPTIONS)(rcp)
    from numba.cuda import libdevice

    @cuda.jit(device=True, inline="always", **L.JIT_OPTIONS)
    def rcp(d):
        r = libdevice.fast_fdividef(ONE, d)
        return r + r * (ONE - d * r)
    return rcp


def _build_forward(dtype: str):
    global cuda
    import numba
    cuda = L.numba_cuda()
    nbt = getattr(numba, dtype)
    ONE = nbt(1)
    ZERO = nbt(0)
    U = UNROLL
    rcp = _reciprocal(nbt)

    def bias_sigmoid_kernel(z, b, h, M, N):
        v = cuda.local.array(U, nbt)
        col = u32(u32(cuda.blockIdx.x) * u32(COLS) + u32(cuda.threadIdx.x))
        if col < N:  # no barrier in this kernel, so an early exit is safe
            bc = b[col]
            row = u32(u32(cuda.blockIdx.y) * u32(ROWS) + u32(cuda.threadIdx.y))
            step = u32(u32(cuda.gridDim.y) * u32(ROWS))
            off = u32(u32(row * N) + col)
            doff = u32(step * N)              # offset between a thread's consecutive rows
            while u32(row + u32((U - 1)) * step) < M:   # whole trips: U loads, then U stores
                for u in range(U):
                    v[u] = z[u32(off + u32(u * doff))]
                for u in range(U):
                    x = v[u] + bc
                    e = math.exp(-abs(x))
                    r = rcp(ONE + e)
                    h[u32(off + u32(u * doff))] = r if x >= ZERO else e * r
                row = u32(row + u32(U * step))
                off = u32(off + u32(U * doff))
            while row < M:                    # the last, partial trip
                x = z[off] + bc
                e = math.exp(-abs(x))
                r = rcp(ONE + e)
                h[off] = r if x >= ZERO else e * r
                row = u32(row + step)
                off = u32(off + doff)

    return bias_sigmoid_kernel


def _build_vjp(dtype: str, activation: str = "sigmoid"):
    global cuda
    import numba
    cuda = L.numba_cuda()
    nbt = getattr(numba, dtype)
    ONE = nbt(1)
    ZERO = nbt(0)
    SMEM = (ROWS, COLS)
    RELU = activation == "relu"   # a compile-time constant: each variant keeps one branch
    U = UNROLL

    def bias_activation_vjp_kernel(g, h, dz, partial, M, N):
        vg = cuda.local.array(U, nbt)
        vh = cuda.local.array(U, nbt)
        tx = u32(cuda.threadIdx.x)
        ty = u32(cuda.threadIdx.y)
        col = u32(u32(cuda.blockIdx.x) * u32(COLS) + tx)
        s = ZERO
        if col < N:  # no early return: every thread must reach the barrier below
            row = u32(u32(cuda.blockIdx.y) * u32(ROWS) + ty)
            step = u32(u32(cuda.gridDim.y) * u32(ROWS))
            off = u32(u32(row * N) + col)
            doff = u32(step * N)
            while u32(row + u32((U - 1)) * step) < M:
                for u in range(U):
                    vh[u] = h[u32(off + u32(u * doff))]
                    vg[u] = g[u32(off + u32(u * doff))]
                for u in range(U):   # rows in order: the same sum on every run
                    hv = vh[u]
                    if RELU:
                        d = ZERO if hv <= ZERO else vg[u]   # as PyTorch: NaN passes g
                    else:
                        d = vg[u] * hv * (ONE - hv)
                    dz[u32(off + u32(u * doff))] = d
                    s += d
                row = u32(row + u32(U * step))
                off = u32(off + u32(U * doff))
            while row < M:
                hv = h[off]
                if RELU:
                    d = ZERO if hv <= ZERO else g[off]
                else:
                    d = g[off] * hv * (ONE - hv)
                dz[off] = d
                s += d
                row = u32(row + step)
                off = u32(off + doff)
        red = cuda.shared.array(SMEM, nbt)
        red[ty, tx] = s
        cuda.syncthreads()
        if ty == u32(0) and col < N:
            for r in range(1, ROWS):
                s += red[r, tx]
            partial[u32(u32(u32(cuda.blockIdx.y) * N) + col)] = s

    return bias_activation_vjp_kernel


def _build_colsum(dtype: str):
    global cuda
    import numba
    cuda = L.numba_cuda()
    ZERO = getattr(numba, dtype)(0)

    def column_sum_kernel(partial, out, R, N):
        col = cuda.grid(1)
        if col < N:
            s = ZERO
            for r in range(R):
                s += partial[r, col]
            out[col] = s

    return column_sum_kernel


def _specs(dtype: str):
    m, v = f"{dtype}[:, ::1]", f"{dtype}[::1]"
    return {
        "bias_sigmoid": L.KernelSpec(
            "bias_sigmoid", dtype, lambda: _build_forward(dtype),
            f"void({v}, {v}, {v}, uint32, uint32)", THREADS, min_blocks_per_sm=MIN_BLOCKS_PER_SM,
            meta=dict(kind="elementwise", elements_per_trip=UNROLL)),
        "bias_sigmoid_vjp": L.KernelSpec(
            "bias_sigmoid_vjp", dtype, lambda: _build_vjp(dtype, "sigmoid"),
            f"void({v}, {v}, {v}, {v}, uint32, uint32)", THREADS, min_blocks_per_sm=MIN_BLOCKS_PER_SM,
            meta=dict(kind="elementwise", elements_per_trip=UNROLL)),
        "bias_relu_vjp": L.KernelSpec(
            "bias_relu_vjp", dtype, lambda: _build_vjp(dtype, "relu"),
            f"void({v}, {v}, {v}, {v}, uint32, uint32)", THREADS, min_blocks_per_sm=MIN_BLOCKS_PER_SM,
            meta=dict(kind="elementwise", elements_per_trip=UNROLL)),
        "column_sum": L.KernelSpec(
            "column_sum", dtype, lambda: _build_colsum(dtype),
            f"void({m}, {v}, int64, int64)", THREADS, min_blocks_per_sm=MIN_BLOCKS_PER_SM),
    }


_SPECS = {dt: _specs(dt) for dt in ("float32", "float64")}


@L.register
def _all_specs():
    return [s for d in _SPECS.values() for s in d.values()]


def _grid(xp, M, N):
    gx = -(-N // COLS)
    if xp is np:  # simulator: at most 2 blocks in total; the row loop covers the rest
        return gx, max(1, min(-(-M // ROWS), 2 // gx))
    target = L.sm_count(xp) * BLOCKS_PER_SM
    return gx, max(1, min(-(-M // (ROWS * UNROLL)), -(-target // gx)))


def _check_2d(name, arg, x, shape=None):
    if x.ndim != 2 or (shape is not None and tuple(x.shape) != tuple(shape)):
        want = f"shape {tuple(shape)}" if shape is not None else "a 2-D (M, N) array"
        raise ValueError(f"gpugrad.kernels.{name}: '{arg}' must be {want}, got {L._describe(x)}.")
    L.check_contiguous(name, arg, x)
    if x.size > MAX_ELEMENTS:
        raise ValueError(
            f"gpugrad.kernels.{name}: '{arg}' ({L._describe(x)}) has more than 2**31-1 elements; the kernel "
            f"indexes in 32 bits. Use gpugrad.set_kernels(bias_sigmoid='cupy') (relu='cupy') for this size.")


def bias_sigmoid(z, b, *, out=None):
    """``sigmoid(z + b[None, :])`` for z (M, N) and b (N,), overflow-free for any |z|."""
    name = "bias_sigmoid"
    xp = L.array_module(name, z, b)
    dt = L.check_dtype(name, z, b)
    _check_2d(name, "z", z)
    M, N = z.shape
    if b.ndim != 1 or b.shape[0] != N:
        raise ValueError(
            f"gpugrad.kernels.{name}: b must have shape ({N},) to broadcast over the rows of z "
            f"{tuple(z.shape)}, got {L._describe(b)}.")
    L.check_contiguous(name, "b", b)
    out = L.check_out(name, out, (M, N), dt, xp)
    if M and N:
        kernel = L.jit_kernel(_SPECS[dt.name][name])
        with L.device_guard(xp, z):
            kernel[_grid(xp, M, N), (COLS, ROWS), L.launch_stream(xp)](
                z.reshape(-1), b, out.reshape(-1), np.uint32(M), np.uint32(N))
    return out


def bias_sigmoid_vjp(g, h):
    """Gradients of ``h = bias_sigmoid(z, b)``: returns ``(dz, db)`` with ``dz = g*h*(1-h)``
    (M, N) and ``db = dz.sum(axis=0)`` (N,)."""
    return _bias_activation_vjp("bias_sigmoid_vjp", g, h)


def bias_relu_vjp(g, y):
    """Gradients of ``y = relu(z + b)`` (b over rows) from the output ``y``: returns ``(dz, db)``
    with ``dz = (y <= 0 ? 0 : g)`` (M, N) and ``db = dz.sum(axis=0)`` (N,), in one pass over g."""
    return _bias_activation_vjp("bias_relu_vjp", g, y)


def _bias_activation_vjp(name, g, h):
    xp = L.array_module(name, g, h)
    dt = L.check_dtype(name, g, h)
    _check_2d(name, "h", h)
    _check_2d(name, "g", g, h.shape)
    M, N = h.shape
    dz = xp.empty((M, N), dtype=dt)
    db = xp.empty((N,), dtype=dt)
    if N == 0:
        return dz, db
    if M == 0:
        db[...] = 0
        return dz, db
    gx, gy = _grid(xp, M, N)
    partial = db.reshape(1, N) if gy == 1 else xp.empty((gy, N), dtype=dt)
    specs = _SPECS[dt.name]
    with L.device_guard(xp, h):
        stream = L.launch_stream(xp)
        L.jit_kernel(specs[name])[(gx, gy), (COLS, ROWS), stream](
            g.reshape(-1), h.reshape(-1), dz.reshape(-1), partial.reshape(-1), np.uint32(M), np.uint32(N))
        if gy > 1:
            blocks = -(-N // THREADS)
            L.jit_kernel(specs["column_sum"])[blocks, THREADS, stream](partial, db, gy, N)
    return dz, db
