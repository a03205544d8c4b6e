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

from ..backends.fused_elementwise import register_elementwise
from .optimizer import Optimizer, direction, float32_step, state_zeros


class RMSprop(Optimizer):
    """RMSprop(params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
    maximize=False); PyTorch's defaults and state names ("step", "square_avg", "momentum_buffer",
    "grad_avg"). Updates in place, one fused kernel per parameter on the GPU.

    >>> opt = gg.optim.RMSprop(model.parameters(), lr=1e-3, momentum=0.9)
    """

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False, *,
                 maximize: bool = False):
        self._require_nonnegative(alpha=alpha, eps=eps, momentum=momentum)
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=bool(centered), maximize=maximize))

    def step(self, closure=None):
        """One update of every parameter that has a gradient (one fused kernel each on the GPU).
        ``closure`` (optional, as in PyTorch) re-evaluates the model and returns the loss, which
        step returns."""
        loss = self._evaluate(closure)
        for group, p, backend, state in self._updates(
                lambda group, data, xp: {"step": 0, "square_avg": state_zeros(xp, data)}):
            xp = backend.xp
            if group["momentum"] > 0 and "momentum_buffer" not in state:
                state["momentum_buffer"] = state_zeros(xp, p._data)
            if group["centered"] and "grad_avg" not in state:
                state["grad_avg"] = state_zeros(xp, p._data)
            rmsprop_update(backend, p._data, p.grad._data, state, group["lr"], group["alpha"], group["eps"],
                                   group["weight_decay"], group["momentum"], group["centered"],
                                   maximize=group["maximize"])
        return loss


# -- the update: PyTorch's formula on an array module, and the same formula as one fused CuPy kernel --
def _rmsprop_formula(xp, p, g, state, lr, alpha, eps, weight_decay, momentum, centered, maximize=False):
    """PyTorch's RMSprop step, in place on ``p`` and ``state["square_avg"]`` (plus
    ``state["momentum_buffer"]`` with momentum > 0, ``state["grad_avg"]`` when centered)."""
    state["step"] += 1
    d, _ = direction(xp, p, g, weight_decay, maximize)
    sq = state["square_avg"]
    tmp = xp.multiply(d, d, out=xp.empty_like(sq))          # the one temporary, reused below
    tmp *= 1 - alpha
    sq *= alpha
    sq += tmp
    if centered:
        ga = state["grad_avg"]
        xp.multiply(d, 1 - alpha, out=tmp)
        ga *= alpha
        ga += tmp
        xp.multiply(ga, ga, out=tmp)
        xp.subtract(sq, tmp, out=tmp)
        xp.sqrt(tmp, out=tmp)
    else:
        xp.sqrt(sq, out=tmp)
    tmp += eps
    xp.divide(d, tmp, out=tmp)
    if momentum > 0:
        buf = state["momentum_buffer"]
        buf *= momentum
        buf += tmp
        xp.multiply(buf, lr, out=tmp)
    else:
        tmp *= lr
    p -= tmp


def _rmsprop_fused(backend, p, g, state, lr, alpha, eps, weight_decay, momentum, centered, maximize=False):
    state["step"] += 1      # not in the formula: a host count, as in PyTorch's state
    t = p.dtype.type
    name = "rmsprop" + ("_centered" if centered else "") + ("_momentum" if momentum > 0 else "")
    outs = [p, state["square_avg"]] + ([state["grad_avg"]] if centered else []) + (
        [state["momentum_buffer"]] if momentum > 0 else [])
    backend.elementwise(name)(g, t(lr), t(alpha), t(eps), t(weight_decay), t(momentum), int(maximize), *outs)


def _rmsprop_kernel(centered: bool, momentum: bool):
    """RMSprop: the running mean of g^2 (minus the squared mean of g when centered), then a momentum
    buffer of the normalised step or the step itself."""
    outs = "T p, T sq" + (", T ga" if centered else "") + (", T buf" if momentum else "")
    body = """
        const T d = (maximize ? (T)-g : g) + wd * p;
        sq = alpha * sq + ((T)1 - alpha) * d * d;
        """ + ("""ga = alpha * ga + ((T)1 - alpha) * d;
        const T avg = sqrt(sq - ga * ga) + eps;
        """ if centered else """const T avg = sqrt(sq) + eps;
        """) + ("""buf = mom * buf + d / avg;
        p -= lr * buf;
        """ if momentum else """p -= lr * (d / avg);
        """)
    return ("T g, T lr, T alpha, T eps, T wd, T mom, int32 maximize", outs, body)


# The fused kernels, as (input params, output params, body) for cupy.ElementwiseKernel; plain data so
# tests compile them with nvcc without a GPU (tests/test_cuda_kernel_sources.py).
register_elementwise({
    **{"rmsprop" + ("_centered" if c else "") + ("_momentum" if m else ""): _rmsprop_kernel(c, m)
       for c in (False, True) for m in (False, True)},
})


@float32_step
def rmsprop_update(backend, p, g, state, lr, alpha, eps, weight_decay, momentum, centered, maximize=False):
    """One rmsprop step in place: the fused CuPy kernel where ``backend`` has fused kernels (CUDA),
    else the array formula on ``backend.xp``. Same arguments as ``_rmsprop_formula``."""
    if backend.fuses_elementwise:
        return _rmsprop_fused(backend, p, g, state, lr, alpha, eps, weight_decay, momentum, centered, maximize)
    return _rmsprop_formula(backend.xp, p, g, state, lr, alpha, eps, weight_decay, momentum, centered, maximize)
