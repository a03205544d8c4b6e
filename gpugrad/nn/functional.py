"""Stateless neural-network functions: linear, activations, softmax family, losses."""
from __future__ import annotations

import numpy as np

from ..ops import bias_sigmoid, linear, log_softmax, relu, sigmoid, softmax  # noqa: F401
from ..ops.activation import pick_rows
from ..tensor import Tensor, tensor as new_tensor

__all__ = ["linear", "linear_relu", "relu", "sigmoid", "bias_sigmoid", "softmax", "log_softmax", "cross_entropy",
           "mse_loss"]


def _reduce(x, reduction: str, fn: str):
    if reduction == "mean":
        return x.mean()
    if reduction == "sum":
        return x.sum()
    if reduction == "none":
        return x
    raise ValueError(f"{fn}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def linear_relu(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """relu(x @ weight.T + bias) as one fused op (one kernel on the GPU)."""
    return linear(x, weight, bias, activation="relu")


def cross_entropy(logits: Tensor, targets, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy of (N, C) ``logits`` against integer class ``targets`` of shape (N,).

    Computed from log_softmax, so it is finite for logits as large as +-1e4 in float32.
    """
    if not isinstance(targets, Tensor):
        targets = new_tensor(targets, device=logits.device)
    if logits.ndim != 2:
        raise ValueError(f"cross_entropy: logits must be (N, C), got shape {logits.shape}")
    if targets.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: targets must be integer class indices, got dtype "
                        f"{targets.dtype}; convert with targets.astype('int64')")
    if targets.shape != (logits.shape[0],):
        raise ValueError(f"cross_entropy: targets shape {targets.shape} does not match logits shape "
                         f"{logits.shape}: expected ({logits.shape[0]},)")
    if targets.device != logits.device:
        raise RuntimeError(f"cross_entropy: logits are on {logits.device} but targets on "
                           f"{targets.device}; move them to one device")
    # On the CPU a bad target is a ValueError right here. On a GPU that check would wait for the
    # device, so the gather itself turns the loss of a bad row into NaN (see pick_rows) instead.
    if targets.size and isinstance(targets._data, np.ndarray):
        lo, hi = int(targets._data.min()), int(targets._data.max())  # raw reductions: no graph ops
        if lo < 0 or hi >= logits.shape[1]:
            raise ValueError(f"cross_entropy: target class out of range: targets span [{lo}, {hi}] "
                             f"but logits have {logits.shape[1]} classes (valid: 0..{logits.shape[1] - 1})")
    return _reduce(-pick_rows(log_softmax(logits, axis=1), targets), reduction, "cross_entropy")


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Mean squared error between ``input`` and ``target`` (shapes must match)."""
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"mse_loss: input shape {input.shape} and target shape {target.shape} "
                         f"differ; they must match")
    d = input - target
    return _reduce(d * d, reduction, "mse_loss")
