"""Neural-network ops: activations, softmax family, and the pieces of the losses.

relu, sigmoid and bias_sigmoid (and their VJPs) are defined here once, as composite formulas; a
backend may run a faster kernel in their place (the hand-written Numba kernels on the GPU). Under
``create_graph`` the same formulas run on Tensors.
"""
from __future__ import annotations

import numpy as np

from ._precision import acc_dtype, narrow, widen
from ._shapes import normalize_axis
from ..dtypes import check_same_float_dtype, floating_forward as _fl
from ..op import defop
from ..torch_face.args import accepts_torch_names
from ..vjp_namespace import composite, raw_namespace


# -- the kernel ops: each formula written once, as a composite against the VJP namespace ns ----------
# These are the definitions. A backend with a faster kernel for one of them says so in its kernel
# map (gpugrad/backends/kernel_backend.py, cuda.py, cpu.py); under create_graph the formula itself
# runs on Tensors, so it is differentiated like any other composite.
@composite("relu")
def _relu(ns, x):
    return ns.maximum(x, 0)


@composite("relu_vjp")
def _relu_vjp(ns, g, y):
    """The ReLU VJP from its output (equivalently its input): 0 where y <= 0, else g.

    PyTorch's threshold_backward, ``y <= 0 ? 0 : g``, as the CUDA kernels: a select, not g * [y > 0],
    so a NaN or inf upstream gradient at a dead unit gives 0 (inf * 0 would be NaN); and a NaN unit
    (NaN <= 0 is false) passes its gradient through, as in PyTorch."""
    return ns.where(y <= 0, 0, g)


@composite("bias_relu_vjp")
def _bias_relu_vjp(ns, g, y):
    """(dz, db) for y = relu(z + b), b over the rows of z: dz = (y <= 0 ? 0 : g), db = column sums of dz."""
    dz = ns.relu_vjp(g, y)
    return dz, ns.sum(dz, axis=0)


@composite("sigmoid")
def _sigmoid(ns, x):
    """Logistic sigmoid without overflow: only exp(-|x|) is ever evaluated."""
    e = ns.exp(-ns.abs(x))
    return ns.where(x >= 0, 1 / (1 + e), e / (1 + e))


@composite("sigmoid_vjp")
def _sigmoid_vjp(ns, g, h):
    """The sigmoid VJP from its output h: g h (1 - h)."""
    return g * h * (1 - h)


@composite("bias_sigmoid")
def _bias_sigmoid(ns, z, b):
    """sigmoid(z + b) with b broadcast over the rows of z."""
    return ns.sigmoid(z + b)


@composite("bias_sigmoid_vjp")
def _bias_sigmoid_vjp(ns, g, h):
    """(dz, db) for h = sigmoid(z + b): dz = g h (1 - h), db = column sums of dz."""
    dz = ns.sigmoid_vjp(g, h)
    return dz, ns.sum(dz, axis=0)


relu = defop("relu", lambda backend, x: raw_namespace(backend).relu(x), save_ans=True, derivs=("[x>0]",),
             vjp_writes_g=True)
relu.defvjp(lambda ns, g, ans, x: ns.relu_vjp(g, ans))

sigmoid = defop("sigmoid", _fl(lambda backend, x: raw_namespace(backend).sigmoid(x)), save_ans=True,
                derivs=("σ(1-σ)",))
sigmoid.defvjp(lambda ns, g, ans, x: ns.sigmoid_vjp(g, ans))

# H = sigmoid(Z + b), b broadcast over rows: one fused pass forward, and one fused VJP that
# yields dZ = g H (1 - H) and db = sum over rows of dZ together.
bias_sigmoid_op = defop("bias_sigmoid", _fl(lambda backend, z, bias: raw_namespace(backend).bias_sigmoid(z, bias)),
                        save_ans=True, derivs=("H(1-H)", "Σrows H(1-H)"))
bias_sigmoid_op.defvjp_joint(lambda ns, g, ans, needs, z, bias: ns.bias_sigmoid_vjp(g, ans))


# A zero-size input gives a zero-size output (NumPy/PyTorch); max() of an empty axis would raise.
# float16 is computed in float32 and rounded once, forward and backward (PyTorch's acc_type): a
# float16 sum of exponentials over a long axis loses its digits.
@_fl
def _softmax_fwd(backend, x, axis):
    if x.size == 0:
        return backend.xp.empty_like(x)
    xf = x.astype(acc_dtype(x.dtype), copy=False)
    e = backend.xp.exp(xf - xf.max(axis=axis, keepdims=True))
    return (e / e.sum(axis=axis, keepdims=True)).astype(x.dtype, copy=False)


def _softmax_vjp(ns, g, ans, x, axis):
    (g, s), dtype = widen(ns, g, ans)
    return narrow(ns, s * (g - ns.sum(g * s, axis=axis, keepdims=True)), dtype)


softmax_op = defop("softmax", _softmax_fwd, save_ans=True, derivs=("diag(s) - s sᵀ",))
softmax_op.defvjp(_softmax_vjp)


@_fl
def _log_softmax_fwd(backend, x, axis):
    xp = backend.xp
    if x.size == 0:
        return xp.empty_like(x)
    xf = x.astype(acc_dtype(x.dtype), copy=False)
    shifted = xf - xf.max(axis=axis, keepdims=True)
    return (shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))).astype(x.dtype, copy=False)


def _log_softmax_vjp(ns, g, ans, x, axis):
    (g, a), dtype = widen(ns, g, ans)
    return narrow(ns, g - ns.exp(a) * ns.sum(g, axis=axis, keepdims=True), dtype)


log_softmax_op = defop("log_softmax", _log_softmax_fwd, save_ans=True, derivs=("I - softmax",))
log_softmax_op.defvjp(_log_softmax_vjp)


def _take_along_axis_fwd(backend, x, targets):
    xp = backend.xp
    rows = xp.arange(x.shape[0])
    if xp is np:  # targets were range-checked on the host (cross_entropy)
        return x[rows, targets]
    # No host sync on a GPU: an out-of-range target yields NaN for its row, never a wrong number.
    bad = (targets < 0) | (targets >= x.shape[1])
    picked = xp.where(bad, xp.nan, x[rows, xp.clip(targets, 0, x.shape[1] - 1)])
    # copy=False: where() normally keeps x's dtype already (NaN is a Python float), so casting
    # must not copy the result on every step.
    return picked.astype(x.dtype, copy=False)


# out[i] = x[i, targets[i]], NumPy's take_along_axis(x, targets[:, None], axis=1)[:, 0]: the gather
# inside cross-entropy (2-D x, axis 1 only). One pick per row, so the VJP places g in a one-hot
# pattern with no accumulation: selected (not multiplied by the 0/1 pattern), so an inf or NaN g
# of a row reaches its target column only, never inf * 0 = NaN in the others (PyTorch's too).
take_along_axis = defop("take_along_axis", _take_along_axis_fwd, save=(1,), derivs=("one_hot(t)", None))
take_along_axis.defvjp(lambda ns, g, ans, x, t: ns.where(ns.one_hot(t, x.shape[1], g.dtype) != 0,
                                                         ns.reshape(g, (-1, 1)), 0),
                       None)


def bias_sigmoid(z, b):
    """sigmoid(z + b) for z of shape (M, N) and b of shape (N,), fused forward and VJP."""
    if z.ndim != 2 or b.ndim != 1 or b.shape[0] != z.shape[1]:
        raise ValueError(f"bias_sigmoid: expected z of shape (M, N) and b of shape (N,); got z "
                         f"{z.shape} and b {b.shape}")
    check_same_float_dtype("bias_sigmoid", ("z", z), ("b", b))
    return bias_sigmoid_op(z, b)


@accepts_torch_names()
def softmax(x, axis: int = -1):
    """exp(x) / sum(exp(x)) along ``axis``, shifted by the max so it never overflows."""
    return softmax_op(x, axis=normalize_axis(axis, x.ndim, "softmax"))


@accepts_torch_names()
def log_softmax(x, axis: int = -1):
    """log(softmax(x)) along ``axis``, computed stably (no log of 0 for large inputs)."""
    return log_softmax_op(x, axis=normalize_axis(axis, x.ndim, "log_softmax"))
