"""Ops PyTorch scripts use that the op table lacked: cumsum, remainder (``%``), floor_divide
(``//``), and the tests isnan/isinf/isfinite. Each forward beside its VJP, as in elementwise.py.

Conventions are PyTorch's (which match NumPy's for these): ``%`` takes the sign of the divisor
(Python's and ``torch.remainder``'s, not C's fmod); ``//`` rounds toward -inf and has no gradient.
"""
from __future__ import annotations

import numpy as np

from ..op import defop
from ..tensor import Tensor
from ..ops._shapes import normalize_axis
from ..ops.elementwise import astype, expm1, log1p  # noqa: F401  (torch.log1p/expm1: the core's ops)


# -- cumsum: the gradient of a running sum is the reversed running sum of the gradient ------------
def _reverse_cumsum(ns, g, axis):
    if isinstance(g, Tensor):                  # create_graph: stay differentiable (cumsum of a flip)
        flip = (slice(None),) * axis + (slice(None, None, -1),)
        return _cumsum(g[flip], axis=axis)[flip]
    xp = ns.backend.xp
    return xp.flip(xp.cumsum(xp.flip(g, axis), axis=axis), axis)


_cumsum = defop("cumsum", lambda backend, x, axis: backend.xp.cumsum(x, axis=axis, dtype=x.dtype), derivs=("reverse cumsum",))
_cumsum.defvjp(lambda ns, g, ans, x, axis: _reverse_cumsum(ns, g, axis))


def cumsum(x, dim=None, *, dtype=None, axis=None):
    """Running sum along ``dim`` (``axis=`` too), as ``torch.cumsum``; differentiable.

    The dtype is kept, except that bool and integer inputs give int64 (PyTorch's rule); ``dtype=``
    casts first. A 0-d tensor is returned as a copy. Raises TypeError when no dim is given (PyTorch
    requires one) and AxisError for a dim out of range.
    """
    if dim is not None and axis is not None:
        raise TypeError("cumsum: got both dim (PyTorch's name) and axis= (NumPy's name); pass only one")
    dim = axis if dim is None else dim
    if dim is None:
        raise TypeError(f"cumsum: dim is required (as in PyTorch), got none for shape {x.shape}; use "
                        f"x.flatten().cumsum(0) for a running sum over every element")
    if dtype is not None:
        x = astype(x, dtype)
    elif x.dtype.kind in "biu":
        x = astype(x, np.int64)
    if x.ndim == 0:
        normalize_axis(dim, 1, "cumsum")
        return _cumsum(x.reshape(1), axis=0).reshape(())
    return _cumsum(x, axis=normalize_axis(dim, x.ndim, "cumsum")[0])


# -- integer-style division ------------------------------------------------------------------------
class IntegerDivisionByZero(ZeroDivisionError, RuntimeError):
    """Integer ``//`` or ``%`` by 0: PyTorch raises RuntimeError("ZeroDivisionError"); catchable as either."""


def _check_integer_divisor(name, backend, x, y):
    """An integer x // 0 or x % 0 raises, as in PyTorch (NumPy silently gives 0); for floats it is
    inf/NaN, as in both."""
    kinds = (getattr(x, "dtype", np.asarray(x).dtype).kind, getattr(y, "dtype", np.asarray(y).dtype).kind)
    if all(k in "biu" for k in kinds) and getattr(backend.xp.broadcast_arrays(x, y)[0], "size", 1) and \
            bool((backend.xp.asarray(y) == 0).any()):
        raise IntegerDivisionByZero(f"{name}: integer division by zero (a divisor of the integer tensor "
                                f"is 0); use a float tensor to get inf/NaN instead")


def _remainder_fwd(backend, x, y):
    _check_integer_divisor("remainder", backend, x, y)
    with np.errstate(divide="ignore", invalid="ignore"):   # x % 0: NaN for floats, as PyTorch
        return backend.xp.remainder(x, y)


remainder = defop("remainder", _remainder_fwd, same_kind=True, save=(0, 1),
                  vjp_reads=((), (0, 1)), derivs=("1", "-floor(x/y)"))
# x % y = x - floor(x / y) * y: the derivatives are 1 and -floor(x / y) (PyTorch's formulas,
# floor of the true quotient), piecewise constant, so their own derivatives are 0.
remainder.defvjp(lambda ns, g, ans, x, y: g,
                 lambda ns, g, ans, x, y: -g * _floor_quotient(ns, x, y))


def _floor_quotient(ns, x, y):
    if isinstance(x, Tensor) or isinstance(y, Tensor):   # create_graph: a constant
        q = floor_divide(*(v.detach() if isinstance(v, Tensor) else v for v in (x, y)))
        # in the floating operand's dtype (the one a gradient flows to), never an integer one:
        # an integer x with a float y must not truncate or overflow the quotient
        floating = [v.dtype for v in (x, y) if isinstance(v, Tensor) and v.dtype.kind == "f"]
        return q if not floating or q.dtype == floating[0] else q.astype(floating[0])
    xp = ns.backend.xp
    with np.errstate(divide="ignore", invalid="ignore"):
        return xp.floor(xp.true_divide(x, y))


def _floor_divide_fwd(backend, x, y):
    _check_integer_divisor("floor_divide", backend, x, y)
    with np.errstate(divide="ignore", invalid="ignore"):
        return backend.xp.floor_divide(x, y)


floor_divide = defop("floor_divide", _floor_divide_fwd, same_kind=True, differentiable=False)


# -- tests of floating values (bool results, no gradient) ------------------------------------------
isnan = defop("isnan", lambda backend, x: backend.xp.isnan(x), differentiable=False)
isinf = defop("isinf", lambda backend, x: backend.xp.isinf(x), differentiable=False)
isfinite = defop("isfinite", lambda backend, x: backend.xp.isfinite(x), differentiable=False)


# -- elementwise functions PyTorch scripts reach for (issue 25), each forward beside its VJP ---------
def _unary(name, forward, vjp, derivs, save_ans=False):
    op = defop(name, forward, save=() if save_ans else (0,), save_ans=save_ans, derivs=derivs)
    op.defvjp(vjp)
    return op


sinh = _unary("sinh", lambda backend, x: backend.xp.sinh(x),
              lambda ns, g, ans, x: g * ((ns.exp(x) + ns.exp(-x)) * 0.5), ("cosh(x)",))
cosh = _unary("cosh", lambda backend, x: backend.xp.cosh(x),
              lambda ns, g, ans, x: g * ((ns.exp(x) - ns.exp(-x)) * 0.5), ("sinh(x)",))
atan = _unary("atan", lambda backend, x: backend.xp.arctan(x), lambda ns, g, ans, x: g / (1 + x * x),
              ("1/(1+x^2)",))


def _rounding(name, fn):
    # piecewise constant: the gradient is 0 (PyTorch's), and the output still takes part in the graph;
    # an integer tensor is already rounded (NumPy would make it float64): returned as a copy
    op = defop(name, lambda backend, x: getattr(backend.xp, fn)(x), derivs=("0",))
    op.defvjp(lambda ns, g, ans, x: g * 0)

    def rounded(x):
        return x.clone() if x.dtype.kind in "biu" else op(x)
    rounded.__name__ = rounded.__qualname__ = name
    rounded.__doc__ = f"``torch.{name}``: elementwise, the dtype kept; gradient 0."
    return rounded


floor = _rounding("floor", "floor")
ceil = _rounding("ceil", "ceil")
trunc = _rounding("trunc", "trunc")
_round_half_even = _rounding("round", "round")   # half to even, as PyTorch's round (and NumPy's)


def round(x, *, decimals: int = 0):  # noqa: A001
    """Round half to even (``torch.round``), to ``decimals`` places; gradient 0."""
    if decimals == 0 or x.dtype.kind in "biu":
        return _round_half_even(x)
    scale = 10.0 ** decimals
    return _round_half_even(x * scale) / scale
