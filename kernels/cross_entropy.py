"""Softmax cross-entropy of class targets, forward and VJP, one launch each (issue 23: the composite
formula took ~30 launches per step).

PyTorch's ``F.cross_entropy(x, t, weight=w, ignore_index=k, reduction="mean"|"sum",
label_smoothing=e)`` for (N, C) logits ``x`` and integer targets ``t`` (N,)::

    loss_i = (1 - e) w[t_i] (lse_i - x[i, t_i]) + e / C sum_j w_j (lse_i - x[i, j])
    mean:  sum_i loss_i / sum_i w[t_i]      sum:  sum_i loss_i       (over rows with t_i != k)
    dx[i, j] = c ((1 - e) w[t_i] (p_ij - [j = t_i]) + e / C (W p_ij - w_j)),  p = softmax(x_i),
               W = sum_j w_j, c = g / sum_i w[t_i] (mean) or g (sum);  dx[i, :] = 0 for t_i = k

Ignored rows are selected out (never multiplied by 0): a row of -inf logits with an ignored target
adds nothing and gets a zero gradient; an all-ignored batch gives a NaN mean (0/0, as PyTorch) and
a zero gradient. A target outside [0, C) that is not ignored gives NaN (PyTorch raises on the device).

One block of THREADS threads, a thread per row (grid-stride over rows), the row sums and the
denominator reduced in shared memory in a fixed order (deterministic). Meant for the classifier
heads of MLPs (C small, N up to a few thousand); the backend routes larger ones to the composite.
float32 and float64, computed in the input's dtype (float16 takes the composite path).
"""
from __future__ import annotations

import math

import numpy as np

from . import _launch as L

THREADS = 256

#: ``numba.cuda``, bound on first build (a module global so the simulator can swap it).
cuda = None


def _build_forward(dtype: str):
    global cuda
    import numba
    cuda = L.numba_cuda()
    T = getattr(numba, dtype)
    ZERO, ONE, NAN = T(0), T(1), T(math.nan)

    def cross_entropy_kernel(x, t, w, has_w, ignore, eps, mean, out):
        tid = cuda.threadIdx.x
        num_sh = cuda.shared.array(THREADS, T)
        den_sh = cuda.shared.array(THREADS, T)
        n = x.shape[0]
        c = x.shape[1]
        cf = T(c)
        num = ZERO
        den = ZERO
        i = tid
        while i < n:
            ti = t[i]
            if ti != ignore:                      # ignored rows: selected out, nothing read
                m = x[i, 0]
                for j in range(1, c):
                    m = max(m, x[i, j])
                s = ZERO
                for j in range(c):
                    s += math.exp(x[i, j] - m)
                lse = m + math.log(s)
                if 0 <= ti < c:
                    wt = w[ti] if has_w else ONE
                    row = wt * (lse - x[i, ti])
                    if eps != ZERO:
                        sm = ZERO
                        for j in range(c):
                            sm += (w[j] if has_w else ONE) * (lse - x[i, j])
                        row = (ONE - eps) * row + eps / cf * sm
                else:
                    wt = ONE
                    row = NAN
                num += row
                den += wt
            i += THREADS
        num_sh[tid] = num
        den_sh[tid] = den
        cuda.syncthreads()
        step = THREADS // 2
        while step > 0:
            if tid < step:
                num_sh[tid] += num_sh[tid + step]
                den_sh[tid] += den_sh[tid + step]
            cuda.syncthreads()
            step //= 2
        if tid == 0:
            total, d = num_sh[0], den_sh[0]
            out[1] = d
            if mean:
                out[0] = NAN if d == ZERO else total / d    # 0/0 when every row is ignored
            else:
                out[0] = total

    return cross_entropy_kernel


def _build_vjp(dtype: str):
    global cuda
    import numba
    cuda = L.numba_cuda()
    T = getattr(numba, dtype)
    ZERO, ONE, NAN = T(0), T(1), T(math.nan)

    def cross_entropy_vjp_kernel(g, x, t, w, has_w, ignore, eps, mean, dx):
        tid = cuda.threadIdx.x
        den_sh = cuda.shared.array(THREADS, T)
        n = x.shape[0]
        c = x.shape[1]
        cf = T(c)
        den = ZERO
        i = tid
        while i < n:
            ti = t[i]
            if ti != ignore and 0 <= ti < c:
                den += w[ti] if has_w else ONE
            i += THREADS
        den_sh[tid] = den
        cuda.syncthreads()
        step = THREADS // 2
        while step > 0:
            if tid < step:
                den_sh[tid] += den_sh[tid + step]
            cuda.syncthreads()
            step //= 2
        d = den_sh[0]
        coef = g[0]
        if mean:
            coef = ZERO if d == ZERO else g[0] / d      # d = 0: every row is ignored, none reads it
        wsum = cf
        if has_w:
            wsum = ZERO
            for j in range(c):
                wsum += w[j]
        i = tid
        while i < n:
            ti = t[i]
            if ti == ignore:
                for j in range(c):
                    dx[i, j] = ZERO                     # selected out: a -inf row gives 0, not NaN
            elif not (0 <= ti < c):
                for j in range(c):
                    dx[i, j] = NAN
            else:
                m = x[i, 0]
                for j in range(1, c):
                    m = max(m, x[i, j])
                s = ZERO
                for j in range(c):
                    s += math.exp(x[i, j] - m)
                lse = m + math.log(s)
                wt = w[ti] if has_w else ONE
                for j in range(c):
                    p = math.exp(x[i, j] - lse)
                    hit = ONE if j == ti else ZERO
                    v = (ONE - eps) * wt * (p - hit)
                    if eps != ZERO:
                        v += eps / cf * (wsum * p - (w[j] if has_w else ONE))
                    dx[i, j] = coef * v
            i += THREADS

    return cross_entropy_vjp_kernel


def _specs(dtype: str):
    x, v = f"{dtype}[:, ::1]", f"{dtype}[::1]"
    return {
        "cross_entropy": L.KernelSpec(
            "cross_entropy", dtype, lambda: _build_forward(dtype),
            f"void({x}, int64[::1], {v}, int32, int64, {dtype}, int32, {v})", THREADS),
        "cross_entropy_vjp": L.KernelSpec(
            "cross_entropy_vjp", dtype, lambda: _build_vjp(dtype),
            f"void({v}, {x}, int64[::1], {v}, int32, int64, {dtype}, int32, {x})", THREADS),
    }


_SPECS = {dt: _specs(dt) for dt in ("float32", "float64")}


@L.register
def _all_specs():
    return [s for d in _SPECS.values() for s in d.values()]


def _check(name, x, t, w):
    xp = L.array_module(name, x, t) if w is None else L.array_module(name, x, t, w)
    dt = L.check_dtype(name, x) if w is None else L.check_dtype(name, x, w)
    if x.ndim != 2 or t.shape != (x.shape[0],) or t.dtype.name != "int64" or x.shape[1] == 0:
        raise ValueError(f"gpugrad.kernels.{name}: expected (N, C) logits with C >= 1 and int64 targets (N,), "
                         f"got {L._describe(x)} and {L._describe(t)}")
    if w is not None and w.shape != (x.shape[1],):
        raise ValueError(f"gpugrad.kernels.{name}: weight must have shape ({x.shape[1]},), got {L._describe(w)}")
    L.check_contiguous(name, "x", x)
    L.check_contiguous(name, "t", t)
    return xp, dt


def _sim_safe(xp, *arrays):
    """The simulator copies every argument back after a launch, which fails on a read-only NumPy
    array (a broadcast view, say): give it a copy of those. On a GPU the arrays pass as they are."""
    if xp is not np:
        return arrays
    return tuple(a if a.flags.writeable else a.copy() for a in arrays)


def cross_entropy(x, t, w=None, *, ignore_index=-100, label_smoothing=0.0, mean=True):
    """[loss, denominator] as a 2-element array of x's dtype (see the module doc); one launch."""
    xp, dt = _check("cross_entropy", x, t, w)
    out = xp.empty(2, dtype=dt)
    kernel = L.jit_kernel(_SPECS[dt.name]["cross_entropy"])
    x, t, wv = _sim_safe(xp, x, t, L.dummy_vector(xp, dt) if w is None else w)
    with L.device_guard(xp, x):
        kernel[1, THREADS, L.launch_stream(xp)](x, t, wv, int(w is not None), int(ignore_index),
                                                dt.type(label_smoothing), int(mean), out)
    return out


def cross_entropy_vjp(g, x, t, w=None, *, ignore_index=-100, label_smoothing=0.0, mean=True):
    """dx for upstream gradient ``g`` (a 1-element array) of ``cross_entropy``; one launch."""
    xp, dt = _check("cross_entropy_vjp", x, t, w)
    dx = xp.empty_like(x)
    g = g.reshape(1)
    if g.dtype != dt:
        g = g.astype(dt)
    kernel = L.jit_kernel(_SPECS[dt.name]["cross_entropy_vjp"])
    g, x, t, wv = _sim_safe(xp, g, x, t, L.dummy_vector(xp, dt) if w is None else w)
    with L.device_guard(xp, x):
        kernel[1, THREADS, L.launch_stream(xp)](g, x, t, wv, int(w is not None), int(ignore_index),
                                                dt.type(label_smoothing), int(mean), dx)
    return dx
