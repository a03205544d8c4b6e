"""``gg.linalg`` (``torch.linalg``): the vector norms of ``torch.linalg`` (matrix decompositions are not provided)."""
from __future__ import annotations

from .functions import norm as _norm


def vector_norm(x, ord=2, dim=None, keepdim: bool = False, *, dtype=None):  # noqa: A002
    """``torch.linalg.vector_norm``: the ``ord``-norm of ``x`` flattened (``dim=None``) or along
    ``dim``; ord in {2, 1, inf, -inf, 0, any positive number}; gradient 0 at a zero vector."""
    return _norm(x, p=ord, dim=dim, keepdim=keepdim, dtype=dtype)


def norm(x, ord=None, dim=None, keepdim: bool = False, *, dtype=None):  # noqa: A002
    """``torch.linalg.norm`` for vectors: with ``ord=None`` the 2-norm of ``x`` flattened (for a
    matrix that is its Frobenius norm, PyTorch's default too). Matrix ``ord`` values ("nuc", 2 over
    two dims) raise ValueError: not supported."""
    if ord is not None and (isinstance(ord, str) or (dim is not None and not isinstance(dim, int)
                                                     and len(tuple(dim)) == 2) or (dim is None and x.ndim == 2)):
        if ord not in ("fro",):
            raise ValueError(f"linalg.norm: matrix norm ord={ord!r} (shape {x.shape}, dim={dim}) is not "
                             f"supported; use linalg.vector_norm for vector norms")
    return _norm(x, p=2 if ord is None or ord == "fro" else ord, dim=dim, keepdim=keepdim, dtype=dtype)
