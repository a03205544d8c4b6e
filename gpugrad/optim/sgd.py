"""Stochastic gradient descent with momentum, dampening, Nesterov momentum, L2 weight decay and
maximize: PyTorch's update (torch.optim.SGD), for gradient g of parameter p::

    g = -g                                    (maximize)
    g = g + weight_decay * p
    buf = g                                   (first step)
    buf = momentum * buf + (1 - dampening) * g (later steps)
    g = g + momentum * buf  (nesterov)  or  g = buf
    p = p - lr * g
"""
from __future__ import annotations

from ..backends import get_backend
from .optimizer import Optimizer


class SGD(Optimizer):
    """SGD(params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, maximize=False).

    Updates every parameter in place (one fused kernel each on the GPU) and bumps its version
    counter. Options may differ per param group; state per parameter: "momentum_buffer".
    Raises ValueError for a negative lr/momentum/weight_decay, or nesterov without momentum > 0
    and dampening 0 (PyTorch's rules).

    >>> opt = gg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    >>> loss.backward(); opt.step(); opt.zero_grad()
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False):
        if momentum < 0:
            raise ValueError(f"SGD: momentum must be >= 0, got {momentum}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: nesterov momentum needs momentum > 0 and dampening = 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov, maximize=maximize))

    def step(self, closure=None):
        """One update of every parameter that has a gradient (one fused kernel each on the GPU).
        ``closure`` (optional, as in PyTorch) re-evaluates the model and returns the loss, which
        step returns."""
        loss = self._evaluate(closure)
        for group, p in self._params():
            if p.grad is None:
                continue
            mom = group["momentum"]
            state = self.state.setdefault(p, {}) if mom != 0 else None
            buf = get_backend(p.device).sgd_update(
                p._data, p.grad._data, state.get("momentum_buffer") if mom != 0 else None,
                group["lr"], mom, group["dampening"], group["weight_decay"], group["nesterov"],
                maximize=group["maximize"])
            if mom != 0:
                state["momentum_buffer"] = buf
            p._bump_version()
        return loss
