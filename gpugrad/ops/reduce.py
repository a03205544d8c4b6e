"""Reductions: sum, mean, max, min, logsumexp (``axis``/``keepdims`` as in NumPy). Forward beside VJP."""
from __future__ import annotations

import builtins

import numpy as np  # noqa: F401  (np.errstate: also harmless around CuPy calls)

from ._precision import acc_dtype, is_half, widen, narrow
from ._shapes import expand_reduced, normalize_axis, reduced_shape
from ..dtypes import floating_forward as _fl
from ..op import defop
from ..tensor import Tensor
from ..torch_face.args import accepts_torch_names


_builtin_max = builtins.max


def _count(shape, axis) -> int:
    n = 1
    for i, s in enumerate(shape):
        if axis is None or i in axis:
            n *= s
    return n


def _sum_fwd(backend, x, axis, keepdims):
    # float16 accumulates in float32 and rounds once (PyTorch's acc_type): a float16 running sum
    # loses every digit of a long sum, and overflows where only the partial sums exceed 65504.
    if is_half(x.dtype):
        with np.errstate(over="ignore"):   # a sum beyond 65504 is inf, as PyTorch's, without NumPy's warning
            return backend.xp.asarray(x.sum(axis=axis, keepdims=keepdims, dtype=acc_dtype(x.dtype)).astype(x.dtype))
    return backend.xp.asarray(x.sum(axis=axis, keepdims=keepdims))


_sum = defop("sum", _sum_fwd, derivs=("1",))
_sum.defvjp(lambda ns, g, ans, x, axis, keepdims: expand_reduced(ns, g, x.shape, axis, keepdims))

def _mean_fwd(backend, x, axis, keepdims):
    if _count(x.shape, axis) == 0:  # an empty slice's mean is NaN (NumPy, PyTorch), without the warning
        return backend.xp.full(x.sum(axis=axis, keepdims=keepdims).shape, np.nan, dtype=x.dtype)
    if is_half(x.dtype):   # accumulated in float32, rounded once (as sum)
        return backend.xp.asarray(x.mean(axis=axis, keepdims=keepdims, dtype=acc_dtype(x.dtype)).astype(x.dtype))
    return backend.xp.asarray(x.mean(axis=axis, keepdims=keepdims))


_mean = defop("mean", _fl(_mean_fwd), derivs=("1/n",))
# max(n, 1): an empty slice has no element to receive its gradient (and no division by 0).
_mean.defvjp(lambda ns, g, ans, x, axis, keepdims:
             expand_reduced(ns, g / _builtin_max(_count(x.shape, axis), 1), x.shape, axis, keepdims))


def _extreme_vjp(ns, g, ans, x, axis, keepdims):
    # The gradient goes to the positions that attain the max (or min), shared equally on ties.
    # Selected, not multiplied by the 0/1 pattern: an inf or NaN upstream gradient must not
    # become inf * 0 = NaN at the positions that do not attain it. A NaN slice (nothing equals
    # its NaN max) keeps PyTorch's NaN gradient.
    shape = reduced_shape(x.shape, axis)
    hit = x == (ans if keepdims else ns.reshape(ans, shape))
    ties = ns.sum(ns.astype(hit, g.dtype), axis=axis, keepdims=True)
    share = expand_reduced(ns, g, x.shape, axis, keepdims) / ties
    return ns.where(hit, share, ns.where(ties == 0, np.nan, 0))


_max = defop("max", lambda backend, x, axis, keepdims: backend.xp.asarray(x.max(axis=axis, keepdims=keepdims)),
             save=(0,), save_ans=True, derivs=("[x = max]",))
_max.defvjp(_extreme_vjp)

_min = defop("min", lambda backend, x, axis, keepdims: backend.xp.asarray(x.min(axis=axis, keepdims=keepdims)),
             save=(0,), save_ans=True, derivs=("[x = min]",))
_min.defvjp(_extreme_vjp)


@_fl
def _logsumexp_fwd(backend, x, axis, keepdims):
    # Shift by the max so exp never overflows; an all -inf slice gives -inf, not NaN, and so does
    # an empty one (log of an empty sum, NumPy's logaddexp.reduce identity and PyTorch's result).
    # The tail: lse = m + log1p(rest), rest = the sum of exp(x - m) less one max's own term 1,
    # summed from the terms below 1 (plus 1 per further tie), so logsumexp([0, -40]) keeps its
    # 4.2e-18 instead of log(1 + 4.2e-18) = 0.
    xp = backend.xp
    out_dtype = x.dtype
    x = x.astype(acc_dtype(x.dtype), copy=False)    # float16: computed in float32, rounded once
    if x.size == 0:
        out = xp.full(reduced_shape(x.shape, axis), -np.inf, dtype=x.dtype)
    else:
        top = x.max(axis=axis, keepdims=True)
        finite = xp.isfinite(top)
        m = xp.where(finite, top, 0)
        e = xp.exp(x - m)
        below = e < 1
        rest = xp.where(below, e, 0).sum(axis=axis, keepdims=True)
        rest += _count(x.shape, axis) - 1 - below.sum(axis=axis, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            # a non-finite max is the answer itself: +inf, NaN, or -inf for a slice of -inf only
            out = xp.where(finite, xp.log1p(rest) + m, top)
    out = out.astype(out_dtype, copy=False)
    return out if keepdims else xp.asarray(out.reshape(
        tuple(s for i, s in enumerate(out.shape) if axis is not None and i not in axis)))


def _logsumexp_vjp(ns, g, ans, x, axis, keepdims):
    """g * softmax(x) = g * exp(x - ans). A slice whose every element is -inf (fully masked) has
    ans = -inf and weight 0 for each element: its gradient is 0, not exp(-inf + inf) = NaN (where
    PyTorch gives NaN). The -inf is replaced inside the formula, so every order stays finite."""
    half = is_half(x.dtype)
    (g, x, ans), dtype = widen(ns, g, x, ans)
    if half:   # the float16 output is rounded (0.25 at 300: exp(x - ans) 12% off); recompute it in float32
        a = _logsumexp(x, axis=axis, keepdims=True) if isinstance(x, Tensor) else \
            _logsumexp_fwd(ns.backend, x, axis, True)
    else:
        a = ans if keepdims else ns.reshape(ans, reduced_shape(x.shape, axis))
    a = ns.where(a == -np.inf, 0, a)
    return narrow(ns, expand_reduced(ns, g, x.shape, axis, keepdims) * ns.exp(x - a), dtype)


_logsumexp = defop("logsumexp", _logsumexp_fwd, save=(0,), save_ans=True, derivs=("softmax(x)",))
_logsumexp.defvjp(_logsumexp_vjp)


@accepts_torch_names()
def sum(x, axis=None, keepdims: bool = False):  # noqa: A001
    """Sum over ``axis`` (all axes when None)."""
    return _sum(x, axis=normalize_axis(axis, x.ndim, "sum"), keepdims=keepdims)


@accepts_torch_names()
def mean(x, axis=None, keepdims: bool = False):
    """Arithmetic mean over ``axis`` (all axes when None)."""
    return _mean(x, axis=normalize_axis(axis, x.ndim, "mean"), keepdims=keepdims)


def _check_nonempty(x, axes, name):
    """NumPy's rule: max/min have no identity, so reducing over an axis of size 0 raises."""
    empty = [a for a in (range(x.ndim) if axes is None else axes) if x.shape[a] == 0]
    if (axes is None and x.size == 0) or empty:
        where = "all axes" if axes is None else f"axis {empty[0]}"
        raise ValueError(f"{name}: cannot reduce over {where} of a tensor of shape {x.shape}: it has "
                         f"size 0 and {name} has no identity (as in NumPy); choose a non-empty axis")


@accepts_torch_names()
def max(x, axis=None, keepdims: bool = False):  # noqa: A001
    """Maximum over ``axis`` (NumPy's amax); its gradient is shared equally between tied maxima
    (as PyTorch's ``amax``). Raises ValueError over an axis of size 0, AxisError for a bad axis."""
    axes = normalize_axis(axis, x.ndim, "max")
    _check_nonempty(x, axes, "max")
    return _max(x, axis=axes, keepdims=keepdims)


@accepts_torch_names()
def min(x, axis=None, keepdims: bool = False):  # noqa: A001
    """Minimum over ``axis`` (NumPy's amin); its gradient is shared equally between tied minima
    (as PyTorch's ``amin``). Raises ValueError over an axis of size 0, AxisError for a bad axis."""
    axes = normalize_axis(axis, x.ndim, "min")
    _check_nonempty(x, axes, "min")
    return _min(x, axis=axes, keepdims=keepdims)


@accepts_torch_names()
def logsumexp(x, axis=None, keepdims: bool = False):
    """log(sum(exp(x))) over ``axis``, computed without overflow."""
    return _logsumexp(x, axis=normalize_axis(axis, x.ndim, "logsumexp"), keepdims=keepdims)
