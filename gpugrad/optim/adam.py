"""Adam and AdamW, with PyTorch's update (bias-corrected moments, eps outside the square root)::

    t = t + 1
    g = -g                                    (maximize)
    g = g + weight_decay * p                  (Adam: L2 penalty in the gradient)
    p = p * (1 - lr * weight_decay)           (AdamW: decoupled decay, instead)
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g^2
    v_max = max(v_max, v)                     (amsgrad; then used in place of v)
    p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
"""
from __future__ import annotations

from ..backends import get_backend
from .optimizer import Optimizer


class Adam(Optimizer):
    """Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, maximize=False).

    Updates in place (one fused kernel per parameter on the GPU) and bumps each parameter's
    version counter. Options may differ per param group; state per parameter: "step",
    "exp_avg", "exp_avg_sq" (and "max_exp_avg_sq" with amsgrad), as in PyTorch. Raises
    ValueError for betas outside [0, 1), a negative eps, lr or weight_decay.

    >>> opt = gg.optim.Adam(model.parameters(), lr=1e-3)
    """

    _decoupled = False

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, *, maximize: bool = False):
        b1, b2 = betas
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise ValueError(f"{type(self).__name__}: betas must be in [0, 1), got {betas}")
        if not eps >= 0:
            raise ValueError(f"{type(self).__name__}: eps must be >= 0, got {eps}")
        super().__init__(params, dict(lr=lr, betas=(float(b1), float(b2)), eps=eps,
                                      weight_decay=weight_decay, amsgrad=bool(amsgrad), maximize=maximize))

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
                state = self.state[p] = {"step": 0, "exp_avg": xp.zeros_like(p._data),
                                             "exp_avg_sq": xp.zeros_like(p._data)}
            if group["amsgrad"] and "max_exp_avg_sq" not in state:
                state["max_exp_avg_sq"] = xp.zeros_like(p._data)
            b1, b2 = group["betas"]
            backend.adam_update(p._data, p.grad._data, state, group["lr"], b1, b2, group["eps"],
                                group["weight_decay"], self._decoupled, amsgrad=group["amsgrad"],
                                maximize=group["maximize"])
            p._bump_version()
        return loss


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): p shrinks by lr * weight_decay
    each step, outside the adaptive update. Default weight_decay=1e-2, as in PyTorch."""

    _decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         maximize=maximize)
