"""Half precision that accumulates in float32: the one rule every reduction and normalisation follows.

PyTorch computes a float16 sum, mean, variance, softmax or norm's statistics in float32 (its
``acc_type``) and rounds once at the end; computing them in float16 overflows at modest values
(the variance of activations ~300 is ~9e4 > 65504, float16's max) and loses every digit of a long
sum. Three helpers, for the three places such code is written:

* ``acc_dtype(dtype)``: the dtype to accumulate a ``dtype`` array in (float32 for float16, else
  ``dtype`` itself), for raw forwards (``x.sum(dtype=acc_dtype(x.dtype))``);
* ``widen(ns, *values)``: inside a VJP (raw arrays or Tensors), the half values cast to float32,
  with the dtype to cast the result back to;
* ``@accumulates_in_float32``: a composite of gpugrad ops (var, std, norm, a loss) run on float32
  copies of its float16 Tensor arguments, its floating results rounded back once. The casts are
  ops, so the gradient flows back through them in float32 too, and is rounded to float16 at the
  input (the engine fits every gradient to its input's dtype).

NumPy has no bfloat16; were one added, it belongs in ``HALF`` too.
"""
from __future__ import annotations

import functools

import numpy as np

from ..tensor import Tensor
from .elementwise import astype

F32 = np.dtype(np.float32)
HALF = frozenset({np.dtype(np.float16)})


def acc_dtype(dtype):
    """The accumulation dtype of ``dtype``: float32 for half precision, ``dtype`` itself otherwise."""
    return F32 if dtype in HALF else dtype


def is_half(dtype) -> bool:
    return dtype in HALF


def widen(ns, *values):
    """``(values, dtype)``: the half-precision ``values`` cast to float32 (others as they are) and
    the dtype of the first one, to cast a result back with ``ns.astype(result, dtype)``."""
    dtype = values[0].dtype
    for v in values:               # the common case (no half value) in a plain loop: a VJP's hot path
        if v.dtype in HALF:
            break
    else:
        return values, dtype
    return tuple(ns.astype(v, F32) if getattr(v, "dtype", None) in HALF else v for v in values), dtype


def narrow(ns, value, dtype):
    """``value`` cast back to ``dtype`` (the rounding once at the end), a no-op when it has it."""
    return value if value.dtype == dtype else ns.astype(value, dtype)


def accumulates_in_float32(fn):
    """Run the composite ``fn(*args, **kwargs)`` in float32 when its floating Tensor arguments are
    all half precision, and round its floating Tensor results (one, or a tuple) back to that dtype.

    Inputs of other dtypes (float32, float64, mixed) run ``fn`` unchanged."""
    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        floating = [a.dtype for a in (*args, *kwargs.values()) if isinstance(a, Tensor) and a.dtype.kind == "f"]
        if not floating or not all(d in HALF for d in floating):
            return fn(*args, **kwargs)
        half = floating[0]

        def up(a):
            return astype(a, F32) if isinstance(a, Tensor) and a.dtype in HALF else a

        out = fn(*(up(a) for a in args), **{k: up(v) for k, v in kwargs.items()})

        def down(o):
            return astype(o, half) if isinstance(o, Tensor) and o.dtype == F32 else o

        return tuple(down(o) for o in out) if isinstance(out, tuple) else down(out)
    return wrapped
