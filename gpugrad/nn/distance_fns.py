"""``F.normalize`` and ``F.cosine_similarity``, with PyTorch's eps rules, composed from the op table.

Both divide by a norm clamped from below by ``eps``; the norm of a zero vector has gradient 0
(gpugrad's and PyTorch's vector-norm convention), so neither gives NaN at zero vectors.
float16 inputs are computed in float32 and the result rounded back (a float16 sum of squares
overflows at |x| ~ 256 and loses the small ones); the result keeps the input's dtype, as PyTorch.
"""
from __future__ import annotations

import numpy as np

from ..ops import astype, clip
from ..tensor import Tensor
from ..torch_face.functions import norm


def _same_dtype(fn, a, b):
    if a.dtype != b.dtype:
        raise TypeError(f"{fn}: x1 is {a.dtype} and x2 is {b.dtype} (PyTorch raises too); convert one, e.g. "
                        f"x2.to(x1.dtype)")


def _widen(x):
    return astype(x, np.float32) if x.dtype == np.float16 else x


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:  # noqa: A002
    """``input / max(||input||_p, eps)`` along ``dim``, as ``torch.nn.functional.normalize``: unit
    vectors, and a zero vector stays zero (its gradient is 1/eps times the upstream one, PyTorch's)."""
    if input.dtype.kind != "f":
        raise TypeError(f"normalize: expected a floating tensor, got {input.dtype}; convert it with .float()")
    x = _widen(input)
    out = x / clip(norm(x, p, dim, keepdim=True), eps, None)
    return astype(out, input.dtype) if out.dtype != input.dtype else out


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """sum(x1 * x2) / (max(||x1||, eps) * max(||x2||, eps)) along ``dim`` (broadcasting), as
    ``torch.nn.functional.cosine_similarity``.

    PyTorch's formula (ATen 2.x): each input is divided by its own clamped norm first (the result
    stays in [-1, 1]), and the clamp is applied to the value only: the gradient flows through the
    unclamped norm. So a vector shorter than eps gets PyTorch's gradients, and a zero vector a
    finite one. Raises TypeError for mixed dtypes (as PyTorch).
    """
    _same_dtype("cosine_similarity", x1, x2)
    if x1.dtype.kind != "f":
        raise TypeError(f"cosine_similarity: expected floating tensors, got {x1.dtype}; convert with .float()")
    a, b = _widen(x1), _widen(x2)
    shape = np.broadcast_shapes(a.shape, b.shape)
    if a.shape != shape:
        a = a.broadcast_to(shape)
    if b.shape != shape:
        b = b.broadcast_to(shape)

    def unit(v):
        n = norm(v, 2, dim, keepdim=True)
        return v / (n + (clip(n, eps, None) - n).detach())   # value clamped, gradient of n itself

    out = (unit(a) * unit(b)).sum(axis=dim)
    return astype(out, x1.dtype) if out.dtype != x1.dtype else out


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> Tensor:
    """||x1 - x2 + eps||_p along the last dim, as ``torch.nn.functional.pairwise_distance``."""
    _same_dtype("pairwise_distance", x1, x2)
    out = norm(_widen(x1) - _widen(x2) + eps, p, -1, keepdim=keepdim)
    return astype(out, x1.dtype) if out.dtype != x1.dtype else out
