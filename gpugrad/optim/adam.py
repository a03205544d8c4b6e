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

import numpy as np

from .. import cpu_graph
from ..backends.fused_elementwise import register_elementwise
from .optimizer import Optimizer, device_step, direction, float32_step, state_zeros, step_scalar


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
        self._require_nonnegative(eps=eps)
        super().__init__(params, dict(lr=lr, betas=(float(b1), float(b2)), eps=eps,
                                      weight_decay=weight_decay, amsgrad=bool(amsgrad), maximize=maximize))

    def step(self, closure=None):
        """One update of every parameter that has a gradient (one fused kernel each on the GPU).
        ``closure`` (optional, as in PyTorch) re-evaluates the model and returns the loss, which
        step returns."""
        loss = self._evaluate(closure)
        for group, p, backend, state in self._updates(_new_adam_state):
            if group["amsgrad"] and "max_exp_avg_sq" not in state:
                state["max_exp_avg_sq"] = state_zeros(backend.xp, p._data)
            b1, b2 = group["betas"]
            adam_update(backend, p._data, p.grad._data, state, group["lr"], b1, b2, group["eps"],
                                group["weight_decay"], self._decoupled, amsgrad=group["amsgrad"],
                                maximize=group["maximize"])
        return loss


def _new_adam_state(group, data, xp) -> dict:
    return {"step": 0, "exp_avg": state_zeros(xp, data), "exp_avg_sq": state_zeros(xp, data)}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): p shrinks by lr * weight_decay
    each step, outside the adaptive update. Default weight_decay=1e-2, as in PyTorch."""

    _decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         maximize=maximize)


# -- the update: PyTorch's formula on an array module, and the same formula as one fused CuPy kernel --
def _adam_formula(xp, p, g, state, lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad=False,
                maximize=False):
    """PyTorch's Adam/AdamW step in place on ``p``, ``state["exp_avg"]``, ``state["exp_avg_sq"]``
    (and ``state["max_exp_avg_sq"]`` with amsgrad). ``state["step"]`` counts steps (incremented here).
    """
    state["step"] += 1
    t = state["step"]
    if isinstance(t, np.ndarray):
        # the count is a 0-d array since a CPU capture (gpugrad/cpu_graph.py). The bias corrections
        # beta ** t on it are NumPy's power, which differs from Python's float ** int (C pow, what the
        # eager step and PyTorch use) in the last bit for some t (0.9 ** 12, 0.999 ** 7). Outside a
        # capture (eager steps after a fallback) use the Python formula on the count's value. In a
        # capture, float32/float16 parameters round the factor away (it is rounded to their dtype);
        # float64 ones would keep the difference, so such a step is not replayed.
        if not cpu_graph.capturing():
            t = int(t)
        elif p.dtype == np.float64:
            cpu_graph.refuse("Adam's bias corrections (beta ** step) on float64 parameters: a replay's "
                             "NumPy power differs from Python's in the last bit for some steps")
    m, v = state["exp_avg"], state["exp_avg_sq"]
    if decoupled:
        if weight_decay != 0:
            p *= 1 - lr * weight_decay
        d, _ = direction(xp, p, g, 0, maximize)
    else:
        d, _ = direction(xp, p, g, weight_decay, maximize)
    tmp = xp.multiply(d, 1 - beta1, out=xp.empty_like(m))   # the one temporary, reused below
    m *= beta1
    m += tmp
    xp.multiply(d, d, out=tmp)
    tmp *= 1 - beta2
    v *= beta2
    v += tmp
    if amsgrad:
        vmax = state["max_exp_avg_sq"]
        xp.maximum(vmax, v, out=vmax)
        v = vmax
    xp.sqrt(v, out=tmp)
    # xp.power(x, 0.5), not x ** 0.5: NumPy turns an array's ** 0.5 into sqrt, Python's float uses pow
    tmp /= step_scalar(xp, xp.power(1 - beta2 ** t, 0.5) if isinstance(t, xp.ndarray)
                       else (1 - beta2 ** t) ** 0.5, p.dtype)
    tmp += eps
    xp.divide(m, tmp, out=tmp)
    tmp *= step_scalar(xp, lr / (1 - beta1 ** t), p.dtype)
    p -= tmp


def _adam_fused(backend, p, g, state, lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad=False,
                maximize=False):
    step = device_step(backend.xp, state)
    args = (g, step, float(lr), float(beta1), float(beta2), float(eps), float(weight_decay), int(decoupled),
            int(maximize), p, state["exp_avg"], state["exp_avg_sq"])
    if amsgrad:
        backend.elementwise("adam_amsgrad")(*args, state["max_exp_avg_sq"])
    else:
        backend.elementwise("adam")(*args)


def _adam_kernel(amsgrad: bool):
    """Adam/AdamW (decoupled) with or without amsgrad's running max of v. Bias corrections in double
    from the device step count (PyTorch computes them on the host)."""
    return (
        "T g, raw int64 step, float64 lr, float64 b1, float64 b2, float64 eps, float64 wd, "
        "int32 decoupled, int32 maximize", "T p, T m, T v" + (", T vmax" if amsgrad else ""),
        """
        const double t = (double)step[0];
        T d = maximize ? (T)-g : g;
        if (decoupled) { p = p * (T)(1.0 - lr * wd); } else { d = d + (T)wd * p; }
        m = (T)b1 * m + (T)(1.0 - b1) * d;
        v = (T)b2 * v + (T)(1.0 - b2) * d * d;
        """ + ("vmax = max(vmax, v);\n" if amsgrad else "") + """
        const T step_size = (T)(lr / (1.0 - pow(b1, t)));
        const T bc2_sqrt = (T)sqrt(1.0 - pow(b2, t));
        p -= step_size * m / (sqrt(""" + ("vmax" if amsgrad else "v") + """) / bc2_sqrt + (T)eps);
        """)


# The fused kernels, as (input params, output params, body) for cupy.ElementwiseKernel; plain data so
# tests compile them with nvcc without a GPU (tests/test_cuda_kernel_sources.py).
register_elementwise({
    **{name: _adam_kernel(amsgrad) for name, amsgrad in (("adam", False), ("adam_amsgrad", True))},
})


@float32_step
def adam_update(backend, p, g, state, lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad=False, maximize=False):
    """One adam step in place: the fused CuPy kernel where ``backend`` has fused kernels (CUDA),
    else the array formula on ``backend.xp``. Same arguments as ``_adam_formula``."""
    if backend.fuses_elementwise:
        return _adam_fused(backend, p, g, state, lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad, maximize)
    return _adam_formula(backend.xp, p, g, state, lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad, maximize)
