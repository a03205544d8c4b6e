"""``gg.linalg`` (``torch.linalg``): vector norms and the matrix norms that need no decomposition
('fro', 1, -1, inf, -inf). The spectral and nuclear norms (ord 2, -2, 'nuc') need singular values
and their derivative, which gpugrad does not provide: they raise ValueError saying so."""
from __future__ import annotations

from ..ops import reduce
from ..ops._shapes import normalize_axis
from .functions import norm as _norm

_INF = float("inf")
_NEEDS_SVD = (2, -2, "nuc")


def vector_norm(x, ord=2, dim=None, keepdim: bool = False, *, dtype=None):  # noqa: A002
    """``torch.linalg.vector_norm``: the ``ord``-norm of ``x`` flattened (``dim=None``) or along
    ``dim``; ord in {2, 1, inf, -inf, 0, any positive number}; gradient 0 at a zero vector."""
    return _norm(x, p=ord, dim=dim, keepdim=keepdim, dtype=dtype)


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim: bool = False, *, dtype=None):  # noqa: A002
    """``torch.linalg.matrix_norm`` over the two dims ``dim`` (batched over the others): 'fro'
    (sqrt of the sum of squares), 1 / -1 (the largest / smallest column sum of |A|), inf / -inf
    (the largest / smallest row sum). Differentiable; tied maxima share the gradient (as PyTorch's
    amax). Raises ValueError for ord 2, -2 and 'nuc' (they need an SVD: not supported) and for dims
    that are not two distinct ones."""
    if dtype is not None:
        A = A.astype(dtype)
    if A.ndim < 2:
        raise ValueError(f"linalg.matrix_norm: needs a tensor with at least 2 dims, got shape {A.shape}")
    dims = normalize_axis(tuple(dim), A.ndim, "linalg.matrix_norm")
    if len(dims) != 2 or dims[0] == dims[1]:
        raise ValueError(f"linalg.matrix_norm: dim must be two distinct dims, got {dim}")
    d0, d1 = (a % A.ndim for a in dim)   # rows, columns, in the caller's order
    if ord in _NEEDS_SVD:
        raise ValueError(f"linalg.matrix_norm: ord={ord!r} needs the singular values and their derivative, which "
                         f"gpugrad does not provide (see docs/pytorch-api.md); 'fro', 1, -1, inf and -inf work")
    if ord == "fro":
        return _norm(A, p=2, dim=(d0, d1), keepdim=keepdim)
    if ord not in (1, -1, _INF, -_INF):
        raise ValueError(f"linalg.matrix_norm: ord must be 'fro', 1, -1, inf or -inf, got {ord!r}")
    if A.dtype.kind != "f":
        raise TypeError(f"linalg.matrix_norm: expected a floating tensor, got {A.dtype}; convert it with .float()")
    summed, over = (d0, d1) if abs(ord) == 1 else (d1, d0)     # 1: column sums; inf: row sums
    sums = abs(A).sum(axis=summed, keepdims=True)
    out = (reduce.max if ord > 0 else reduce.min)(sums, axis=over, keepdims=True)
    return out if keepdim else out.squeeze(axis=tuple(sorted((d0, d1))))


def norm(x, ord=None, dim=None, keepdim: bool = False, *, dtype=None):  # noqa: A002
    """``torch.linalg.norm``: with ``ord=None`` the 2-norm of ``x`` flattened (a matrix's Frobenius
    norm) or along ``dim``; with ``ord`` given, a vector norm for a 1-D ``x`` or an int ``dim``, a
    matrix norm (see :func:`matrix_norm`) for a 2-D ``x`` or a 2-tuple ``dim``, as PyTorch."""
    if isinstance(dim, int):
        dim = (dim,)
    if ord is None:
        return _norm(x, p=2, dim=dim, keepdim=keepdim, dtype=dtype)
    if dim is None:
        if x.ndim == 1:
            return vector_norm(x, ord, None, keepdim, dtype=dtype)
        if x.ndim == 2:
            return matrix_norm(x, ord, (-2, -1), keepdim, dtype=dtype)
        raise ValueError(f"linalg.norm: with ord={ord!r} and dim=None the input must be 1-D or 2-D, got shape "
                         f"{x.shape}; pass dim (an int for vector norms, a pair for matrix norms)")
    dim = tuple(dim)
    if len(dim) == 1:
        if isinstance(ord, str):
            raise ValueError(f"linalg.norm: ord={ord!r} is a matrix norm; pass a pair of dims")
        return vector_norm(x, ord, dim, keepdim, dtype=dtype)
    if len(dim) == 2:
        return matrix_norm(x, ord, dim, keepdim, dtype=dtype)
    raise ValueError(f"linalg.norm: dim must be an int or a pair, got {dim}")
