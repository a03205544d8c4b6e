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
from ..backends.cuda_runtime import note_lazy_state
from .optimizer import Optimizer, decayed_direction, device_step, float32_step, state_zeros, step_scalar


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
        corrections, seen_group = {}, None
        for group, p, backend, state in self._updates(_new_adam_state):
            if group["amsgrad"] and "max_exp_avg_sq" not in state:
                note_lazy_state(state, "max_exp_avg_sq")
                state["max_exp_avg_sq"] = state_zeros(backend.xp, p._data)
            b1, b2 = group["betas"]
            if backend.fuses_elementwise and group is not seen_group:
                # the group's step counts advance once, before its first update (one launch)
                seen_group = group
                corrections = advance_step_count(
                    backend, self._group_states(group, _new_adam_state), group["lr"], b1, b2,
                    all_states=list(self.state.values()), cache=self.__dict__.setdefault("_corrections", {}))
            adam_update(backend, p._data, p.grad._data, state, group["lr"], b1, b2, group["eps"],
                        group["weight_decay"], self._decoupled, amsgrad=group["amsgrad"],
                        maximize=group["maximize"], bias_corrections=corrections.get(id(state)))
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
    d = decayed_direction(xp, p, g, lr, weight_decay, decoupled, maximize)
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
                maximize=False, bias_corrections=None):
    """The fused update of one parameter. ``bias_corrections``: the 2-element float64 device array
    [lr / (1 - beta1^t), sqrt(1 - beta2^t)] already advanced for this step (Adam.step shares one per
    param group); without it this parameter's own count is advanced here (one launch more)."""
    if bias_corrections is None:
        bias_corrections = advance_step_count(backend, [state], lr, beta1, beta2)[id(state)]
    args = (g, bias_corrections, float(lr), float(beta1), float(beta2), float(eps), float(weight_decay),
            int(decoupled), int(maximize), p, state["exp_avg"], state["exp_avg_sq"])
    if amsgrad:
        backend.elementwise("adam_amsgrad")(*args, state["max_exp_avg_sq"])
    else:
        backend.elementwise("adam")(*args)


def advance_step_count(backend, states, lr, beta1, beta2, all_states=None, cache=None) -> dict:
    """Advance the step count of every state in ``states`` by one on the device, and compute the
    bias corrections once per count (in float64 by one thread: no per-element pow). Returns
    {id(state): its corrections array, [lr / (1 - beta1^t), sqrt(1 - beta2^t)]}.

    States sharing a count (one device array: the parameters of a group stepped together, the
    common case) advance it with one launch. A count also held by a state of ``all_states`` not
    stepped now is copied first (the holders split); a host count (a new or restored state) becomes
    a device array. Counts and corrections persist across steps (a captured graph advances them on
    every replay), so making one is noted as lazy state (cuda_runtime.note_lazy_state). ``cache``:
    where the corrections arrays are kept (an optimizer's own dict; default a module-wide one)."""
    xp = backend.xp
    corrections = _CORRECTIONS if cache is None else cache
    all_states = states if all_states is None else all_states
    by_source: dict = {}
    for st in states:
        step = st["step"]
        key = id(step) if isinstance(step, xp.ndarray) else ("host", int(step))
        by_source.setdefault(key, []).append(st)
    out = {}
    for sts in by_source.values():
        src = sts[0]["step"]
        if not (isinstance(src, xp.ndarray) and src.shape == (1,) and src.dtype == xp.int64
                and sum(1 for st in all_states if st.get("step") is src) == len(sts)):
            count = (src.astype(xp.int64).reshape(1) if isinstance(src, xp.ndarray)
                     else xp.full((1,), int(src), dtype=xp.int64))
            for st in sts:
                note_lazy_state(st, "step")
                st["step"] = count
            src = count
        entry = corrections.get(id(src))
        if entry is None or entry[0] is not src:
            note_lazy_state(corrections, id(src))
            entry = corrections[id(src)] = (src, xp.empty((2,), dtype=xp.float64))
        backend.elementwise("adam_step")(float(lr), float(beta1), float(beta2), src, entry[1], size=1)
        for st in sts:
            out[id(st)] = entry[1]
    return out


#: id(step count array) -> (that array, its bias corrections array), for callers without a cache of
#: their own (Adam.step keeps one per optimizer, dropped with it). The array is kept in the entry so
#: a reused id is never mistaken for it.
_CORRECTIONS: dict = {}


def _adam_kernel(amsgrad: bool):
    """Adam/AdamW (decoupled) with or without amsgrad's running max of v. ``bc`` holds this step's
    bias corrections, [lr / (1 - beta1^t), sqrt(1 - beta2^t)], computed once per step in double by
    "adam_step" (PyTorch computes them on the host in double). T: the parameter's dtype; S: the
    state's (float32 state for float16 parameters, or T); A: the compute type (float for float16,
    else T), as PyTorch's opmath."""
    v = "vm" if amsgrad else "vv"
    return (
        "T g, raw float64 bc, float64 lr, float64 b1, float64 b2, float64 eps, float64 wd, "
        "int32 decoupled, int32 maximize",
        "T p, S m, S v" + (", S vmax" if amsgrad else ""),
        """
        typedef decltype((T)0 + 0.0f) A;
        A d = maximize ? -(A)g : (A)g;
        A pa = (A)p;
        if (decoupled) { pa = pa * (A)(1.0 - lr * wd); } else { d = d + (A)wd * pa; }
        const A mm = (A)b1 * (A)m + (A)(1.0 - b1) * d;
        const A vv = (A)b2 * (A)v + (A)(1.0 - b2) * d * d;
        m = (S)mm;
        v = (S)vv;
        """ + ("const A vm = max((A)vmax, vv);\n        vmax = (S)vm;\n" if amsgrad else "") + f"""
        pa -= (A)bc[0] * mm / (sqrt({v}) / (A)bc[1] + (A)eps);
        p = (T)pa;
        """)


#: One thread: advance a step count and compute its bias corrections (see advance_step_count).
_ADAM_STEP = ("float64 lr, float64 b1, float64 b2", "raw int64 step, raw float64 bc",
              """
              const long long t = step[0] + 1;
              step[0] = t;
              bc[0] = lr / (1.0 - pow(b1, (double)t));
              bc[1] = sqrt(1.0 - pow(b2, (double)t));
              """)


# The fused kernels, as (input params, output params, body) for cupy.ElementwiseKernel; plain data so
# tests compile them with nvcc without a GPU (tests/test_cuda_kernel_sources.py).
register_elementwise({
    **{name: _adam_kernel(amsgrad) for name, amsgrad in (("adam", False), ("adam_amsgrad", True))},
    "adam_step": _ADAM_STEP,
})


@float32_step
def adam_update(backend, p, g, state, lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad=False, maximize=False,
                bias_corrections=None):
    """One adam step in place: the fused CuPy kernel where ``backend`` has fused kernels (CUDA),
    else the array formula on ``backend.xp``. Same arguments as ``_adam_formula``; with
    ``bias_corrections`` (from advance_step_count) the count was already advanced for this step."""
    if backend.fuses_elementwise:
        return _adam_fused(backend, p, g, state, lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad, maximize,
                           bias_corrections)
    return _adam_formula(backend.xp, p, g, state, lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad, maximize)
