"""Reductions: sum, mean, max, min, logsumexp (``axis``/``keepdims`` as in NumPy). Forward beside VJP."""
from __future__ import annotations

from ._shapes import expand_reduced, normalize_axis, reduced_shape
from ..function import defop
from ..torch_args import accepts_torch_names


def _count(shape, axis) -> int:
    n = 1
    for i, s in enumerate(shape):
        if axis is None or i in axis:
            n *= s
    return n


_sum = defop("sum", lambda b, x, axis, keepdims: b.xp.asarray(x.sum(axis=axis, keepdims=keepdims)),
             derivs=("1",))
_sum.defvjp(lambda F, g, ans, x, axis, keepdims: expand_reduced(F, g, x.shape, axis, keepdims))

_mean = defop("mean", lambda b, x, axis, keepdims: b.xp.asarray(x.mean(axis=axis, keepdims=keepdims)),
              derivs=("1/n",))
_mean.defvjp(lambda F, g, ans, x, axis, keepdims:
             expand_reduced(F, g / _count(x.shape, axis), x.shape, axis, keepdims))


def _extreme_vjp(F, g, ans, x, axis, keepdims):
    # The gradient goes to the positions that attain the max (or min), shared equally on ties.
    shape = reduced_shape(x.shape, axis)
    hit = x == (ans if keepdims else F.reshape(ans, shape))
    share = F.astype(hit, g.dtype)
    share = share / F.sum(share, axis=axis, keepdims=True)
    return expand_reduced(F, g, x.shape, axis, keepdims) * share


_max = defop("max", lambda b, x, axis, keepdims: b.xp.asarray(x.max(axis=axis, keepdims=keepdims)),
             save=(0,), save_ans=True, derivs=("[x = max]",))
_max.defvjp(_extreme_vjp)

_min = defop("min", lambda b, x, axis, keepdims: b.xp.asarray(x.min(axis=axis, keepdims=keepdims)),
             save=(0,), save_ans=True, derivs=("[x = min]",))
_min.defvjp(_extreme_vjp)


def _logsumexp_fwd(b, x, axis, keepdims):
    # Shift by the max so exp never overflows; an all -inf slice gives -inf, not NaN.
    xp = b.xp
    m = x.max(axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0)
    out = xp.log(xp.exp(x - m).sum(axis=axis, keepdims=True)) + m
    return out if keepdims else xp.asarray(out.reshape(
        tuple(s for i, s in enumerate(out.shape) if axis is not None and i not in axis)))


_logsumexp = defop("logsumexp", _logsumexp_fwd, save=(0,), save_ans=True, derivs=("softmax(x)",))
_logsumexp.defvjp(lambda F, g, ans, x, axis, keepdims:
                  expand_reduced(F, g, x.shape, axis, keepdims)
                  * F.exp(x - (ans if keepdims else F.reshape(ans, reduced_shape(x.shape, axis)))))


@accepts_torch_names()
def sum(x, axis=None, keepdims: bool = False):  # noqa: A001
    """Sum over ``axis`` (all axes when None)."""
    return _sum(x, axis=normalize_axis(axis, x.ndim, "sum"), keepdims=keepdims)


@accepts_torch_names()
def mean(x, axis=None, keepdims: bool = False):
    """Arithmetic mean over ``axis`` (all axes when None)."""
    return _mean(x, axis=normalize_axis(axis, x.ndim, "mean"), keepdims=keepdims)


def _check_nonempty(x, axis, name):
    if x.size == 0:
        raise ValueError(f"{name}: cannot reduce an empty tensor of shape {x.shape}")


@accepts_torch_names()
def max(x, axis=None, keepdims: bool = False):  # noqa: A001
    """Maximum over ``axis``; its gradient is shared equally between tied maxima."""
    _check_nonempty(x, axis, "max")
    return _max(x, axis=normalize_axis(axis, x.ndim, "max"), keepdims=keepdims)


@accepts_torch_names()
def min(x, axis=None, keepdims: bool = False):  # noqa: A001
    """Minimum over ``axis``; its gradient is shared equally between tied minima."""
    _check_nonempty(x, axis, "min")
    return _min(x, axis=normalize_axis(axis, x.ndim, "min"), keepdims=keepdims)


@accepts_torch_names()
def logsumexp(x, axis=None, keepdims: bool = False):
    """log(sum(exp(x))) over ``axis``, computed without overflow."""
    return _logsumexp(x, axis=normalize_axis(axis, x.ndim, "logsumexp"), keepdims=keepdims)
