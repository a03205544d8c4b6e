"""The PyTorch conformance table: every op of the op table and every function of gg.nn.functional,
each with its PyTorch counterpart and a Hypothesis recipe for its inputs.

One ``Case`` per op: ``draw(draw, dtype) -> (arrays, params)`` makes the inputs (NumPy arrays:
0-d, size-1 and zero-size dims, broadcastable pairs, values at the op's boundary points) and the
non-array arguments; ``gg(*tensors, **params)`` and ``torch(*torch_tensors, **params)`` compute
the same thing. ``DIFFERENCES`` lists, once, each place where gpugrad deliberately follows NumPy
rather than PyTorch, with the reason and what gpugrad does instead (checked by the suite).

Used by tests/test_conformance_torch.py; importing it needs torch and Hypothesis.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as TF
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import gpugrad as gg
import gpugrad.nn.functional as F
from gpugrad.device import as_device

FLOATS = ("float16", "float32", "float64")
INTS = ("int64", "int32", "uint8")
ANY = FLOATS + INTS + ("bool",)
INF, NAN = float("inf"), float("nan")

#: Values every op meets: its usual boundary points (0, -0, ±1, ±inf, NaN) and ordinary ones.
SPECIAL = (0.0, -0.0, 1.0, -1.0, 0.5, 2.0, INF, -INF, NAN)
#: The same without NaN, for ops whose gradients at NaN have no convention worth comparing.
FINITE_SPECIAL = (0.0, -0.0, 1.0, -1.0, 0.5, 2.0, -2.5)
SIDES = st.sampled_from([1, 2, 3, 4, 2, 3, 0])


@dataclass
class Case:
    name: str                       # the op (a name in gpugrad.ops or gg.nn.functional), plus a variant
    gg: Callable
    torch: Callable
    draw: Callable                  # (draw, dtype) -> (list of np.ndarray, dict of params)
    dtypes: tuple = FLOATS
    grad: bool = True               # differentiable: compare first- and second-order VJPs
    order2: bool = True             # compare the second order too (False: PyTorch lacks it)
    covers: tuple = ()              # names of gpugrad.ops / gg.nn.functional this case stands for
    kernel: bool = False            # runs a hand-written kernel on CUDA devices (the policy axis)
    extra: dict = field(default_factory=dict)


# -- input recipes ----------------------------------------------------------------------------------
def shapes(min_dims=0, max_dims=3):
    return st.lists(SIDES, min_size=min_dims, max_size=max_dims).map(tuple)


def values(draw, shape, dtype, special=SPECIAL, lo=-3.0, hi=3.0):
    """An array of ``shape`` and ``dtype`` whose float values mix ``special`` points and uniform ones."""
    dtype = np.dtype(dtype)
    n = int(np.prod(shape, dtype=np.int64))
    if dtype.kind == "b":
        flat = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    elif dtype.kind in "iu":
        flat = draw(st.lists(st.integers(0 if dtype.kind == "u" else -3, 3), min_size=n, max_size=n))
    else:
        pick = st.sampled_from(special) if special else st.nothing()
        flat = draw(st.lists(st.one_of(pick, st.floats(lo, hi)), min_size=n, max_size=n))
    return np.array(flat, dtype=np.float64 if dtype.kind == "f" else dtype).reshape(shape).astype(dtype)


def unary(special=SPECIAL, min_dims=0, max_dims=3, lo=-3.0, hi=3.0):
    def draw_fn(draw, dtype):
        return [values(draw, draw(shapes(min_dims, max_dims)), dtype, special, lo, hi)], {}
    return draw_fn


def binary(special=SPECIAL, mixed=True):
    def draw_fn(draw, dtype, dtypes=None):
        (sa, sb), _ = draw(mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3,
                                                          min_side=0, max_side=3))
        db = dtype
        if mixed and dtypes and draw(st.integers(0, 3)) == 0:
            db = draw(st.sampled_from(dtypes))
        return [values(draw, sa, dtype, special), values(draw, sb, db, special)], {}
    draw_fn.mixed = mixed
    return draw_fn


def axis_arg(draw, ndim, allow_none=True, allow_tuple=True):
    """An axis as users write it: None, an int (negative too, sometimes out of range) or a tuple."""
    choices = [st.integers(-ndim - 1, ndim)]
    if allow_none:
        choices.append(st.none())
    if allow_tuple and ndim > 0:
        choices.append(st.lists(st.integers(-ndim, ndim - 1), min_size=1, max_size=ndim,
                                unique_by=lambda a: a % ndim).map(tuple))
    return draw(st.one_of(*choices))


def reduction(special=SPECIAL, keepdims=True, tuples=True):
    def draw_fn(draw, dtype):
        shape = draw(shapes())
        params = {"axis": axis_arg(draw, len(shape), allow_tuple=tuples)}
        if keepdims:
            params["keepdims"] = draw(st.booleans())
        return [values(draw, shape, dtype, special)], params
    return draw_fn


def _dims(axis, ndim):
    """A NumPy axis as PyTorch's dim: None/tuple/int (None: every dim, as a tuple)."""
    return tuple(range(ndim)) if axis is None else axis


def _tdtype(name):
    return getattr(torch, np.dtype(name).name) if name != "bool" else torch.bool


# -- recipes for the ops with structured arguments ----------------------------------------------------
def draw_scalar_binary(draw, dtype):
    x = values(draw, draw(shapes()), dtype)
    s = draw(st.sampled_from([0.0, 1.0, -1.0, 2.0, 0.5, 3, 0, -2, INF]))
    return [x], {"s": s}


def draw_power(draw, dtype):
    x = values(draw, draw(shapes()), dtype)
    return [x], {"p": draw(st.sampled_from([0, 1, 2, 3, 0.5, -1, -2, 2.5, -0.5, 0.0, 1.0]))}


def draw_rpow(draw, dtype):
    x = values(draw, draw(shapes()), dtype, lo=-2.0, hi=2.0)
    return [x], {"c": draw(st.sampled_from([2.0, 0.0, 0.5, 1.0, -2.0, 2.718281828459045, 3.0]))}


def draw_clip(draw, dtype):
    x = values(draw, draw(shapes()), dtype)
    lo = draw(st.sampled_from([None, -1.0, 0.0, 0.5, -INF]))
    hi = draw(st.sampled_from([None, 1.0, 0.0, 2.0, INF]))
    return [x], {"lo": lo, "hi": hi}


def draw_where(draw, dtype, dtypes=None):
    (sc, sa, sb), _ = draw(mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3,
                                                          min_side=0, max_side=3))
    return [values(draw, sc, "bool"), values(draw, sa, dtype), values(draw, sb, dtype)], {}


def draw_astype(draw, dtype):
    # Casting NaN/inf to an integer is undefined in both libraries: finite values only.
    x = values(draw, draw(shapes()), dtype, FINITE_SPECIAL)
    return [x], {"dtype": draw(st.sampled_from(("float16", "float32", "float64", "int64", "int32",
                                                "bool")))}


def draw_softmax(draw, dtype):
    shape = draw(shapes(min_dims=1))
    return [values(draw, shape, dtype)], {"axis": draw(st.integers(-len(shape) - 1, len(shape)))}


def draw_prod(draw, dtype):
    shape = draw(shapes())
    axis = draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1))) if shape else None
    return [values(draw, shape, dtype, FINITE_SPECIAL, lo=-1.5, hi=1.5)], {"axis": axis}


def draw_norm(draw, dtype):
    shape = draw(shapes())
    axis = draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1))) if shape else None
    p = draw(st.sampled_from([2, 1, INF, -INF, 3, 0.5, "fro"]))
    if p in (INF, -INF) and 0 in shape:
        p = 2                                     # the max/min norm of an empty slice has no value
    return [values(draw, shape, dtype, (0.0, -0.0, 1.0, -1.0, 2.0))], {"p": p, "axis": axis}


def draw_std(draw, dtype):
    shape = draw(shapes(min_dims=1))
    axis = draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))
    return [values(draw, shape, dtype, (1.0, 1.0, 1.0, 0.0, 2.0))], {"axis": axis}


def _torch_std(x, axis):
    """torch.std, the reference. draw_std draws one value per reduced row on purpose (the answer is
    NaN, correction=1); PyTorch warns there ("degrees of freedom is <= 0"), which this draw expects."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"std\(\): degrees of freedom is <= 0", category=UserWarning)
        return torch.std(x, axis)


def draw_reshape(draw, dtype):
    shape = draw(shapes())
    n = int(np.prod(shape, dtype=np.int64))
    target = draw(st.sampled_from([(-1,), (n,), (n, 1), (1, -1), shape[::-1], (1,) + shape, (n + 1,)]))
    return [values(draw, shape, dtype)], {"shape": target}


def draw_transpose(draw, dtype):
    shape = draw(shapes())
    nd = len(shape)
    perm = draw(st.permutations(range(nd)))
    axes = draw(st.sampled_from(["none", "perm", "neg", "bad"]))
    if axes == "none":
        axes = None
    elif axes == "neg":
        axes = tuple(a - nd for a in perm)
    elif axes == "bad":
        axes = tuple(perm[:-1]) + (nd,) if nd else (0,)
    else:
        axes = tuple(perm)
    return [values(draw, shape, dtype)], {"axes": axes}


def draw_swapaxes(draw, dtype):
    shape = draw(shapes())
    nd = len(shape)
    a, b = (draw(st.integers(-nd - 1, nd)) for _ in range(2))
    return [values(draw, shape, dtype)], {"a": a, "b": b}


def draw_broadcast_to(draw, dtype):
    shape = draw(shapes())
    lead = tuple(draw(st.lists(SIDES, max_size=2)))
    target = lead + tuple(draw(st.sampled_from([s, 3])) if s == 1 else s for s in shape)
    if draw(st.integers(0, 5)) == 0 and target:
        target = target[:-1] + (target[-1] + 1,)            # sometimes not broadcastable
    return [values(draw, shape, dtype)], {"shape": target}


def draw_sum_to(draw, dtype):
    target = draw(shapes())
    lead = tuple(draw(st.lists(SIDES, max_size=2)))
    shape = lead + tuple(draw(st.sampled_from([1, 3])) if s == 1 else s for s in target)
    return [values(draw, shape, dtype)], {"shape": target}


def draw_squeeze(draw, dtype):
    shape = draw(st.lists(st.sampled_from([1, 1, 2, 0]), max_size=3).map(tuple))
    axis = draw(st.one_of(st.none(), st.integers(-len(shape) - 1, len(shape))))
    return [values(draw, shape, dtype)], {"axis": axis}


def draw_unsqueeze(draw, dtype):
    shape = draw(shapes())
    return [values(draw, shape, dtype)], {"axis": draw(st.integers(-len(shape) - 2, len(shape) + 1))}


def draw_flatten(draw, dtype):
    shape = draw(shapes())
    return [values(draw, shape, dtype)], {"start": draw(st.integers(-len(shape), max(len(shape) - 1, 0)))}


def draw_getitem(draw, dtype):
    shape = draw(shapes(min_dims=1))
    n = shape[0]
    kind = draw(st.sampled_from(["int", "slice", "ints", "mask", "tuple"]))
    if kind == "int":
        index = draw(st.integers(-n - 1, n))
    elif kind == "slice":
        index = slice(draw(st.integers(-n, n)), draw(st.none() | st.integers(-n, n)),
                      draw(st.sampled_from([1, 2, -1])))
    elif kind == "ints":
        index = np.array(draw(st.lists(st.integers(-n, max(n - 1, -n)), max_size=4)), dtype=np.int64)
    elif kind == "mask":
        index = values(draw, (n,), "bool")
    else:
        index = (slice(None, None, 2),) + ((draw(st.integers(0, max(shape[1] - 1, 0))),)
                                            if len(shape) > 1 else ())
    return [values(draw, shape, dtype)], {"index": index}


def draw_join(stack):
    def draw_fn(draw, dtype):
        shape = draw(shapes(min_dims=0 if stack else 1))
        nd = len(shape)
        axis = draw(st.integers(-nd - 1 - stack, nd + stack))
        k = draw(st.integers(1, 3))
        arrays = []
        for _ in range(k):
            s = list(shape)
            if not stack and s and -nd <= axis < nd:
                s[axis] = draw(SIDES)
            arrays.append(values(draw, tuple(s), dtype))
        return arrays, {"axis": axis}
    return draw_fn


def draw_matmul(draw, dtype):
    k = draw(SIDES)
    kind = draw(st.sampled_from(["mm", "mv", "vm", "vv", "bmm", "b2"]))
    m, n, b = draw(SIDES), draw(SIDES), draw(st.sampled_from([1, 2]))
    sa, sb = {"mm": ((m, k), (k, n)), "mv": ((m, k), (k,)), "vm": ((k,), (k, n)), "vv": ((k,), (k,)),
              "bmm": ((b, m, k), (2, k, n)), "b2": ((2, m, k), (k, n))}[kind]
    if draw(st.integers(0, 7)) == 0:
        sb = sb[:-2] + (sb[-2] + 1,) + sb[-1:] if len(sb) > 1 else (sb[0] + 1,)   # misaligned
    return [values(draw, sa, dtype, FINITE_SPECIAL), values(draw, sb, dtype, FINITE_SPECIAL)], {}


def draw_linear(bias):
    def draw_fn(draw, dtype):
        n, k, o = draw(SIDES), draw(SIDES), draw(SIDES)
        lead = draw(st.sampled_from([(n,), (2, n), (n,)]))
        arrays = [values(draw, lead + (k,), dtype, FINITE_SPECIAL), values(draw, (o, k), dtype, FINITE_SPECIAL)]
        if bias:
            arrays.append(values(draw, (o,), dtype, FINITE_SPECIAL))
        return arrays, {}
    return draw_fn


def draw_bias_sigmoid(draw, dtype):
    m, n = draw(SIDES), draw(SIDES)
    return [values(draw, (m, n), dtype), values(draw, (n,), dtype)], {}


def draw_class_scores(draw, dtype):
    """(N, C) scores (logits for cross_entropy, log-probabilities for nll_loss), class targets, a reduction."""
    n, c = draw(SIDES), draw(st.integers(1, 4))
    scores = values(draw, (n, c), dtype, FINITE_SPECIAL)
    targets = np.array(draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)), dtype=np.int64)
    return [scores, targets], {"reduction": draw(st.sampled_from(["mean", "sum", "none"]))}


def draw_mse(draw, dtype):
    shape = draw(shapes())
    return [values(draw, shape, dtype), values(draw, shape, dtype)], \
        {"reduction": draw(st.sampled_from(["mean", "sum", "none"]))}


def draw_pair_loss(lo=-3.0, hi=3.0, special=FINITE_SPECIAL, **extra):
    """(input, target) of one shape, a reduction, and ``extra`` params drawn from their strategies."""
    def draw_fn(draw, dtype):
        shape = draw(shapes())
        params = {"reduction": draw(st.sampled_from(["mean", "sum", "none"]))}
        params.update({k: draw(v) for k, v in extra.items()})
        return [values(draw, shape, dtype, special, lo, hi), values(draw, shape, dtype, special, lo, hi)], params
    return draw_fn


def draw_bce(draw, dtype):
    # Probabilities strictly inside (0, 1): PyTorch clamps log(0) to -100, a convention of its own.
    shape = draw(shapes())
    return [values(draw, shape, dtype, (0.5, 0.25, 0.75), 0.05, 0.95),
            values(draw, shape, dtype, (0.0, 1.0, 0.5), 0.0, 1.0)], \
        {"reduction": draw(st.sampled_from(["mean", "sum", "none"]))}


def draw_bce_logits(draw, dtype):
    shape = draw(shapes())
    return [values(draw, shape, dtype, FINITE_SPECIAL),
            values(draw, shape, dtype, (0.0, 1.0, 0.5), 0.0, 1.0)], \
        {"reduction": draw(st.sampled_from(["mean", "sum", "none"]))}


def draw_layer_norm(draw, dtype):
    n, d = draw(SIDES), draw(st.integers(1, 4))
    return [values(draw, (n, d), dtype, FINITE_SPECIAL), values(draw, (d,), dtype, FINITE_SPECIAL),
            values(draw, (d,), dtype, FINITE_SPECIAL)], {"normalized_shape": (d,)}


def draw_batch_norm(draw, dtype):
    # Training mode (batch statistics, no running buffers): at least 2 rows, as PyTorch requires.
    n, c = draw(st.integers(2, 4)), draw(st.integers(1, 3))
    return [values(draw, (n, c), dtype, FINITE_SPECIAL), values(draw, (c,), dtype, FINITE_SPECIAL),
            values(draw, (c,), dtype, FINITE_SPECIAL)], {}


def draw_class_indices(draw, dtype):
    n, c = draw(SIDES), draw(st.integers(1, 4))
    idx = np.array(draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)), dtype=dtype)
    return [idx], {"num_classes": c}


#: Normalizations' gradients subtract terms of the size of the inputs (x - mean, then the mean of
#: that times the output): in float32 the second order loses a few more bits than an elementwise op
#: (a Hypothesis example reached 1.6e-4 relative), so float32 gets 1e-3 there.
NORM_GRAD_TOL = {"float16": (5e-2, 2e-2), "float32": (1e-3, 1e-4), "float64": (1e-8, 1e-10)}


# -- PyTorch spellings of the NumPy-style calls ----------------------------------------------------
def _t_clip(x, lo, hi):
    return torch.clamp(x, lo, hi) if (lo, hi) != (None, None) else x.clone()


def _t_reduce(fn):
    def call(x, axis, keepdims=False):
        return fn(x, _dims(axis, x.ndim), keepdims)
    return call


def _t_sum(x, axis, keepdims):
    out = torch.sum(x, dim=_dims(axis, x.ndim), keepdim=keepdims)
    return out


def _t_mean(x, axis, keepdims):
    return torch.mean(x, dim=_dims(axis, x.ndim), keepdim=keepdims)


def _t_transpose(x, axes):
    return x.permute(tuple(range(x.ndim))[::-1] if axes is None else axes)


def _t_squeeze(x, axis):
    return x.squeeze() if axis is None else x.squeeze(axis)


def _t_getitem(x, index):
    if isinstance(index, np.ndarray):
        index = torch.from_numpy(index)
    return x[index]


def _t_concat(*xs, axis):
    return torch.cat(xs, dim=axis)


def _t_stack(*xs, axis):
    return torch.stack(xs, dim=axis)


def _t_linear(x, w, b=None):
    return TF.linear(x, w, b)


CASES = [
    # elementwise, one input
    Case("neg", lambda x: -x, lambda x: -x, unary(), FLOATS + ("int64", "int32")),
    Case("exp", gg.exp, torch.exp, unary(), ANY),
    Case("log", gg.log, torch.log, unary(), ANY),
    Case("sqrt", gg.sqrt, torch.sqrt, unary(), ANY),
    Case("sin", gg.sin, torch.sin, unary(), ANY),
    Case("cos", gg.cos, torch.cos, unary(), ANY),
    Case("tanh", gg.tanh, torch.tanh, unary(), ANY, covers=("tanh", "F.tanh")),
    Case("sigmoid", gg.sigmoid, torch.sigmoid, unary(), ANY, covers=("sigmoid", "F.sigmoid")),
    Case("relu", gg.relu, torch.relu, unary(), FLOATS + ("int64", "int32"), covers=("relu", "F.relu"),
         kernel=True),
    Case("abs", gg.abs, torch.abs, unary(), FLOATS + ("int64", "int32")),
    Case("sign", gg.sign, torch.sign, unary(), FLOATS + ("int64", "int32"), grad=False),
    Case("clip", lambda x, lo, hi: gg.clip(x, lo, hi), _t_clip, draw_clip, FLOATS + ("int64",)),
    Case("copy", gg.ops.copy, torch.clone, unary()),
    Case("to_device", lambda x: gg.ops.to_device(x, as_device("cpu")), lambda x: x.to("cpu") * 1, unary(),
         extra={"out_device": "cpu"}),
    Case("astype", lambda x, dtype: x.astype(dtype), lambda x, dtype: x.to(_tdtype(dtype)),
         draw_astype, ANY, covers=("astype",)),
    Case("power", lambda x, p: x ** p, lambda x, p: x ** p, draw_power, FLOATS + ("int64",),
         covers=("power", "pow")),
    Case("rpow", lambda x, c: c ** x, lambda x, c: c ** x, draw_rpow, covers=("pow",)),
    # elementwise, two inputs (and a Python scalar on either side)
    Case("add", lambda x, y: x + y, torch.add, binary(), ANY[:-1]),
    Case("sub", lambda x, y: x - y, torch.sub, binary(), FLOATS + INTS),
    Case("mul", lambda x, y: x * y, torch.mul, binary(), ANY),
    Case("div", lambda x, y: x / y, torch.div, binary(), FLOATS + INTS),
    Case("pow", lambda x, y: x ** y, torch.pow, binary()),
    Case("remainder", lambda x, y: x % y, torch.remainder, binary(FINITE_SPECIAL), FLOATS + ("int64",)),
    Case("floor_divide", lambda x, y: x // y, torch.floor_divide, binary(FINITE_SPECIAL), FLOATS + ("int64",),
         grad=False),
    Case("isnan", gg.isnan, torch.isnan, unary(), ANY, grad=False),
    Case("isinf", gg.isinf, torch.isinf, unary(), ANY, grad=False),
    Case("isfinite", gg.isfinite, torch.isfinite, unary(), ANY, grad=False),
    Case("maximum", gg.maximum, torch.maximum, binary(), FLOATS + ("int64",)),
    Case("minimum", gg.minimum, torch.minimum, binary(), FLOATS + ("int64",)),
    Case("where", gg.where, torch.where, draw_where, FLOATS + ("int64",)),
    Case("scalar_ops", lambda x, s: (x + s, s - x, x * s, s * x, x / s if s else x, x - s),
         lambda x, s: (x + s, s - x, x * s, s * x, x / s if s else x, x - s),
         draw_scalar_binary, FLOATS + ("int64",), covers=("add", "sub", "mul", "div")),
    Case("eq", lambda x, y: x == y, torch.eq, binary(), ANY, grad=False),
    Case("ne", lambda x, y: x != y, torch.ne, binary(), ANY, grad=False),
    Case("lt", lambda x, y: x < y, torch.lt, binary(), ANY, grad=False),
    Case("le", lambda x, y: x <= y, torch.le, binary(), ANY, grad=False),
    Case("gt", lambda x, y: x > y, torch.gt, binary(), ANY, grad=False),
    Case("ge", lambda x, y: x >= y, torch.ge, binary(), ANY, grad=False),
    Case("logical_and", gg.ops.logical_and, torch.logical_and, binary(), ("bool",), grad=False),
    Case("logical_or", gg.ops.logical_or, torch.logical_or, binary(), ("bool",), grad=False),
    Case("logical_not", gg.ops.logical_not, torch.logical_not, unary(), ("bool",), grad=False),
    # reductions
    Case("sum", lambda x, axis, keepdims: x.sum(axis=axis, keepdims=keepdims), _t_sum, reduction(), ANY),
    Case("mean", lambda x, axis, keepdims: x.mean(axis=axis, keepdims=keepdims), _t_mean, reduction(),
         FLOATS + ("int64", "bool")),
    Case("max", lambda x, axis, keepdims: x.max(axis=axis, keepdims=keepdims), _t_reduce(torch.amax),
         reduction(), FLOATS + ("int64",)),
    Case("min", lambda x, axis, keepdims: x.min(axis=axis, keepdims=keepdims), _t_reduce(torch.amin),
         reduction(), FLOATS + ("int64",)),
    Case("logsumexp", lambda x, axis, keepdims: gg.logsumexp(x, axis=axis, keepdims=keepdims),
         lambda x, axis, keepdims: torch.logsumexp(x, _dims(axis, x.ndim), keepdims), reduction(),
         FLOATS + ("int64",)),
    # PyTorch's reductions and scans added with issue 12's review (gg.cumsum, prod, norm, std)
    Case("cumsum", lambda x, axis: gg.cumsum(x, axis), lambda x, axis: torch.cumsum(x, axis), draw_softmax,
         ANY),
    Case("prod", lambda x, axis: gg.prod(x, axis), lambda x, axis: torch.prod(x) if axis is None else
         torch.prod(x, axis), draw_prod, ANY),
    Case("norm", lambda x, p, axis: gg.norm(x, p, axis), lambda x, p, axis: torch.norm(x, p, axis), draw_norm),
    Case("std", lambda x, axis: gg.std(x, axis), _torch_std, draw_std),
    Case("softmax", lambda x, axis: gg.softmax(x, axis=axis), lambda x, axis: torch.softmax(x, axis),
         draw_softmax, FLOATS + ("int64",), covers=("softmax", "F.softmax")),
    Case("log_softmax", lambda x, axis: gg.log_softmax(x, axis=axis),
         lambda x, axis: torch.log_softmax(x, axis), draw_softmax, FLOATS + ("int64",),
         covers=("log_softmax", "F.log_softmax")),
    # movement
    Case("reshape", lambda x, shape: x.reshape(shape), lambda x, shape: x.reshape(shape), draw_reshape),
    Case("transpose", lambda x, axes: x.transpose(axes), _t_transpose, draw_transpose),
    Case("swapaxes", lambda x, a, b: x.swapaxes(a, b), lambda x, a, b: x.transpose(a, b), draw_swapaxes),
    Case("broadcast_to", lambda x, shape: gg.broadcast_to(x, shape), lambda x, shape: torch.broadcast_to(x, shape),
         draw_broadcast_to,
         covers=("broadcast_to", "expand")),
    Case("sum_to", lambda x, shape: gg.sum_to(x, shape), lambda x, shape: x.sum_to_size(shape),
         draw_sum_to),
    Case("squeeze", lambda x, axis: x.squeeze(axis), _t_squeeze, draw_squeeze),
    Case("expand_dims", lambda x, axis: gg.expand_dims(x, axis), lambda x, axis: x.unsqueeze(axis),
         draw_unsqueeze, covers=("expand_dims", "unsqueeze")),
    Case("flatten", lambda x, start: x.flatten(start), lambda x, start: x.flatten(start), draw_flatten),
    Case("getitem", lambda x, index: x[index], _t_getitem, draw_getitem),
    Case("concatenate", lambda *xs, axis: gg.concatenate(xs, axis=axis), _t_concat, draw_join(False)),
    Case("stack", lambda *xs, axis: gg.stack(xs, axis=axis), _t_stack, draw_join(True)),
    # products and nn
    Case("matmul", lambda x, y: x @ y, torch.matmul, draw_matmul, FLOATS + ("int64",), kernel=True),
    Case("linear", F.linear, _t_linear, draw_linear(False), kernel=True, covers=("linear", "F.linear")),
    Case("linear_bias", F.linear, _t_linear, draw_linear(True), kernel=True, covers=("linear", "F.linear")),
    Case("linear_relu", F.linear_relu, lambda x, w, b: torch.relu(TF.linear(x, w, b)), draw_linear(True),
         kernel=True, covers=("F.linear_relu",)),
        # bool excluded: PyTorch's bool + bool is a logical or, gpugrad adds in floating point.
    Case("bias_sigmoid", F.bias_sigmoid, lambda z, b: torch.sigmoid(z + b), draw_bias_sigmoid, FLOATS + INTS,
         kernel=True, covers=("bias_sigmoid", "F.bias_sigmoid")),
    Case("cross_entropy", lambda x, t, reduction: F.cross_entropy(x, t, reduction=reduction),
         lambda x, t, reduction: TF.cross_entropy(x, t, reduction=reduction), draw_class_scores,
         covers=("F.cross_entropy",)),
    Case("mse_loss", lambda x, y, reduction: F.mse_loss(x, y, reduction=reduction),
         lambda x, y, reduction: TF.mse_loss(x, y, reduction=reduction), draw_mse,
         covers=("F.mse_loss",)),
    # PyTorch's nn.functional names (issue 12): activations, normalizations and losses
    Case("leaky_relu", lambda x, negative_slope: F.leaky_relu(x, negative_slope),
         lambda x, negative_slope: TF.leaky_relu(x, negative_slope),
         lambda draw, dtype: (unary(FINITE_SPECIAL)(draw, dtype)[0],
                              {"negative_slope": draw(st.sampled_from([0.01, 0.2]))}),
         covers=("F.leaky_relu",)),
    Case("gelu", lambda x, approximate: F.gelu(x, approximate=approximate),
         lambda x, approximate: TF.gelu(x, approximate=approximate),
         lambda draw, dtype: (unary(FINITE_SPECIAL)(draw, dtype)[0],
                              {"approximate": draw(st.sampled_from(["none", "tanh"]))}),
         ("float32", "float64"), covers=("F.gelu",)),
    Case("silu", F.silu, TF.silu, unary(FINITE_SPECIAL), ("float32", "float64"), covers=("F.silu",)),
    # thresholds that beta * (a special value) never equals: exactly there PyTorch's second derivative
    # (beta x < threshold) and its first (beta x > threshold) take different sides
    Case("softplus", lambda x, beta, threshold: F.softplus(x, beta, threshold),
         lambda x, beta, threshold: TF.softplus(x, beta, threshold),
         lambda draw, dtype: (unary(FINITE_SPECIAL)(draw, dtype)[0],
                              {"beta": draw(st.sampled_from([1.0, 2.0, 0.5])),
                               "threshold": draw(st.sampled_from([20.0, 1.5]))}),
         ("float32", "float64"), covers=("F.softplus",)),
    Case("elu", lambda x, alpha: F.elu(x, alpha), lambda x, alpha: TF.elu(x, alpha),
         lambda draw, dtype: (unary(FINITE_SPECIAL)(draw, dtype)[0],
                              {"alpha": draw(st.sampled_from([1.0, 0.5]))}),
         ("float32", "float64"), covers=("F.elu",)),
    Case("dropout_eval", lambda x: F.dropout(x, 0.5, training=False),
         lambda x: TF.dropout(x, 0.5, training=False), unary(FINITE_SPECIAL), covers=("F.dropout",)),
    Case("layer_norm", lambda x, w, b, normalized_shape: F.layer_norm(x, normalized_shape, w, b),
         lambda x, w, b, normalized_shape: TF.layer_norm(x, normalized_shape, w, b), draw_layer_norm,
         ("float32", "float64"), covers=("F.layer_norm",), extra={"grad_tol": NORM_GRAD_TOL}),
    Case("batch_norm", lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
         lambda x, w, b: TF.batch_norm(x, None, None, w, b, training=True), draw_batch_norm,
         ("float32", "float64"), covers=("F.batch_norm",), extra={"grad_tol": NORM_GRAD_TOL}),
    Case("nll_loss", lambda x, t, reduction: F.nll_loss(x, t, reduction=reduction),
         lambda x, t, reduction: TF.nll_loss(x, t, reduction=reduction), draw_class_scores,
         ("float32", "float64"), covers=("F.nll_loss",)),
    Case("l1_loss", lambda x, y, reduction: F.l1_loss(x, y, reduction=reduction),
         lambda x, y, reduction: TF.l1_loss(x, y, reduction=reduction),
         draw_pair_loss(special=(1.0, -1.0, 0.5, 2.0)), covers=("F.l1_loss",)),
    Case("smooth_l1_loss", lambda x, y, reduction, beta: F.smooth_l1_loss(x, y, reduction=reduction, beta=beta),
         lambda x, y, reduction, beta: TF.smooth_l1_loss(x, y, reduction=reduction, beta=beta),
         draw_pair_loss(beta=st.sampled_from([1.0, 0.5])), covers=("F.smooth_l1_loss",)),
    Case("huber_loss", lambda x, y, reduction, delta: F.huber_loss(x, y, reduction=reduction, delta=delta),
         lambda x, y, reduction, delta: TF.huber_loss(x, y, reduction=reduction, delta=delta),
         draw_pair_loss(delta=st.sampled_from([1.0, 0.5])), covers=("F.huber_loss",)),
    Case("binary_cross_entropy", lambda x, y, reduction: F.binary_cross_entropy(x, y, reduction=reduction),
         lambda x, y, reduction: TF.binary_cross_entropy(x, y, reduction=reduction), draw_bce,
         ("float32", "float64"), order2=False, covers=("F.binary_cross_entropy",)),
    Case("binary_cross_entropy_with_logits",
         lambda x, y, reduction: F.binary_cross_entropy_with_logits(x, y, reduction=reduction),
         lambda x, y, reduction: TF.binary_cross_entropy_with_logits(x, y, reduction=reduction),
         draw_bce_logits, ("float32", "float64"), covers=("F.binary_cross_entropy_with_logits",)),
    Case("one_hot", lambda t, num_classes: F.one_hot(t, num_classes),
         lambda t, num_classes: TF.one_hot(t, num_classes), draw_class_indices, ("int64",), grad=False,
         covers=("F.one_hot",)),
]


# -- issue 25: the names an MLP script reaches (torch_face/indexing.py, ops/einsum.py, top_level.py) -----
_EINSUM = [("ij,jk->ik", "ij,jk"), ("bij,bjk->bik", "bij,bjk"), ("ii->", "ii"), ("ii->i", "ii"), ("ij->j", "ij"),
           ("i,j->ij", "i,j"), ("ij,ij->i", "ij,ij"), ("...j,j->...", "...j,j"), ("ij", "ij"),
           ("bi,bj,ij->b", "bi,bj,ij")]


def draw_einsum(draw, dtype):
    eq, terms = draw(st.sampled_from(_EINSUM))
    sizes = {c: draw(SIDES) for c in "bijk"}
    arrays = []
    for term in terms.split(","):
        lead = tuple(draw(SIDES) for _ in range(draw(st.integers(0, 2)))) if "..." in term else ()
        if arrays and "..." in term:
            lead = ()
        arrays.append(values(draw, lead + tuple(sizes[c] for c in term.replace("...", "")), dtype, FINITE_SPECIAL))
    return arrays, {"equation": eq}


def draw_gather(draw, dtype):
    shape = draw(shapes(min_dims=1))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[dim]
    ishape = tuple(draw(st.integers(0 if n else 0, 3)) if a == dim % len(shape) else draw(st.integers(0, m))
                   for a, m in enumerate(shape))
    if n == 0:
        ishape = tuple(0 if a == dim % len(shape) else m for a, m in enumerate(ishape))
    idx = np.array(draw(st.lists(st.integers(0, max(n - 1, 0)), min_size=int(np.prod(ishape)),
                                 max_size=int(np.prod(ishape)))), dtype=np.int64).reshape(ishape)
    return [values(draw, shape, dtype), idx], {"dim": dim}


def draw_index_select(draw, dtype):
    shape = draw(shapes(min_dims=1))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[dim]
    k = draw(st.integers(0, 4)) if n else 0
    idx = np.array(draw(st.lists(st.integers(0, max(n - 1, 0)), min_size=k, max_size=k)), dtype=np.int64)
    return [values(draw, shape, dtype), idx], {"dim": dim}


def draw_sort(draw, dtype):
    shape = draw(shapes(min_dims=1))
    return [values(draw, shape, dtype, FINITE_SPECIAL + (INF, -INF))], {
        "dim": draw(st.integers(-len(shape), len(shape) - 1)), "descending": draw(st.booleans())}


def draw_topk(draw, dtype):
    # distinct values: PyTorch leaves the order of tied elements in topk unspecified
    shape = draw(shapes(min_dims=1))
    n = int(np.prod(shape))
    x = (np.array(draw(st.permutations(range(n))), dtype=np.float64).reshape(shape) - n / 2) / 4
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    return [x.astype(dtype)], {"k": draw(st.integers(0, shape[dim])), "dim": dim, "largest": draw(st.booleans())}


def draw_split(draw, dtype):
    shape = draw(shapes(min_dims=1))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[dim]
    if draw(st.booleans()) or n == 0:
        size = draw(st.integers(1, 4))
    else:
        cuts = sorted(draw(st.lists(st.integers(0, n), max_size=3)))
        size = [b - a for a, b in zip([0] + cuts, cuts + [n])]
    return [values(draw, shape, dtype)], {"size": size, "dim": dim}


def draw_chunk(draw, dtype):
    shape = draw(shapes(min_dims=1))
    return [values(draw, shape, dtype)], {"chunks": draw(st.integers(1, 5)),
                                          "dim": draw(st.integers(-len(shape), len(shape) - 1))}


def draw_bmm(draw, dtype):
    b, n, m, p = (draw(SIDES) for _ in range(4))
    return [values(draw, (b, n, m), dtype, FINITE_SPECIAL), values(draw, (b, m, p), dtype, FINITE_SPECIAL)], {}


def draw_unique(draw, dtype):
    shape = draw(shapes(min_dims=1, max_dims=2))
    return [values(draw, shape, dtype, (0.0, 1.0, 1.0, -1.0, 2.0))], {
        "return_inverse": draw(st.booleans()), "return_counts": draw(st.booleans())}


def draw_bincount(draw, dtype):
    n = draw(st.integers(0, 6))
    x = np.array(draw(st.lists(st.integers(0, 4), min_size=n, max_size=n)), dtype=np.int64)
    weights = draw(st.sampled_from([None, "float32", "float64"]))
    arrays = [x] + ([] if weights is None else [values(draw, (n,), weights, FINITE_SPECIAL)])
    return arrays, {"minlength": draw(st.integers(0, 6))}


CASES += [
    Case("einsum", lambda *xs, equation: gg.einsum(equation, *xs),
         lambda *xs, equation: torch.einsum(equation, *xs), draw_einsum, FLOATS),
    Case("gather", lambda x, i, dim: gg.gather(x, dim, i), lambda x, i, dim: torch.gather(x, dim, i), draw_gather,
         FLOATS + ("int64",), covers=("gather",)),
    Case("index_select", lambda x, i, dim: x.index_select(dim, i), lambda x, i, dim: x.index_select(dim, i),
         draw_index_select, FLOATS + ("int64",)),
    Case("sort", lambda x, dim, descending: gg.sort(x, dim, descending),
         lambda x, dim, descending: torch.sort(x, dim=dim, descending=descending, stable=True), draw_sort,
         FLOATS + ("int64",)),
    Case("argsort", lambda x, dim, descending: gg.argsort(x, dim, descending),
         lambda x, dim, descending: torch.argsort(x, dim=dim, descending=descending, stable=True), draw_sort,
         FLOATS + ("int64",), grad=False),
    Case("topk", lambda x, k, dim, largest: x.topk(k, dim, largest),
         lambda x, k, dim, largest: x.topk(k, dim, largest), draw_topk, FLOATS),
    Case("split", lambda x, size, dim: gg.split(x, size, dim), lambda x, size, dim: torch.split(x, size, dim),
         draw_split),
    Case("chunk", lambda x, chunks, dim: x.chunk(chunks, dim), lambda x, chunks, dim: x.chunk(chunks, dim),
         draw_chunk),
    Case("unbind", lambda x, dim: gg.unbind(x, dim), lambda x, dim: torch.unbind(x, dim),
         lambda draw, dtype: draw_chunk(draw, dtype)[:1] + ({"dim": draw_chunk(draw, dtype)[1]["dim"]},)),
    Case("bmm", gg.bmm, torch.bmm, draw_bmm),
    Case("nan_to_num", gg.nan_to_num, torch.nan_to_num, unary(), FLOATS + ("int64",)),
    Case("unique", lambda x, return_inverse, return_counts: gg.unique(x, return_inverse=return_inverse,
                                                                      return_counts=return_counts),
         lambda x, return_inverse, return_counts: torch.unique(x, return_inverse=return_inverse,
                                                               return_counts=return_counts),
         draw_unique, FLOATS + ("int64",), grad=False),
    Case("bincount", lambda x, *w, minlength: gg.bincount(x, w[0] if w else None, minlength),
         lambda x, *w, minlength: torch.bincount(x, w[0] if w else None, minlength), draw_bincount, ("int64",),
         grad=False),
    Case("full_like", lambda x, v: gg.full_like(x, v), lambda x, v: torch.full_like(x, v),
         lambda draw, dtype: (unary()(draw, dtype)[0], {"v": draw(st.sampled_from([0.5, -2.0, 3.0]))}),
         FLOATS, grad=False),
    Case("clone", gg.clone, torch.clone, unary()),
]
# -- issue 21: the columns of trust in numerics ---------------------------------------------------------
# (1) masked and weighted losses at saturated inputs, (2) float16 statistics, (3) tails. Each is a case
# of its own so that a regression names its column; tests/test_trust_numerics.py holds the handed cases.
#: Relative tolerance only (atol 0): a tail value of 2e-9 must not pass as 0.
TAIL_TOL = {"float32": (2e-5, 0.0), "float64": (1e-10, 0.0)}
TAIL_POINTS = (-100.0, -40.0, -30.0, -20.0, -17.0, -1e-6, -1e-9, 0.0, 1e-9, 1e-6, 17.0, 20.0, 30.0, 40.0, 100.0)


def draw_tails(draw, dtype):
    return [values(draw, draw(shapes(max_dims=2)), dtype, TAIL_POINTS, -50.0, 50.0)], {}


def draw_masked_class_scores(draw, dtype):
    """Logits with saturated values (+-1e4, -inf rows), targets with ignore_index (possibly all of
    them), optional class weights (some 0) and label smoothing: what a padded batch feeds a loss."""
    n, c = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    scores = values(draw, (n, c), dtype, (0.0, 1.0, -1.0, 1e4, -1e4), -30.0, 30.0)
    targets = np.array(draw(st.lists(st.sampled_from(list(range(c)) + [-100, -100]), min_size=n, max_size=n)),
                       dtype=np.int64)
    for i in range(n):   # a padded row: every logit -inf, its target ignored
        if targets[i] == -100 and draw(st.booleans()):
            scores[i] = -INF
    weight = values(draw, (c,), dtype, (0.0, 1.0, 2.0), 0.0, 2.0) if draw(st.booleans()) else None
    # the weight is a parameter, not an input: PyTorch has no gradient for a loss's class weights
    params = {"reduction": draw(st.sampled_from(["mean", "sum", "none"])), "weight": weight,
              "label_smoothing": draw(st.sampled_from([0.0, 0.0, 0.1]))}
    return [scores, targets], params


def draw_masked_log_probs(draw, dtype):
    """nll_loss inputs: log-probabilities with -inf (log 0) away from the counted targets, ignored rows."""
    [scores, targets], params = draw_masked_class_scores(draw, dtype)
    params.pop("label_smoothing")
    for i, t in enumerate(targets):
        for j in range(scores.shape[1]):
            if t != j and draw(st.booleans()):
                scores[i, j] = -INF
    return [scores, targets], params


def draw_saturated_bce(draw, dtype):
    """Probabilities exactly 0 and 1 (a saturated float32 sigmoid), with weights (some 0). The
    target is a constant here (a parameter), so the input's gradient is compared at p = 0 and 1;
    the target's gradient is compared inside (0, 1) by the binary_cross_entropy case."""
    shape = draw(shapes(max_dims=2))
    return [values(draw, shape, dtype, (0.0, 1.0, 0.0, 1.0, 0.5), 0.0, 1.0)], \
        {"reduction": draw(st.sampled_from(["mean", "sum", "none"])),
         "target": values(draw, shape, dtype, (0.0, 1.0, 0.5), 0.0, 1.0),
         "weight": values(draw, shape, dtype, (0.0, 1.0, 2.0), 0.0, 2.0)}


def draw_saturated_bce_logits(draw, dtype):
    shape = draw(shapes(max_dims=2))
    last = shape[-1:] if shape else ()
    return [values(draw, shape, dtype, (-100.0, -40.0, 40.0, 100.0, 0.0), -50.0, 50.0),
            values(draw, shape, dtype, (0.0, 1.0), 0.0, 1.0)], \
        {"reduction": draw(st.sampled_from(["mean", "sum", "none"])),
         "weight": values(draw, shape, dtype, (0.0, 1.0, 2.0), 0.0, 2.0),
         "pos_weight": values(draw, last, dtype, (0.5, 1.0, 3.0), 0.5, 3.0)}


def _large(draw, shape, dtype):
    """float16 activations of a few hundred: their squares (~1e5) overflow float16 (max 65504)."""
    return values(draw, shape, dtype, (300.0, -300.0, 400.0), -400.0, 400.0)


def draw_f16_rows(draw, dtype):
    n, d = draw(st.integers(1, 3)), draw(st.integers(2, 24))
    return [_large(draw, (n, d), dtype)], {"axis": draw(st.sampled_from([-1, None]))}


def draw_f16_layer_norm(draw, dtype):
    n, d = draw(st.integers(1, 3)), draw(st.integers(2, 16))
    return [_large(draw, (n, d), dtype), values(draw, (d,), dtype, FINITE_SPECIAL),
            values(draw, (d,), dtype, FINITE_SPECIAL)], {"normalized_shape": (d,)}


def draw_f16_batch_norm(draw, dtype):
    n, c = draw(st.integers(2, 16)), draw(st.integers(1, 3))
    return [_large(draw, (n, c), dtype), values(draw, (c,), dtype, FINITE_SPECIAL),
            values(draw, (c,), dtype, FINITE_SPECIAL)], {}


def _gw(w, like):
    """A loss's weight parameter (a NumPy array or None) as a constant gpugrad tensor beside ``like``."""
    return None if w is None else gg.tensor(w, dtype=like.dtype, device=like.device)


def _tw(w, like):
    return None if w is None else torch.from_numpy(np.array(w)).to(like.dtype)


F16 = ("float16",)
GRAD_TOL_LOOSE64 = {"float16": (5e-2, 2e-2), "float32": (1e-4, 1e-5), "float64": (1e-7, 1e-10)}
NUMERIC_CASES = [
    # (3) tails, against the float64 reference with relative tolerance only
    Case("log1p", lambda x: gg.ops.log1p(x), torch.log1p, unary(SPECIAL + (1e-9, -1e-9, -1.0)), ANY),
    Case("expm1", lambda x: gg.ops.expm1(x), torch.expm1, unary(SPECIAL + (1e-9, -1e-9, -40.0)), ANY),
    Case("softplus_tails", lambda x: F.softplus(x), lambda x: TF.softplus(x), draw_tails, ("float32", "float64"),
         covers=("F.softplus",), extra={"fwd_tol": TAIL_TOL}),
    Case("logsigmoid", lambda x: F.logsigmoid(x), TF.logsigmoid, draw_tails, ("float32", "float64"), covers=("F.logsigmoid",),
         extra={"fwd_tol": TAIL_TOL}),
    Case("elu_tails", lambda x: F.elu(x), lambda x: TF.elu(x), draw_tails, ("float32", "float64"),
         covers=("F.elu",), extra={"fwd_tol": TAIL_TOL}),
    Case("selu", lambda x: F.selu(x), TF.selu, draw_tails, ("float32", "float64"), covers=("F.selu",),
         extra={"fwd_tol": TAIL_TOL}),
    Case("celu", lambda x, alpha: F.celu(x, alpha), lambda x, alpha: TF.celu(x, alpha),
         lambda draw, dtype: (draw_tails(draw, dtype)[0], {"alpha": draw(st.sampled_from([1.0, 0.5, 2.0]))}),
         ("float32", "float64"), covers=("F.celu",), extra={"fwd_tol": TAIL_TOL}),
    Case("bce_with_logits_tails",
         lambda x, y: F.binary_cross_entropy_with_logits(x, y, reduction="none"),
         lambda x, y: TF.binary_cross_entropy_with_logits(x, y, reduction="none"),
         lambda draw, dtype: ([(a := draw_tails(draw, dtype)[0][0]),
                               values(draw, a.shape, dtype, (0.0, 1.0), 0.0, 1.0)], {}),
         ("float32", "float64"), covers=("F.binary_cross_entropy_with_logits",), extra={"fwd_tol": TAIL_TOL}),
    # (1) clamps whose gradients select (0 at and beyond the bounds, as PyTorch's)
    Case("hardtanh", lambda x, lo, hi: F.hardtanh(x, lo, hi), lambda x, lo, hi: TF.hardtanh(x, lo, hi),
         lambda draw, dtype: (unary(SPECIAL)(draw, dtype)[0],
                              dict(zip(("lo", "hi"), draw(st.sampled_from([(-1.0, 1.0), (0.0, 2.0), (-0.5, 0.5)]))))),
         covers=("F.hardtanh",)),
    Case("relu6", lambda x: F.relu6(x), TF.relu6, unary(SPECIAL + (6.0, 7.0)), covers=("F.relu6",)),
    # PyTorch's CPU hardsigmoid backward multiplies a float64 gradient by a float32 1/6 (3e-8 off)
    # (PyTorch has no double backward for it)
    Case("hardsigmoid", lambda x: F.hardsigmoid(x), TF.hardsigmoid, unary(SPECIAL + (3.0, -3.0, 4.0), lo=-5.0, hi=5.0),
         order2=False, covers=("F.hardsigmoid",), extra={"grad_tol": dict(GRAD_TOL_LOOSE64)}),
    # (1) masked and weighted losses at saturated inputs
    Case("cross_entropy_masked",
         lambda x, t, weight, reduction, label_smoothing: F.cross_entropy(
             x, t, weight=_gw(weight, x), reduction=reduction, label_smoothing=label_smoothing),
         lambda x, t, weight, reduction, label_smoothing: TF.cross_entropy(
             x, t, weight=_tw(weight, x), reduction=reduction, label_smoothing=label_smoothing),
         draw_masked_class_scores, ("float32", "float64"), covers=("F.cross_entropy",)),
    Case("nll_loss_masked",
         lambda x, t, weight, reduction: F.nll_loss(x, t, weight=_gw(weight, x), reduction=reduction),
         lambda x, t, weight, reduction: TF.nll_loss(x, t, weight=_tw(weight, x), reduction=reduction),
         draw_masked_log_probs, ("float32", "float64"), covers=("F.nll_loss",)),
    Case("bce_saturated", lambda p, target, weight, reduction: F.binary_cross_entropy(
        p, _gw(target, p), weight=_gw(weight, p), reduction=reduction),
         lambda p, target, weight, reduction: TF.binary_cross_entropy(p, _tw(target, p), weight=_tw(weight, p),
                                                                      reduction=reduction),
         draw_saturated_bce, ("float32", "float64"), covers=("F.binary_cross_entropy",)),
    Case("bce_with_logits_saturated", lambda x, t, weight, pos_weight, reduction: F.binary_cross_entropy_with_logits(
        x, t, weight=_gw(weight, x), pos_weight=_gw(pos_weight, x), reduction=reduction),
         lambda x, t, weight, pos_weight, reduction: TF.binary_cross_entropy_with_logits(
             x, t, weight=_tw(weight, x), pos_weight=_tw(pos_weight, x), reduction=reduction),
         draw_saturated_bce_logits, ("float32", "float64"), covers=("F.binary_cross_entropy_with_logits",)),
    # (2) float16 statistics of activations ~300, against the float64 reference rounded to float16
    Case("sum_f16", lambda x, axis: x.sum(axis=axis), lambda x, axis: x.sum() if axis is None else x.sum(axis),
         draw_f16_rows, F16, covers=("sum",)),
    Case("mean_f16", lambda x, axis: x.mean(axis=axis),
         lambda x, axis: x.mean() if axis is None else x.mean(axis), draw_f16_rows, F16, covers=("mean",)),
    Case("std_f16", lambda x, axis: gg.std(x, axis), lambda x, axis: torch.std(x, axis), draw_f16_rows, F16,
         covers=("std",)),
    Case("var_f16", lambda x, axis: gg.var(x, axis), lambda x, axis: torch.var(x, axis), draw_f16_rows, F16,
         covers=("std",)),
    Case("norm_f16", lambda x, axis: gg.norm(x, 2, axis), lambda x, axis: torch.norm(x, 2, axis), draw_f16_rows,
         F16, covers=("norm",)),
    Case("logsumexp_f16", lambda x, axis: gg.logsumexp(x, axis=axis),
         lambda x, axis: torch.logsumexp(x, _dims(axis, x.ndim)), draw_f16_rows, F16, covers=("logsumexp",)),
    Case("softmax_f16", lambda x, axis: gg.softmax(x * 0.01, axis=-1), lambda x, axis: torch.softmax(x * 0.01, -1),
         draw_f16_rows, F16, covers=("softmax",)),
    Case("log_softmax_f16", lambda x, axis: gg.log_softmax(x * 0.01, axis=-1),
         lambda x, axis: torch.log_softmax(x * 0.01, -1), draw_f16_rows, F16, covers=("log_softmax",)),
    Case("layer_norm_f16", lambda x, w, b, normalized_shape: F.layer_norm(x, normalized_shape, w, b),
         lambda x, w, b, normalized_shape: TF.layer_norm(x, normalized_shape, w, b), draw_f16_layer_norm, F16,
         covers=("F.layer_norm",), extra={"grad_tol": NORM_GRAD_TOL}),
    Case("batch_norm_f16", lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
         lambda x, w, b: TF.batch_norm(x, None, None, w, b, training=True), draw_f16_batch_norm, F16,
         covers=("F.batch_norm",), extra={"grad_tol": NORM_GRAD_TOL}),
    Case("mse_loss_f16", lambda x, y: F.mse_loss(x, y), lambda x, y: TF.mse_loss(x, y),
         lambda draw, dtype: ([_large(draw, (n,), dtype) for n in [draw(st.integers(1, 24))] * 2], {}), F16,
         covers=("F.mse_loss",)),
]
CASES.extend(NUMERIC_CASES)
CASES_BY_NAME = {c.name: c for c in CASES}
assert len(CASES_BY_NAME) == len(CASES), "duplicate case names"


def covered_names() -> set:
    """The gpugrad.ops / gg.nn.functional (``F.``) names the table compares."""
    out = set()
    for c in CASES:
        out.update(c.covers or (c.name,))
    return out


#: Public names of gpugrad.ops that are not ops (submodules).
NOT_OPS = {"activation", "elementwise", "linalg", "reduce", "shape", "transfer"}


# -- the deliberate differences from PyTorch ---------------------------------------------------------
@dataclass
class Difference:
    """Where gpugrad follows NumPy (or its own documented rule) instead of PyTorch.

    ``when(case, arrays, params, dtype)`` says whether an example is in the difference; then the
    suite checks ``expect`` instead of plain agreement with PyTorch:

    * "raises": gpugrad raises a ValueError/IndexError/TypeError naming the op or the axis;
    * "numpy": gpugrad's forward (values, dtype, shape) equals ``numpy(*arrays, **params)``
      (``numpy=None``: the case's NumPy ufunc in ``_NUMPY_BINARY``); gradients are not compared;
    * "promotes": gpugrad equals PyTorch run on the inputs cast to the default float dtype;
    * "forward_only": the forward agrees with PyTorch, the gradient convention differs;
    * "first_order_only": forward and first-order VJPs agree; second order differs at a kink;
    * "limit": gradients agree wherever PyTorch's are finite; where PyTorch's are inf/NaN,
      gpugrad's are the formula's limit (finite, or an inf of the limit's sign).
    """
    ops: tuple
    when: Callable
    expect: str
    why: str
    numpy: Callable = None

    def numpy_ref(self, case):
        return self.numpy if self.numpy is not None else _NUMPY_BINARY[case.name]


def _is_int(a):
    return np.asarray(a).dtype.kind in "biu"


def _axes_of(params):
    axis = params.get("axis")
    return () if axis is None else (axis if isinstance(axis, tuple) else (axis,))


def _nd(arrays):
    return arrays[0].ndim


_NUMPY_BINARY = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.true_divide,
                 "pow": np.power, "maximum": np.maximum, "minimum": np.minimum,
                 "eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
                 "gt": np.greater, "ge": np.greater_equal, "remainder": np.remainder,
                 "floor_divide": np.floor_divide}


def _mixed_0d(c, a, p, d):
    # Only within a kind: an integer/bool mixed with a float takes the float's dtype in both.
    x, y = a[-2:]
    same_kind = (x.dtype.kind == "f") == (y.dtype.kind == "f") and "b" not in (x.dtype.kind, y.dtype.kind)
    if c.name == "div" and x.dtype.kind != "f":
        return False   # int / int is the default float dtype in both
    return x.dtype != y.dtype and same_kind and (x.ndim == 0) != (y.ndim == 0)


def _has_nan(a):
    return any(np.isnan(x).any() for x in a if x.dtype.kind == "f")


def _bad_axis(c, a, p, d):
    nd = _nd(a) + (c.name == "stack")
    return not -nd <= p["axis"] < nd


DIFFERENCES = [
    Difference(("sum", "mean", "max", "min", "logsumexp", "softmax", "log_softmax", "squeeze", "flatten",
                "swapaxes", "transpose"),
               lambda c, a, p, d: _nd(a) == 0 and (any(v in (0, -1) for v in _axes_of(p))
                                                   or p.get("a") in (0, -1) or p.get("b") in (0, -1)
                                                   or p.get("start") in (0, -1) and c.name != "flatten"),
               "raises",
               "A 0-d tensor has no axes (NumPy: AxisError); PyTorch accepts dim 0 and -1 of a 0-d tensor."),
    Difference(("squeeze",),
               lambda c, a, p, d: p["axis"] is not None and -_nd(a) <= p["axis"] < _nd(a)
               and a[0].shape[p["axis"]] != 1,
               "raises",
               "NumPy's squeeze(axis) raises for an axis whose size is not 1; PyTorch returns the "
               "tensor unchanged, silently."),
    Difference(("concatenate",), _bad_axis, "raises",
               "An axis outside [-ndim, ndim) raises (NumPy); PyTorch's cat still accepts it when the "
               "inputs include a legacy empty 1-D tensor of shape (0,), which it skips."),
    Difference(("mean", "softmax", "log_softmax", "logsumexp"),
               lambda c, a, p, d: _is_int(a[0]),
               "promotes",
               "One dtype rule: integer/bool inputs of a floating op promote to the default float "
               "dtype, as PyTorch's exp/sigmoid/logsumexp do; PyTorch's mean and softmax raise instead."),
    Difference(("add", "sub", "mul", "div", "pow", "maximum", "minimum", "eq", "ne", "lt", "le", "gt",
                "ge", "remainder", "floor_divide"),
               _mixed_0d, "numpy",
               "A 0-d tensor takes part in dtype promotion like any array (NumPy 2, NEP 50: float64 0-d "
               "+ float32 array is float64); PyTorch ranks 0-d tensors like Python scalars.",
               numpy=None),
    Difference(("sign",), lambda c, a, p, d: _has_nan(a), "numpy",
               "sign(NaN) is NaN (NumPy); PyTorch gives 0.", numpy=np.sign),
    Difference(("getitem",),
               lambda c, a, p, d: isinstance(p["index"], slice) and (p["index"].step or 1) < 0,
               "numpy", "Negative slice steps work (NumPy); PyTorch raises.",
               numpy=lambda x, index: x[index]),
    Difference(("sum",), lambda c, a, p, d: d == "uint8", "numpy",
               "The sum of uint8 is uint64 (NumPy); PyTorch sums every integer dtype to int64.",
               numpy=lambda x, axis, keepdims: np.sum(x, axis=axis, keepdims=keepdims)),
    Difference(("maximum", "minimum", "relu", "abs"), lambda c, a, p, d: _has_nan(a), "forward_only",
               "At a NaN input the gradient is 0 for maximum/minimum (to neither operand, as x > y and "
               "x == y are both False) and relu (NaN > 0 is False), where PyTorch passes it through; "
               "for abs it is NaN (g * sign(NaN), NumPy's sign), where PyTorch gives 0. The forward "
               "(NaN) is the same."),
    Difference(("power",),
               lambda c, a, p, d: a[0].dtype.kind == "f"
               and ((np.signbit(a[0]) & (a[0] == 0)) | np.isneginf(a[0])).any()
               and p["p"] in (0.5, -0.5),
               "numpy",
               "(-0.0) ** ±0.5 and (-inf) ** ±0.5 are IEEE pow's (+0.0 and +inf; +inf and +0.0, NumPy); "
               "PyTorch computes them as sqrt/rsqrt (-0.0 and -inf; NaN).",
               numpy=lambda x, p: np.power(x, x.dtype.type(p)) if x.dtype.kind == "f" else x ** p),
    Difference(("power", "pow", "rpow"), lambda c, a, p, d: True, "limit",
               "Where PyTorch's formula gives inf or NaN, gpugrad may give the formula's limit instead: "
               "d/dx x**y at x = 0 with y = 0, (0 ** y)' at every order for y > 0, the one-sided "
               "d/dx sqrt at -0.0 (+inf). Where PyTorch's gradient is finite they agree."),
    Difference(("norm", "std", "matrix_norm", "linalg_norm"),
               lambda c, a, p, d: (a[0] == 0).any() or c.name == "std", "limit",
               "The p-norm of a zero slice (and std of a constant one) has gradient 0 in both, by a mask "
               "on the first derivative; PyTorch's second derivative there is NaN or inf, gpugrad's "
               "composite (the mask inside the formula) gives 0. Finite values are compared."),
    Difference(("norm",), lambda c, a, p, d: isinstance(p["p"], (int, float)) and p["p"] not in (1, 2, INF, -INF)
               and ((np.abs(a[0]) < 1e-6) & (a[0] != 0)).any(), "first_order_only",
               "For a p-norm with p not 1, 2 or inf and an element of magnitude below 1e-6, PyTorch's second "
               "derivative loses its precision (|x| ** (p - 2) of a tiny x: 4e11 where the exact value is "
               "0 for a one-element norm); gpugrad computes (sum (|x|/m) ** p) ** (1/p) * m with "
               "m = max |x|, which does not. The first order is compared."),
    Difference(("huber_loss", "smooth_l1_loss"), lambda c, a, p, d: d != "float64", "first_order_only",
               "d = input - target rounded to float16/float32 can land on the other side of |d| = delta "
               "(beta) than the float64 reference's d, where the second derivative jumps (1 inside, 0 "
               "outside); values and slopes agree on both sides, so forward and first order are compared."),
    Difference(("elu", "elu_tails", "selu", "celu"), lambda c, a, p, d: (a[0] == 0).any(), "first_order_only",
               "At x = 0 elu's second derivative jumps (alpha on the left, 0 on the right). Both give "
               "the left slope alpha as the first derivative, but PyTorch's double backward then takes "
               "the right side (0) while gpugrad's composite stays on the left (alpha); a one-sided value "
               "either way, so only the forward and the first order are compared there."),
    Difference(("hardtanh", "relu6", "hardsigmoid"), lambda c, a, p, d: _has_nan(a), "forward_only",
               "At a NaN input the gradient is 0 (NaN is not strictly inside the bounds), as PyTorch's "
               "hardtanh_backward gives in float32; PyTorch's float16 relu6 passes it through. The forward "
               "(NaN) is the same."),
    # issue 21: where a masked, clamped or fully -inf value gives PyTorch a NaN gradient, gpugrad's is 0
    Difference(("logsumexp", "logsumexp_f16"), lambda c, a, p, d: a[0].dtype.kind == "f" and np.isneginf(a[0]).any(),
               "limit",
               "A slice whose every element is -inf (fully masked) has gradient 0 (each element's weight "
               "exp(x - lse) is 0 in the limit); PyTorch's is exp(-inf + inf) = NaN. Finite values agree."),
    Difference(("cross_entropy_masked", "nll_loss_masked"), lambda c, a, p, d: np.isinf(a[0]).any(), "limit",
               "An ignored row's logits are selected away before log_softmax, so a padded row of -inf gets "
               "gradient 0 at every order; PyTorch's is NaN (0 * NaN from log_softmax's backward). The "
               "loss is the same."),
    Difference(("bce_saturated",), lambda c, a, p, d: (np.minimum(a[0], 1 - a[0]) < 1e-4).any(), "first_order_only",
               "Near p = 0 or 1 PyTorch's double backward of binary_cross_entropy loses digits (3.4e-5 "
               "relative at p = 6e-8 in float64, against the exact value to 40 digits) and at p = 0 or 1 it "
               "is inf/NaN (its unclamped (p^2 - 2pt + t) / (p(1-p))^2); gpugrad's, the derivative of "
               "(p - t) / max(p (1 - p), 1e-12), is exact, and finite at the clamp. Forward and first order "
               "(finite, PyTorch's) agree."),
    Difference(("bce_with_logits_tails",), lambda c, a, p, d: ((a[1] < 1) & (a[0] < -15)).any(), "numpy",
               "t softplus(-x) + (1 - t) softplus(x) keeps the tail of a confident right answer at x << 0, "
               "t = 0 (softplus(-100) = 3.7e-44); PyTorch's (1 - t) x + softplus(-x) gives -100 + 100 = 0. "
               "The forward is checked against the exact value (NumPy's logaddexp in float64).",
               numpy=lambda x, y: (y.astype(np.float64) * np.logaddexp(0, -x.astype(np.float64))
                                   + (1 - y.astype(np.float64)) * np.logaddexp(0, x.astype(np.float64))
                                   ).astype(x.dtype)),
]


def draw_embedding(draw, dtype):
    n, d = draw(st.integers(1, 4)), draw(SIDES)
    ishape = draw(shapes(min_dims=0, max_dims=2))
    k = int(np.prod(ishape))
    idx = np.array(draw(st.lists(st.integers(0, n - 1), min_size=k, max_size=k)), dtype=np.int64).reshape(ishape)
    pad = draw(st.one_of(st.none(), st.integers(-n, n - 1)))
    return [idx, values(draw, (n, d), dtype, FINITE_SPECIAL)], {"padding_idx": pad}


def _no_tiny(x):
    """Elements below 0.1 in magnitude moved to +-0.1 (zeros kept): near a tiny nonzero vector the
    gradients of x / ||x|| are differences of terms of size 1/|x| that cancel, so any float dtype
    leaves its rounding there (1e-5 in float32: an error of 0.008 where the exact value is 0);
    a zero vector, masked in both, is drawn exactly."""
    small = (np.abs(x) < 0.1) & (x != 0)
    return np.where(small, np.copysign(0.1, x), x).astype(x.dtype)


def draw_normalize(draw, dtype):
    shape = draw(shapes(min_dims=1))
    special = (0.0, 0.0, 1.0, -1.0, 2.0)
    return [_no_tiny(values(draw, shape, dtype, special))], {
        "p": draw(st.sampled_from([2.0, 1.0, 3.0])), "dim": draw(st.integers(-len(shape), len(shape) - 1))}


def draw_cosine(draw, dtype):
    (sa, sb), _ = draw(mutually_broadcastable_shapes(num_shapes=2, min_dims=1, max_dims=3, min_side=1, max_side=3))
    nd = max(len(sa), len(sb))
    special = (0.0, 0.0, 0.0, 1.0, -1.0, 2.0)
    return [_no_tiny(values(draw, sa, dtype, special)), _no_tiny(values(draw, sb, dtype, special))], {
        "dim": draw(st.integers(-nd, nd - 1)), "eps": draw(st.sampled_from([1e-8, 0.5]))}


def draw_pairwise(draw, dtype):
    shape = draw(shapes(min_dims=1, max_dims=2))
    return [_no_tiny(values(draw, shape, dtype, FINITE_SPECIAL)), _no_tiny(values(draw, shape, dtype, FINITE_SPECIAL))], {
        "p": draw(st.sampled_from([2.0, 1.0])), "keepdim": draw(st.booleans())}


def draw_pad(draw, dtype):
    mode = draw(st.sampled_from(["constant", "reflect", "replicate", "circular"]))
    k = draw(st.integers(1, 2))
    nd = draw(st.integers(0, 4)) if mode == "constant" else draw(st.integers(k, k + 2))
    shape = tuple(draw(st.integers(0 if mode == "constant" else 1, 4)) for _ in range(nd))
    k = min(k, nd)
    lo = -2 if mode == "constant" else 0
    pad = tuple(draw(st.integers(lo, 3)) for _ in range(2 * k))
    params = {"pad": pad, "mode": mode}
    if mode == "constant":
        params["value"] = draw(st.sampled_from([0.0, -1.5]))
    return [values(draw, shape, dtype, FINITE_SPECIAL)], params


def draw_prelu(draw, dtype):
    shape = draw(shapes(min_dims=0, max_dims=3))
    channels = shape[1] if len(shape) >= 2 else 1
    n = draw(st.sampled_from([1, channels, 2])) if channels else 1   # 2: a mismatch (both raise) when not C
    return [values(draw, shape, dtype, FINITE_SPECIAL), values(draw, (n,), dtype, (0.25, 0.0, -0.5))], {}


def draw_kl_div(draw, dtype):
    shape = draw(shapes(min_dims=1))
    log_target = draw(st.booleans())
    target = (values(draw, shape, dtype, (0.5, 0.25, 1.0), 0.05, 1.0) if not log_target
              else values(draw, shape, dtype, (-1.0, 0.0, -2.0), -3.0, 0.0))
    return [values(draw, shape, dtype, (-1.0, 0.0, -2.0), -3.0, 0.0), target], {
        "reduction": draw(st.sampled_from(["mean", "batchmean", "sum", "none"])), "log_target": log_target}


def draw_class_scores_nd(draw, dtype):
    """(N, C, d1[, d2]) or (C,) scores and their class targets (ignore_index -100 sometimes), a reduction."""
    c = draw(st.integers(1, 4))
    if draw(st.integers(0, 4)) == 0:
        shape, tshape = (c,), ()
    else:
        rest = tuple(draw(SIDES) for _ in range(draw(st.integers(1, 2))))
        n = draw(SIDES)
        shape, tshape = (n, c) + rest, (n,) + rest
    k = int(np.prod(tshape))
    t = np.array(draw(st.lists(st.sampled_from(list(range(c)) + [-100]), min_size=k, max_size=k)),
                 dtype=np.int64).reshape(tshape)
    return [values(draw, shape, dtype, FINITE_SPECIAL), t], {"reduction": draw(st.sampled_from(["mean", "sum", "none"]))}


def _t_prelu(x, w):
    return TF.prelu(x, w)


CASES += [
    Case("embedding", lambda i, w, padding_idx: F.embedding(i, w, padding_idx),
         lambda i, w, padding_idx: TF.embedding(i, w, padding_idx), draw_embedding, covers=("F.embedding",)),
    Case("normalize", lambda x, p, dim: F.normalize(x, p, dim), lambda x, p, dim: TF.normalize(x, p, dim),
         draw_normalize, covers=("F.normalize",), extra={"grad_tol": NORM_GRAD_TOL, "scaled_atol": True}),
    Case("cosine_similarity", lambda a, b, dim, eps: F.cosine_similarity(a, b, dim, eps),
         lambda a, b, dim, eps: TF.cosine_similarity(a, b, dim, eps), draw_cosine, covers=("F.cosine_similarity",),
         extra={"grad_tol": NORM_GRAD_TOL, "scaled_atol": True}),
    Case("pairwise_distance", lambda a, b, p, keepdim: F.pairwise_distance(a, b, p, keepdim=keepdim),
         lambda a, b, p, keepdim: TF.pairwise_distance(a, b, p, keepdim=keepdim), draw_pairwise,
         covers=("F.pairwise_distance",)),
    Case("pad", lambda x, **kw: F.pad(x, **kw), lambda x, **kw: TF.pad(x, **kw), draw_pad, covers=("F.pad",)),
    Case("prelu", F.prelu, _t_prelu, draw_prelu, covers=("F.prelu",)),
    Case("kl_div", lambda x, t, reduction, log_target: F.kl_div(x, t, reduction=reduction, log_target=log_target),
         lambda x, t, reduction, log_target: TF.kl_div(x, t, reduction=reduction, log_target=log_target),
         draw_kl_div, covers=("F.kl_div",)),
    Case("cross_entropy_nd", lambda x, t, reduction: F.cross_entropy(x, t, reduction=reduction),
         lambda x, t, reduction: TF.cross_entropy(x, t, reduction=reduction), draw_class_scores_nd,
         covers=("F.cross_entropy",)),
    Case("nll_loss_nd", lambda x, t, reduction: F.nll_loss(x, t, reduction=reduction),
         lambda x, t, reduction: TF.nll_loss(x, t, reduction=reduction), draw_class_scores_nd,
         ("float32", "float64"), covers=("F.nll_loss",)),
]


def draw_matrix_norm(draw, dtype):
    shape = draw(shapes(min_dims=2, max_dims=3))
    nd = len(shape)
    dims = draw(st.sampled_from([(-2, -1), (-1, -2), (0, 1), (0, nd - 1)]))
    if dims[0] % nd == dims[1] % nd:
        dims = (-2, -1)
    ordr = draw(st.sampled_from(["fro", 1, -1, INF, -INF]))
    if ordr != "fro" and 0 in shape:
        ordr = "fro"        # the max/min of an empty set of sums has no value (PyTorch raises)
    return [values(draw, shape, dtype, (0.0, 1.0, -1.0, 2.0, 0.5))], {
        "ord": ordr, "dim": dims, "keepdim": draw(st.booleans())}


def draw_linalg_norm(draw, dtype):
    shape = draw(shapes(min_dims=1, max_dims=3))
    nd = len(shape)
    kind = draw(st.sampled_from(["none", "vector", "matrix"] if nd >= 2 else ["none", "vector"]))
    if kind == "none":
        params = {"ord": None, "dim": draw(st.one_of(st.none(), st.integers(-nd, nd - 1)))}
    elif kind == "vector":
        params = {"ord": draw(st.sampled_from([1, 2, INF, 3])), "dim": draw(st.integers(-nd, nd - 1))}
    else:
        params = {"ord": draw(st.sampled_from(["fro", 1, INF])), "dim": (-2, -1)}
    if params["ord"] in (INF, 1) and 0 in shape:
        params["ord"] = None
    return [values(draw, shape, dtype, (0.0, 1.0, -1.0, 2.0))], params


CASES += [
    Case("matrix_norm", lambda x, **kw: gg.linalg.matrix_norm(x, **kw),
         lambda x, **kw: torch.linalg.matrix_norm(x, **kw), draw_matrix_norm),
    Case("linalg_norm", lambda x, ord, dim: gg.linalg.norm(x, ord, dim),
         lambda x, ord, dim: torch.linalg.norm(x, ord, dim), draw_linalg_norm),
]


def draw_dim_arg(draw, dtype):
    shape = draw(shapes(min_dims=1))
    return [values(draw, shape, dtype, FINITE_SPECIAL)], {"dim": draw(st.integers(-len(shape), len(shape) - 1))}


def draw_square(draw, dtype):
    shape = draw(shapes(min_dims=2, max_dims=3))
    return [values(draw, shape, dtype, FINITE_SPECIAL)], {"diagonal": draw(st.integers(-2, 2))}


def draw_diag(draw, dtype):
    shape = draw(shapes(min_dims=1, max_dims=2))
    return [values(draw, shape, dtype, FINITE_SPECIAL)], {"diagonal": draw(st.integers(-2, 2))}


def draw_roll(draw, dtype):
    shape = draw(shapes(min_dims=1))
    return [values(draw, shape, dtype)], {"shifts": draw(st.integers(-4, 4)),
                                          "dims": draw(st.integers(-len(shape), len(shape) - 1))}


def draw_lerp(draw, dtype):
    shape = draw(shapes())
    return [values(draw, shape, dtype, FINITE_SPECIAL) for _ in range(3)], {}


CASES += [
    Case("log1p", gg.log1p, torch.log1p, unary(lo=-0.9, hi=3.0)),
    Case("expm1", gg.expm1, torch.expm1, unary()),
    Case("sinh", gg.sinh, torch.sinh, unary(FINITE_SPECIAL)),
    Case("cosh", gg.cosh, torch.cosh, unary(FINITE_SPECIAL)),
    Case("atan", gg.atan, torch.atan, unary()),
    Case("floor", gg.floor, torch.floor, unary(), FLOATS + ("int64",)),
    Case("ceil", gg.ceil, torch.ceil, unary(), FLOATS + ("int64",)),
    Case("trunc", gg.trunc, torch.trunc, unary(), FLOATS + ("int64",)),
    Case("round", gg.round, torch.round, unary((0.5, 1.5, 2.5, -0.5, -1.5, 0.0, 1.0)), FLOATS),
    Case("frac", gg.frac, torch.frac, unary(FINITE_SPECIAL)),
    Case("rsqrt", gg.rsqrt, torch.rsqrt, unary((1.0, 2.0, 0.5, 4.0), lo=0.1, hi=3.0)),
    Case("square", gg.square, torch.square, unary(), FLOATS + ("int64",)),
    Case("log2", gg.log2, torch.log2, unary((1.0, 2.0, 0.5), lo=0.1, hi=3.0)),
    Case("lerp", gg.lerp, torch.lerp, draw_lerp),
    Case("hypot", gg.hypot, torch.hypot, binary((1.0, -1.0, 2.0, 0.5), mixed=False)),
    Case("amax", lambda x, dim: gg.amax(x, dim), lambda x, dim: torch.amax(x, dim), draw_dim_arg),
    Case("flip", lambda x, dim: gg.flip(x, dim), lambda x, dim: torch.flip(x, (dim,)), draw_dim_arg),
    Case("roll", gg.roll, torch.roll, draw_roll),
    Case("tril", gg.tril, torch.tril, draw_square),
    Case("triu", gg.triu, torch.triu, draw_square),
    Case("diag", gg.diag, torch.diag, draw_diag),
    Case("repeat_interleave", lambda x, dim: gg.repeat_interleave(x, 2, dim),
         lambda x, dim: torch.repeat_interleave(x, 2, dim), draw_dim_arg),
    Case("var_mean", lambda x, dim: gg.var_mean(x, dim), lambda x, dim: torch.var_mean(x, dim), draw_dim_arg),
]


#: special points including each activation's kinks (hardtanh/relu6 at 0, +-1, 6; hardsigmoid and
#: hardswish at +-3)
KINKS = (0.0, -0.0, 1.0, -1.0, 6.0, 3.0, -3.0, 0.5, 2.0, -2.5)


def draw_gaussian_nll(draw, dtype):
    shape = draw(shapes(min_dims=1))
    var_shape = draw(st.sampled_from([shape, shape[:-1], shape[:-1] + (1,)]))
    var = values(draw, var_shape, dtype, (1.0, 0.5, 2.0, 1e-8), 0.05, 3.0)
    return [values(draw, shape, dtype, FINITE_SPECIAL), values(draw, shape, dtype, FINITE_SPECIAL), var], {
        "full": draw(st.booleans()), "reduction": draw(st.sampled_from(["mean", "sum", "none"]))}


def draw_poisson_nll(draw, dtype):
    shape = draw(shapes())
    log_input = draw(st.booleans())
    x = values(draw, shape, dtype, FINITE_SPECIAL) if log_input else values(draw, shape, dtype, (1.0, 0.5, 2.0),
                                                                             0.1, 3.0)
    t = values(draw, shape, dtype, (0.0, 1.0, 2.0, 3.0), 0.0, 4.0)
    return [x, t], {"log_input": log_input, "full": draw(st.booleans()),
                    "reduction": draw(st.sampled_from(["mean", "sum", "none"]))}


def _act(name, gg_fn, t_fn, special=KINKS, case_kw=None, **params):
    def draw_fn(draw, dtype):
        return unary(special)(draw, dtype)[0], {k: draw(v) for k, v in params.items()}
    return Case(name, gg_fn, t_fn, draw_fn, covers=(f"F.{name}",), **(case_kw or {}))


#: PyTorch's float64 hardsigmoid gradient is 1/6 rounded to float32 (a relative 3e-8 off)
_F32_CONSTANT_TOL = {"float16": (5e-2, 2e-2), "float32": (1e-4, 1e-5), "float64": (1e-7, 1e-10)}


CASES += [
    _act("hardtanh", lambda x, lo: F.hardtanh(x, lo, 1.0), lambda x, lo: TF.hardtanh(x, lo, 1.0),
         lo=st.sampled_from([-1.0, 0.0, -2.5])),
    _act("relu6", F.relu6, TF.relu6),
    _act("selu", F.selu, TF.selu),
    _act("celu", lambda x, alpha: F.celu(x, alpha), lambda x, alpha: TF.celu(x, alpha),
         alpha=st.sampled_from([1.0, 0.5])),
    _act("mish", F.mish, TF.mish),
    _act("logsigmoid", F.logsigmoid, TF.logsigmoid),
    # PyTorch has no second derivative of hardsigmoid ("derivative for hardsigmoid_backward is not implemented")
    _act("hardsigmoid", F.hardsigmoid, TF.hardsigmoid, case_kw=dict(order2=False,
                                                                     extra={"grad_tol": _F32_CONSTANT_TOL})),
    _act("hardswish", F.hardswish, TF.hardswish),
    _act("softsign", F.softsign, TF.softsign),
    _act("tanhshrink", F.tanhshrink, TF.tanhshrink),
    _act("threshold", lambda x, t: F.threshold(x, t, -7.0), lambda x, t: TF.threshold(x, t, -7.0),
         t=st.sampled_from([0.0, 0.5, 1.0])),
    Case("softmin", lambda x, axis: F.softmin(x, axis), lambda x, axis: TF.softmin(x, axis), draw_softmax,
         covers=("F.softmin",)),
    Case("glu", lambda x, dim: F.glu(x, dim), lambda x, dim: TF.glu(x, dim),
         lambda draw, dtype: ([values(draw, (draw(SIDES), 2 * draw(st.integers(1, 2))), dtype, FINITE_SPECIAL)],
                              {"dim": draw(st.sampled_from([-1, 1]))}), covers=("F.glu",)),
    Case("gaussian_nll_loss", lambda x, t, v, full, reduction: F.gaussian_nll_loss(x, t, v, full, reduction=reduction),
         lambda x, t, v, full, reduction: TF.gaussian_nll_loss(x, t, v, full, reduction=reduction),
         draw_gaussian_nll, ("float32", "float64"), covers=("F.gaussian_nll_loss",)),
    Case("poisson_nll_loss", lambda x, t, **kw: F.poisson_nll_loss(x, t, **kw),
         lambda x, t, **kw: TF.poisson_nll_loss(x, t, **kw), draw_poisson_nll, ("float32", "float64"),
         covers=("F.poisson_nll_loss",)),
]


DIFFERENCES += [
    Difference(("normalize", "cosine_similarity", "pairwise_distance"),
               lambda c, a, p, d: any((x == 0).any() for x in a), "first_order_only",
               "Where a vector has zeros (a zero vector: the norm's derivative is 0 by a mask in both) the "
               "first order agrees. The second derivative at a zero vector is NaN in PyTorch; gpugrad's "
               "composite holds terms of size 1/eps^2 (1e16 for eps = 1e-8) that cancel exactly in the math "
               "but leave their rounding in any float dtype (PyTorch's float64 leaves 1e-9): only the "
               "forward and the first order are compared there."),
    Difference(("poisson_nll_loss",), lambda c, a, p, d: p["full"] and (a[1] == 0).any(), "limit",
               "With full=True, the target's gradient at target 0 is NaN in PyTorch (the Stirling term, masked "
               "to targets > 1, still differentiates log(0)); gpugrad's masked formula gives 0 there."),
    Difference(("selu", "celu"), lambda c, a, p, d: (a[0] == 0).any(), "first_order_only",
               "At x = 0, as for elu: both take the exponential side for the first derivative; PyTorch's "
               "double backward then takes the linear side (0) where gpugrad's composite stays on the "
               "exponential one. Forward and first order are compared there."),
    Difference(("prelu",), lambda c, a, p, d: (a[0] == 0).any(), "first_order_only",
               "At x = 0 PReLU has a kink: both take the slope's side for the first derivative (w * g to the "
               "input, x * g = 0 to the weight), but PyTorch's double backward takes the other side for the "
               "mixed input-weight term (0) where gpugrad's composite stays on the slope's side (g). A one-sided "
               "value either way: forward and first order are compared there."),
    Difference(("bincount",), lambda c, a, p, d: len(a) == 2 and a[0].size == 0, "numpy",
               "bincount of an empty input with weights gives zeros in the weights' dtype, as for any other "
               "input; PyTorch returns int64 zeros there (and the weights' dtype otherwise).",
               numpy=lambda x, w, minlength: np.bincount(x, w, minlength).astype(
                   w.dtype if w.dtype in (np.float32, np.float64) else np.float64)),
]


def differences_for(case, arrays, params, dtype):
    return [d for d in DIFFERENCES if case.name in d.ops and d.when(case, arrays, params, dtype)]
