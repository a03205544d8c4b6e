"""Adagrad (Duchi, Hazan & Singer 2011), PyTorch's update::

    t = t + 1
    g = -g                                    (maximize)
    g = g + weight_decay * p
    clr = lr / (1 + (t - 1) * lr_decay)
    s = s + g^2                               (s starts at initial_accumulator_value)
    p = p - clr * g / (sqrt(s) + eps)
"""
from __future__ import annotations

from ..backends.fused_elementwise import register_elementwise
from .optimizer import Optimizer, device_step, direction, step_scalar, float32_step, state_zeros


class Adagrad(Optimizer):
    """Adagrad(params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
    maximize=False); PyTorch's defaults and state names ("step", "sum"). Updates in place, one
    fused kernel per parameter on the GPU.

    >>> opt = gg.optim.Adagrad(model.parameters(), lr=0.1)
    """

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10, *, maximize: bool = False):
        self._require_nonnegative(lr_decay=lr_decay, initial_accumulator_value=initial_accumulator_value, eps=eps)
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps,
                                      maximize=maximize))

    def step(self, closure=None):
        """One update of every parameter that has a gradient (one fused kernel each on the GPU).
        ``closure`` (optional, as in PyTorch) re-evaluates the model and returns the loss, which
        step returns."""
        loss = self._evaluate(closure)
        # PyTorch fills the accumulator when the optimizer is built; a lazy fill from the group's
        # value is the same for every step taken.
        for group, p, backend, state in self._updates(lambda group, data, xp: {
                "step": 0, "sum": state_zeros(xp, data, group["initial_accumulator_value"])}):
            adagrad_update(backend, p._data, p.grad._data, state, group["lr"], group["lr_decay"],
                                   group["weight_decay"], group["eps"], maximize=group["maximize"])
        return loss


# -- the update: PyTorch's formula on an array module, and the same formula as one fused CuPy kernel --
def _adagrad_formula(xp, p, g, state, lr, lr_decay, weight_decay, eps, maximize=False):
    """PyTorch's Adagrad step, in place on ``p`` and ``state["sum"]``; ``state["step"]`` counts steps.
    The rate is lr / (1 + (step - 1) * lr_decay)."""
    state["step"] += 1
    clr = step_scalar(xp, lr / (1 + (state["step"] - 1) * lr_decay), p.dtype)
    d, _ = direction(xp, p, g, weight_decay, maximize)
    s = state["sum"]
    tmp = xp.multiply(d, d, out=xp.empty_like(s))           # the one temporary, reused below
    s += tmp
    xp.sqrt(s, out=tmp)
    tmp += eps
    xp.divide(d, tmp, out=tmp)
    tmp *= clr
    p -= tmp


def _adagrad_fused(backend, p, g, state, lr, lr_decay, weight_decay, eps, maximize=False):
    step = device_step(backend.xp, state)
    backend.elementwise("adagrad")(g, step, float(lr), float(lr_decay), float(weight_decay), float(eps),
                                    int(maximize), p, state["sum"])


# The fused kernels, as (input params, output params, body) for cupy.ElementwiseKernel; plain data so
# tests compile them with nvcc without a GPU (tests/test_cuda_kernel_sources.py).
register_elementwise({
    # lr / (1 + (step - 1) * lr_decay) in double from the device step count, as PyTorch does on the host.
    "adagrad": (
        "T g, raw int64 step, float64 lr, float64 lr_decay, float64 wd, float64 eps, int32 maximize",
        "T p, T s",
        """
        const T clr = (T)(lr / (1.0 + ((double)step[0] - 1.0) * lr_decay));
        const T d = (maximize ? (T)-g : g) + (T)wd * p;
        s += d * d;
        p -= clr * d / (sqrt(s) + (T)eps);
        """),
})


@float32_step
def adagrad_update(backend, p, g, state, lr, lr_decay, weight_decay, eps, maximize=False):
    """One adagrad step in place: the fused CuPy kernel where ``backend`` has fused kernels (CUDA),
    else the array formula on ``backend.xp``. Same arguments as ``_adagrad_formula``."""
    if backend.fuses_elementwise:
        return _adagrad_fused(backend, p, g, state, lr, lr_decay, weight_decay, eps, maximize)
    return _adagrad_formula(backend.xp, p, g, state, lr, lr_decay, weight_decay, eps, maximize)
