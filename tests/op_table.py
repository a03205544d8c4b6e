"""The op table the core tests iterate over: each op with its NumPy float64 reference and its domain.

Shared by tests/test_core_ops.py (forward, first-order gradcheck, dtypes) and
tests/test_op_table_second_order.py (the second-order column); tests/conformance_table.py holds
the same ops' PyTorch counterparts.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

import gpugrad as gg
import gpugrad.nn.functional as F


@dataclass
class OpCase:
    name: str
    fn: Callable                  # gpugrad function of Tensors
    ref: Callable                 # NumPy float64 reference of arrays
    shapes: list                  # list of tuples of input shapes
    domain: str = "any"           # any | positive | away_from_zero | distinct
    smooth: bool = True           # False: gradcheck only away from kinks (handled by domain)
    extra: dict = field(default_factory=dict)
    order2: bool = True           # the second-order column: gradcheck of its VJP (create_graph=True)


def _np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _np_softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _np_logsumexp(x, axis):
    m = x.max(axis=axis, keepdims=True)
    return (np.log(np.exp(x - m).sum(axis=axis, keepdims=True)) + m).squeeze(axis)


UNARY_SHAPES = [((),), ((5,),), ((3, 4),), ((2, 3, 4),)]
BINARY_SHAPES = [((3, 4), (3, 4)), ((), (2, 3)), ((2, 3), ()), ((3, 1), (1, 4)), ((4,), (3, 4)),
                 ((2, 1, 4), (3, 1))]
MATRIX = [((3, 4),), ((5, 2),)]

UNARY = [
    OpCase("neg", lambda x: -x, lambda x: -x, UNARY_SHAPES),
    OpCase("exp", gg.exp, np.exp, UNARY_SHAPES),
    OpCase("log", gg.log, np.log, UNARY_SHAPES, domain="positive"),
    OpCase("sqrt", gg.sqrt, np.sqrt, UNARY_SHAPES, domain="positive"),
    OpCase("sin", gg.sin, np.sin, UNARY_SHAPES),
    OpCase("cos", gg.cos, np.cos, UNARY_SHAPES),
    OpCase("tanh", gg.tanh, np.tanh, UNARY_SHAPES),
    OpCase("sigmoid", gg.sigmoid, _np_sigmoid, UNARY_SHAPES),
    OpCase("relu", gg.relu, lambda x: np.maximum(x, 0), UNARY_SHAPES, domain="away_from_zero"),
    OpCase("abs", gg.abs, np.abs, UNARY_SHAPES, domain="away_from_zero"),
    OpCase("clip", lambda x: gg.clip(x, -0.5, 0.7), lambda x: np.clip(x, -0.5, 0.7), UNARY_SHAPES,
           domain="away_from_clip"),
    OpCase("pow_scalar", lambda x: x ** 3, lambda x: x ** 3, UNARY_SHAPES),
    OpCase("pow_half", lambda x: x ** 0.5, lambda x: x ** 0.5, UNARY_SHAPES, domain="positive"),
    OpCase("rsub_scalar", lambda x: 2.0 - x, lambda x: 2.0 - x, UNARY_SHAPES),
    OpCase("rdiv_scalar", lambda x: 1.5 / x, lambda x: 1.5 / x, UNARY_SHAPES, domain="positive"),
    OpCase("rpow_scalar", lambda x: 2.0 ** x, lambda x: 2.0 ** x, UNARY_SHAPES),
    OpCase("sum_all", lambda x: x.sum(), lambda x: x.sum(), UNARY_SHAPES),
    OpCase("sum_axis", lambda x: x.sum(axis=-1), lambda x: x.sum(axis=-1), UNARY_SHAPES[1:]),
    OpCase("sum_keepdims", lambda x: x.sum(axis=0, keepdims=True), lambda x: x.sum(axis=0, keepdims=True),
           UNARY_SHAPES[1:]),
    OpCase("mean_axis", lambda x: x.mean(axis=(0, -1)), lambda x: x.mean(axis=(0, -1)), UNARY_SHAPES[2:]),
    OpCase("mean_all", lambda x: x.mean(), lambda x: x.mean(), UNARY_SHAPES),
    OpCase("max_axis", lambda x: x.max(axis=-1), lambda x: x.max(axis=-1), UNARY_SHAPES[1:],
           domain="distinct"),
    OpCase("min_keepdims", lambda x: x.min(axis=0, keepdims=True), lambda x: x.min(axis=0, keepdims=True),
           UNARY_SHAPES[1:], domain="distinct"),
    OpCase("max_all", lambda x: x.max(), lambda x: x.max(), UNARY_SHAPES, domain="distinct"),
    OpCase("logsumexp", lambda x: gg.logsumexp(x, axis=-1), lambda x: _np_logsumexp(x, -1),
           UNARY_SHAPES[1:]),
    OpCase("softmax", lambda x: gg.softmax(x, axis=-1), lambda x: _np_softmax(x, -1), UNARY_SHAPES[1:]),
    OpCase("softmax_axis0", lambda x: gg.softmax(x, axis=0), lambda x: _np_softmax(x, 0), MATRIX),
    OpCase("log_softmax", lambda x: gg.log_softmax(x, axis=-1), lambda x: np.log(_np_softmax(x, -1)),
           UNARY_SHAPES[1:]),
    OpCase("reshape", lambda x: x.reshape(-1), lambda x: x.reshape(-1), UNARY_SHAPES),
    OpCase("transpose", lambda x: x.T, lambda x: x.T, UNARY_SHAPES),
    OpCase("transpose_axes", lambda x: x.transpose((1, 2, 0)), lambda x: x.transpose((1, 2, 0)),
           [((2, 3, 4),)]),
    OpCase("broadcast_to", lambda x: gg.broadcast_to(x, (2,) + x.shape),
           lambda x: np.broadcast_to(x, (2,) + x.shape), UNARY_SHAPES),
    OpCase("expand_size1", lambda x: x.expand((3, 4)), lambda x: np.broadcast_to(x, (3, 4)),
           [((3, 1),), ((1, 4),)]),
    OpCase("squeeze", lambda x: x.squeeze(), lambda x: x.squeeze(), [((3, 1, 4),), ((1,),)]),
    OpCase("unsqueeze", lambda x: x.unsqueeze(1), lambda x: np.expand_dims(x, 1), UNARY_SHAPES[1:]),
    OpCase("getitem_basic", lambda x: x[1:, ::2], lambda x: x[1:, ::2], [((3, 4),), ((4, 5, 2),)]),
    OpCase("getitem_int", lambda x: x[1], lambda x: x[1], [((3, 4),), ((5,),)]),
    OpCase("getitem_repeat", lambda x: x[[0, 2, 0, 0]], lambda x: x[[0, 2, 0, 0]], [((3, 4),), ((4,),)]),
    OpCase("getitem_2d_int", lambda x: x[np.array([0, 1, 1]), np.array([2, 0, 2])],
           lambda x: x[np.array([0, 1, 1]), np.array([2, 0, 2])], [((3, 4),)]),
    OpCase("getitem_mask", lambda x: x[gg.tensor(np.arange(x.shape[0]) % 2 == 0)],
           lambda x: x[np.arange(x.shape[0]) % 2 == 0], [((3, 4),), ((5,),)]),
    OpCase("astype64", lambda x: x.astype("float64") * 2, lambda x: x * 2, UNARY_SHAPES),
    OpCase("cross_entropy", lambda x: F.cross_entropy(x, [1, 0, 3]),
           lambda x: -np.log(_np_softmax(x, 1))[np.arange(3), [1, 0, 3]].mean(), [((3, 4),)]),
    OpCase("cross_entropy_sum", lambda x: F.cross_entropy(x, [2, 2], reduction="sum"),
           lambda x: -np.log(_np_softmax(x, 1))[np.arange(2), [2, 2]].sum(), [((2, 3),)]),
    OpCase("matmul_vec", lambda x: x @ gg.tensor(np.arange(4.0), dtype=x.dtype, device=x.device), lambda x: x @ np.arange(4.0),
           [((3, 4),), ((4,),), ((2, 3, 4),)]),
    # -- issue 12 (PyTorch names), rows added by the pytorch-habits branch ------------------------------
    OpCase("leaky_relu", lambda x: F.leaky_relu(x, 0.2), lambda x: np.where(x > 0, x, 0.2 * x), UNARY_SHAPES,
           domain="away_from_zero"),
    OpCase("gelu", F.gelu, lambda x: 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2))), UNARY_SHAPES),
    OpCase("gelu_tanh", lambda x: F.gelu(x, approximate="tanh"),
           lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3))), UNARY_SHAPES),
    OpCase("silu", F.silu, lambda x: x / (1 + np.exp(-x)), UNARY_SHAPES),
    OpCase("elu", lambda x: F.elu(x, 0.7), lambda x: np.where(x > 0, x, 0.7 * (np.exp(np.minimum(x, 0)) - 1)),
           UNARY_SHAPES, domain="away_from_zero"),
    OpCase("erf", gg.erf, np.vectorize(math.erf), UNARY_SHAPES),
    OpCase("layer_norm", lambda x: F.layer_norm(x, x.shape[-1:]),
           lambda x: (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5),
           [((3, 4),), ((2, 3, 4),)]),
    OpCase("batch_norm_train", lambda x: F.batch_norm(x, None, None, training=True),
           lambda x: (x - x.mean((0, 2)[:x.ndim - 1], keepdims=True))
           / np.sqrt(x.var((0, 2)[:x.ndim - 1], keepdims=True) + 1e-5), [((5, 3),), ((4, 3, 2),)]),
    OpCase("var_dim", lambda x: x.var(dim=-1), lambda x: x.var(-1, ddof=1), [((3, 4),), ((2, 3, 4),)]),
    OpCase("std_axis", lambda x: x.std(axis=0, keepdims=True), lambda x: x.std(0, keepdims=True), MATRIX),
    OpCase("masked_fill", lambda x: x.masked_fill(x < 0, 0.5), lambda x: np.where(x < 0, 0.5, x), UNARY_SHAPES,
           domain="away_from_zero"),
    OpCase("permute", lambda x: x.permute(2, 0, 1), lambda x: x.transpose(2, 0, 1), [((2, 3, 4),)]),
    OpCase("transpose_dims", lambda x: x.transpose(0, 2), lambda x: np.swapaxes(x, 0, 2), [((2, 3, 4),)]),
    OpCase("flatten_range", lambda x: x.flatten(start_dim=0, end_dim=1), lambda x: x.reshape(-1, x.shape[-1]),
           [((2, 3, 4),)]),
    OpCase("t", lambda x: x.t(), lambda x: x.T, MATRIX),
    OpCase("softmax_dim0", lambda x: F.softmax(x, dim=0), lambda x: _np_softmax(x, 0), MATRIX),
    OpCase("max_dim_values", lambda x: x.max(dim=1).values, lambda x: x.max(1), MATRIX, domain="distinct"),
    OpCase("nll_loss", lambda x: F.nll_loss(x, [1, 0, 3]), lambda x: -x[np.arange(3), [1, 0, 3]].mean(), [((3, 4),)]),
    OpCase("cross_entropy_weight_smooth",
           lambda x: F.cross_entropy(x, [1, 0, 3], weight=gg.tensor([0.5, 2.0, 1.0, 1.5], dtype=x.dtype,
                                                                    device=x.device), label_smoothing=0.1),
           lambda x: (lambda lp, w, t: 0.9 * (-(w[t] * lp[np.arange(3), t]).sum() / w[t].sum())
                      + 0.1 / 4 * (-(lp * w).sum() / w[t].sum()))(
               np.log(_np_softmax(x, 1)), np.array([0.5, 2.0, 1.0, 1.5]), np.array([1, 0, 3])), [((3, 4),)]),
    OpCase("cross_entropy_ignore", lambda x: F.cross_entropy(x, [1, -100, 3]),
           lambda x: -np.log(_np_softmax(x, 1))[[0, 2], [1, 3]].mean(), [((3, 4),)]),
    OpCase("bce_with_logits", lambda x: F.binary_cross_entropy_with_logits(
               x, gg.tensor(np.arange(12.0).reshape(3, 4) % 2, dtype=x.dtype, device=x.device),
               pos_weight=gg.tensor([1.0, 2.0, 0.5, 3.0], dtype=x.dtype, device=x.device)),
           lambda x: (lambda t, pw: ((1 - t) * x + (1 + (pw - 1) * t) * np.log1p(np.exp(-x))).mean())(
               np.arange(12.0).reshape(3, 4) % 2, np.array([1.0, 2.0, 0.5, 3.0])), [((3, 4),)]),
    OpCase("bce", lambda x: F.binary_cross_entropy(gg.sigmoid(x), gg.tensor(np.arange(12.0).reshape(3, 4) % 2,
                                                                             dtype=x.dtype, device=x.device)),
           lambda x: (lambda p, t: -(t * np.log(p) + (1 - t) * np.log(1 - p)).mean())(
               _np_sigmoid(x), np.arange(12.0).reshape(3, 4) % 2), [((3, 4),)]),
]

BINARY = [
    OpCase("add", lambda x, y: x + y, lambda x, y: x + y, BINARY_SHAPES),
    OpCase("sub", lambda x, y: x - y, lambda x, y: x - y, BINARY_SHAPES),
    OpCase("mul", lambda x, y: x * y, lambda x, y: x * y, BINARY_SHAPES),
    OpCase("div", lambda x, y: x / y, lambda x, y: x / y, BINARY_SHAPES, domain="positive"),
    OpCase("pow", lambda x, y: x ** y, lambda x, y: x ** y, BINARY_SHAPES, domain="positive"),
    OpCase("maximum", gg.maximum, np.maximum, BINARY_SHAPES, domain="distinct"),
    OpCase("minimum", gg.minimum, np.minimum, BINARY_SHAPES, domain="distinct"),
    OpCase("where", lambda x, y: gg.where(x > 0, x, y), lambda x, y: np.where(x > 0, x, y),
           BINARY_SHAPES, domain="away_from_zero"),
    OpCase("matmul", lambda x, y: x @ y, lambda x, y: x @ y,
           [((3, 4), (4, 5)), ((1, 1), (1, 1)), ((4,), (4, 2)), ((3,), (3,)), ((2, 3, 4), (4, 5)),
            ((2, 3, 4), (2, 4, 2)), ((2, 3, 4), (1, 4, 2))]),
    OpCase("linear", lambda x, w: F.linear(x, w), lambda x, w: x @ w.T, [((3, 4), (5, 4)),
                                                                       ((2, 3, 4), (2, 4))]),
    OpCase("bias_sigmoid", F.bias_sigmoid, lambda z, b: _np_sigmoid(z + b), [((3, 4), (4,)), ((1, 1), (1,))]),
    OpCase("mse_loss", F.mse_loss, lambda x, y: ((x - y) ** 2).mean(), [((3, 4), (3, 4))]),
    OpCase("concatenate", lambda x, y: gg.concatenate([x, y, x], axis=-1),
           lambda x, y: np.concatenate([x, y, x], axis=-1), [((3, 2), (3, 4)), ((2,), (3,))]),
    OpCase("stack", lambda x, y: gg.stack([x, y], axis=1), lambda x, y: np.stack([x, y], axis=1),
           [((3, 4), (3, 4)), ((2,), (2,))]),
    # -- issue 12 (PyTorch names), rows added by the pytorch-habits branch ------------------------------
    OpCase("l1_loss", F.l1_loss, lambda x, y: np.abs(x - y).mean(), [((3, 4), (3, 4))]),
    OpCase("smooth_l1_loss", lambda x, y: F.smooth_l1_loss(x, y, beta=0.5),
           lambda x, y: np.where(np.abs(x - y) < 0.5, (x - y) ** 2, np.abs(x - y) - 0.25).mean(), [((3, 4), (3, 4))]),
    OpCase("huber_loss", lambda x, y: F.huber_loss(x, y, delta=0.5, reduction="sum"),
           lambda x, y: np.where(np.abs(x - y) <= 0.5, 0.5 * (x - y) ** 2, 0.5 * (np.abs(x - y) - 0.25)).sum(),
           [((3, 4), (3, 4))]),
    OpCase("cat_dim", lambda x, y: gg.cat([x, y], dim=1), lambda x, y: np.concatenate([x, y], 1),
           [((3, 2), (3, 4))]),
    OpCase("mm", lambda x, y: x.mm(y), lambda x, y: x @ y, [((3, 4), (4, 5))]),
]

TERNARY = [
    OpCase("linear_bias", F.linear, lambda x, w, b: x @ w.T + b, [((3, 4), (5, 4), (5,)),
                                                                  ((2, 3, 4), (2, 4), (2,))]),
    OpCase("linear_relu", F.linear_relu, lambda x, w, b: np.maximum(x @ w.T + b, 0),
           [((3, 4), (5, 4), (5,)), ((1, 1), (1, 1), (1,))], domain="linear_relu"),
    # -- issue 12 (PyTorch names), rows added by the pytorch-habits branch ------------------------------
    OpCase("layer_norm_affine", lambda x, w, b: F.layer_norm(x, (4,), w, b),
           lambda x, w, b: (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5) * w + b,
           [((3, 4), (4,), (4,))]),
    OpCase("batch_norm_affine", lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
           lambda x, w, b: (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5) * w + b, [((5, 3), (3,), (3,))]),
]

ALL = UNARY + BINARY + TERNARY


def sample(shape, domain, rng, dtype=np.float64):
    """Inputs inside an op's smooth domain (away from kinks and ties), in float64 before casting."""
    x = rng.standard_normal(shape)
    if domain == "positive":
        x = np.abs(x) + 0.5
    elif domain == "away_from_zero":
        x = np.sign(x) * (np.abs(x) + 0.2)
    elif domain == "away_from_clip":
        x = np.where(np.abs(x - 0.7) < 0.1, x + 0.3, x)
        x = np.where(np.abs(x + 0.5) < 0.1, x - 0.3, x)
    elif domain == "linear_relu":   # keep x wᵀ + b away from the ReLU kink: |entries| >= 0.2
        x = np.sign(x) * (np.abs(x) + 0.2)
    elif domain == "distinct":
        n = int(np.prod(shape))
        x = (rng.permutation(n).reshape(shape) - n / 2) * 0.37 + 0.05 * rng.standard_normal(shape)
    return np.asarray(x, dtype=dtype)
