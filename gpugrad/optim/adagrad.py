"""Adagrad (Duchi, Hazan & Singer 2011), PyTorch's update::

    t = t + 1
    g = -g                                    (maximize)
    g = g + weight_decay * p
    clr = lr / (1 + (t - 1) * lr_decay)
    s = s + g^2                               (s starts at initial_accumulator_value)
    p = p - clr * g / (sqrt(s) + eps)
"""
from __future__ import annotations

from ..backends import get_backend
from .optimizer import Optimizer


class Adagrad(Optimizer):
    """Adagrad(params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
    maximize=False); PyTorch's defaults and state names ("step", "sum"). Updates in place, one
    fused kernel per parameter on the GPU.

    >>> opt = gg.optim.Adagrad(model.parameters(), lr=0.1)
    """

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10, *, maximize: bool = False):
        if not lr_decay >= 0:
            raise ValueError(f"Adagrad: lr_decay must be >= 0, got {lr_decay}")
        if not initial_accumulator_value >= 0:
            raise ValueError(f"Adagrad: initial_accumulator_value must be >= 0, got {initial_accumulator_value}")
        if not eps >= 0:
            raise ValueError(f"Adagrad: eps must be >= 0, got {eps}")
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps,
                                      maximize=maximize))

    def step(self, closure=None):
        """One update of every parameter that has a gradient (one fused kernel each on the GPU).
        ``closure`` (optional, as in PyTorch) re-evaluates the model and returns the loss, which
        step returns."""
        loss = self._evaluate(closure)
        for group, p in self._params():
            if p.grad is None:
                continue
            backend = get_backend(p.device)
            state = self.state.get(p)
            if state is None:
                # PyTorch fills the accumulator when the optimizer is built; a lazy fill from the
                # group's value is the same for every step taken.
                state = self.state[p] = {"step": 0, "sum": backend.xp.full_like(
                    p._data, group["initial_accumulator_value"])}
            backend.adagrad_update(p._data, p.grad._data, state, group["lr"], group["lr_decay"],
                                   group["weight_decay"], group["eps"], maximize=group["maximize"])
            p._bump_version()
        return loss
