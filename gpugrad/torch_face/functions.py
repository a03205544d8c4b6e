"""PyTorch's names for array operations, composed from the op table (no new derivative formulas).

``cat``, ``permute``, ``t``, ``mm``, ``view``, ``transpose(dim0, dim1)``, ``expand(*sizes)``,
``clamp``, ``masked_fill``, ``argmax/argmin``, ``all/any`` and ``max/min`` with PyTorch's
``dim=``/``keepdim=`` (NumPy's ``axis=``/``keepdims=`` keep working). Each follows the PyTorch 2.x
documentation of the same name; where PyTorch and NumPy disagree, the docstring says which wins.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from ..ops import elementwise as E
from ..ops import linalg, reduce, shape as S
from ..ops._precision import accumulates_in_float32
from ..backends import get_backend
from ..tensor import Tensor
from .args import DIM, rename_kwargs

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


@accumulates_in_float32   # float16 in float32, rounded once (trust-num, issue 21)
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


@accumulates_in_float32   # float16 in float32, rounded once (trust-num, issue 21)
def std(x, dim=None, *, correction=None, keepdim: bool = False, unbiased=None, ddof=None, **kwargs):
    """Standard deviation: sqrt(var); the same conventions as :func:`var` (PyTorch's correction=1
    by default, NumPy's ddof=0 when ``axis=`` is used)."""
    return sqrt_zero_grad(var(x, dim, correction=correction, keepdim=keepdim, unbiased=unbiased, ddof=ddof,
                              **kwargs))


def sqrt_zero_grad(v, root=None):
    """``sqrt(v)`` (or ``v ** (1 / root)``) whose gradient is 0 where ``v == 0``: PyTorch's convention
    for std of a constant slice and the norm of a zero vector (its masked formulas), where the
    plain chain rule gives inf * 0 = NaN. The masked point is replaced inside the formula too, so
    gradients of gradients (create_graph) are 0 there as well, as PyTorch's are."""
    zero = v == 0
    safe = E.where(zero, 1.0, v)
    out = E.sqrt(safe) if root is None else safe ** (1.0 / root)
    return E.where(zero, 0.0, out)


@accumulates_in_float32   # float16 in float32, rounded once (trust-num, issue 21)
def norm(x, p="fro", dim=None, keepdim: bool = False, dtype=None, **kwargs):
    """The vector p-norm of ``x`` (flattened when ``dim`` is None, else along ``dim``), as
    ``torch.norm`` / ``torch.linalg.vector_norm``: p = 2 ("fro", the default) sqrt(sum x^2);
    p = 1 sum |x|; p = inf max |x| (gradient shared between tied maxima, as PyTorch); p = -inf
    min |x|; p = 0 the count of nonzeros (no gradient); any other p > 0 (sum |x|^p)^(1/p).

    The gradient at a zero vector is 0 (PyTorch's), not NaN. ``axis=``/``keepdims=`` work too.
    Raises ValueError for "nuc" or a matrix norm (not supported) and for a negative finite p.
    """
    if dtype is not None:
        x = E.astype(x, dtype)
    axis, keep = _dim_args("norm", dim, keepdim, kwargs)
    axes = reduce.normalize_axis(axis, x.ndim, "norm")
    if p == "fro" or p is None:
        p = 2
    if isinstance(p, str):
        raise ValueError(f"norm: p={p!r} (a matrix norm) is not supported; gpugrad has vector norms "
                         f"(p = 2, 1, inf, -inf, 0 or a positive number) of shape {x.shape}")
    if x.dtype.kind != "f":
        raise TypeError(f"norm: expected a floating tensor, got {x.dtype} (shape {x.shape}); convert it "
                        f"first, e.g. x.float()")
    p = float(p)
    a = E.abs(x)
    if p == 2:   # of x itself, not |x|: |x|'s derivative at 0 (0) would drop x^2's curvature there
        return _scaled_root(x, axes, keep, 2.0)
    if p == 1:
        return reduce.sum(a, axis=axes, keepdims=keep)
    if p == float("inf") or p == -float("inf"):
        if x.size == 0:
            raise ValueError(f"norm: the {'max' if p > 0 else 'min'} norm of an empty tensor (shape "
                             f"{x.shape}) is undefined (as in PyTorch)")
        return (reduce.max if p > 0 else reduce.min)(a, axis=axes, keepdims=keep)
    if p == 0:
        return reduce.sum(E.astype(E.ne(x.detach(), 0), x.dtype), axis=axes, keepdims=keep)
    if p < 0:
        raise ValueError(f"norm: p must be 0, positive, inf or -inf, got {p}")
    return _scaled_root(a, axes, keep, p)


def _scaled_root(a, axes, keep, p):
    """(sum a^p)^(1/p) of ``a = |x|`` (or of ``a = x`` for p = 2), computed as
    m (sum (a/m)^p)^(1/p) with m = max |a| per slice
    (a constant of the graph, so the gradient is unchanged): a^p neither underflows to 0 (a
    float32 1e-30 squared) nor overflows to inf (a float16 300 squared). Zeros of ``a`` are
    masked for p < 1, whose derivative there is inf (PyTorch gives 0)."""
    if a.size:
        xp = get_backend(a.device).xp
        m = xp.abs(a._data).max(axis=axes, keepdims=True)
        m = Tensor._wrap(xp.where(xp.isfinite(m) & (m > 0), m, xp.ones_like(m)), a.device)
        a = a / m
    else:
        m = None
    if p == 2:
        s = reduce.sum(a * a, axis=axes, keepdims=keep)
    else:
        zero = a == 0
        s = reduce.sum(E.where(zero, 0.0, E.where(zero, 1.0, a) ** p), axis=axes, keepdims=keep)
    out = sqrt_zero_grad(s, root=None if p == 2 else p)
    if m is None:
        return out
    return out * (m if keep else S.reshape(m, out.shape))


import builtins as _builtins  # noqa: E402  (all/any above shadow the builtins in this module)

builtins_all, builtins_any = _builtins.all, _builtins.any


def repeat(x, *sizes):
    """Tile ``x``: ``x.repeat(2, 1)`` repeats dim 0 twice, as ``torch.Tensor.repeat`` (NumPy's
    ``tile``); extra leading sizes add dimensions. Differentiable: each copy's gradient is summed
    back (a broadcast then a reshape, so the VJP is the engine's ``sum_to``).

    Raises ValueError when fewer sizes than dimensions are given or a size is negative.
    """
    sizes = tuple(int(s) for s in _dims(sizes, "repeat"))
    if len(sizes) < x.ndim:
        raise ValueError(f"repeat: the number of repeats ({len(sizes)}, {sizes}) can not be smaller than the "
                         f"number of dimensions of the tensor ({x.ndim}, shape {x.shape})")
    if builtins_any(s < 0 for s in sizes):
        raise ValueError(f"repeat: repeats must be non-negative, got {sizes}")
    shape = (1,) * (len(sizes) - x.ndim) + x.shape
    interleaved = tuple(v for r, s in zip(sizes, shape) for v in (1, s))
    target = tuple(v for r, s in zip(sizes, shape) for v in (r, s))
    out = S.broadcast_to(S.reshape(x, interleaved), target)
    return S.reshape(out, tuple(r * s for r, s in zip(sizes, shape)))


@accumulates_in_float32   # float16 in float32, rounded once (trust-num, issue 21)
def prod(x, dim=None, keepdim: bool = False, *, dtype=None, **kwargs):
    """Product of the elements (of everything, or along ``dim``), as ``torch.prod``; ``axis=`` too.

    Computed as a pairwise tree of multiplications (log2(n) ops), so the gradient is the product of
    the other elements even where some are 0 (PyTorch's result; prod / x would give NaN), and the
    gradient of the gradient is exact too. Integer/bool input gives int64, as in PyTorch.
    """
    axis, keep = _dim_args("prod", dim, keepdim, kwargs)
    if dtype is not None:
        x = E.astype(x, dtype)
    elif x.dtype.kind in "biu":
        x = E.astype(x, np.int64)
    if axis is None:
        out = _prod_last(S.reshape(x, (-1,)))
        return S.reshape(out, (1,) * x.ndim) if keep else out
    axes = reduce.normalize_axis(axis, x.ndim, "prod")
    if len(axes) != 1:
        raise TypeError(f"prod: dim must be a single int (as in PyTorch), got {axis!r}")
    a = axes[0]
    rest = tuple(i for i in range(x.ndim) if i != a)
    out = _prod_last(S.transpose(x, rest + (a,)) if a != x.ndim - 1 else x)
    return S.unsqueeze(out, a) if keep else out


def _prod_last(x):
    """Product over the last axis by halving: pad an odd length with a 1, multiply the halves."""
    if x.shape[-1] == 0:
        return reduce.sum(x, axis=-1) + 1      # the empty product
    while x.shape[-1] > 1:
        if x.shape[-1] % 2:
            one = Tensor._wrap(get_backend(x.device).xp.ones(x.shape[:-1] + (1,), dtype=x.dtype), x.device)
            x = S.concatenate([x, one], axis=-1)
        half = x.shape[-1] // 2
        x = x[..., :half] * x[..., half:]
    return S.reshape(x, x.shape[:-1])


def equal(a, b) -> "bool":
    """True when ``a`` and ``b`` have the same shape and the same values (NaN is never equal), as
    ``torch.equal``. Raises RuntimeError for tensors on different devices."""
    if a.device != b.device:
        raise RuntimeError(f"equal: tensors are on different devices: {a.device} (shape {a.shape}) and "
                           f"{b.device} (shape {b.shape}); move them to one device first")
    if a.shape != b.shape:
        return False
    return _builtins.bool((a._data == b._data).all())


def nonzero(x, *, as_tuple: bool = False):
    """Indices of the nonzero elements, as ``torch.nonzero``: an int64 tensor of shape (n, ndim), or
    with ``as_tuple=True`` one int64 index tensor per dimension (what ``torch.where(cond)`` gives)."""
    xp = get_backend(x.device).xp
    data = x._data if x.ndim else x._data.reshape(1)
    idx = [Tensor._wrap(xp.asarray(i, dtype=np.int64), x.device) for i in xp.nonzero(data)]
    if as_tuple:
        return tuple(idx)
    return Tensor._wrap(xp.stack([i._data for i in idx], axis=1) if idx else
                        xp.zeros((0, 0), dtype=np.int64), x.device)


def where(condition, x=None, y=None):
    """``where(cond, x, y)``: x where cond else y (differentiable, broadcasting), as ``torch.where``;
    ``where(cond)`` alone: the indices of the True elements, one int64 tensor per dimension, as
    ``torch.where(cond)`` (= ``nonzero(cond, as_tuple=True)``). Raises TypeError for exactly one of
    x and y."""
    if x is None and y is None:
        return nonzero(condition, as_tuple=True)
    if x is None or y is None:
        raise TypeError("where: pass both x and y (where(cond, x, y)) or neither (where(cond): indices)")
    return E.where(condition, x, y)
