"""RMSprop (Hinton's lecture 6e; Graves 2013 for the centered form), PyTorch's update::

    g = -g                                    (maximize)
    g = g + weight_decay * p
    s = alpha * s + (1 - alpha) * g^2
    a = alpha * a + (1 - alpha) * g           (centered)
    avg = sqrt(s - a^2) + eps  (centered)  or  sqrt(s) + eps
    buf = momentum * buf + g / avg; p = p - lr * buf   (momentum > 0)
    p = p - lr * g / avg                               (otherwise)
"""
from __future__ import annotations

from ..backends import get_backend
from .optimizer import Optimizer


class RMSprop(Optimizer):
    """RMSprop(params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
    maximize=False); PyTorch's defaults and state names ("step", "square_avg", "momentum_buffer",
    "grad_avg"). Updates in place, one fused kernel per parameter on the GPU.

    >>> opt = gg.optim.RMSprop(model.parameters(), lr=1e-3, momentum=0.9)
    """

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False, *,
                 maximize: bool = False):
        if not alpha >= 0:
            raise ValueError(f"RMSprop: alpha must be >= 0, got {alpha}")
        if not eps >= 0:
            raise ValueError(f"RMSprop: eps must be >= 0, got {eps}")
        if not momentum >= 0:
            raise ValueError(f"RMSprop: momentum must be >= 0, got {momentum}")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=bool(centered), maximize=maximize))

    def step(self, closure=None):
        """One update of every parameter that has a gradient (one fused kernel each on the GPU).
        ``closure`` (optional, as in PyTorch) re-evaluates the model and returns the loss, which
        step returns."""
        loss = self._evaluate(closure)
        for group, p in self._params():
            if p.grad is None:
                continue
            backend = get_backend(p.device)
            xp = backend.xp
            state = self.state.get(p)
            if state is None:
                state = self.state[p] = {"step": 0, "square_avg": xp.zeros_like(p._data)}
            if group["momentum"] > 0 and "momentum_buffer" not in state:
                state["momentum_buffer"] = xp.zeros_like(p._data)
            if group["centered"] and "grad_avg" not in state:
                state["grad_avg"] = xp.zeros_like(p._data)
            backend.rmsprop_update(p._data, p.grad._data, state, group["lr"], group["alpha"], group["eps"],
                                   group["weight_decay"], group["momentum"], group["centered"],
                                   maximize=group["maximize"])
            p._bump_version()
        return loss
