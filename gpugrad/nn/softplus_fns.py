"""``softplus`` with PyTorch's ``beta`` and ``threshold`` (``torch.nn.functional.softplus``)."""
from __future__ import annotations

from ..ops import exp, log1p, where
from ..tensor import Tensor


def softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta * x)) / beta, and x itself where beta * x > threshold (PyTorch's linear
    regime, gradient 1 there). The gradient is sigmoid(beta * x) everywhere else, 1/2 at 0.

    Each branch sees only its own side (exp of a clamped value), so the branch not taken never
    overflows into a NaN gradient; log1p keeps the tails (softplus(-20) in float32 is 2.06e-9, not
    the 0 of log(1 + 2.06e-9), so log(softplus(x)) stays finite).
    Raises ValueError for beta == 0 (a division by zero in PyTorch's formula).
    """
    beta, threshold = float(beta), float(threshold)
    if beta == 0:
        raise ValueError("softplus: beta must be nonzero (the result is log(1 + exp(beta x)) / beta)")
    z = x * beta if beta != 1.0 else x
    linear = z > threshold
    pos = where(z > 0, z, 0.0)           # log(1 + e^z) = z + log(1 + e^-z) for z > 0
    neg = where(z > 0, 0.0, z)
    soft = where(z > 0, pos + log1p(exp(-pos)), log1p(exp(neg)))
    soft = soft if beta == 1.0 else soft / beta
    return where(linear, x, soft)
