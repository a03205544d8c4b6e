"""Activation functions with PyTorch's names and arguments (``torch.nn.functional``): leaky_relu,
gelu, silu, elu, dropout. Composites of the op table, so their gradients (and gradients of
gradients) come from the ops' VJPs; formulas from the PyTorch 2.x documentation."""
from __future__ import annotations

import math

from ..creation import rand
from ..ops import exp, sigmoid, tanh, where
from ..ops.special import erf
from ..tensor import Tensor

_SQRT_HALF = 1.0 / math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def leaky_relu(x: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x where x > 0, else negative_slope * x (gradient negative_slope at 0, as PyTorch).
    ``inplace`` is accepted for compatibility; the result is always a new tensor."""
    return where(x > 0, x, x * float(negative_slope))


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """x * Phi(x) with Phi the standard normal CDF (``approximate="none"``, via erf), or PyTorch's
    tanh approximation 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (``approximate="tanh"``)."""
    if approximate == "none":
        return x * (0.5 + 0.5 * erf(x * _SQRT_HALF))
    if approximate == "tanh":
        return 0.5 * x * (1.0 + tanh(_SQRT_2_OVER_PI * (x + 0.044715 * (x * x * x))))
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def silu(x: Tensor, inplace: bool = False) -> Tensor:
    """x * sigmoid(x) (also called swish)."""
    return x * sigmoid(x)


def elu(x: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x where x > 0, else alpha * (exp(x) - 1). exp sees only x <= 0, so a large positive x never
    overflows into a NaN gradient."""
    return where(x > 0, x, float(alpha) * (exp(where(x > 0, 0.0, x)) - 1.0))


def dropout(x: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p) when ``training``;
    the identity otherwise (as ``torch.nn.functional.dropout``). The mask comes from gpugrad's
    seeded generator (``gg.manual_seed``), not PyTorch's, so masks differ between the two."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be a probability in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0
    keep = rand(x.shape, dtype=x.dtype, device=x.device)
    # The mask is a constant of the graph: a raw array, not a Tensor that requires grad.
    mask = keep._data >= x.dtype.type(p)
    keep._data = mask.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - p))
    return x * keep
