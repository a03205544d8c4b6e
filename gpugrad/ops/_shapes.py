"""Shape helpers shared by the op table: axis normalisation and undoing reductions/broadcasts."""
from __future__ import annotations

import operator

from numpy.exceptions import AxisError


def check_axis(axis, ndim: int, op_name: str) -> int:
    """One axis as a non-negative int, with NumPy's rules: an integer in [-ndim, ndim).

    Raises ``numpy.exceptions.AxisError`` (a ValueError and an IndexError, as NumPy's) naming the op,
    the axis and ndim, and TypeError for a non-integer axis (NumPy does not truncate 1.5 to 1).
    """
    try:
        a = operator.index(axis)
    except TypeError:
        raise TypeError(f"{op_name}: axis must be an integer, got {axis!r} "
                        f"({type(axis).__name__})") from None
    if not -ndim <= a < ndim:
        raise AxisError(a, ndim, op_name)
    return a % ndim


def normalize_axis(axis, ndim: int, op_name: str):
    """``axis`` (None, int or sequence) as a sorted tuple of non-negative ints, or None for all axes.

    NumPy's semantics: each axis in [-ndim, ndim) (so a 0-d tensor has none), no repeats.
    """
    if axis is None:
        return None
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    out = [check_axis(a, ndim, op_name) for a in axes]
    if len(set(out)) != len(out):
        raise ValueError(f"{op_name}: repeated axis in {axis!r}")
    return tuple(sorted(out))


def reduced_shape(shape, axis) -> tuple:
    """The keepdims=True shape of reducing ``shape`` over ``axis`` (None: every axis)."""
    if axis is None:
        return (1,) * len(shape)
    return tuple(1 if i in axis else s for i, s in enumerate(shape))


def expand_reduced(ns, g, shape, axis, keepdims):
    """Bring a reduction's gradient ``g`` back to the input ``shape`` (broadcast over reduced axes)."""
    if not keepdims:
        g = ns.reshape(g, reduced_shape(shape, axis))
    return ns.broadcast_to(g, shape)


def sum_to_axes(shape, target) -> tuple[tuple, bool]:
    """Axes to sum so an array of ``shape`` becomes ``target`` (NumPy broadcasting undone).

    Returns (axes, needs_reshape): leading extra axes and axes where target has size 1.
    """
    lead = len(shape) - len(target)
    axes = tuple(range(lead)) + tuple(
        i + lead for i, t in enumerate(target) if t == 1 and shape[i + lead] != 1)
    return axes, lead > 0


def sum_to_array(x, target):
    """Raw-array ``sum_to``: sum ``x`` down to shape ``target`` (the VJP of broadcasting)."""
    target = tuple(target)
    if x.shape == target:
        return x
    axes, reshape = sum_to_axes(x.shape, target)
    # a float16 gradient summed over its broadcast axes (a bias over the batch) accumulates in
    # float32 and rounds once, as every reduction (gpugrad/ops/_precision.py)
    y = x.sum(axis=axes, keepdims=True, dtype="float32").astype(x.dtype) if x.dtype == "float16" else \
        x.sum(axis=axes, keepdims=True)
    return y.reshape(target) if reshape else y
