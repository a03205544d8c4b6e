"""Matrix products. ``mm`` is the 2-D primitive with transpose flags: the three layouts the
hand-written kernel implements (NN, TN, NT) are exactly what its own VJPs need."""
from __future__ import annotations

import numpy as np

from ..dtypes import check_same_float_dtype
from ..op import defop
from . import shape as S
from .activation import relu


def _mm_fwd(backend, x, y, trans_a, trans_b):
    return backend.matmul(x, y, trans_a, trans_b)


def _mm_vjp(ns, g, ans, needs, a, b, trans_a, trans_b):
    # C = op(A) op(B). With op(A) = A:   dA = g op(B)^T;   with op(A) = A^T:  dA = op(B) g^T.
    #                  With op(B) = B:   dB = op(A)^T g;   with op(B) = B^T:  dB = g^T op(A).
    da = db = None
    if needs[0]:
        da = ns.mm(b, g, trans_b, True) if trans_a else ns.mm(g, b, False, not trans_b)
    if needs[1]:
        db = ns.mm(g, a, True, trans_a) if trans_b else ns.mm(a, g, not trans_a, False)
    return da, db


mm = defop("matmul", _mm_fwd, save=(0, 1), vjp_reads=((1,), (0,)), derivs=("g·Bᵀ", "Aᵀ·g"))
mm.defvjp_joint(_mm_vjp)

# Batched (>2-D) products go through xp.matmul; their VJPs swap the last two axes.
bmm = defop("batched_matmul", lambda backend, x, y: backend.xp.matmul(x, y), save=(0, 1),
            vjp_reads=((1,), (0,)), derivs=("g·Bᵀ", "Aᵀ·g"))
bmm.defvjp(lambda ns, g, ans, a, b: ns.matmul(g, ns.swapaxes(b, -1, -2)),
           lambda ns, g, ans, a, b: ns.matmul(ns.swapaxes(a, -1, -2), g))


def _linear_vjp(ns, g, ans, needs, x, w, b, activation):
    # y = act(x wᵀ + b): dz = g·act'(z); dx = dz w (NN); dw = dzᵀ x (TN); db = column sums of dz.
    if activation == "relu":
        dz, db = ns.bias_relu_vjp(g, ans)   # the ReLU VJP and the bias gradient in one pass
    else:
        dz, db = g, (ns.sum(g, axis=0) if needs[2] else None)
    dx = ns.mm(dz, w, False, False) if needs[0] else None
    dw = ns.mm(dz, x, True, False) if needs[1] else None
    return dx, dw, (db if needs[2] else None)


# x wᵀ + b with an optional ReLU, one op: on the GPU one kernel (bias and ReLU in the matmul
# epilogue), on the CPU the bias and ReLU applied in place on the product.
linear_op = defop("linear", lambda backend, x, w, b, activation: backend.linear(x, w, b, activation),
                  save=(0, 1), vjp_reads=((1,), (0,), ()), derivs=("dz·W", "dzᵀ·x", "Σrows dz"))
linear_op.defvjp_joint(_linear_vjp)
linear_relu_op = defop("linear_relu", lambda backend, x, w, b, activation: backend.linear(x, w, b, activation),
                       save=(0, 1), save_ans=True, vjp_reads=((1,), (0,), ()),
                       derivs=("dz·W", "dzᵀ·x", "Σrows dz"), vjp_writes_g=True)   # dz may reuse g
linear_relu_op.defvjp_joint(_linear_vjp)


def matmul(a, b):
    """Matrix product with NumPy's rules (1-D operands promoted then squeezed, batches broadcast).

    2-D products run on the backend's matmul kernel (the hand-written one on the GPU).
    """
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: operands must have at least one dimension; got shapes "
                         f"{a.shape} and {b.shape} (use * to multiply by a scalar)")
    check_same_float_dtype("matmul", ("the first operand", a), ("the second operand", b))
    ka = a.shape[-1]
    kb = b.shape[-2] if b.ndim > 1 else b.shape[0]
    if ka != kb:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} are not aligned: {ka} (last dim of "
                         f"the first) != {kb} ({'dim -2' if b.ndim > 1 else 'dim 0'} of the second)")
    if a.ndim == 2 and b.ndim == 2:
        return mm(a, b, trans_a=False, trans_b=False)
    if a.ndim == 1 and b.ndim == 1:
        return S.reshape(mm(S.reshape(a, (1, -1)), S.reshape(b, (-1, 1)), trans_a=False,
                            trans_b=False), ())
    if a.ndim == 1:
        out = matmul(S.expand_dims(a, 0), b)
        return S.squeeze(out, -2)
    if b.ndim == 1:
        out = matmul(a, S.expand_dims(b, -1))
        return S.squeeze(out, -1)
    if b.ndim == 2:
        # (..., n, k) @ (k, m): fold the batch into the rows and use the 2-D kernel.
        lead = a.shape[:-1]
        out = mm(S.reshape(a, (int(np.prod(lead, dtype=np.int64)), ka)), b, trans_a=False, trans_b=False)
        return S.reshape(out, lead + (b.shape[1],))
    return bmm(a, b)


def linear(x, weight, bias=None, activation=None):
    """x @ weight.T + bias, with weight of shape (out_features, in_features) as in PyTorch.

    The transpose is a kernel layout (NT), never a copy. ``activation="relu"`` fuses a ReLU
    into the same op (and, on the GPU, into the matmul kernel's epilogue with the bias).
    """
    if activation not in (None, "relu"):
        raise ValueError(f"linear: activation must be None or 'relu', got {activation!r}")
    check_same_float_dtype("linear", ("input", x), ("weight", weight), ("bias", bias))
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got {weight.shape}")
    if x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input shape {x.shape} does not match weight shape {weight.shape}: "
                         f"expected last dim {weight.shape[1]} (in_features)")
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"linear: bias shape {bias.shape} does not match weight shape "
                         f"{weight.shape}: expected ({weight.shape[0]},)")
    lead = x.shape[:-1]
    # The row count spelled out, not -1: with in_features 0 the size is 0 and -1 is ambiguous.
    x2 = x if x.ndim == 2 else S.reshape(x, (int(np.prod(lead, dtype=np.int64)), x.shape[-1]))
    if bias is not None:
        op = linear_relu_op if activation == "relu" else linear_op
        out = op(x2, weight, bias, activation=activation)
    else:
        out = mm(x2, weight, trans_a=False, trans_b=True)
        if activation == "relu":
            out = relu(out)
    return out if x.ndim == 2 else S.reshape(out, lead + (weight.shape[0],))
