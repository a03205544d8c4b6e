"""Elementwise ops: arithmetic, unary math, comparisons, casts. Each forward beside its VJP.

Binary ops broadcast like NumPy; the engine sums each gradient back to its input's shape
(``sum_to``), so the VJPs below are written as if no broadcasting happened.
"""
from __future__ import annotations

import math

import numpy as np

from ..dtypes import floating_forward as _fl, is_floating, resolve_dtype
from ..op import defop

# -- arithmetic --------------------------------------------------------------------------------
add = defop("add", lambda backend, x, y: x + y, same_kind=True, derivs=("1", "1"))
add.defvjp(lambda ns, g, ans, x, y: g,
           lambda ns, g, ans, x, y: g)

sub = defop("sub", lambda backend, x, y: x - y, same_kind=True, derivs=("1", "-1"))
sub.defvjp(lambda ns, g, ans, x, y: g,
           lambda ns, g, ans, x, y: -g)

mul = defop("mul", lambda backend, x, y: x * y, same_kind=True, save=(0, 1), vjp_reads=((1,), (0,)),
            derivs=("y", "x"))
mul.defvjp(lambda ns, g, ans, x, y: g * y,
           lambda ns, g, ans, x, y: g * x)

def _true_divide(backend, x, y):
    # int / int is a floating op: the default float dtype (PyTorch's rule), not NumPy's float64.
    if getattr(x, "dtype", None) is not None and x.dtype.kind in "biu" and (
            getattr(y, "dtype", None) is None or y.dtype.kind in "biu"):
        x = _fl(lambda backend, x: x)(backend, x)
    return x / y


div = defop("div", _true_divide, same_kind=True, save=(1,), save_ans=True, derivs=("1/y", "-x/y²"))
div.defvjp(lambda ns, g, ans, x, y: g / y,
           lambda ns, g, ans, x, y: -g * ans / y)

neg = defop("neg", lambda backend, x: -x, derivs=("-1",))
neg.defvjp(lambda ns, g, ans, x: -g)



# The derivatives of powers follow their limits at the formula's edges, as PyTorch's do:
# d/dx x**0 = 0 (not 0 * x**-1 = NaN at x = 0), d/dy x**y = 0 at x = 0 for y >= 0
# (not x**y * log 0 = 0 * -inf). The masked values are replaced inside the formula too, so the
# gradient of the gradient (create_graph) is finite there as well.

# x ** p for a constant exponent p: its own op, so x = 0 with p >= 1 has a finite gradient. The
# forward is xp.power with p in x's dtype, one spelling for every dtype: NumPy's ``x ** 0.5`` and
# ``power(x, 0.5)`` take a sqrt shortcut that ``power(x, float16(0.5))`` does not ((-inf) ** 0.5 in
# float16: NaN against IEEE pow's +inf), so the spelling used to change the answer.
def _power_fwd(backend, x, p):
    # 0 ** -0.5 = inf and (-inf) ** 0.5 = inf/NaN are IEEE pow's answers, which PyTorch gives
    # without a word; NumPy adds a RuntimeWarning per call (np.errstate is harmless around CuPy).
    with np.errstate(divide="ignore", invalid="ignore"):
        return backend.xp.power(x, x.dtype.type(p) if x.dtype.kind == "f" else p)


_power_of_float = _fl(_power_fwd)   # a fractional power of an integer tensor is a floating op

power = defop("power", lambda backend, x, p: _power_of_float(backend, x, p) if not float(p).is_integer()
              else _power_fwd(backend, x, p), save=(0,), derivs=("p·x^(p-1)",))
power.defvjp(lambda ns, g, ans, x, p: ns.zeros_like(g) if p == 0 else g * p * x ** (p - 1))


def _in_dtype_of(ns, v, ans):
    """``v`` in the result's dtype: a float16 base of a float32 power must not take its log in float16."""
    return v if v.dtype == ans.dtype or v.dtype.kind != "f" else ns.astype(v, ans.dtype)


def _dpow_dx(ns, g, ans, x, y):
    x, y = _in_dtype_of(ns, x, ans), _in_dtype_of(ns, y, ans)
    zero = y == 0
    return ns.where(zero, 0, g * y * ns.where(zero, 1, x) ** (y - 1))


def _dpow_dy(ns, g, ans, x, y):
    x, y = _in_dtype_of(ns, x, ans), _in_dtype_of(ns, y, ans)
    edge = (x == 0) & (y >= 0)
    return ns.where(edge, 0, g * ans * ns.log(ns.where(edge, 1, x)))


pow = defop("pow", lambda backend, x, y: x ** y, same_kind=True, save=(0, 1), save_ans=True,  # noqa: A001
            vjp_reads=((0, 1), (0, 1)),   # the exponent's VJP reads y too (x = 0 edge, dtype)
            derivs=("y·x^(y-1)", "x^y·log(x)"))
pow.defvjp(_dpow_dx, _dpow_dy)


def _rpow_vjp(ns, g, ans, y, c):
    if c > 0:
        return g * ans * math.log(c)
    if c == 0:   # 0 ** y: 0 for y > 0 (gradient 0, PyTorch's convention), inf for y < 0
        return ns.where(y >= 0, 0, -g * ans)
    return g * ans * math.nan   # log of a negative base: undefined, as PyTorch's NaN


# c ** y for a Python-scalar base c (``2 ** x``): its own op, so its VJP needs no Tensor base.
rpow = defop("rpow", lambda backend, y, c: _fl(lambda backend, y: c ** y)(backend, y) if isinstance(c, float)
             else c ** y, save=(0,), save_ans=True, derivs=("c^y·log(c)",))
rpow.defvjp(_rpow_vjp)


def _share(ns, g, x, y):
    """g where x wins, g/2 on ties, 0 where y wins: ties share the gradient (as PyTorch does).

    Selected, not g * [x > y]: the loser of a clamp (maximum(log p, -100) at p = 0) must get 0
    even when g is inf or NaN, where the product would give inf * 0 = NaN."""
    return ns.where(x > y, g, ns.where(x == y, 0.5 * g, 0))


maximum = defop("maximum", lambda backend, x, y: backend.xp.maximum(x, y), same_kind=True, save=(0, 1),
                derivs=("[x>y]", "[y>x]"))
maximum.defvjp(lambda ns, g, ans, x, y: _share(ns, g, x, y),
               lambda ns, g, ans, x, y: _share(ns, g, y, x))

minimum = defop("minimum", lambda backend, x, y: backend.xp.minimum(x, y), same_kind=True, save=(0, 1),
                derivs=("[x<y]", "[y<x]"))
minimum.defvjp(lambda ns, g, ans, x, y: _share(ns, g, y, x),
               lambda ns, g, ans, x, y: _share(ns, g, x, y))

where = defop("where", lambda backend, c, x, y: backend.xp.where(c, x, y), save=(0,),
              derivs=(None, "[c]", "[not c]"))
where.defvjp(None,
             lambda ns, g, ans, c, x, y: ns.where(c, g, 0),
             lambda ns, g, ans, c, x, y: ns.where(c, 0, g))

# -- unary math --------------------------------------------------------------------------------
exp = defop("exp", _fl(lambda backend, x: backend.xp.exp(x)), save_ans=True, derivs=("exp(x)",))
exp.defvjp(lambda ns, g, ans, x: g * ans)

log = defop("log", _fl(lambda backend, x: backend.xp.log(x)), save=(0,), derivs=("1/x",))
log.defvjp(lambda ns, g, ans, x: g / x)

# log(1 + x) and exp(x) - 1 without the cancellation of their textbook forms near x = 0 (log1p(1e-9)
# is 1e-9; log(1 + 1e-9) in float32 is 0): the tails of softplus, the BCE family, ELU-likes.
log1p = defop("log1p", _fl(lambda backend, x: backend.xp.log1p(x)), save=(0,), derivs=("1/(1+x)",))
log1p.defvjp(lambda ns, g, ans, x: g / (1 + x))

expm1 = defop("expm1", _fl(lambda backend, x: backend.xp.expm1(x)), save_ans=True, derivs=("exp(x)",))
expm1.defvjp(lambda ns, g, ans, x: g * (ans + 1))

sqrt = defop("sqrt", _fl(lambda backend, x: backend.xp.sqrt(x)), save_ans=True, derivs=("1/(2√x)",))
sqrt.defvjp(lambda ns, g, ans, x: g / (2 * ans))

sin = defop("sin", _fl(lambda backend, x: backend.xp.sin(x)), save=(0,), derivs=("cos(x)",))
sin.defvjp(lambda ns, g, ans, x: g * ns.cos(x))

cos = defop("cos", _fl(lambda backend, x: backend.xp.cos(x)), save=(0,), derivs=("-sin(x)",))
cos.defvjp(lambda ns, g, ans, x: -g * ns.sin(x))

tanh = defop("tanh", _fl(lambda backend, x: backend.xp.tanh(x)), save_ans=True, derivs=("1-tanh²(x)",))
tanh.defvjp(lambda ns, g, ans, x: g * (1 - ans * ans))

abs = defop("abs", lambda backend, x: backend.xp.abs(x), save=(0,), derivs=("sign(x)",))  # noqa: A001
abs.defvjp(lambda ns, g, ans, x: g * ns.sign(x))

def _clip_fwd(backend, x, lo, hi):
    if lo is None and hi is None:
        return x.copy()
    return backend.xp.clip(x, lo, hi)


def _inside(x, lo, hi):
    """[lo <= x <= hi], a bound of None being no bound: the gradient passes at the bounds too (PyTorch)."""
    if lo is None:
        return x <= hi
    if hi is None:
        return x >= lo
    return (x >= lo) & (x <= hi)


# A bound of None is no bound (not ±inf: that would turn an integer tensor into floats).
clip = defop("clip", _clip_fwd, save=(0,), derivs=("[lo≤x≤hi]", None, None))
clip.defvjp(lambda ns, g, ans, x, lo, hi: g if lo is None and hi is None else ns.where(_inside(x, lo, hi), g, 0),
            None, None)

# -- casts and copies --------------------------------------------------------------------------
def _astype_fwd(backend, x, dtype):
    # A value beyond the target's range becomes +-inf, as in PyTorch, which does not warn; NumPy's
    # "overflow encountered in cast" RuntimeWarning would be noise (float16 results rounded once).
    with np.errstate(over="ignore"):
        return x.astype(dtype)


astype_op = defop("astype", _astype_fwd, derivs=("1",), exact_dtype=True)
astype_op.defvjp(lambda ns, g, ans, x, dtype: ns.astype(g, x.dtype))
# A cast to an integer or bool dtype rounds: it has no gradient, so its result never requires grad.
astype_discrete_op = defop("astype", lambda backend, x, dtype: x.astype(dtype), differentiable=False,
                        exact_dtype=True)

copy = defop("copy", lambda backend, x: x.copy(), derivs=("1",))
copy.defvjp(lambda ns, g, ans, x: g)

# -- non-differentiable: comparisons and sign ------------------------------------------------------
sign = defop("sign", lambda backend, x: backend.xp.sign(x), differentiable=False)
eq = defop("eq", lambda backend, x, y: x == y, differentiable=False)
ne = defop("ne", lambda backend, x, y: x != y, differentiable=False)
lt = defop("lt", lambda backend, x, y: x < y, differentiable=False)
le = defop("le", lambda backend, x, y: x <= y, differentiable=False)
gt = defop("gt", lambda backend, x, y: x > y, differentiable=False)
ge = defop("ge", lambda backend, x, y: x >= y, differentiable=False)
logical_and = defop("logical_and", lambda backend, x, y: backend.xp.logical_and(x, y), differentiable=False)
logical_or = defop("logical_or", lambda backend, x, y: backend.xp.logical_or(x, y), differentiable=False)
logical_not = defop("logical_not", lambda backend, x: backend.xp.logical_not(x), differentiable=False)


def astype(x, dtype):
    """``x`` converted to ``dtype``, as NumPy's ``astype`` (PyTorch's ``to(dtype)``).

    Differentiable between floating dtypes (the gradient is cast back); a cast to an integer or
    bool dtype gives a tensor that does not require grad, as in PyTorch.
    """
    dtype = resolve_dtype(dtype)
    if x.dtype == dtype:
        return x
    return (astype_op if is_floating(dtype) else astype_discrete_op)(x, dtype=dtype)
