"""PyTorch's selection, splitting and ordering functions: ``gather``, ``index_select``, ``split``,
``chunk``, ``unbind``, ``sort``, ``argsort``, ``topk``, ``unique``, ``bincount`` (``torch.X`` and
``Tensor.X``), each as PyTorch 2.x documents it.

No new derivative formula: the differentiable ones are built on integer-array indexing
(``ops.getitem``), whose VJP scatters the gradient back and sums repeated indices
(``index_put(accumulate=True)``) and whose VJP's VJP is indexing again, so gradients reach exactly
the selected elements at every order. The indices themselves come from NumPy/CuPy (no gradient).
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from ..backends import get_backend
from ..ops import shape as S
from ..ops._shapes import check_axis
from ..tensor import Tensor

#: What ``sort`` / ``topk`` return, as ``torch.return_types.sort`` / ``topk``: named pairs.
SortResult = namedtuple("sort", ["values", "indices"])
TopkResult = namedtuple("topk", ["values", "indices"])


def _index_array(name, index, x):
    if not isinstance(index, Tensor):
        raise TypeError(f"{name}: index must be an int64 tensor, got {type(index).__name__}")
    if index.dtype.kind not in "iu":
        raise TypeError(f"{name}: index must be an integer tensor (int64, as in PyTorch), got {index.dtype}; "
                        f"convert it with index.long()")
    if index.device != x.device:
        raise RuntimeError(f"{name}: index is on {index.device} but the input (shape {x.shape}) is on "
                           f"{x.device}; move one of them")
    return index._data


def _wrap_int(xp_array, device) -> Tensor:
    return Tensor._wrap(get_backend(device).xp.asarray(xp_array, dtype=np.int64), device)


def _along(x, axis, idx):
    """``x`` indexed along ``axis`` by the integer array ``idx`` (of x's rank; other axes by position,
    up to idx's size in each): NumPy's take_along_axis, differentiable through getitem."""
    xp = get_backend(x.device).xp
    grids = []
    for a, n in enumerate(idx.shape):
        if a == axis:
            grids.append(idx)
        else:
            shape = [1] * idx.ndim
            shape[a] = n
            grids.append(xp.arange(n).reshape(shape))
    return S.getitem(x, tuple(grids))


def gather(input, dim, index, *, sparse_grad: bool = False):  # noqa: A002
    """``out[i][j][k] = input[index[i][j][k]][j][k]`` for ``dim`` 0 (and so on), as ``torch.gather``.

    ``index`` (int64) has input's number of dimensions and a size no larger than input's in every
    dim but ``dim``; the output has index's shape. The gradient adds into the gathered positions
    (summing repeats). Raises IndexError for an index out of range, ValueError for a rank or size
    mismatch.
    """
    idx = _index_array("gather", index, input)
    dim = check_axis(dim, max(input.ndim, 1), "gather")
    if input.ndim == 0:
        return S.getitem(S.reshape(input, (1,)), idx.reshape(1)).reshape(index.shape)
    if idx.ndim != input.ndim:
        raise ValueError(f"gather: index (shape {index.shape}) must have as many dimensions as the input "
                         f"(shape {input.shape})")
    for a, (n, m) in enumerate(zip(idx.shape, input.shape)):
        if a != dim and n > m:
            raise ValueError(f"gather: index shape {index.shape} is larger than the input's {input.shape} in "
                             f"dimension {a} (only dimension {dim} may differ)")
    # checked on the CPU; on a GPU the check would make every call wait for the device
    if idx.size and isinstance(idx, np.ndarray) and (int(idx.min()) < -input.shape[dim]
                                                     or int(idx.max()) >= input.shape[dim]):
        raise IndexError(f"gather: index values must be in [0, {input.shape[dim]}) along dim {dim} of shape "
                         f"{input.shape}; got [{int(idx.min())}, {int(idx.max())}]")
    return _along(input, dim, idx)


def index_select(input, dim, index):  # noqa: A002
    """The entries of ``input`` at the 1-D ``index`` along ``dim``, as ``torch.index_select``; the
    gradient adds back into the selected entries (summing repeats)."""
    idx = _index_array("index_select", index, input)
    if idx.ndim > 1:
        raise ValueError(f"index_select: index must be 0-d or 1-D, got shape {index.shape}")
    dim = check_axis(dim, max(input.ndim, 1), "index_select")
    if input.ndim == 0:
        return S.getitem(S.reshape(input, (1,)), idx.reshape(-1)).reshape(index.shape)
    return S.getitem(input, (slice(None),) * dim + (idx.reshape(-1),))


def _slices(name, x, dim, sizes):
    dim = check_axis(dim, x.ndim, name)
    out, start = [], 0
    for s in sizes:
        out.append(S.getitem(x, (slice(None),) * dim + (slice(start, start + s),)))
        start += s
    return tuple(out)


def split(tensor, split_size_or_sections, dim: int = 0):
    """Split into pieces along ``dim``, as ``torch.split``: an int gives pieces of that size (the last
    one smaller if it does not divide), a list gives those sizes (they must add up to the dim's
    size). Returns a tuple of views-by-value (differentiable slices)."""
    if tensor.ndim == 0:
        raise ValueError("split: a 0-d tensor cannot be split; reshape it first")
    n = tensor.shape[check_axis(dim, tensor.ndim, "split")]
    if isinstance(split_size_or_sections, (int, np.integer)):
        size = int(split_size_or_sections)
        if size <= 0 and not (size == 0 and n == 0):
            raise ValueError(f"split: split_size must be positive, got {size}")
        # an empty dim gives one empty piece, as in PyTorch
        sizes = ([size] * (n // size) + ([n % size] if n % size else [])) if n else [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n or any(s < 0 for s in sizes):
            raise ValueError(f"split: split sizes {sizes} must be non-negative and add up to {n}, the size of "
                             f"dim {dim} of shape {tensor.shape}")
    return _slices("split", tensor, dim, sizes)


def chunk(input, chunks: int, dim: int = 0):  # noqa: A002
    """Split into ``chunks`` pieces of ceil(n / chunks) along ``dim`` (fewer pieces when they run out
    first, as ``torch.chunk``: 5 rows in 4 chunks are 2, 2, 1)."""
    chunks = int(chunks)
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    if input.ndim == 0:
        raise ValueError("chunk: a 0-d tensor cannot be chunked; reshape it first")
    n = input.shape[check_axis(dim, input.ndim, "chunk")]
    size = -(-n // chunks)
    return split(input, size if size else 0, dim) if n else _slices("chunk", input, dim, [0] * chunks)


def unbind(input, dim: int = 0):  # noqa: A002
    """The slices along ``dim`` with that dim removed, as ``torch.unbind``: a tuple."""
    dim = check_axis(dim, input.ndim, "unbind")
    return tuple(S.getitem(input, (slice(None),) * dim + (i,)) for i in range(input.shape[dim]))


def _order(name, x, dim, descending):
    """Stable ascending (or descending) order of ``x`` along ``dim``, NaN the largest (PyTorch's)."""
    xp = get_backend(x.device).xp
    data = x._data
    if data.dtype == np.bool_:
        data = data.astype(np.uint8)
    # NumPy needs kind="stable"; CuPy's argsort is always stable and accepts only kind=None
    kw = {"kind": "stable"} if xp is np else {}
    if not descending:
        return xp.argsort(data, axis=dim, **kw)
    # descending and stable: sort the reversed axis ascending, read it backwards, map back (ties
    # then keep their order of appearance, as PyTorch's stable=True)
    n = data.shape[dim]
    rev = xp.flip(data, axis=dim)
    return (n - 1) - xp.flip(xp.argsort(rev, axis=dim, **kw), axis=dim)


def sort(input, dim: int = -1, descending: bool = False, stable: bool = False):  # noqa: A002
    """(values, indices) sorted along ``dim``, as ``torch.sort``. Always stable (equal values keep
    their order, what PyTorch guarantees with ``stable=True``); NaN sorts as the largest value.
    The values' gradient goes to the elements they came from."""
    if input.ndim == 0:
        return SortResult(input * 1 if input.dtype.kind == "f" else input, _wrap_int(0, input.device))
    dim = check_axis(dim, input.ndim, "sort")
    idx = _order("sort", input, dim, descending)
    return SortResult(_along(input, dim, idx), _wrap_int(idx, input.device))


def argsort(input, dim: int = -1, descending: bool = False, stable: bool = False):  # noqa: A002
    """The indices that sort ``input`` along ``dim`` (int64), as ``torch.argsort``; stable (see sort)."""
    if input.ndim == 0:
        return _wrap_int(0, input.device)
    return _wrap_int(_order("argsort", input, check_axis(dim, input.ndim, "argsort"), descending), input.device)


def topk(input, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):  # noqa: A002
    """The ``k`` largest (``largest=False``: smallest) entries along ``dim`` and their indices, as
    ``torch.topk``, in sorted order (``sorted=False`` returns the same order: allowed, since PyTorch
    leaves it unspecified). Ties: the earlier index first. Raises ValueError for k out of range."""
    k = int(k)
    n = input.shape[check_axis(dim, input.ndim, "topk")] if input.ndim else 1
    if not 0 <= k <= n:
        raise ValueError(f"topk: k ({k}) out of range for dimension {dim} of size {n} (shape {input.shape})")
    if input.ndim == 0:
        return TopkResult(input * 1 if input.dtype.kind == "f" else input, _wrap_int(0, input.device))
    dim = check_axis(dim, input.ndim, "topk")
    idx = _order("topk", input, dim, descending=largest)
    idx = idx[(slice(None),) * dim + (slice(0, k),)]
    return TopkResult(_along(input, dim, idx), _wrap_int(idx, input.device))


def unique(input, sorted: bool = True, return_inverse: bool = False, return_counts: bool = False,  # noqa: A002
           dim=None):
    """The distinct values (sorted), as ``torch.unique``; with ``return_inverse`` the index of each
    element's value in them (input's shape), with ``return_counts`` how often each occurs;
    ``dim=`` for distinct slices. No gradient (PyTorch has none either)."""
    xp = get_backend(input.device).xp
    data = input._data
    if dim is None:
        vals, inv, counts = xp.unique(data.reshape(-1), return_inverse=True, return_counts=True)
        inv = inv.reshape(data.shape)
    else:
        axis = check_axis(dim, input.ndim, "unique")
        vals, inv, counts = xp.unique(data, return_inverse=True, return_counts=True, axis=axis)
        inv = inv.reshape(-1)
    out = [Tensor._wrap(vals, input.device)]
    if return_inverse:
        out.append(_wrap_int(inv, input.device))
    if return_counts:
        out.append(_wrap_int(counts, input.device))
    return out[0] if len(out) == 1 else tuple(out)


def bincount(input, weights=None, minlength: int = 0):  # noqa: A002
    """How often each value 0..max occurs in the 1-D non-negative integer ``input`` (at least
    ``minlength`` bins), as ``torch.bincount``: int64, or the sum of ``weights`` per bin (in the
    weights' dtype for float32/float64 weights, else float64, as PyTorch). No gradient (as in PyTorch)."""
    if input.ndim != 1 or input.dtype.kind not in "iu":
        raise ValueError(f"bincount: input must be a 1-D integer tensor, got {input.dtype} of shape {input.shape}")
    xp = get_backend(input.device).xp
    data = input._data
    if data.size and int(data.min()) < 0:
        raise ValueError(f"bincount: input must be non-negative, got a minimum of {int(data.min())}")
    if weights is None:
        return _wrap_int(xp.bincount(data, minlength=int(minlength)), input.device)
    if weights.shape != input.shape:
        raise ValueError(f"bincount: weights (shape {weights.shape}) must have the input's shape {input.shape}")
    out_dtype = weights.dtype if weights.dtype in (np.float32, np.float64) else np.float64
    w = weights._data.astype(np.float64)
    return Tensor._wrap(xp.bincount(data, weights=w, minlength=int(minlength)).astype(out_dtype), input.device)
