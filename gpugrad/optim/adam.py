"""Adam and AdamW, with PyTorch's update (bias-corrected moments, eps outside the square root)::

    t = t + 1
    g = g + weight_decay * p                  (Adam: L2 penalty in the gradient)
    p = p * (1 - lr * weight_decay)           (AdamW: decoupled decay, instead)
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g^2
    p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
"""
from __future__ import annotations

import math

from ..backends import get_backend
from .optimizer import Optimizer


class Adam(Optimizer):
    """Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0); updates in place.

    >>> opt = gg.optim.Adam(model.parameters(), lr=1e-3)
    """

    _decoupled = False

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        b1, b2 = betas
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise ValueError(f"{type(self).__name__}: betas must be in [0, 1), got {betas}")
        if not eps >= 0:
            raise ValueError(f"{type(self).__name__}: eps must be >= 0, got {eps}")
        super().__init__(params, dict(lr=lr, betas=(float(b1), float(b2)), eps=eps,
                                      weight_decay=weight_decay))

    def step(self) -> None:
        for group, p in self._params():
            if p.grad is None:
                continue
            xp = get_backend(p.device).xp
            lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            state = self.state.get(id(p))
            if state is None:
                state = self.state[id(p)] = {"step": 0, "exp_avg": xp.zeros_like(p._data),
                                             "exp_avg_sq": xp.zeros_like(p._data)}
            state["step"] += 1
            t = state["step"]
            m, v = state["exp_avg"], state["exp_avg_sq"]
            g = p.grad._data
            if wd != 0:
                if self._decoupled:
                    xp.multiply(p._data, 1 - lr * wd, out=p._data)
                else:
                    g = g + wd * p._data
            xp.multiply(m, b1, out=m)
            m += (1 - b1) * g
            xp.multiply(v, b2, out=v)
            v += (1 - b2) * (g * g)
            denom = xp.sqrt(v)
            denom /= math.sqrt(1 - b2 ** t)
            denom += eps
            step = m / denom
            step *= lr / (1 - b1 ** t)
            p._data -= step
            p._bump_version()


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): p shrinks by lr * weight_decay
    each step, outside the adaptive update. Default weight_decay=1e-2, as in PyTorch."""

    _decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
