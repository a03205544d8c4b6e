"""NAdam (Dozat 2016, "Incorporating Nesterov Momentum into Adam"), PyTorch's update::

    t = t + 1
    g = -g                                              (maximize)
    p = p * (1 - lr * weight_decay)                     (decoupled_weight_decay)
    g = g + weight_decay * p                            (otherwise: L2 penalty in the gradient)
    mu_t = beta1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))
    mu_{t+1} = beta1 * (1 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
    mu_product = mu_product * mu_t
    m = lerp(m, g, 1 - beta1)
    v = beta2 * v + (1 - beta2) * g^2
    denom = sqrt(v / (1 - beta2^t)) + eps
    p = p - lr (1 - mu_t) / (1 - mu_product) * g / denom - lr mu_{t+1} / (1 - mu_product mu_{t+1}) * m / denom
"""
from __future__ import annotations

import numpy as np

from ..dtypes import get_default_dtype
from .optimizer import Optimizer, decayed_direction, float32_step, state_zeros


class NAdam(Optimizer):
    """NAdam(params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3,
    decoupled_weight_decay=False, maximize=False): PyTorch's defaults and state ("step",
    "mu_product", "exp_avg", "exp_avg_sq").

    ``mu_product`` is a 0-d NumPy array on the host in the default float dtype (float32 unless
    ``gg.set_default_dtype``), as PyTorch keeps it (a CPU tensor of its default dtype), so the two
    round it alike. Updates in place with array operations on every device (no fused kernel;
    each step reads mu_product on the host). Raises ValueError for betas outside [0, 1), a
    negative lr, eps, weight_decay or momentum_decay.

    >>> opt = gg.optim.NAdam(model.parameters(), lr=2e-3)
    """

    _host_scalar_state = ("mu_product",)

    def __init__(self, params, lr: float = 2e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, maximize: bool = False):
        b1, b2 = betas
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise ValueError(f"NAdam: betas must be in [0, 1), got {betas}")
        self._require_nonnegative(eps=eps, momentum_decay=momentum_decay)
        super().__init__(params, dict(lr=lr, betas=(float(b1), float(b2)), eps=eps, weight_decay=weight_decay,
                                      momentum_decay=momentum_decay,
                                      decoupled_weight_decay=bool(decoupled_weight_decay), maximize=maximize))

    def step(self, closure=None):
        """One update of every parameter that has a gradient. ``closure`` (optional, as in PyTorch)
        re-evaluates the model and returns the loss, which step returns."""
        loss = self._evaluate(closure)
        for group, p, backend, state in self._updates(_new_nadam_state):
            b1, b2 = group["betas"]
            nadam_formula(backend.xp, p._data, p.grad._data, state, group["lr"], b1, b2, group["eps"],
                          group["weight_decay"], group["momentum_decay"], group["decoupled_weight_decay"],
                          group["maximize"])
        return loss


def _new_nadam_state(group, data, xp) -> dict:
    return {"step": 0, "mu_product": np.ones((), dtype=get_default_dtype()),
            "exp_avg": state_zeros(xp, data), "exp_avg_sq": state_zeros(xp, data)}


def lerp_(xp, start, end, weight):
    """start <- start + weight (end - start), in place, in PyTorch's two-branch form (exact at
    weight 1: end - (end - start) (1 - weight) for weight >= 0.5)."""
    diff = xp.subtract(end, start, out=xp.empty_like(start))
    if abs(weight) < 0.5:
        diff *= weight
        start += diff
    else:
        diff *= 1 - weight
        xp.subtract(end, diff, out=start)


@float32_step   # float16 parameters step in float32 with float32 state (issue 21)
def nadam_formula(xp, p, g, state, lr, beta1, beta2, eps, weight_decay, momentum_decay, decoupled,
                  maximize=False):
    """PyTorch's single-tensor NAdam step, in place on ``p`` and the state arrays."""
    state["step"] += 1
    t = state["step"]
    bias_correction2 = 1 - beta2 ** t
    d = decayed_direction(xp, p, g, lr, weight_decay, decoupled, maximize)
    mu = beta1 * (1.0 - 0.5 * (0.96 ** (t * momentum_decay)))
    mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((t + 1) * momentum_decay)))
    mp = state["mu_product"]
    mp *= mu                         # in mu_product's own dtype, as PyTorch's tensor
    mu_product = float(mp)
    m, v = state["exp_avg"], state["exp_avg_sq"]
    lerp_(xp, m, d, 1 - beta1)
    v *= beta2
    v += (1 - beta2) * d * d
    denom = xp.sqrt(v / bias_correction2) + eps
    p += (-lr * (1.0 - mu) / (1.0 - mu_product)) * (d / denom)
    p += ((-lr * mu_next) / (1.0 - mu_product * mu_next)) * (m / denom)
