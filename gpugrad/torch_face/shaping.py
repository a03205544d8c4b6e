"""PyTorch's movement and matrix-building functions composed from the op table: ``flip``, ``roll``,
``movedim``, ``narrow``, ``select``, ``tile``, ``repeat_interleave``, ``masked_select``, ``tril``,
``triu``, ``diag``, ``outer``, ``dot``, ``hstack``, ``vstack``, ``meshgrid``, ``broadcast_tensors``,
``amax``/``amin``, ``std_mean``/``var_mean``, ``count_nonzero`` (``torch.X``, most also ``Tensor.X``),
each as PyTorch 2.x documents it. Gradients come from the ops they are made of (slicing, integer
indexing: the gradient of every copy is added back)."""
from __future__ import annotations

import numpy as np

from .. import ops
from ..backends import get_backend
from ..ops import reduce, shape as S
from ..ops._shapes import check_axis, normalize_axis
from ..tensor import Tensor
from . import functions as T


def _index(x, dim, idx):
    xp = get_backend(x.device).xp
    return S.getitem(x, (slice(None),) * dim + (Tensor._wrap(xp.asarray(idx, dtype=np.int64), x.device),))


def flip(input, dims):  # noqa: A002
    """Reverse the order along ``dims`` (an int or a sequence), as ``torch.flip``."""
    dims = (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
    index = [slice(None)] * input.ndim
    for d in dims:
        index[check_axis(d, input.ndim, "flip")] = slice(None, None, -1)
    return S.getitem(input, tuple(index))


def roll(input, shifts, dims=None):  # noqa: A002
    """Shift elements along ``dims`` cyclically by ``shifts`` (the flattened tensor when ``dims`` is
    None, as ``torch.roll``)."""
    if dims is None:
        return roll(S.reshape(input, (-1,)), shifts, 0).reshape(input.shape)
    shifts = (shifts,) if isinstance(shifts, (int, np.integer)) else tuple(shifts)
    dims = (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
    if len(shifts) != len(dims):
        raise ValueError(f"roll: shifts {shifts} and dims {dims} must have the same length")
    out = input
    for s, d in zip(shifts, dims):
        d = check_axis(d, input.ndim, "roll")
        n = input.shape[d]
        if n:
            out = _index(out, d, (np.arange(n) - int(s)) % n)
    return out


def movedim(input, source, destination):  # noqa: A002
    """Move dims ``source`` to positions ``destination`` (ints or sequences), as ``torch.movedim``."""
    src = (source,) if isinstance(source, (int, np.integer)) else tuple(source)
    dst = (destination,) if isinstance(destination, (int, np.integer)) else tuple(destination)
    src = tuple(check_axis(a, input.ndim, "movedim") for a in src)
    dst = tuple(check_axis(a, input.ndim, "movedim") for a in dst)
    if len(src) != len(dst) or len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise ValueError(f"movedim: source {source} and destination {destination} must be distinct dims of "
                         f"equal count")
    order = [a for a in range(input.ndim) if a not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return S.transpose(input, tuple(order))


moveaxis = movedim


def narrow(input, dim: int, start: int, length: int):  # noqa: A002
    """``length`` entries from ``start`` along ``dim``, as ``torch.narrow``."""
    dim = check_axis(dim, input.ndim, "narrow")
    n = input.shape[dim]
    start = int(start) + (n if start < 0 else 0)
    if not (0 <= start and 0 <= length and start + length <= n):
        raise IndexError(f"narrow: start {start} + length {length} out of range for dim {dim} of size {n}")
    return S.getitem(input, (slice(None),) * dim + (slice(start, start + int(length)),))


def select(input, dim: int, index: int):  # noqa: A002
    """The slice at ``index`` along ``dim`` with that dim removed, as ``torch.select``."""
    dim = check_axis(dim, input.ndim, "select")
    n = input.shape[dim]
    if not -n <= index < n:
        raise IndexError(f"select: index {index} out of range for dim {dim} of size {n}")
    return S.getitem(input, (slice(None),) * dim + (int(index),))


def tile(input, dims):  # noqa: A002
    """Repeat the whole tensor ``dims`` times per dim (fewer dims are padded with 1s in front), as
    ``torch.tile``."""
    dims = tuple(dims)
    dims = (1,) * (input.ndim - len(dims)) + dims
    return T.repeat(input, *dims)


def repeat_interleave(input, repeats, dim=None, *, output_size=None):  # noqa: A002
    """Each element repeated ``repeats`` times (an int or one count per element) along ``dim`` (the
    flattened tensor when None), as ``torch.repeat_interleave``."""
    if dim is None:
        input, dim = S.reshape(input, (-1,)), 0
    dim = check_axis(dim, input.ndim, "repeat_interleave")
    n = input.shape[dim]
    counts = repeats._data if isinstance(repeats, Tensor) else repeats
    counts = np.asarray(counts.get() if hasattr(counts, "get") else counts)
    if counts.ndim and counts.shape != (n,):
        raise ValueError(f"repeat_interleave: repeats has shape {counts.shape}; it must be one count or one per "
                         f"element ({n}) of dim {dim}")
    if (counts < 0).any():
        raise ValueError("repeat_interleave: repeats must be non-negative")
    return _index(input, dim, np.repeat(np.arange(n), counts))


def masked_select(input, mask):  # noqa: A002
    """The elements of ``input`` where the bool ``mask`` (broadcast) is True, as a 1-D tensor, as
    ``torch.masked_select``."""
    if not isinstance(mask, Tensor) or mask.dtype != np.bool_:
        raise TypeError("masked_select: mask must be a bool tensor (e.g. x > 0)")
    shape = np.broadcast_shapes(input.shape, mask.shape)
    x = S.broadcast_to(input, shape) if input.shape != shape else input
    m = mask._data if mask.shape == shape else get_backend(mask.device).xp.broadcast_to(mask._data, shape)
    return S.getitem(x, Tensor._wrap(m, mask.device))


def _triangle(name, input, diagonal, lower):
    if input.ndim < 2:
        raise ValueError(f"{name}: needs a tensor with at least 2 dims, got shape {input.shape}")
    xp = get_backend(input.device).xp
    rows, cols = input.shape[-2:]
    keep = (xp.tri(rows, cols, int(diagonal), dtype=bool) if lower
            else ~xp.tri(rows, cols, int(diagonal) - 1, dtype=bool))
    zero = xp.zeros((), dtype=input.dtype)
    return ops.where(Tensor._wrap(keep, input.device), input, Tensor._wrap(zero, input.device))


def tril(input, diagonal: int = 0):  # noqa: A002
    """The lower triangle (on and below ``diagonal``) of the last two dims, the rest 0, as ``torch.tril``."""
    return _triangle("tril", input, diagonal, True)


def triu(input, diagonal: int = 0):  # noqa: A002
    """The upper triangle (on and above ``diagonal``), the rest 0, as ``torch.triu``."""
    return _triangle("triu", input, diagonal, False)


def diag(input, diagonal: int = 0):  # noqa: A002
    """A 1-D input: the square matrix with it on ``diagonal``; a 2-D input: its ``diagonal`` as 1-D,
    as ``torch.diag``."""
    xp = get_backend(input.device).xp
    k = int(diagonal)
    if input.ndim == 1:
        m = input.shape[0]
        n = m + abs(k)
        rows, cols = np.ogrid[:n, :n]
        on = Tensor._wrap(xp.asarray(cols - rows == k), input.device)
        zero = Tensor._wrap(xp.zeros((), dtype=input.dtype), input.device)
        if m == 0:
            return Tensor._wrap(xp.zeros((n, n), dtype=input.dtype), input.device)
        # every position reads the element of its column's diagonal entry; only the diagonal keeps it
        src = np.broadcast_to(np.clip(cols - max(k, 0), 0, m - 1), (n, n))
        return ops.where(on, S.getitem(input, Tensor._wrap(xp.asarray(src, dtype=np.int64), input.device)), zero)
    if input.ndim == 2:
        rows, cols = input.shape
        r = np.arange(max(0, min(rows + min(k, 0), cols - max(k, 0))))
        return S.getitem(input, (Tensor._wrap(xp.asarray(r + max(-k, 0)), input.device),
                                 Tensor._wrap(xp.asarray(r + max(k, 0)), input.device)))
    raise ValueError(f"diag: expects a 1-D or 2-D tensor, got shape {input.shape}")


def outer(input, vec2):  # noqa: A002
    """The outer product of two 1-D tensors, as ``torch.outer``."""
    if input.ndim != 1 or vec2.ndim != 1:
        raise ValueError(f"outer: expects two 1-D tensors, got shapes {input.shape} and {vec2.shape}")
    return S.reshape(input, (-1, 1)) * S.reshape(vec2, (1, -1))


def dot(input, tensor):  # noqa: A002
    """The inner product of two 1-D tensors of one size and dtype, as ``torch.dot``."""
    if input.ndim != 1 or tensor.ndim != 1 or input.shape != tensor.shape:
        raise ValueError(f"dot: expects two 1-D tensors of one size, got shapes {input.shape} and {tensor.shape}")
    if input.dtype != tensor.dtype:
        raise TypeError(f"dot: both tensors must have one dtype, got {input.dtype} and {tensor.dtype}")
    return reduce.sum(input * tensor)


def hstack(tensors):
    """Join along dim 1 (dim 0 for 1-D tensors), as ``torch.hstack``."""
    tensors = list(tensors)
    return S.concatenate(tensors, axis=0 if tensors and tensors[0].ndim == 1 else 1)


def vstack(tensors):
    """Join along dim 0, 1-D tensors as rows, as ``torch.vstack``."""
    return S.concatenate([S.reshape(t, (1, -1)) if t.ndim == 1 else t for t in tensors], axis=0)


def broadcast_tensors(*tensors):
    """The tensors broadcast to their common shape, as ``torch.broadcast_tensors``."""
    shape = np.broadcast_shapes(*(t.shape for t in tensors))
    return tuple(t if t.shape == shape else S.broadcast_to(t, shape) for t in tensors)


def meshgrid(*tensors, indexing: str = "ij"):
    """Coordinate grids of 1-D tensors, as ``torch.meshgrid`` (``indexing="ij"`` or ``"xy"``)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    n = len(tensors)
    shape = [t.shape[0] for t in tensors]
    if indexing == "xy" and n >= 2:
        shape[0], shape[1] = shape[1], shape[0]
    out = []
    for i, t in enumerate(tensors):
        axis = i if indexing == "ij" or n < 2 else {0: 1, 1: 0}.get(i, i)
        view = [1] * n
        view[axis] = t.shape[0]
        out.append(S.broadcast_to(S.reshape(t, tuple(view)), tuple(shape)))
    return tuple(out)


def amax(input, dim=(), keepdim: bool = False):  # noqa: A002
    """The maximum over ``dim`` (every dim when empty), values only; tied maxima share the
    gradient, as ``torch.amax``."""
    axis = None if dim in ((), None) else dim
    return reduce.max(input, axis=axis, keepdims=keepdim)


def amin(input, dim=(), keepdim: bool = False):  # noqa: A002
    """The minimum over ``dim``; see :func:`amax`."""
    axis = None if dim in ((), None) else dim
    return reduce.min(input, axis=axis, keepdims=keepdim)


def var_mean(input, dim=None, *, correction=None, keepdim: bool = False, unbiased=None):  # noqa: A002
    """(var, mean) along ``dim``, as ``torch.var_mean`` (correction 1 by default)."""
    return (T.var(input, dim, correction=correction, keepdim=keepdim, unbiased=unbiased),
            reduce.mean(input, axis=dim, keepdims=keepdim))


def std_mean(input, dim=None, *, correction=None, keepdim: bool = False, unbiased=None):  # noqa: A002
    """(std, mean) along ``dim``, as ``torch.std_mean`` (correction 1 by default)."""
    return (T.std(input, dim, correction=correction, keepdim=keepdim, unbiased=unbiased),
            reduce.mean(input, axis=dim, keepdims=keepdim))


def count_nonzero(input, dim=None):  # noqa: A002
    """The number of nonzero elements (along ``dim``), int64, as ``torch.count_nonzero``."""
    xp = get_backend(input.device).xp
    axis = None if dim is None else normalize_axis(dim, input.ndim, "count_nonzero")
    return Tensor._wrap(xp.asarray(xp.count_nonzero(input._data, axis=axis), dtype=np.int64), input.device)
