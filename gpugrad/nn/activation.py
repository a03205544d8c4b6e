"""Activation and reshaping modules with PyTorch's names and arguments: Softmax, LogSoftmax,
LeakyReLU, GELU, SiLU, ELU, SELU, CELU, LogSigmoid, Hardtanh, ReLU6, Hardsigmoid, Flatten (ReLU, Sigmoid, Tanh, Identity and Dropout are in layers.py).
``inplace=`` is accepted where PyTorch has it; results are always new tensors."""
from __future__ import annotations

from ..ops import flatten
from . import functional as F
from .module import Module
from .softplus_fns import softplus


class Softmax(Module):
    """softmax along ``dim`` (PyTorch's legacy choice when dim is None, see F.softmax)."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """log_softmax along ``dim``."""

    def forward(self, x):
        return F.log_softmax(x, self.dim)


class LeakyReLU(Module):
    """x for x > 0, negative_slope * x otherwise."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope, self.inplace = float(negative_slope), inplace

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class GELU(Module):
    """x * Phi(x); ``approximate="tanh"`` for the tanh approximation."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """x * sigmoid(x)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return F.silu(x)


class ELU(Module):
    """x for x > 0, alpha * (exp(x) - 1) otherwise."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha, self.inplace = float(alpha), inplace

    def forward(self, x):
        return F.elu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class Flatten(Module):
    """Flatten dims start_dim..end_dim (by default everything but the batch dim)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Softplus(Module):
    """log(1 + exp(beta x)) / beta, linear above ``threshold`` (``torch.nn.Softplus``)."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        if float(beta) == 0:
            raise ValueError("Softplus: beta must be nonzero")
        self.beta, self.threshold = float(beta), float(threshold)

    def forward(self, x):
        return softplus(x, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta:g}, threshold={self.threshold:g}"


class SELU(Module):
    """scale * elu(x, alpha) with SELU's fixed constants (``torch.nn.SELU``)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return F.selu(x)


class CELU(Module):
    """max(0, x) + min(0, alpha (exp(x / alpha) - 1)) (``torch.nn.CELU``)."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        if float(alpha) == 0:
            raise ValueError("CELU: alpha must be nonzero")
        self.alpha, self.inplace = float(alpha), inplace

    def forward(self, x):
        return F.celu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class LogSigmoid(Module):
    """log(sigmoid(x)), precise in both tails (``torch.nn.LogSigmoid``)."""

    def forward(self, x):
        return F.logsigmoid(x)


class Hardtanh(Module):
    """x clamped to [min_val, max_val], gradient strictly inside only (``torch.nn.Hardtanh``)."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False):
        super().__init__()
        if float(max_val) < float(min_val):
            raise ValueError(f"Hardtanh: max_val ({max_val}) must be >= min_val ({min_val})")
        self.min_val, self.max_val, self.inplace = float(min_val), float(max_val), inplace

    def forward(self, x):
        return F.hardtanh(x, self.min_val, self.max_val)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}"


class ReLU6(Hardtanh):
    """min(max(x, 0), 6) (``torch.nn.ReLU6``)."""

    def __init__(self, inplace: bool = False):
        super().__init__(0.0, 6.0, inplace)


class Hardsigmoid(Module):
    """0 below -3, 1 above 3, x / 6 + 1/2 between (``torch.nn.Hardsigmoid``)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return F.hardsigmoid(x)
