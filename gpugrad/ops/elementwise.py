"""Elementwise ops: arithmetic, unary math, comparisons, casts. Each forward beside its VJP.

Binary ops broadcast like NumPy; the engine sums each gradient back to its input's shape
(``sum_to``), so the VJPs below are written as if no broadcasting happened.
"""
from __future__ import annotations

from ..dtypes import resolve_dtype
from ..function import defop

# -- arithmetic --------------------------------------------------------------------------------
add = defop("add", lambda b, x, y: x + y, derivs=("1", "1"))
add.defvjp(lambda F, g, ans, x, y: g,
           lambda F, g, ans, x, y: g)

sub = defop("sub", lambda b, x, y: x - y, derivs=("1", "-1"))
sub.defvjp(lambda F, g, ans, x, y: g,
           lambda F, g, ans, x, y: -g)

mul = defop("mul", lambda b, x, y: x * y, save=(0, 1), derivs=("y", "x"))
mul.defvjp(lambda F, g, ans, x, y: g * y,
           lambda F, g, ans, x, y: g * x)

div = defop("div", lambda b, x, y: x / y, save=(1,), save_ans=True, derivs=("1/y", "-x/y²"))
div.defvjp(lambda F, g, ans, x, y: g / y,
           lambda F, g, ans, x, y: -g * ans / y)

neg = defop("neg", lambda b, x: -x, derivs=("-1",))
neg.defvjp(lambda F, g, ans, x: -g)

# x ** p for a constant exponent p: its own op, so x = 0 with p >= 1 has a finite gradient.
power = defop("power", lambda b, x, p: x ** p, save=(0,), derivs=("p·x^(p-1)",))
power.defvjp(lambda F, g, ans, x, p: g * p * x ** (p - 1))


def _log_positive(F, x):
    """log(x) where x > 0, else 0: the d/dy of x**y is taken as 0 where log x is undefined."""
    pos = x > 0
    return F.where(pos, F.log(F.where(pos, x, 1)), 0)


pow = defop("pow", lambda b, x, y: x ** y, save=(0, 1), save_ans=True,  # noqa: A001
            derivs=("y·x^(y-1)", "x^y·log(x)"))
pow.defvjp(lambda F, g, ans, x, y: g * y * x ** (y - 1),
           lambda F, g, ans, x, y: g * ans * _log_positive(F, x))


def _share(g, x, y):
    """g where x wins, g/2 on ties, 0 where y wins: ties share the gradient (as PyTorch does)."""
    return g * (x > y) + (0.5 * g) * (x == y)


maximum = defop("maximum", lambda b, x, y: b.xp.maximum(x, y), save=(0, 1),
                derivs=("[x>y]", "[y>x]"))
maximum.defvjp(lambda F, g, ans, x, y: _share(g, x, y),
               lambda F, g, ans, x, y: _share(g, y, x))

minimum = defop("minimum", lambda b, x, y: b.xp.minimum(x, y), save=(0, 1),
                derivs=("[x<y]", "[y<x]"))
minimum.defvjp(lambda F, g, ans, x, y: _share(g, y, x),
               lambda F, g, ans, x, y: _share(g, x, y))

where = defop("where", lambda b, c, x, y: b.xp.where(c, x, y), save=(0,),
              derivs=(None, "[c]", "[not c]"))
where.defvjp(None,
             lambda F, g, ans, c, x, y: F.where(c, g, 0),
             lambda F, g, ans, c, x, y: F.where(c, 0, g))

# -- unary math --------------------------------------------------------------------------------
exp = defop("exp", lambda b, x: b.xp.exp(x), save_ans=True, derivs=("exp(x)",))
exp.defvjp(lambda F, g, ans, x: g * ans)

log = defop("log", lambda b, x: b.xp.log(x), save=(0,), derivs=("1/x",))
log.defvjp(lambda F, g, ans, x: g / x)

sqrt = defop("sqrt", lambda b, x: b.xp.sqrt(x), save_ans=True, derivs=("1/(2√x)",))
sqrt.defvjp(lambda F, g, ans, x: g / (2 * ans))

sin = defop("sin", lambda b, x: b.xp.sin(x), save=(0,), derivs=("cos(x)",))
sin.defvjp(lambda F, g, ans, x: g * F.cos(x))

cos = defop("cos", lambda b, x: b.xp.cos(x), save=(0,), derivs=("-sin(x)",))
cos.defvjp(lambda F, g, ans, x: -g * F.sin(x))

tanh = defop("tanh", lambda b, x: b.xp.tanh(x), save_ans=True, derivs=("1-tanh²(x)",))
tanh.defvjp(lambda F, g, ans, x: g * (1 - ans * ans))

abs = defop("abs", lambda b, x: b.xp.abs(x), save=(0,), derivs=("sign(x)",))  # noqa: A001
abs.defvjp(lambda F, g, ans, x: g * F.sign(x))

clip = defop("clip", lambda b, x, lo, hi: b.xp.clip(x, lo, hi), save=(0,),
             derivs=("[lo≤x≤hi]", None, None))
clip.defvjp(lambda F, g, ans, x, lo, hi: F.where((x >= lo) * (x <= hi), g, 0), None, None)

# -- casts and copies --------------------------------------------------------------------------
astype = defop("astype", lambda b, x, dtype: x.astype(dtype), derivs=("1",), exact_dtype=True)
astype.defvjp(lambda F, g, ans, x, dtype: F.astype(g, x.dtype))

copy = defop("copy", lambda b, x: x.copy(), derivs=("1",))
copy.defvjp(lambda F, g, ans, x: g)

# -- non-differentiable: comparisons and sign ------------------------------------------------------
sign = defop("sign", lambda b, x: b.xp.sign(x), differentiable=False)
eq = defop("eq", lambda b, x, y: x == y, differentiable=False)
ne = defop("ne", lambda b, x, y: x != y, differentiable=False)
lt = defop("lt", lambda b, x, y: x < y, differentiable=False)
le = defop("le", lambda b, x, y: x <= y, differentiable=False)
gt = defop("gt", lambda b, x, y: x > y, differentiable=False)
ge = defop("ge", lambda b, x, y: x >= y, differentiable=False)
logical_and = defop("logical_and", lambda b, x, y: b.xp.logical_and(x, y), differentiable=False)
logical_or = defop("logical_or", lambda b, x, y: b.xp.logical_or(x, y), differentiable=False)
logical_not = defop("logical_not", lambda b, x: b.xp.logical_not(x), differentiable=False)


def cast(x, dtype):
    """``x`` converted to ``dtype`` (differentiable between floating dtypes)."""
    dtype = resolve_dtype(dtype)
    return x if x.dtype == dtype else astype(x, dtype=dtype)
