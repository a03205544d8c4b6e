"""The pieces of the losses that need their own derivative: binary cross-entropy with PyTorch's
clamps. Forward beside VJP, as in the rest of the op table; the losses themselves (reductions,
weights, ignore_index) are composed in gpugrad/nn/loss_fns.py."""
from __future__ import annotations

import numpy as np

from ..dtypes import floating_forward as _fl
from ..op import defop

#: PyTorch's clamps (aten/src/ATen/native/Loss.cpp): each log at -100, so p = 0 or 1 gives a
#: finite loss, and the gradient's denominator p (1 - p) at 1e-12 (EPSILON there).
LOG_FLOOR = -100.0
BCE_EPSILON = 1e-12


def _bce_fwd(backend, p, t):
    xp = backend.xp
    with np.errstate(divide="ignore"):
        return -(t * xp.maximum(xp.log(p), LOG_FLOOR) + (1 - t) * xp.maximum(xp.log1p(-p), LOG_FLOOR))


def _bce_dp(ns, g, ans, p, t):
    # (p - t) / max(p (1 - p), eps), PyTorch's binary_cross_entropy_backward: finite at p = 0 and 1
    # at every order (the clamp is a select inside maximum's VJP), never 0 * log 0.
    return g * (p - t) / ns.maximum(p * (1 - p), BCE_EPSILON)


def _bce_dt(ns, g, ans, p, t):
    # d/dt = max(log(1 - p), -100) - max(log p, -100): the clamped logs, as PyTorch's target gradient.
    return g * (ns.maximum(ns.log1p(-p), LOG_FLOOR) - ns.maximum(ns.log(p), LOG_FLOOR))


# The elementwise loss -(t max(log p, -100) + (1 - t) max(log(1 - p), -100)), unreduced.
binary_cross_entropy = defop("binary_cross_entropy", _fl(_bce_fwd), save=(0, 1), vjp_reads=((0, 1), (0,)),
                             same_kind=True, derivs=("(p-t)/max(p(1-p),ε)", "clamped log((1-p)/p)"))
binary_cross_entropy.defvjp(_bce_dp, _bce_dt)
