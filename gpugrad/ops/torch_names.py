"""PyTorch's names for array operations, composed from the op table (no new derivative formulas).

``cat``, ``permute``, ``t``, ``mm``, ``view``, ``transpose(dim0, dim1)``, ``expand(*sizes)``,
``clamp``, ``masked_fill``, ``argmax/argmin``, ``all/any`` and ``max/min`` with PyTorch's
``dim=``/``keepdim=`` (NumPy's ``axis=``/``keepdims=`` keep working). Each follows the PyTorch 2.x
documentation of the same name; where PyTorch and NumPy disagree, the docstring says which wins.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from . import elementwise as E
from . import linalg, reduce, shape as S
from ..backends import get_backend
from ..tensor import Tensor
from ..torch_args import DIM, rename_kwargs

#: What ``max(dim=...)`` / ``min(dim=...)`` return, as ``torch.return_types.max``: a named pair.
MaxResult = namedtuple("max", ["values", "indices"])
MinResult = namedtuple("min", ["values", "indices"])


def _dim_args(fn_name, dim, keepdim, kwargs):
    """Merge the positional/PyTorch ``dim, keepdim`` with NumPy's ``axis=, keepdims=`` in kwargs."""
    rename_kwargs(fn_name, kwargs, DIM)
    unknown = set(kwargs) - {"axis", "keepdims"}
    if unknown:
        raise TypeError(f"{fn_name}: unexpected keyword argument(s) {sorted(unknown)}")
    if "axis" in kwargs and dim is not None:
        raise TypeError(f"{fn_name}: got both dim ({dim}, PyTorch's name) and axis= (NumPy's name) "
                        f"for the same argument; pass only one")
    axis = kwargs.get("axis", dim)
    return axis, bool(kwargs.get("keepdims", keepdim))


def _extreme(fn_name, reducer, result, other_fn, x, dim, keepdim, kwargs):
    if isinstance(dim, Tensor):            # torch.max(a, b): the elementwise maximum
        if kwargs or keepdim:
            raise TypeError(f"{fn_name}(a, b) takes no dim/keepdim arguments")
        return other_fn(x, dim)
    torch_style = dim is not None or "dim" in kwargs
    axis, keep = _dim_args(fn_name, dim, keepdim, kwargs)
    values = reducer(x, axis=axis, keepdims=keep)
    if not torch_style or axis is None:
        return values
    if not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{fn_name}: dim must be one int when indices are returned, got {axis!r}; "
                        f"use axis= for a reduction over several axes (values only)")
    arg = argmax if reducer is reduce.max else argmin
    return result(values, arg(x, dim=axis, keepdim=keep))


def max(x, dim=None, keepdim: bool = False, **kwargs):  # noqa: A001
    """Maximum. ``max(x)``: over everything. ``max(x, dim)`` / ``max(x, dim=d, keepdim=)``: a
    (values, indices) named pair, as ``torch.max``. ``max(x, axis=d, keepdims=)``: the values
    only, as NumPy. ``max(a, b)`` with two tensors: the elementwise maximum, as ``torch.max``.

    A positional integer is read as PyTorch's ``dim`` (values and indices), so NumPy users write
    ``axis=``. Gradients of tied maxima are shared equally (PyTorch picks one).
    """
    return _extreme("max", reduce.max, MaxResult, E.maximum, x, dim, keepdim, kwargs)


def min(x, dim=None, keepdim: bool = False, **kwargs):  # noqa: A001
    """Minimum; the same conventions as :func:`max` (``dim``: (values, indices); ``axis``: values)."""
    return _extreme("min", reduce.min, MinResult, E.minimum, x, dim, keepdim, kwargs)


def _arg_extreme(fn_name, x, dim, keepdim, kwargs):
    axis, keep = _dim_args(fn_name, dim, keepdim, kwargs)
    if x.size == 0:
        raise ValueError(f"{fn_name}: cannot take the {fn_name} of an empty tensor of shape {x.shape}")
    if axis is not None:
        axis = reduce.normalize_axis(axis, x.ndim, fn_name)
        if len(axis) != 1:
            raise TypeError(f"{fn_name}: dim must be a single int, got {dim!r}")
        axis = axis[0]
    data = x._data if x.ndim else x._data.reshape(1)
    out = getattr(data, fn_name)(axis=axis, keepdims=keep)
    return Tensor._wrap(get_backend(x.device).xp.asarray(out, dtype=np.int64), x.device)


def argmax(x, dim=None, keepdim: bool = False, **kwargs):
    """Index of the maximum (int64, no gradient); over the flattened tensor when ``dim`` is None,
    as ``torch.argmax``. Accepts ``axis=``/``keepdims=`` too. Ties: the first index."""
    return _arg_extreme("argmax", x, dim, keepdim, kwargs)


def argmin(x, dim=None, keepdim: bool = False, **kwargs):
    """Index of the minimum (int64, no gradient); see :func:`argmax`."""
    return _arg_extreme("argmin", x, dim, keepdim, kwargs)


def _logical(fn_name, x, dim, keepdim, kwargs):
    axis, keep = _dim_args(fn_name, dim, keepdim, kwargs)
    if axis is not None:
        axis = reduce.normalize_axis(axis, x.ndim, fn_name)
    return Tensor._wrap(get_backend(x.device).xp.asarray(
        getattr(x._data, fn_name)(axis=axis, keepdims=keep)), x.device)


def all(x, dim=None, keepdim: bool = False, **kwargs):  # noqa: A001
    """True where every element (along ``dim``) is nonzero; a bool tensor, as ``torch.all``."""
    return _logical("all", x, dim, keepdim, kwargs)


def any(x, dim=None, keepdim: bool = False, **kwargs):  # noqa: A001
    """True where some element (along ``dim``) is nonzero; a bool tensor, as ``torch.any``."""
    return _logical("any", x, dim, keepdim, kwargs)


def cat(tensors, dim=None, **kwargs):
    """Join tensors along an existing dimension (0 by default), as ``torch.cat``; ``axis=`` too."""
    axis, _ = _dim_args("cat", dim, False, kwargs)
    return S.concatenate(tensors, axis=0 if axis is None else axis)


def _dims(args, fn_name):
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)


def permute(x, *dims):
    """Reorder the dimensions: ``x.permute(2, 0, 1)`` or ``x.permute((2, 0, 1))``, as ``torch.permute``."""
    dims = _dims(dims, "permute")
    if len(dims) != x.ndim:
        raise ValueError(f"permute: got {len(dims)} dims {dims} for a tensor with {x.ndim} dimensions "
                         f"(shape {x.shape}); list every dimension once")
    return S.transpose(x, dims)


def transpose(x, *axes):
    """``transpose(x, dim0, dim1)`` swaps two dimensions (PyTorch); ``transpose(x)`` reverses them,
    and ``transpose(x, axes_tuple)`` or three or more ints permute them (NumPy).

    Two separate ints always mean PyTorch's swap: on a 2-D tensor ``x.transpose(0, 1)`` is the
    transpose (NumPy's identity permutation is written ``x.transpose((0, 1))``).
    """
    if len(axes) == 2 and builtins_all(isinstance(a, (int, np.integer)) for a in axes):
        return S.swapaxes(x, *(S.normalize_axis(a, x.ndim, "transpose")[0] for a in axes))
    if not axes or axes == (None,):
        return S.transpose(x)
    return S.transpose(x, _dims(axes, "transpose"))


def t(x):
    """The transpose of a tensor with at most 2 dimensions (0-d and 1-d are returned as is), as ``torch.t``."""
    if x.ndim > 2:
        raise ValueError(f"t: expects a tensor with <= 2 dimensions, got shape {x.shape}; use "
                         f"x.transpose(dim0, dim1) or x.permute(...)")
    return x if x.ndim < 2 else S.transpose(x)


def mm(a, b):
    """Matrix product of two 2-D tensors (no broadcasting), as ``torch.mm``; see ``matmul`` for more."""
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"mm: both operands must be 2-D, got shapes {a.shape} and {b.shape}; use "
                         f"matmul (@) for batched or 1-D operands")
    return linalg.matmul(a, b)


def _is_view_possible(arr, shape) -> bool:
    if isinstance(arr, np.ndarray):
        try:
            np.reshape(arr, shape, copy=False)
            return True
        except ValueError:
            return False
    out = arr.reshape(shape)          # CuPy: a view starts at the same address, a copy does not
    return arr.size == 0 or out.data.ptr == arr.data.ptr


def view(x, *shape):
    """The same storage seen with another shape, as ``torch.Tensor.view``: writes through one are
    seen through the other. Raises where a view is impossible (a non-contiguous layout the new
    shape cannot follow), as PyTorch does; ``reshape`` copies in that case."""
    if len(shape) == 1 and not isinstance(shape[0], (tuple, list, int, np.integer)):
        raise TypeError(f"view: view(dtype) (reinterpreting bits) is not supported; got "
                        f"{shape[0]!r}. Use .to(dtype) to convert values")
    out = S.reshape(x, *shape)
    if out is not x and not _is_view_possible(x._data, out.shape):
        raise RuntimeError(f"view: size {out.shape} is not compatible with the input's shape {x.shape} "
                           f"and strides {x._data.strides} (its elements are not laid out as one "
                           f"block). Use .reshape(...) instead, which copies when it must")
    return out


def expand(x, *sizes):
    """Broadcast to ``sizes`` without copying, as ``torch.Tensor.expand``: -1 keeps a dimension's size."""
    sizes = _dims(sizes, "expand")
    lead = len(sizes) - x.ndim
    if lead < 0:
        raise ValueError(f"expand: the number of sizes ({len(sizes)}) must be at least the number of "
                         f"dimensions of the tensor ({x.ndim}, shape {x.shape})")
    target = tuple(x.shape[i - lead] if (s == -1 and i >= lead) else int(s) for i, s in enumerate(sizes))
    if builtins_any(s < 0 for s in target):
        raise ValueError(f"expand: -1 is only allowed for existing dimensions; got sizes {sizes} for "
                         f"shape {x.shape}")
    return S.broadcast_to(x, target)


def clamp(x, min=None, max=None):  # noqa: A002
    """Limit values to [min, max], as ``torch.clamp``; bounds may be numbers or tensors.
    The gradient is 0 where a bound is applied (1 where x equals a bound, as for clip)."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        out = x
        if min is not None:
            out = E.where(out < min, min, out)
        if max is not None:
            out = E.where(out > max, max, out)
        return out
    return E.clip(x, min, max)


def masked_fill(x, mask, value):
    """``x`` with ``value`` wherever the boolean ``mask`` (broadcast to x) is True, as
    ``torch.Tensor.masked_fill``; the gradient flows to x where the mask is False."""
    if not isinstance(mask, Tensor) or mask.dtype != np.bool_:
        raise TypeError(f"masked_fill: mask must be a bool tensor, got "
                        f"{type(mask).__name__ if not isinstance(mask, Tensor) else mask.dtype}; "
                        f"e.g. x.masked_fill(x < 0, 0.0)")
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise ValueError(f"masked_fill: value must be a number or a 0-d tensor, got shape {value.shape}")
    else:
        value = float(value) if x.dtype.kind == "f" else value
    out = E.where(mask, value, x)
    if out.shape != x.shape:
        raise ValueError(f"masked_fill: mask of shape {mask.shape} does not broadcast to the tensor's "
                         f"shape {x.shape}")
    return out if out.dtype == x.dtype else E.astype(out, x.dtype)


def var(x, dim=None, *, correction=None, keepdim: bool = False, unbiased=None, ddof=None, **kwargs):
    """Variance: sum((x - mean)^2) / (n - correction), differentiable.

    PyTorch and NumPy differ in the default: ``x.var()`` / ``x.var(dim=...)`` / ``x.var(0)`` use
    PyTorch's Bessel correction (correction=1); ``x.var(axis=...)`` uses NumPy's ddof=0. Say it
    explicitly with ``correction=``, ``unbiased=`` or ``ddof=`` (one of them).
    """
    numpy_style = "axis" in kwargs
    axis, keep = _dim_args("var", dim, keepdim, kwargs)
    given = [c for c in (correction, ddof, None if unbiased is None else int(bool(unbiased))) if c is not None]
    if len(given) > 1:
        raise TypeError("var: pass only one of correction=, unbiased= and ddof=")
    corr = given[0] if given else (0 if numpy_style else 1)
    axes = reduce.normalize_axis(axis, x.ndim, "var")
    n = 1
    for i, size in enumerate(x.shape):
        if axes is None or i in axes:
            n *= size
    d = x - reduce.mean(x, axis=axes, keepdims=True)
    return reduce.sum(d * d, axis=axes, keepdims=keep) / float(_builtins.max(n - corr, 0))


def std(x, dim=None, *, correction=None, keepdim: bool = False, unbiased=None, ddof=None, **kwargs):
    """Standard deviation: sqrt(var); the same conventions as :func:`var` (PyTorch's correction=1
    by default, NumPy's ddof=0 when ``axis=`` is used)."""
    return E.sqrt(var(x, dim, correction=correction, keepdim=keepdim, unbiased=unbiased, ddof=ddof, **kwargs))


import builtins as _builtins  # noqa: E402  (all/any above shadow the builtins in this module)

builtins_all, builtins_any = _builtins.all, _builtins.any
