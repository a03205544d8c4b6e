"""``F.gaussian_nll_loss`` / ``nn.GaussianNLLLoss`` and ``F.poisson_nll_loss`` / ``nn.PoissonNLLLoss``:
the negative log-likelihoods a tabular regression reaches for (a predicted variance; counts), as
PyTorch 2.x defines them, composed from the op table."""
from __future__ import annotations

import math

from ..ops import exp, log, where
from ..ops import clip
from ..tensor import Tensor
from .module import Module

_REDUCTIONS = ("mean", "sum", "none")


def _reduce(fn, x, reduction):
    if reduction == "mean":
        return x.mean()
    if reduction == "sum":
        return x.sum()
    if reduction == "none":
        return x
    raise ValueError(f"{fn}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def gaussian_nll_loss(input: Tensor, target: Tensor, var, full: bool = False, eps: float = 1e-6,  # noqa: A002
                      reduction: str = "mean") -> Tensor:
    """0.5 * (log(max(var, eps)) + (input - target)^2 / max(var, eps)) (+ 0.5 log(2 pi) with ``full``),
    as ``torch.nn.functional.gaussian_nll_loss``. ``var``: the input's shape, the input's shape
    without its last dim, or with a last dim of 1 (one variance per sample), or a number. The clamp
    is on the value only: the gradient flows to var as if unclamped (PyTorch clamps under no_grad).
    Raises ValueError for a var of another shape or a negative var."""
    if not isinstance(var, Tensor):
        var = input.new_full(input.shape[:-1] + (1,) if input.ndim else (), float(var))
    if var.shape != input.shape:
        if input.shape[:-1] == var.shape:
            var = var.unsqueeze(-1)
        elif not (input.shape[:-1] == var.shape[:-1] and var.shape[-1:] == (1,)):
            raise ValueError(f"gaussian_nll_loss: var of shape {var.shape} does not fit input of shape "
                             f"{input.shape} (same shape, or one variance per sample)")
    if (var._data < 0).any():
        raise ValueError("gaussian_nll_loss: var has negative entries")
    v = var + (clip(var, eps, None) - var).detach()
    d = input - target
    loss = 0.5 * (log(v) + d * d / v)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce("gaussian_nll_loss", loss, reduction)


def poisson_nll_loss(input: Tensor, target: Tensor, log_input: bool = True, full: bool = False,  # noqa: A002
                     size_average=None, eps: float = 1e-8, reduce=None, reduction: str = "mean") -> Tensor:
    """exp(input) - target * input (``log_input``), or input - target * log(input + eps), plus with
    ``full`` Stirling's target * log(target) - target + 0.5 log(2 pi target) where target > 1, as
    ``torch.nn.functional.poisson_nll_loss``."""
    if size_average is not None or reduce is not None:
        raise ValueError("poisson_nll_loss: size_average and reduce are deprecated in PyTorch; use reduction=")
    loss = exp(input) - target * input if log_input else input - target * log(input + eps)
    if full:
        big = target > 1
        t = where(big, target, 1.0)
        loss = loss + where(big, t * log(t) - t + 0.5 * log(2 * math.pi * t), 0.0)
    return _reduce("poisson_nll_loss", loss, reduction)


class GaussianNLLLoss(Module):
    """``F.gaussian_nll_loss`` as a module: ``loss(input, target, var)``, as ``torch.nn.GaussianNLLLoss``."""

    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean"):
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f"GaussianNLLLoss: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        self.full, self.eps, self.reduction = full, eps, reduction

    def forward(self, input, target, var):  # noqa: A002
        return gaussian_nll_loss(input, target, var, self.full, self.eps, self.reduction)


class PoissonNLLLoss(Module):
    """``F.poisson_nll_loss`` as a module, as ``torch.nn.PoissonNLLLoss``."""

    def __init__(self, log_input: bool = True, full: bool = False, size_average=None, eps: float = 1e-8,
                 reduce=None, reduction: str = "mean"):
        super().__init__()
        if size_average is not None or reduce is not None:
            raise ValueError("PoissonNLLLoss: size_average and reduce are deprecated in PyTorch; use reduction=")
        if reduction not in _REDUCTIONS:
            raise ValueError(f"PoissonNLLLoss: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        self.log_input, self.full, self.eps, self.reduction = log_input, full, eps, reduction

    def forward(self, input, target):  # noqa: A002
        return poisson_nll_loss(input, target, self.log_input, self.full, eps=self.eps, reduction=self.reduction)
