"""The op table: every op once, its forward beside its VJP, grouped by kind.

The public functions here take Tensors (and Python scalars) and are re-exported as ``gg.exp``,
``gg.sum``, ... and bound as Tensor methods in ``torch_face/tensor_operators.py``.
"""
from .activation import bias_sigmoid, log_softmax, relu, sigmoid, softmax
from .elementwise import (abs, add, astype, clip as _clip, copy, cos, div, eq, exp, expm1, ge, gt, le,
                          log, log1p, logical_and, logical_not, logical_or, lt, maximum, minimum, mul, ne, neg,
                          pow as _pow, power, rpow as _rpow, sign, sin, sqrt, sub, tanh, where)
from .einsum import einsum
from .linalg import linear, matmul
from .reduce import logsumexp, max, mean, min, sum
from .shape import (broadcast_to, concatenate, expand, expand_dims, flatten, getitem, reshape, squeeze,
                    stack, sum_to, swapaxes, transpose, unsqueeze)
from .transfer import to_device
from ..tensor import Tensor as _Tensor



def pow(x, y):  # noqa: A001
    """x ** y (NumPy broadcasting). A constant exponent uses its own op (``power``), and so does a
    Python-scalar base (``2 ** x``, ``rpow``), so neither needs a Tensor in its VJP; each VJP takes
    the limit at the formula's edge (d/dx x**0 = 0, d/dy 0**y = 0 for y >= 0), as PyTorch does.
    """
    if isinstance(y, _Tensor):
        return _rpow(y, c=x) if not isinstance(x, _Tensor) else _pow(x, y)
    if x.dtype.kind in "iu" and isinstance(y, int) and y < 0:  # as NumPy and PyTorch, even when empty
        raise ValueError(f"pow: integers to negative integer powers are not allowed (tensor of dtype "
                         f"{x.dtype}, shape {x.shape}, exponent {y}); cast to a float dtype first")
    return power(x, p=y)


def clip(x, min=None, max=None):  # noqa: A002
    """Limit values to [min, max] (either may be None: no bound), as NumPy's clip / PyTorch's clamp.

    The dtype is kept (an integer tensor with integer bounds stays integer). The gradient passes
    where min <= x <= max, bounds included, and is 0 where clipped (PyTorch's convention).
    """
    return _clip(x, min, max)


__all__ = [n for n in dir() if not n.startswith("_")]
