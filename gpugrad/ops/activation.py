"""Neural-network ops: activations, softmax family, and the pieces of the losses.

relu and bias_sigmoid run on the backend's kernel entry points (hand-written Numba kernels on
the GPU); their VJPs too. Under ``create_graph`` the VJP namespace composes the same formulas
from differentiable ops instead.
"""
from __future__ import annotations

import numpy as np

from ._shapes import normalize_axis
from ..function import defop

relu = defop("relu", lambda b, x: b.relu(x), save_ans=True, derivs=("[x>0]",), vjp_writes_g=True)
relu.defvjp(lambda F, g, ans, x: F.relu_vjp(g, ans))

sigmoid = defop("sigmoid", lambda b, x: b.sigmoid(x), save_ans=True, derivs=("σ(1-σ)",))
sigmoid.defvjp(lambda F, g, ans, x: g * ans * (1 - ans))

# H = sigmoid(Z + b), b broadcast over rows: one fused pass forward, and one fused VJP that
# yields dZ = g H (1 - H) and db = sum over rows of dZ together.
bias_sigmoid_op = defop("bias_sigmoid", lambda b, z, bias: b.bias_sigmoid(z, bias), save_ans=True,
                        derivs=("H(1-H)", "Σrows H(1-H)"))
bias_sigmoid_op.defvjp_joint(lambda F, g, ans, needs, z, bias: F.bias_sigmoid_vjp(g, ans))


def _softmax_fwd(b, x, axis):
    e = b.xp.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


softmax_op = defop("softmax", _softmax_fwd, save_ans=True, derivs=("diag(s) - s sᵀ",))
softmax_op.defvjp(lambda F, g, ans, x, axis: ans * (g - F.sum(g * ans, axis=axis, keepdims=True)))


def _log_softmax_fwd(b, x, axis):
    xp = b.xp
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


log_softmax_op = defop("log_softmax", _log_softmax_fwd, save_ans=True, derivs=("I - softmax",))
log_softmax_op.defvjp(lambda F, g, ans, x, axis:
                      g - F.exp(ans) * F.sum(g, axis=axis, keepdims=True))


def _pick_rows_fwd(b, x, targets):
    xp = b.xp
    rows = xp.arange(x.shape[0])
    if xp is np:  # targets were range-checked on the host (cross_entropy)
        return x[rows, targets]
    # No host sync on a GPU: an out-of-range target yields NaN for its row, never a wrong number.
    bad = (targets < 0) | (targets >= x.shape[1])
    picked = xp.where(bad, xp.nan, x[rows, xp.clip(targets, 0, x.shape[1] - 1)])
    # copy=False: where() normally keeps x's dtype already (NaN is a Python float), so casting
    # must not copy the result on every step.
    return picked.astype(x.dtype, copy=False)


# out[i] = x[i, targets[i]]: the gather inside cross-entropy. One pick per row, so the VJP
# places g in a one-hot pattern with no accumulation.
pick_rows = defop("pick_rows", _pick_rows_fwd, save=(1,), derivs=("one_hot(t)", None))
pick_rows.defvjp(lambda F, g, ans, x, t: F.one_hot(t, x.shape[1], g.dtype) * F.reshape(g, (-1, 1)),
                 None)


def bias_sigmoid(z, b):
    """sigmoid(z + b) for z of shape (M, N) and b of shape (N,), fused forward and VJP."""
    if z.ndim != 2 or b.ndim != 1 or b.shape[0] != z.shape[1]:
        raise ValueError(f"bias_sigmoid: expected z of shape (M, N) and b of shape (N,); got z "
                         f"{z.shape} and b {b.shape}")
    return bias_sigmoid_op(z, b)


def softmax(x, axis: int = -1):
    """exp(x) / sum(exp(x)) along ``axis``, shifted by the max so it never overflows."""
    return softmax_op(x, axis=normalize_axis(axis, x.ndim, "softmax"))


def log_softmax(x, axis: int = -1):
    """log(softmax(x)) along ``axis``, computed stably (no log of 0 for large inputs)."""
    return log_softmax_op(x, axis=normalize_axis(axis, x.ndim, "log_softmax"))
