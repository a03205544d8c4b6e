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

from ..backends.fused_elementwise import register_elementwise
from ..backends.cuda_runtime import note_lazy_state
from .optimizer import Optimizer, direction, float32_step


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
        for group, p, backend, state in self._updates():
            mom = group["momentum"]
            if mom != 0 and state is None:       # plain SGD keeps no state, as PyTorch's
                note_lazy_state(self.state, p)
                state = self.state[p] = {}
            buf = sgd_update(
                backend, p._data, p.grad._data, state.get("momentum_buffer") if mom != 0 else None,
                group["lr"], mom, group["dampening"], group["weight_decay"], group["nesterov"],
                maximize=group["maximize"])
            if mom != 0 and state.get("momentum_buffer") is not buf:
                note_lazy_state(state, "momentum_buffer")
                state["momentum_buffer"] = buf
        return loss


# -- the update: PyTorch's formula on an array module, and the same formula as one fused CuPy kernel --
def _sgd_formula(xp, p, g, buf, lr, momentum, dampening, weight_decay, nesterov, maximize=False):
    """PyTorch's SGD step, in place on ``p`` and on ``buf``, the momentum buffer.

    Returns the buffer to keep: with momentum, ``buf`` None (the first step) starts a new one
    holding the (decayed) gradient; without momentum, None.
    """
    d, owned = direction(xp, p, g, weight_decay, maximize)
    if momentum != 0:
        if buf is None:
            buf = xp.array(d, dtype=p.dtype, copy=True)
        else:
            buf *= momentum
            if dampening == 0:
                buf += d
            else:
                buf += (1 - dampening) * d
        if nesterov:
            if not owned:
                d, owned = xp.multiply(buf, momentum, out=xp.empty_like(buf)), True
                d += g
            else:
                d += momentum * buf
        else:
            d, owned = buf, False
    if owned:
        d *= lr
        p -= d
    else:
        p -= lr * d
    return buf


def _sgd_fused(backend, p, g, buf, lr, momentum, dampening, weight_decay, nesterov, maximize=False):
    t = p.dtype.type
    if momentum == 0:
        backend.elementwise("sgd")(g, t(lr), t(weight_decay), int(maximize), p)
        return None
    if buf is None:   # first step: the buffer starts as the (decayed) gradient
        buf = backend.xp.empty_like(p)
        first = 1
    else:
        first = 0
    backend.elementwise("sgd_momentum")(g, t(lr), t(momentum), t(1 - dampening), t(weight_decay),
                                        int(nesterov), first, int(maximize), p, buf)
    return buf


# The fused kernels, as (input params, output params, body) for cupy.ElementwiseKernel; plain data so
# tests compile them with nvcc without a GPU (tests/test_cuda_kernel_sources.py).
register_elementwise({
    "sgd": ("T g, T lr, T wd, int32 maximize", "T p", "p -= lr * ((maximize ? (T)-g : g) + wd * p);"),
    "sgd_momentum": (
        "T g, T lr, T mom, T keep, T wd, int32 nesterov, int32 first, int32 maximize", "T p, T buf",
        """
        T d = (maximize ? (T)-g : g) + wd * p;
        buf = first ? d : (T)(mom * buf + keep * d);
        p -= lr * (nesterov ? (T)(d + mom * buf) : buf);
        """),
})


@float32_step
def sgd_update(backend, p, g, buf, lr, momentum, dampening, weight_decay, nesterov, maximize=False):
    """One sgd step in place: the fused CuPy kernel where ``backend`` has fused kernels (CUDA),
    else the array formula on ``backend.xp``. Same arguments as ``_sgd_formula``."""
    if backend.fuses_elementwise:
        return _sgd_fused(backend, p, g, buf, lr, momentum, dampening, weight_decay, nesterov, maximize)
    return _sgd_formula(backend.xp, p, g, buf, lr, momentum, dampening, weight_decay, nesterov, maximize)
