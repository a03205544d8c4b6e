"""Activation functions with PyTorch's names and arguments (``torch.nn.functional``): leaky_relu,
gelu, silu, elu, selu, celu, logsigmoid, hardtanh, relu6, hardsigmoid, dropout. Composites of the
op table, so their gradients (and gradients of gradients) come from the ops' VJPs; formulas from
the PyTorch 2.x documentation.

Two rules hold throughout. A piecewise function selects its pieces with ``where`` (never a 0/1 mask
times a value), and the branch not taken sees a clamped input, so neither overflows into a NaN
gradient. And the tails near 0 use expm1/log1p (elu(-1e-8) is -1e-8, not 0 as exp(x) - 1 gives).
"""
from __future__ import annotations

import math

from ..creation import rand
from ..ops import clip, expm1, sigmoid, tanh, where
from ..ops.special import erf
from ..tensor import Tensor
from .softplus_fns import softplus

_SQRT_HALF = 1.0 / math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
# SELU's constants (Klambauer et al. 2017), to the digits PyTorch uses.
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


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


def _negative_expm1(x: Tensor, alpha: float, inv_scale: float = 1.0) -> Tensor:
    """alpha * expm1(x * inv_scale) evaluated on min(x, 0) only (the x <= 0 piece of ELU-likes)."""
    neg = where(x > 0, 0.0, x)
    return float(alpha) * expm1(neg * inv_scale if inv_scale != 1.0 else neg)


def elu(x: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x where x > 0, else alpha * (exp(x) - 1), as expm1 (exact near 0). exp sees only x <= 0, so a
    large positive x never overflows into a NaN gradient; the slope at 0 is alpha (PyTorch's)."""
    return where(x > 0, x, _negative_expm1(x, alpha))


def selu(x: Tensor, inplace: bool = False) -> Tensor:
    """scale * elu(x, alpha) with SELU's fixed alpha = 1.6733 and scale = 1.0507 (``F.selu``)."""
    return _SELU_SCALE * elu(x, _SELU_ALPHA)


def celu(x: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1)) (``F.celu``); ValueError for alpha = 0."""
    alpha = float(alpha)
    if alpha == 0:
        raise ValueError("celu: alpha must be nonzero (the negative piece divides by it)")
    return where(x > 0, x, _negative_expm1(x, alpha, 1.0 / alpha))


def logsigmoid(x: Tensor) -> Tensor:
    """log(sigmoid(x)) = -softplus(-x), precise in both tails (logsigmoid(-100) is -100, not -inf;
    logsigmoid(20) is -2.06e-9, not 0); ``F.logsigmoid``."""
    return -softplus(-x, threshold=float("inf"))


def _clamped(x: Tensor, lo: float, hi: float, inside: Tensor) -> Tensor:
    """x where ``inside``, else x clamped to [lo, hi] as a constant (gradient 0, selected)."""
    return where(inside, x, clip(x.detach(), lo, hi))


def hardtanh(x: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    """x clamped to [min_val, max_val]; the gradient passes strictly inside the bounds only (0 at
    them, beyond them and at NaN), as PyTorch's hardtanh_backward (clamp passes it at the bounds).
    Selected, so an inf or NaN upstream gradient never reaches a clamped element. ValueError when
    max_val < min_val."""
    lo, hi = float(min_val), float(max_val)
    if hi < lo:
        raise ValueError(f"hardtanh: max_val ({hi}) must be >= min_val ({lo})")
    return _clamped(x, lo, hi, (x > lo) & (x < hi))


def relu6(x: Tensor, inplace: bool = False) -> Tensor:
    """min(max(x, 0), 6): hardtanh(x, 0, 6), with its gradient (0 at 0 and 6), as PyTorch's."""
    return hardtanh(x, 0.0, 6.0)


def hardsigmoid(x: Tensor, inplace: bool = False) -> Tensor:
    """0 for x <= -3, 1 for x >= 3, x / 6 + 1/2 between; gradient 1/6 strictly inside (PyTorch)."""
    return _clamped(x * (1.0 / 6.0) + 0.5, 0.0, 1.0, (x > -3.0) & (x < 3.0))


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
