"""PyTorch's elementwise and comparison functions that are compositions of the op table:
``log2``, ``log10``, ``rsqrt``, ``square``, ``reciprocal``, ``frac``, ``lerp``, ``hypot``, ``xlogy``,
``logical_and/or/not/xor``, ``eq/ne/lt/le/gt/ge``, ``isclose``, each as PyTorch 2.x documents it.
No new derivative formula: each gradient is the chain rule through the ops it is made of."""
from __future__ import annotations

import math

import numpy as np

from .. import ops
from ..backends import get_backend
from ..tensor import Tensor
from . import ops as torch_ops


def log2(x):
    """log base 2, as ``torch.log2``."""
    return ops.log(x) * (1.0 / math.log(2.0))


def log10(x):
    """log base 10, as ``torch.log10``."""
    return ops.log(x) * (1.0 / math.log(10.0))


def rsqrt(x):
    """1 / sqrt(x), as ``torch.rsqrt``."""
    return 1.0 / ops.sqrt(x)


def square(x):
    """x * x, as ``torch.square`` (integers stay integers)."""
    return x * x


def reciprocal(x):
    """1 / x, as ``torch.reciprocal`` (integers give the default float dtype)."""
    return 1.0 / x


def frac(x):
    """x - trunc(x) (the sign of x kept), as ``torch.frac``; gradient 1."""
    return x - torch_ops.trunc(x).detach()


def lerp(input, end, weight):  # noqa: A002
    """input + weight * (end - input), as ``torch.lerp``; differentiable in all three."""
    return input + weight * (end - input)


def hypot(input, other):  # noqa: A002
    """sqrt(input^2 + other^2), as ``torch.hypot``."""
    return ops.sqrt(input * input + other * other)


def xlogy(input, other):  # noqa: A002
    """input * log(other), 0 where input is 0 (even for other = 0), as ``torch.xlogy``."""
    if not isinstance(input, Tensor):
        input = Tensor._wrap(get_backend(other.device).xp.asarray(input, dtype=other.dtype), other.device)
    zero = input == 0
    safe = ops.where(zero, 1.0, other) if isinstance(other, Tensor) else other
    return ops.where(zero, 0.0, input * ops.log(safe))


def _as_bool(x):
    return x if x.dtype == np.bool_ else x != 0


def logical_and(input, other):  # noqa: A002
    """Elementwise ``input and other`` of truth values (nonzero is True), as ``torch.logical_and``."""
    return ops.logical_and(_as_bool(input), _as_bool(other))


def logical_or(input, other):  # noqa: A002
    """Elementwise ``input or other``, as ``torch.logical_or``."""
    return ops.logical_or(_as_bool(input), _as_bool(other))


def logical_not(input):  # noqa: A002
    """Elementwise ``not input``, as ``torch.logical_not``."""
    return ops.logical_not(_as_bool(input))


def logical_xor(input, other):  # noqa: A002
    """Elementwise ``input != other`` of truth values, as ``torch.logical_xor``."""
    return _as_bool(input) != _as_bool(other)


def eq(input, other):  # noqa: A002
    """``input == other`` (bool), as ``torch.eq``."""
    return input == other


def ne(input, other):  # noqa: A002
    """``input != other`` (bool), as ``torch.ne``."""
    return input != other


def lt(input, other):  # noqa: A002
    """``input < other`` (bool), as ``torch.lt``."""
    return input < other


def le(input, other):  # noqa: A002
    """``input <= other`` (bool), as ``torch.le``."""
    return input <= other


def gt(input, other):  # noqa: A002
    """``input > other`` (bool), as ``torch.gt``."""
    return input > other


def ge(input, other):  # noqa: A002
    """``input >= other`` (bool), as ``torch.ge``."""
    return input >= other


def isclose(input, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False):  # noqa: A002
    """|input - other| <= atol + rtol * |other| elementwise (bool), as ``torch.isclose``."""
    xp = get_backend(input.device).xp
    b = other._data if isinstance(other, Tensor) else other
    return Tensor._wrap(xp.isclose(input._data, b, rtol=rtol, atol=atol, equal_nan=equal_nan), input.device)
