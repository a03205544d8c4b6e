"""Tiled matrix multiply: C = op(A) @ op(B) (+ bias over columns) (ReLU).

``op(X)`` is X or X^T, read in place: the VJP layouts dA = G @ B^T and dB = A^T @ G need no
transposed copies.

The kernel, per thread block of 256 threads:

* a BM x BN output tile (128x128 for float32, 128x64 for float64, 64x64 for grids that
  would leave SMs idle), each thread holding a TM x TN register tile (8x8, 8x4 or 4x4) whose rows are ``ty + 16*i`` and
  columns ``tx + 16*j``: strided, so that a warp reading one k-slice of shared memory reads 16
  consecutive words (plus a broadcast), which is bank-conflict free with scalar loads;
* the K dimension in steps of BK=8, double-buffered: the next tile is loaded from global
  memory into registers before the current one is consumed from shared memory, then stored
  into the other buffer, one ``syncthreads`` per step;
* both operands stored in shared memory k-major (``As[k, m]``, ``Bs[k, n]``), padded by 4
  words per row so that the transposing store of a row-major operand is conflict free too.

Ragged edges are guarded (zero-filled loads, masked stores); when M, N and K are tile
multiples a separately compiled variant drops every guard.
"""
from __future__ import annotations

import numpy as np

from . import _launch as L

#: (BM, BN, BK, TM, TN): block tile, K step, per-thread register tile. 256 threads each.
TILE_CONFIGS = {
    "128x128": (128, 128, 8, 8, 8),
    "128x64": (128, 64, 8, 8, 4),
    "64x64": (64, 64, 8, 4, 4),
}
#: per dtype: (large tile, small tile for grids that can't fill the SMs). float64 can't hold
#: an 8x8 register tile (128 registers of accumulators alone) without spilling, so its large
#: tile is 128x64 with 8x4 per thread.
DTYPE_CONFIGS = {
    "float32": ("128x128", "64x64"),
    "float64": ("128x64", "64x64"),
}
#: resident blocks per SM each config is designed for; the resource test holds registers to
#: 65536 / (256 * this).
MIN_BLOCKS_PER_SM = {"128x128": 1, "128x64": 1, "64x64": 2}
PAD = 4
THREADS = 256

#: ``numba.cuda``, bound on first build. A module global rather than a local on purpose: the
#: simulator swaps in its fake ``cuda`` module by rewriting the kernel's globals.
cuda = None

_LAYOUTS = {(False, False): "nn", (True, False): "tn", (False, True): "nt", (True, True): "tt"}


def _signature(dtype: str) -> str:
    arr2 = f"{dtype}[:, ::1]"
    return f"void({arr2}, {arr2}, {arr2}, {dtype}[::1], int64, int64, int64, int32, int32)"


def _build(dtype: str, trans_a: bool, trans_b: bool, config: str, even: bool):
    """Return the plain Python kernel for one (dtype, layout, tile, guard) variant."""
    global cuda
    import numba
    cuda = L.numba_cuda()

    nbt = getattr(numba, dtype)
    BM, BN, BK, TM, TN = TILE_CONFIGS[config]
    TX = BN // TN  # threads along n; also the column stride of a thread's register tile
    TY = BM // TM  # threads along m; also the row stride
    assert TX * TY == THREADS
    A_LOADS = BM * BK // THREADS
    B_LOADS = BN * BK // THREADS
    assert A_LOADS * THREADS == BM * BK and B_LOADS * THREADS == BN * BK
    TRANS_A, TRANS_B, EVEN = trans_a, trans_b, even
    ZERO = nbt(0)
    SA = (2, BK, BM + PAD)  # shared-memory shapes must be compile-time constants
    SB = (2, BK, BN + PAD)

    # Element e of a tile -> (k, m) inside the tile, chosen so that consecutive threads
    # read consecutive addresses of the operand as it is stored in global memory.
    @cuda.jit(device=True, inline="always", **L.JIT_OPTIONS)
    def load_a(a, ra, t, m0, k0, M, K):
        for i in range(A_LOADS):
            e = t + i * THREADS
            if TRANS_A:   # a is (K, M)
                kk = e // BM
                mm = e % BM
            else:         # a is (M, K)
                mm = e // BK
                kk = e % BK
            gm = m0 + mm
            gk = k0 + kk
            if EVEN:
                v = a[gk, gm] if TRANS_A else a[gm, gk]
            elif gm < M and gk < K:
                v = a[gk, gm] if TRANS_A else a[gm, gk]
            else:
                v = ZERO
            ra[i] = v

    @cuda.jit(device=True, inline="always", **L.JIT_OPTIONS)
    def load_b(b, rb, t, n0, k0, N, K):
        for i in range(B_LOADS):
            e = t + i * THREADS
            if TRANS_B:   # b is (N, K)
                nn = e // BK
                kk = e % BK
            else:         # b is (K, N)
                kk = e // BN
                nn = e % BN
            gn = n0 + nn
            gk = k0 + kk
            if EVEN:
                v = b[gn, gk] if TRANS_B else b[gk, gn]
            elif gn < N and gk < K:
                v = b[gn, gk] if TRANS_B else b[gk, gn]
            else:
                v = ZERO
            rb[i] = v

    @cuda.jit(device=True, inline="always", **L.JIT_OPTIONS)
    def store_tiles(As, Bs, ra, rb, buf, t):
        for i in range(A_LOADS):
            e = t + i * THREADS
            if TRANS_A:
                As[buf, e // BM, e % BM] = ra[i]
            else:
                As[buf, e % BK, e // BK] = ra[i]
        for i in range(B_LOADS):
            e = t + i * THREADS
            if TRANS_B:
                Bs[buf, e % BK, e // BK] = rb[i]
            else:
                Bs[buf, e // BN, e % BN] = rb[i]

    def matmul_kernel(a, b, c, bias, M, N, K, has_bias, do_relu):
        As = cuda.shared.array(SA, nbt)
        Bs = cuda.shared.array(SB, nbt)
        acc = cuda.local.array((TM, TN), nbt)
        fa = cuda.local.array(TM, nbt)
        fb = cuda.local.array(TN, nbt)
        ra = cuda.local.array(A_LOADS, nbt)
        rb = cuda.local.array(B_LOADS, nbt)

        t = cuda.threadIdx.x
        tx = t % TX
        ty = t // TX
        m0 = cuda.blockIdx.y * BM
        n0 = cuda.blockIdx.x * BN

        for i in range(TM):
            for j in range(TN):
                acc[i, j] = ZERO

        ntiles = (K + BK - 1) // BK
        load_a(a, ra, t, m0, 0, M, K)
        load_b(b, rb, t, n0, 0, N, K)
        for kt in range(ntiles):
            buf = kt & 1
            store_tiles(As, Bs, ra, rb, buf, t)
            cuda.syncthreads()
            if kt + 1 < ntiles:  # prefetch the next K step while this one computes
                load_a(a, ra, t, m0, (kt + 1) * BK, M, K)
                load_b(b, rb, t, n0, (kt + 1) * BK, N, K)
            for k in range(BK):
                for i in range(TM):
                    fa[i] = As[buf, k, ty + i * TY]
                for j in range(TN):
                    fb[j] = Bs[buf, k, tx + j * TX]
                for i in range(TM):
                    for j in range(TN):
                        acc[i, j] += fa[i] * fb[j]
            # No second barrier: the next step writes the other buffer, and the one after
            # that is behind the next step's barrier.

        for j in range(TN):  # this thread's bias values, reusing the fragment registers
            gn = n0 + tx + j * TX
            fb[j] = bias[gn] if has_bias and (EVEN or gn < N) else ZERO
        for i in range(TM):
            gm = m0 + ty + i * TY
            for j in range(TN):
                gn = n0 + tx + j * TX
                if EVEN or (gm < M and gn < N):
                    v = acc[i, j] + fb[j]
                    if do_relu and v < ZERO:
                        v = ZERO
                    c[gm, gn] = v

    matmul_kernel.__name__ = f"matmul_{_LAYOUTS[(trans_a, trans_b)]}_{config}_{'even' if even else 'ragged'}_{dtype}"
    return matmul_kernel


def _spec(dtype, trans_a, trans_b, config, even) -> L.KernelSpec:
    name = f"matmul_{_LAYOUTS[(trans_a, trans_b)]}_{config}_{'even' if even else 'ragged'}"
    return L.KernelSpec(
        name=name, dtype=dtype,
        build=lambda: _build(dtype, trans_a, trans_b, config, even),
        signature=_signature(dtype), threads_per_block=THREADS,
        min_blocks_per_sm=MIN_BLOCKS_PER_SM[config],
        meta=dict(config=TILE_CONFIGS[config], trans_a=trans_a, trans_b=trans_b, even=even))


@L.register
def _all_specs():
    return [_spec(dt, ta, tb, cfg, even)
            for dt, cfgs in DTYPE_CONFIGS.items()
            for (ta, tb) in _LAYOUTS
            for cfg in cfgs
            for even in (False, True)]


_spec_cache: dict = {}


def choose_config(M: int, N: int, dtype="float32", sms: int = L.DEFAULT_SM_COUNT) -> str:
    """Tile config for an (M, N) output: the large tile unless its grid has fewer blocks than
    the GPU has SMs (one resident block per SM at this register count), then the small one."""
    large, small = DTYPE_CONFIGS[np.dtype(dtype).name]
    BM, BN = TILE_CONFIGS[large][:2]
    blocks = -(-M // BM) * -(-N // BN)
    return large if blocks >= sms else small


def _normalise(kernel, x, trans, name):
    """Return (C-contiguous array, trans): an F-contiguous x is read as x.T, flag flipped."""
    if x.ndim != 2:
        raise ValueError(f"gpugrad.kernels.{kernel}: '{name}' must be 2-D, got {L._describe(x)}.")
    if x.flags.c_contiguous:
        return x, trans
    if x.flags.f_contiguous:
        return x.T, not trans
    L.check_contiguous(kernel, name, x)  # raises
    return x, trans


def matmul(a, b, *, trans_a=False, trans_b=False, bias=None, relu=False, out=None, config=None):
    """``op(a) @ op(b)``, optionally ``+ bias[None, :]`` then ReLU, in one launch.

    ``op(x)`` is ``x.T`` when the matching ``trans_*`` flag is set; the transposed operand is
    read in place. ``a``/``b`` may be C- or F-contiguous (an F-contiguous array is read as the
    transpose of a C-contiguous one, no copy); other strides raise ValueError. ``config``
    forces a tile config (one of ``DTYPE_CONFIGS[dtype]``); by default ``choose_config`` picks.

    >>> import numpy as np                       # doctest: +SKIP (needs GPU or simulator)
    >>> matmul(np.ones((2, 3), np.float32), np.ones((3, 4), np.float32)).shape
    (2, 4)
    """
    name = "matmul"
    arrays = [a, b] + ([bias] if bias is not None else [])
    xp = L.array_module(name, *arrays)
    dt = L.check_dtype(name, *arrays)
    a, ta = _normalise(name, a, bool(trans_a), "a")
    b, tb = _normalise(name, b, bool(trans_b), "b")
    M, Ka = (a.shape[1], a.shape[0]) if ta else a.shape
    Kb, N = (b.shape[1], b.shape[0]) if tb else b.shape
    if Ka != Kb:
        raise ValueError(
            f"gpugrad.kernels.{name}: inner dimensions differ: op(a) is ({M}, {Ka}) "
            f"[a {tuple(a.shape)}, trans_a={ta}], op(b) is ({Kb}, {N}) [b {tuple(b.shape)}, "
            f"trans_b={tb}]. Check the operand order or the trans flags.")
    K = Ka
    if bias is not None:
        if bias.ndim != 1 or bias.shape[0] != N:
            raise ValueError(
                f"gpugrad.kernels.{name}: bias must have shape ({N},) to broadcast over the "
                f"columns of the ({M}, {N}) output, got {L._describe(bias)}.")
        L.check_contiguous(name, "bias", bias)
    if config is not None and config not in DTYPE_CONFIGS[dt.name]:
        raise ValueError(f"gpugrad.kernels.{name}: config for {dt.name} must be one of "
                         f"{DTYPE_CONFIGS[dt.name]}, got {config!r}.")
    out = L.check_out(name, out, (M, N), dt, xp)
    if M == 0 or N == 0:
        return out
    if K == 0:  # empty sum: zeros, then the epilogue
        out[...] = 0
        if bias is not None:
            out += bias[None, :]
        if relu:
            xp.maximum(out, 0, out=out)
        return out

    with L.device_guard(xp, a):
        cfg = config or choose_config(M, N, dt, L.sm_count(xp))
        BM, BN, BK, _, _ = TILE_CONFIGS[cfg]
        even = M % BM == 0 and N % BN == 0 and K % BK == 0
        key = (dt.name, ta, tb, cfg, even)
        spec = _spec_cache.get(key)
        if spec is None:
            spec = _spec_cache[key] = _spec(*key)
        kernel = L.jit_kernel(spec)
        bias_arg = bias if bias is not None else L.dummy_vector(xp, dt)
        grid = (-(-N // BN), -(-M // BM))
        kernel[grid, THREADS, L.launch_stream(xp)](
            a, b, out, bias_arg, M, N, K, np.int32(bias is not None), np.int32(bool(relu)))
    return out
