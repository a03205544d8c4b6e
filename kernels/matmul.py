"""Tiled matrix multiply: C = op(A) @ op(B) (+ bias over columns) (ReLU), optionally split over K.

``op(X)`` is X or X^T, read in place: the VJP layouts dA = G @ B^T and dB = A^T @ G need no
transposed copies.

The kernel, per thread block (256 or 128 threads):

* a BM x BN output tile (``TILE_CONFIGS``), each thread holding a TM x TN register tile made of
  4 x 4 groups: rows ``g*4*TY + 4*ty + q`` and columns ``h*4*TX + 4*tx + p``. Four consecutive
  words per group is what lets NVVM read a k-slice of shared memory with 128-bit loads
  (``LDS.128``; the arrays are declared 16-byte aligned and every group offset is a multiple of
  4); a warp's 32 lanes then read 2 x 64 distinct words per load (16 lanes x 16 bytes, plus a
  broadcast), which is one shared-memory wavefront per quarter warp: no bank conflicts;
* the K dimension in steps of BK, double-buffered: the next tile is loaded from global memory into
  registers before the current one is consumed from shared memory, then stored into the other
  buffer, one ``syncthreads`` per step;
* the BK k-steps of a tile written out, not looped: Numba's CUDA target has no unroll pragma and no
  ``literal_unroll``, and NVVM keeps a loop over 8 k-steps rolled (its body is 64 FFMA + 16 LDS),
  which recomputes the shared-memory addresses per step; ``_unrolled_tile`` generates the device
  function that calls the k-step BK times with literal k, so every address is a register base
  (hoisted once per K tile) plus an immediate;
* 32-bit unsigned index arithmetic throughout (``u32``): no 64-bit IMAD chains, and no Python
  negative-index wraparound (Numba emits it for signed indices; an unsigned one can't be negative).
  The wrapper checks that every operand has fewer than 2**31 elements;
* both operands stored in shared memory k-major (``As[k, m]``, ``Bs[k, n]``, flat 1-D), padded by
  4 words per row so that the transposing store of a row-major operand is conflict free too.

Split-K (``gridDim.z = S > 1``): block z sums only its K range ``[z*kchunk, (z+1)*kchunk)`` into
slice z of a float (S, M, N) workspace, without the epilogue; ``splitk_reduce`` then sums the S
slices in order (deterministic: the same bits on every run) and applies bias and ReLU. It is what
fills a GPU on the skinny GEMMs of a small MLP (M = batch, N = a layer width).

Ragged edges are guarded (zero-filled loads, masked stores); when M, N and K are tile
multiples a separately compiled variant drops every guard.

Global loads stay 32-bit (``LDG.E``): an operand row starts 16-byte aligned only when its length is a
multiple of 4, which a kernel compiled once per layout cannot assume, and Numba has no way to assert
alignment to NVVM for a kernel argument.
"""
from __future__ import annotations

import numpy as np

from . import _launch as L

#: (BM, BN, BK, TM, TN, threads): block tile, K step, per-thread register tile, block size.
TILE_CONFIGS = {
    "128x128": (128, 128, 8, 8, 8, 256),
    "128x64": (128, 64, 8, 8, 4, 256),
    # the small tile: 64 threads of 8x8 (float32), so the FFMA share stays >= 80% at a quarter of
    # the large tile's work per block
    "64x64": (64, 64, 16, 8, 8, 64),
}
#: float64 variants of a config where the float32 one would spill (8x8 doubles are 128 registers)
F64_TILE_CONFIGS = {"64x64": (64, 64, 16, 8, 4, 128)}


def tile_config(config: str, dtype) -> tuple:
    """(BM, BN, BK, TM, TN, threads) of ``config`` for ``dtype``."""
    if np.dtype(dtype).name == "float64" and config in F64_TILE_CONFIGS:
        return F64_TILE_CONFIGS[config]
    return TILE_CONFIGS[config]
#: per dtype: (large tile, small tile for grids that can't fill the SMs). float64 can't hold
#: an 8x8 register tile (128 registers of accumulators alone) without spilling, so its large
#: tile is 128x64 with 8x4 per thread.
DTYPE_CONFIGS = {
    "float32": ("128x128", "64x64"),
    "float64": ("128x64", "64x64"),
}
#: resident blocks per SM each config is designed for; the resource test holds registers to
#: 65536 / (threads * this).
MIN_BLOCKS_PER_SM = {"128x128": 1, "128x64": 1, "64x64": 4}
#: float64 variants' occupancy where it differs: the 64x64 tile's 128 threads of 8x4 doubles take
#: ~160 registers (20K per block), so 3 blocks per SM (a budget of 170).
F64_MIN_BLOCKS_PER_SM = {"64x64": 3}
PAD = 4
#: Split-K: at most this many K slices, each at least this many K tiles of the small config.
MAX_SPLITS = 32
MIN_TILES_PER_SPLIT = 1
#: The splitk_reduce kernel: threads per block, elements per thread per trip.
REDUCE_THREADS = 256
REDUCE_UNROLL = 4
#: Operand and workspace sizes are indexed in 32 bits.
MAX_ELEMENTS = 2 ** 31 - 1

#: ``numba.cuda``, bound on first build. A module global rather than a local on purpose: the
#: simulator swaps in its fake ``cuda`` module by rewriting the kernel's globals.
cuda = None
u32 = np.uint32

_LAYOUTS = {(False, False): "nn", (True, False): "tn", (False, True): "nt", (True, True): "tt"}


def _signature(dtype: str) -> str:
    v = f"{dtype}[::1]"
    return f"void({v}, {v}, {v}, {v}, uint32, uint32, uint32, uint32, int32, int32)"


def _unrolled_tile(kstep, bk: int):
    """A device function ``tile(As, Bs, abase, bbase, acc, fa, fb)`` that calls ``kstep(..., k)``
    for k = 0 .. bk-1 with literal k (generated source: see the module docstring for why)."""
    global cuda
    body = "\n".join(f"    kstep(As, Bs, abase, bbase, acc, fa, fb, {k})" for k in range(bk))
    ns = {"kstep": kstep}
    exec(f"def tile(As, Bs, abase, bbase, acc, fa, fb):\n{body}\n", ns)
    return cuda.jit(device=True, inline="always", **L.JIT_OPTIONS)(ns["tile"])


def _build(dtype: str, trans_a: bool, trans_b: bool, config: str, even: bool):
    """Return the plain Python kernel for one (dtype, layout, tile, guard) variant."""
    global cuda
    import numba
    cuda = L.numba_cuda()

    nbt = getattr(numba, dtype)
    BM, BN, BK, TM, TN, THREADS = tile_config(config, dtype)
    TX = BN // TN  # threads along n
    TY = BM // TM  # threads along m
    assert TX * TY == THREADS and TM % 4 == 0 and TN % 4 == 0
    GM, GN = TM // 4, TN // 4          # 4-wide groups per thread along m and n
    A_LOADS = BM * BK // THREADS
    B_LOADS = BN * BK // THREADS
    assert A_LOADS * THREADS == BM * BK and B_LOADS * THREADS == BN * BK
    TRANS_A, TRANS_B, EVEN = trans_a, trans_b, even
    ZERO = nbt(0)
    LDA, LDB = BM + PAD, BN + PAD       # padded shared-memory row lengths (multiples of 4)
    SA, SB = 2 * BK * LDA, 2 * BK * LDB  # shared-memory sizes must be compile-time constants
    # 16 bytes, so NVVM may merge a group's 4 loads into one LDS.128 (the simulator refuses the option)
    ALIGN = None if L.simulator_enabled() else 16

    @cuda.jit(device=True, inline="always", **L.JIT_OPTIONS)
    def kstep(As, Bs, abase, bbase, acc, fa, fb, k):
        # k is a literal: every offset below folds into the LDS immediate
        for g in range(GM):
            for q in range(4):
                fa[g * 4 + q] = As[abase + u32(k * LDA + g * 4 * TY + q)]
        for h in range(GN):
            for p in range(4):
                fb[h * 4 + p] = Bs[bbase + u32(k * LDB + h * 4 * TX + p)]
        for i in range(TM):
            for j in range(TN):
                acc[i, j] += fa[i] * fb[j]

    # per-load steps of (k, m) for A and (k, n) for B, and the matching shared-memory steps
    if TRANS_A:
        assert THREADS % BM == 0
        A_KSTEP, A_MSTEP = THREADS // BM, 0
    else:
        assert THREADS % BK == 0
        A_KSTEP, A_MSTEP = 0, THREADS // BK
    if TRANS_B:
        assert THREADS % BK == 0
        B_KSTEP, B_NSTEP = 0, THREADS // BK
    else:
        assert THREADS % BN == 0
        B_KSTEP, B_NSTEP = THREADS // BN, 0
    A_SSTEP = A_KSTEP * LDA + A_MSTEP
    B_SSTEP = B_KSTEP * LDB + B_NSTEP

    # An operand whose loads all sit at one stride from load 0 (no per-load clamp) is addressed
    # from one base: base + i*stride, the products hoisted by the compiler, instead of per-load
    # offset registers (fewer registers and address instructions on the 64x64 tile).
    A_UNIFORM = TRANS_A or EVEN
    B_UNIFORM = (not TRANS_B) or EVEN

    @cuda.jit(device=True, inline="always", **L.JIT_OPTIONS)
    def load_tiles(a, b, ra, rb, oa, ob, da, db, gsa, gsb):
        """Global -> registers: one whole K tile of each operand (offsets moved by da, db)."""
        for i in range(A_LOADS):
            if A_UNIFORM:
                ra[i] = a[u32(u32(oa[0] + da) + u32(i * gsa))]
            else:
                ra[i] = a[u32(oa[i] + da)]
        for i in range(B_LOADS):
            if B_UNIFORM:
                rb[i] = b[u32(u32(ob[0] + db) + u32(i * gsb))]
            else:
                rb[i] = b[u32(ob[i] + db)]

    @cuda.jit(device=True, inline="always", **L.JIT_OPTIONS)
    def load_tail(a, b, ra, rb, oa, ob, da, db, ka0, kb0, k0, kend):
        """The partial last K tile: k at or past kend reads as zero."""
        for i in range(A_LOADS):
            if u32(u32(k0 + ka0) + u32(i * A_KSTEP)) < kend:
                ra[i] = a[u32(oa[i] + da)]
            else:
                ra[i] = ZERO
        for i in range(B_LOADS):
            if u32(u32(k0 + kb0) + u32(i * B_KSTEP)) < kend:
                rb[i] = b[u32(ob[i] + db)]
            else:
                rb[i] = ZERO

    @cuda.jit(device=True, inline="always", **L.JIT_OPTIONS)
    def store_tiles(As, Bs, ra, rb, sa, sb):
        """Registers -> shared memory (k-major); every offset is base + immediate. The sum is left
        64-bit on purpose (Numba widens u32 + u32): a u32 wrap would stop NVVM folding the constant
        into the STS immediate (2 instructions more per store)."""
        for i in range(A_LOADS):
            As[sa + u32(i * A_SSTEP)] = ra[i]
        for i in range(B_LOADS):
            Bs[sb + u32(i * B_SSTEP)] = rb[i]

    tile = _unrolled_tile(kstep, BK)

    def matmul_kernel(a, b, c, bias, M, N, K, kchunk, has_bias, do_relu):
        As = cuda.shared.array(SA, nbt, alignment=ALIGN)
        Bs = cuda.shared.array(SB, nbt, alignment=ALIGN)
        acc = cuda.local.array((TM, TN), nbt)
        fa = cuda.local.array(TM, nbt)
        fb = cuda.local.array(TN, nbt)
        ra = cuda.local.array(A_LOADS, nbt)
        rb = cuda.local.array(B_LOADS, nbt)
        oa = cuda.local.array(A_LOADS, numba.uint32)   # load i's offset in a at k = kbeg
        ob = cuda.local.array(B_LOADS, numba.uint32)

        t = u32(cuda.threadIdx.x)
        tx = u32(t % u32(TX))
        ty = u32(t // u32(TX))
        m0 = u32(u32(cuda.blockIdx.y) * u32(BM))
        n0 = u32(u32(cuda.blockIdx.x) * u32(BN))
        z = u32(cuda.blockIdx.z)
        kbeg = u32(z * kchunk)
        kend = u32(min(K, u32(kbeg + kchunk)))

        # Element e = t + i*THREADS of a tile -> (k, m) inside it, chosen so that consecutive
        # threads read consecutive addresses of the operand as it is stored in global memory.
        # THREADS is a multiple of the fast dimension, so load i is load 0 moved by a constant:
        # (k, m) = (ka0, ma0) + i*(dka, dma); shared offsets are then base + immediate, and the
        # global ones base + i*(a loop-invariant stride).
        if TRANS_A:   # a is (K, M): m fast
            ka0 = u32(t // u32(BM))
            ma0 = u32(t % u32(BM))
        else:         # a is (M, K): k fast
            ma0 = u32(t // u32(BK))
            ka0 = u32(t % u32(BK))
        if TRANS_B:   # b is (N, K): k fast
            nb0 = u32(t // u32(BK))
            kb0 = u32(t % u32(BK))
        else:         # b is (K, N): n fast
            kb0 = u32(t // u32(BN))
            nb0 = u32(t % u32(BN))
        # A row (B column) outside M (N) is read from the last one instead: a valid address whose
        # value only reaches outputs the epilogue never stores, so full K tiles need no guard.
        for i in range(A_LOADS):
            gm = u32(u32(m0 + ma0) + u32(i * A_MSTEP))
            if not EVEN:
                gm = min(gm, u32(M - u32(1)))
            gk = u32(u32(kbeg + ka0) + u32(i * A_KSTEP))
            oa[i] = u32(u32(gk * M) + gm) if TRANS_A else u32(u32(gm * K) + gk)
        for i in range(B_LOADS):
            gn = u32(u32(n0 + nb0) + u32(i * B_NSTEP))
            if not EVEN:
                gn = min(gn, u32(N - u32(1)))
            gk = u32(u32(kbeg + kb0) + u32(i * B_KSTEP))
            ob[i] = u32(u32(gn * K) + gk) if TRANS_B else u32(u32(gk * N) + gn)
        sa0 = u32(u32(ka0 * u32(LDA)) + ma0)     # shared offset of load 0 (buffer 0)
        sb0 = u32(u32(kb0 * u32(LDB)) + nb0)
        # the offset between loads i and i+1 (when uniform)
        gsa = u32(u32(A_KSTEP) * M) if TRANS_A else u32(u32(A_MSTEP) * K)
        gsb = u32(u32(B_NSTEP) * K) if TRANS_B else u32(u32(B_KSTEP) * N)
        # how far one K tile moves every load's offset
        step_a = u32(u32(BK) * M) if TRANS_A else u32(BK)
        step_b = u32(BK) if TRANS_B else u32(u32(BK) * N)

        for i in range(TM):
            for j in range(TN):
                acc[i, j] = ZERO

        nfull = u32(u32(kend - kbeg) // u32(BK)) if kend > kbeg else u32(0)   # whole K tiles
        abase0 = u32(ty * u32(4))
        bbase0 = u32(tx * u32(4))
        if nfull > u32(0):
            load_tiles(a, b, ra, rb, oa, ob, u32(0), u32(0), gsa, gsb)
        kt = u32(0)
        while kt < nfull:
            buf = u32(kt & u32(1))
            soa = u32(buf * u32(BK * LDA))
            sob = u32(buf * u32(BK * LDB))
            store_tiles(As, Bs, ra, rb, u32(soa + sa0), u32(sob + sb0))
            cuda.syncthreads()
            kt = u32(kt + u32(1))
            if kt < nfull:  # prefetch the next K tile while this one computes
                load_tiles(a, b, ra, rb, oa, ob, u32(kt * step_a), u32(kt * step_b), gsa, gsb)
            tile(As, Bs, u32(soa + abase0), u32(sob + bbase0), acc, fa, fb)
            # No second barrier: the next step writes the other buffer, and the one after
            # that is behind the next step's barrier.
        if not EVEN:
            k0 = u32(kbeg + u32(nfull * u32(BK)))
            if k0 < kend:   # the last, partial K tile: guarded loads, no overlap (one tile)
                load_tail(a, b, ra, rb, oa, ob, u32(nfull * step_a), u32(nfull * step_b),
                          ka0, kb0, k0, kend)
                buf = u32(nfull & u32(1))
                soa = u32(buf * u32(BK * LDA))
                sob = u32(buf * u32(BK * LDB))
                store_tiles(As, Bs, ra, rb, u32(soa + sa0), u32(sob + sb0))
                cuda.syncthreads()
                tile(As, Bs, u32(soa + abase0), u32(sob + bbase0), acc, fa, fb)

        cbase = u32(z * u32(M * N))   # split z's slice of the workspace (0 without split-K)
        for h in range(GN):  # this thread's bias values, reusing the fragment registers
            for p in range(4):
                gn = u32(n0 + u32(h * 4 * TX + p) + bbase0)
                fb[h * 4 + p] = bias[gn] if has_bias and (EVEN or gn < N) else ZERO
        for g in range(GM):
            for q in range(4):
                gm = u32(m0 + u32(g * 4 * TY + q) + abase0)
                row = u32(cbase + u32(gm * N))
                for h in range(GN):
                    for p in range(4):
                        gn = u32(n0 + u32(h * 4 * TX + p) + bbase0)
                        if EVEN or (gm < M and gn < N):
                            v = acc[g * 4 + q, h * 4 + p] + fb[h * 4 + p]
                            if do_relu and v < ZERO:
                                v = ZERO
                            c[u32(row + gn)] = v

    matmul_kernel.__name__ = f"matmul_{_LAYOUTS[(trans_a, trans_b)]}_{config}_{'even' if even else 'ragged'}_{dtype}"
    return matmul_kernel


def _build_reduce(dtype: str):
    """``out[i] = relu?(sum_z ws[z*MN + i] + bias[i % N])``, z in order: the split-K reduction."""
    global cuda
    import numba
    cuda = L.numba_cuda()
    nbt = getattr(numba, dtype)
    ZERO = nbt(0)
    U = REDUCE_UNROLL

    def splitk_reduce_kernel(ws, bias, out, MN, N, S, has_bias, do_relu):
        acc = cuda.local.array(U, nbt)
        stride = u32(u32(cuda.gridDim.x) * u32(REDUCE_THREADS * U))
        i0 = u32(u32(cuda.blockIdx.x) * u32(REDUCE_THREADS * U) + u32(cuda.threadIdx.x))
        while i0 < MN:
            for u in range(U):
                acc[u] = ZERO
            z = u32(0)
            while z < S:           # in order: the same sum on every run
                base = u32(z * MN)
                for u in range(U):
                    i = u32(i0 + u32(u * REDUCE_THREADS))
                    if i < MN:
                        acc[u] += ws[u32(base + i)]
                z = u32(z + u32(1))
            for u in range(U):
                i = u32(i0 + u32(u * REDUCE_THREADS))
                if i < MN:
                    v = acc[u] + (bias[u32(i % N)] if has_bias else ZERO)
                    if do_relu and v < ZERO:
                        v = ZERO
                    out[i] = v
            i0 = u32(i0 + stride)

    return splitk_reduce_kernel


def _spec(dtype, trans_a, trans_b, config, even) -> L.KernelSpec:
    name = f"matmul_{_LAYOUTS[(trans_a, trans_b)]}_{config}_{'even' if even else 'ragged'}"
    return L.KernelSpec(
        name=name, dtype=dtype,
        build=lambda: _build(dtype, trans_a, trans_b, config, even),
        signature=_signature(dtype), threads_per_block=tile_config(config, dtype)[5],
        min_blocks_per_sm=(F64_MIN_BLOCKS_PER_SM.get(config, MIN_BLOCKS_PER_SM[config]) if dtype == "float64"
                           else MIN_BLOCKS_PER_SM[config]),
        meta=dict(kind="matmul", config=tile_config(config, dtype)[:5], trans_a=trans_a, trans_b=trans_b,
                  even=even))


def _reduce_spec(dtype) -> L.KernelSpec:
    v = f"{dtype}[::1]"
    return L.KernelSpec(
        name="matmul_splitk_reduce", dtype=dtype, build=lambda: _build_reduce(dtype),
        signature=f"void({v}, {v}, {v}, uint32, uint32, uint32, int32, int32)",
        threads_per_block=REDUCE_THREADS, min_blocks_per_sm=8,
        meta=dict(kind="reduce"))


_REDUCE_SPECS = {dt: _reduce_spec(dt) for dt in DTYPE_CONFIGS}


@L.register
def _all_specs():
    return [_spec(dt, ta, tb, cfg, even)
            for dt, cfgs in DTYPE_CONFIGS.items()
            for (ta, tb) in _LAYOUTS
            for cfg in cfgs
            for even in (False, True)] + list(_REDUCE_SPECS.values())


_spec_cache: dict = {}


def choose_config(M: int, N: int, dtype="float32", sms: int = L.DEFAULT_SM_COUNT) -> str:
    """Tile config for an (M, N) output: the large tile unless its grid has fewer blocks than
    the GPU has SMs (one resident block per SM at this register count), then the small one."""
    large, small = DTYPE_CONFIGS[np.dtype(dtype).name]
    BM, BN = TILE_CONFIGS[large][:2]
    blocks = -(-M // BM) * -(-N // BN)
    return large if blocks >= sms else small


def choose_splits(M: int, N: int, K: int, config: str, sms: int = L.DEFAULT_SM_COUNT) -> int:
    """K slices for a grid of ``config`` tiles over (M, N): the fewest that give at least one block
    per SM (``sms``), each slice at least ``MIN_TILES_PER_SPLIT`` K tiles, at most ``MAX_SPLITS``;
    1 when the tiles alone fill the GPU. For the 784-256-256-10 MLP at batch 128 on 132 SMs see
    ``splitk_plan``."""
    BM, BN, BK = TILE_CONFIGS[config][:3]   # BM, BN, BK are the same for both dtypes
    blocks = -(-M // BM) * -(-N // BN)
    if blocks >= sms:
        return 1
    ktiles = -(-K // BK)
    most = max(1, min(MAX_SPLITS, ktiles // MIN_TILES_PER_SPLIT))
    want = -(-sms // blocks)
    s = min(most, want)
    chunk = -(-ktiles // s)              # K tiles per slice; the slice count that really results:
    return -(-ktiles // chunk)


def splitk_plan(M: int, N: int, K: int, dtype="float32", sms: int = L.DEFAULT_SM_COUNT) -> dict:
    """What ``matmul`` launches for an (M, N, K) product by default: config, splits, blocks."""
    cfg = choose_config(M, N, dtype, sms)
    BM, BN, BK = TILE_CONFIGS[cfg][:3]
    tiles = -(-M // BM) * -(-N // BN)
    s = choose_splits(M, N, K, cfg, sms) if cfg == DTYPE_CONFIGS[np.dtype(dtype).name][1] else 1
    return dict(M=M, N=N, K=K, config=cfg, tiles=tiles, splits=s, blocks=tiles * s,
                k_per_split=-(-(-(-K // BK)) // s) * BK)


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


def matmul(a, b, *, trans_a=False, trans_b=False, bias=None, relu=False, out=None, config=None,
           splits=None):
    """``op(a) @ op(b)``, optionally ``+ bias[None, :]`` then ReLU, in one launch.

    ``op(x)`` is ``x.T`` when the matching ``trans_*`` flag is set; the transposed operand is
    read in place. ``a``/``b`` may be C- or F-contiguous (an F-contiguous array is read as the
    transpose of a C-contiguous one, no copy); other strides raise ValueError. ``config``
    forces a tile config (one of ``DTYPE_CONFIGS[dtype]``); by default ``choose_config`` picks.
    ``splits`` forces the number of K slices (split-K, reduced in a fixed order); by default the
    small config splits K until the grid has a block per SM (``choose_splits``). Raises ValueError
    for an operand of 2**31 elements or more (32-bit indexing).

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

    for arg, x in (("a", a), ("b", b), ("out", out)):
        if x.size > MAX_ELEMENTS:
            raise ValueError(
                f"gpugrad.kernels.{name}: '{arg}' ({L._describe(x)}) has more than 2**31-1 elements; the "
                f"kernel indexes in 32 bits. Use gpugrad.set_kernels(matmul='cublas') for this size.")

    with L.device_guard(xp, a):
        sms = L.sm_count(xp)
        cfg = config or choose_config(M, N, dt, sms)
        BM, BN, BK, _, _, threads = tile_config(cfg, dt)
        if splits is None:
            small = cfg == DTYPE_CONFIGS[dt.name][1]
            # under the simulator every block costs ~0.5 s: at most 2 slices unless asked
            splits = choose_splits(M, N, K, cfg, sms) if small else 1
            if xp is np:
                splits = min(splits, 2)
        ktiles = -(-K // BK)
        splits = max(1, min(int(splits), ktiles))
        kchunk = -(-ktiles // splits) * BK
        splits = -(-K // kchunk)
        if splits * M * N > MAX_ELEMENTS:
            splits, kchunk = 1, K
        even = M % BM == 0 and N % BN == 0 and K % BK == 0
        key = (dt.name, ta, tb, cfg, even)
        spec = _spec_cache.get(key)
        if spec is None:
            spec = _spec_cache[key] = _spec(*key)
        kernel = L.jit_kernel(spec)
        bias_arg = bias if bias is not None else L.dummy_vector(xp, dt)
        stream = L.launch_stream(xp)
        grid = (-(-N // BN), -(-M // BM), splits)
        flat = (a.reshape(-1), b.reshape(-1))
        if splits == 1:
            kernel[grid, threads, stream](
                *flat, out.reshape(-1), bias_arg, np.uint32(M), np.uint32(N), np.uint32(K), np.uint32(kchunk),
                np.int32(bias is not None), np.int32(bool(relu)))
        else:
            ws = xp.empty((splits * M * N,), dtype=dt)
            kernel[grid, threads, stream](
                *flat, ws, bias_arg, np.uint32(M), np.uint32(N), np.uint32(K), np.uint32(kchunk),
                np.int32(0), np.int32(0))
            per_block = REDUCE_THREADS * REDUCE_UNROLL
            blocks = L.cap_blocks(xp, -(-(M * N) // per_block), sms * 8)
            L.jit_kernel(_REDUCE_SPECS[dt.name])[blocks, REDUCE_THREADS, stream](
                ws, bias_arg, out.reshape(-1), np.uint32(M * N), np.uint32(N), np.uint32(splits),
                np.int32(bias is not None), np.int32(bool(relu)))
    return out
