"""Adamax (Kingma & Ba 2015, section 7: Adam with the infinity norm), PyTorch's update::

    t = t + 1
    g = -g                                    (maximize)
    g = g + weight_decay * p
    m = lerp(m, g, 1 - beta1)
    u = max(beta2 * u, |g| + eps)
    p = p - lr / (1 - beta1^t) * m / u
"""
from __future__ import annotations

from .nadam import lerp_
from .optimizer import Optimizer, direction, float32_step, state_zeros


class Adamax(Optimizer):
    """Adamax(params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, maximize=False):
    PyTorch's defaults and state ("step", "exp_avg", "exp_inf"). Updates in place with array
    operations on every device (no fused kernel). Raises ValueError for betas outside [0, 1), a
    negative lr, eps or weight_decay.

    >>> opt = gg.optim.Adamax(model.parameters(), lr=2e-3)
    """

    def __init__(self, params, lr: float = 2e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, *, maximize: bool = False):
        b1, b2 = betas
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise ValueError(f"Adamax: betas must be in [0, 1), got {betas}")
        self._require_nonnegative(eps=eps)
        super().__init__(params, dict(lr=lr, betas=(float(b1), float(b2)), eps=eps, weight_decay=weight_decay,
                                      maximize=maximize))

    def step(self, closure=None):
        """One update of every parameter that has a gradient. ``closure`` (optional, as in PyTorch)
        re-evaluates the model and returns the loss, which step returns."""
        loss = self._evaluate(closure)
        for group, p, backend, state in self._updates(lambda group, data, xp: {
                "step": 0, "exp_avg": state_zeros(xp, data), "exp_inf": state_zeros(xp, data)}):
            b1, b2 = group["betas"]
            adamax_formula(backend.xp, p._data, p.grad._data, state, group["lr"], b1, b2, group["eps"],
                           group["weight_decay"], group["maximize"])
        return loss


@float32_step   # float16 parameters step in float32 with float32 state (issue 21)
def adamax_formula(xp, p, g, state, lr, beta1, beta2, eps, weight_decay, maximize=False):
    """PyTorch's single-tensor Adamax step, in place on ``p``, ``exp_avg`` and ``exp_inf``."""
    state["step"] += 1
    d, _ = direction(xp, p, g, weight_decay, maximize)
    m, u = state["exp_avg"], state["exp_inf"]
    lerp_(xp, m, d, 1 - beta1)
    u *= beta2
    xp.maximum(u, xp.abs(d) + eps, out=u)
    clr = lr / (1 - beta1 ** state["step"])
    p += -clr * (m / u)
