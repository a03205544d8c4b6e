"""The fused bias + activation family (``bias_sigmoid``, ``bias_sigmoid_vjp``, ``bias_relu_vjp``, and
the ``column_sum`` their VJPs finish with). Sigmoid: forward ``H = sigmoid(Z + b)`` and VJP ``dZ = g*H*(1-H)``,
``db = dZ.sum(0)``. ReLU (whose forward is the matmul epilogue): VJP ``dZ = (Y <= 0 ? 0 : g)`` and
``db = dZ.sum(0)`` in the same pass, ``bias_relu_vjp``.

Z is (M, N) C-contiguous, b is (N,) broadcast over rows.

Launch shape, for both directions: 256 threads as 32 columns x 8 rows. A warp covers 32
consecutive columns of one row (coalesced), each thread keeps its column's bias (or its
partial column sum) in a register and walks rows with a grid stride, so there is no integer
division per element. Sigmoid uses ``e = exp(-|x|)`` and ``1/(1+e)`` or ``e/(1+e)``, which
never overflows (|x| of 1e4 in float32 gives exactly 0 or 1, no inf/nan).

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

#: ``numba.cuda``, bound on first build (a module global so the simulator can swap it).
cuda = None


def _build_forward(dtype: str):
    global cuda
    import numba
    cuda = L.numba_cuda()
    nbt = getattr(numba, dtype)
    ONE = nbt(1)
    ZERO = nbt(0)

    def bias_sigmoid_kernel(z, b, h, M, N):
        col = cuda.blockIdx.x * COLS + cuda.threadIdx.x
        if col < N:  # no barrier in this kernel, so an early exit is safe
            bc = b[col]
            row = cuda.blockIdx.y * ROWS + cuda.threadIdx.y
            step = cuda.gridDim.y * ROWS
            while row < M:
                x = z[row, col] + bc
                e = math.exp(-abs(x))
                r = ONE / (ONE + e)
                h[row, col] = r if x >= ZERO else e * r
                row += step

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

    def bias_activation_vjp_kernel(g, h, dz, partial, M, N):
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        col = cuda.blockIdx.x * COLS + tx
        s = ZERO
        if col < N:  # no early return: every thread must reach the barrier below
            row = cuda.blockIdx.y * ROWS + ty
            step = cuda.gridDim.y * ROWS
            while row < M:
                hv = h[row, col]
                if RELU:
                    d = ZERO if hv <= ZERO else g[row, col]   # as PyTorch: NaN passes g
                else:
                    d = g[row, col] * hv * (ONE - hv)
                dz[row, col] = d
                s += d
                row += step
        red = cuda.shared.array(SMEM, nbt)
        red[ty, tx] = s
        cuda.syncthreads()
        if ty == 0 and col < N:
            for r in range(1, ROWS):
                s += red[r, tx]
            partial[cuda.blockIdx.y, col] = s

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
            f"void({m}, {v}, {m}, int64, int64)", THREADS, min_blocks_per_sm=MIN_BLOCKS_PER_SM),
        "bias_sigmoid_vjp": L.KernelSpec(
            "bias_sigmoid_vjp", dtype, lambda: _build_vjp(dtype, "sigmoid"),
            f"void({m}, {m}, {m}, {m}, int64, int64)", THREADS, min_blocks_per_sm=MIN_BLOCKS_PER_SM),
        "bias_relu_vjp": L.KernelSpec(
            "bias_relu_vjp", dtype, lambda: _build_vjp(dtype, "relu"),
            f"void({m}, {m}, {m}, {m}, int64, int64)", THREADS, min_blocks_per_sm=MIN_BLOCKS_PER_SM),
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
    return gx, max(1, min(-(-M // ROWS), -(-target // gx)))


def _check_2d(name, arg, x, shape=None):
    if x.ndim != 2 or (shape is not None and tuple(x.shape) != tuple(shape)):
        want = f"shape {tuple(shape)}" if shape is not None else "a 2-D (M, N) array"
        raise ValueError(f"gpugrad.kernels.{name}: '{arg}' must be {want}, got {L._describe(x)}.")
    L.check_contiguous(name, arg, x)


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
            kernel[_grid(xp, M, N), (COLS, ROWS), L.launch_stream(xp)](z, b, out, M, N)
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
        L.jit_kernel(specs[name])[(gx, gy), (COLS, ROWS), stream](g, h, dz, partial, M, N)
        if gy > 1:
            blocks = -(-N // THREADS)
            L.jit_kernel(specs["column_sum"])[blocks, THREADS, stream](partial, db, gy, N)
    return dz, db
