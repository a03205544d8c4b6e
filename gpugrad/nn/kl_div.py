"""``F.kl_div`` and ``nn.KLDivLoss``: the Kullback-Leibler divergence of a target distribution from
log-probabilities, as ``torch.nn.functional.kl_div`` / ``torch.nn.KLDivLoss``; composed from the op
table.

Pointwise, with ``input`` = log q: ``target * (log target - input)`` (``xlogy``: 0 where target is
0), or with ``log_target=True`` (target given as log p): ``exp(target) * (target - input)``.
"""
from __future__ import annotations

from ..ops import exp, log, where
from ..tensor import Tensor
from .module import Module

REDUCTIONS = ("mean", "batchmean", "sum", "none")


def _xlogy_self(t: Tensor) -> Tensor:
    """t * log(t), 0 at t = 0 (PyTorch's xlogy(t, t)); the masked log keeps the gradient finite there."""
    zero = t == 0
    return where(zero, 0.0, t * log(where(zero, 1.0, t)))


def kl_div(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean",  # noqa: A002
           log_target: bool = False) -> Tensor:
    """KL(target || exp(input)) pointwise, reduced: "mean" (over every element, PyTorch's default, which
    it warns is not the KL divergence), "batchmean" (the sum over the batch size input.shape[0]: the
    mathematical KL per sample), "sum" or "none". ``size_average``/``reduce`` are PyTorch's
    deprecated spellings and raise. Raises TypeError for mixed dtypes, ValueError for shapes that
    differ or an unknown reduction."""
    if size_average is not None or reduce is not None:
        raise ValueError("kl_div: size_average and reduce are deprecated in PyTorch; use reduction=")
    if reduction not in REDUCTIONS:
        raise ValueError(f"kl_div: reduction must be one of {', '.join(REDUCTIONS)}, got {reduction!r}")
    if not isinstance(target, Tensor) or input.dtype != target.dtype:
        what = target.dtype if isinstance(target, Tensor) else type(target).__name__
        raise TypeError(f"kl_div: input is {input.dtype} and target {what}; give both as one floating dtype "
                        f"(e.g. target.to(input.dtype))")
    if input.shape != target.shape:
        raise ValueError(f"kl_div: input shape {input.shape} and target shape {target.shape} differ (PyTorch "
                         f"would broadcast with a warning; pass equal shapes)")
    if log_target:
        pointwise = exp(target) * (target - input)
    else:
        pointwise = _xlogy_self(target) - target * input
    if reduction == "none":
        return pointwise
    total = pointwise.sum()
    if reduction == "sum":
        return total
    if reduction == "batchmean":
        return total / float(input.shape[0]) if input.ndim else total
    return total / float(pointwise.size)


class KLDivLoss(Module):
    """``F.kl_div`` as a module, as ``torch.nn.KLDivLoss(reduction="mean", log_target=False)``."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean", log_target: bool = False):
        super().__init__()
        if size_average is not None or reduce is not None:
            raise ValueError("KLDivLoss: size_average and reduce are deprecated in PyTorch; use reduction=")
        if reduction not in REDUCTIONS:
            raise ValueError(f"KLDivLoss: reduction must be one of {', '.join(REDUCTIONS)}, got {reduction!r}")
        self.reduction, self.log_target = reduction, log_target

    def forward(self, input, target):  # noqa: A002
        return kl_div(input, target, reduction=self.reduction, log_target=self.log_target)
