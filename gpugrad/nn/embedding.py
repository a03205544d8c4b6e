"""``F.embedding`` and ``nn.Embedding``: rows of a weight matrix looked up by integer indices, as
``torch.nn.functional.embedding`` / ``torch.nn.Embedding``.

The lookup is integer-array indexing (``weight[input]``), whose VJP adds each output row's
gradient into the row it came from, summing repeated indices (PyTorch's embedding_backward, an
``index_put`` with accumulate); the VJP's VJP is the lookup again. ``padding_idx``'s row gets no
gradient (as in PyTorch) while still being looked up.
"""
from __future__ import annotations

import numpy as np

from ..creation import empty
from ..grad_mode import no_grad
from ..ops import where
from ..tensor import Tensor
from . import init as nn_init
from .module import Module, Parameter


def _check_indices(fn, input, n):  # noqa: A002
    if not isinstance(input, Tensor) or input.dtype.kind not in "iu":
        what = input.dtype if isinstance(input, Tensor) else type(input).__name__
        raise TypeError(f"{fn}: indices must be an integer tensor (int64 or int32, as in PyTorch), got {what}; "
                        f"convert them with .long()")
    data = input._data
    # checked on the CPU; on a GPU the check would make every forward wait for the device
    if data.size and isinstance(data, np.ndarray) and (int(data.min()) < 0 or int(data.max()) >= n):
        raise IndexError(f"{fn}: index out of range: indices must be in [0, {n}) for {n} embeddings, got values in "
                         f"[{int(data.min())}, {int(data.max())}]")


def _padding_index(fn, padding_idx, n):
    if padding_idx is None:
        return None
    p = int(padding_idx)
    if not -n <= p < n:
        raise ValueError(f"{fn}: padding_idx must be within [-{n}, {n}) for {n} embeddings, got {padding_idx}")
    return p + n if p < 0 else p


def embedding(input, weight: Tensor, padding_idx=None, max_norm=None, norm_type: float = 2.0,  # noqa: A002
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """``weight[input]``: for integer indices of any shape (N, ...) and a (num_embeddings, dim) weight,
    a (N, ..., dim) tensor, as ``torch.nn.functional.embedding``.

    The weight's gradient sums the output gradients of every position that looked a row up;
    ``padding_idx``'s row gets none. ``sparse=True`` is accepted and gives the same dense gradient
    (gpugrad has no sparse tensors). Raises TypeError for non-integer indices, IndexError for an
    index out of range (checked on the CPU only: on a GPU the check would wait for the device), ValueError for ``max_norm``/``scale_grad_by_freq`` (not supported: renormalise
    or rescale the weight yourself).
    """
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got shape {weight.shape}")
    n = weight.shape[0]
    _check_indices("embedding", input, n)
    if max_norm is not None or scale_grad_by_freq:
        raise ValueError("embedding: max_norm and scale_grad_by_freq are not supported by gpugrad (see "
                         "docs/pytorch-api.md); renormalise the weight under gg.no_grad() instead")
    if input.device != weight.device:
        raise RuntimeError(f"embedding: indices are on {input.device} but the weight is on {weight.device}")
    p = _padding_index("embedding", padding_idx, n)
    out = weight[input]
    if p is None or not out.requires_grad:
        return out
    pad = input._data == p
    # the padding row's value, but no path back to it: the gradient of those positions is dropped
    return where(Tensor._wrap(pad[..., None], input.device), out.detach(), out)


class Embedding(Module):
    """A lookup table of ``num_embeddings`` vectors of size ``embedding_dim``, as ``torch.nn.Embedding``:
    ``Embedding(10, 3)(idx)`` maps integer indices of any shape to (..., 3) vectors.

    The weight starts as N(0, 1) draws (PyTorch's default), with ``padding_idx``'s row set to 0 (and
    kept out of the gradient). ``_weight`` gives the initial weight; ``from_pretrained`` builds one from
    a tensor. ``max_norm``/``scale_grad_by_freq`` raise ValueError (not supported).
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx=None, max_norm=None,
                 norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False, _weight=None,
                 _freeze: bool = False, device=None, dtype=None):
        super().__init__()
        if int(num_embeddings) < 1 or int(embedding_dim) < 1:
            raise ValueError(f"Embedding: num_embeddings and embedding_dim must be positive, got {num_embeddings} "
                             f"and {embedding_dim}")
        if max_norm is not None or scale_grad_by_freq:
            raise ValueError("Embedding: max_norm and scale_grad_by_freq are not supported by gpugrad (see "
                             "docs/pytorch-api.md)")
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        self.padding_idx = _padding_index("Embedding", padding_idx, self.num_embeddings)
        self.max_norm, self.norm_type, self.scale_grad_by_freq, self.sparse = max_norm, norm_type, False, sparse
        if _weight is None:
            self.weight = Parameter(empty(self.num_embeddings, self.embedding_dim, dtype=dtype, device=device))
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (self.num_embeddings, self.embedding_dim):
                raise ValueError(f"Embedding: _weight has shape {tuple(_weight.shape)}, expected "
                                 f"({self.num_embeddings}, {self.embedding_dim})")
            self.weight = Parameter(_weight.detach().clone())
        self.weight.requires_grad = not _freeze

    def reset_parameters(self) -> None:
        nn_init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx] = 0.0

    def forward(self, input):  # noqa: A002
        return embedding(input, self.weight, self.padding_idx, sparse=self.sparse)

    @classmethod
    def from_pretrained(cls, embeddings: Tensor, freeze: bool = True, padding_idx=None, max_norm=None,
                        norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False):
        """An Embedding holding a copy of the 2-D ``embeddings``; frozen (no gradient) unless ``freeze=False``."""
        if embeddings.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: embeddings must be 2-D, got shape {embeddings.shape}")
        rows, dim = embeddings.shape
        return cls(rows, dim, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse, _weight=embeddings,
                   _freeze=freeze)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}" + (
            f", padding_idx={self.padding_idx}" if self.padding_idx is not None else "")
