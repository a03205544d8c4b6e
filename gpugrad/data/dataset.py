"""Datasets with PyTorch's interface (``torch.utils.data``): ``Dataset``, ``TensorDataset``,
``Subset`` and ``random_split``.

>>> ds = gg.data.TensorDataset(x, y)                 # x (N, D), y (N,): Tensors or arrays
>>> train, val = gg.data.random_split(ds, [0.8, 0.2], generator=gg.Generator().manual_seed(0))
"""
from __future__ import annotations

import math

import numpy as np

from ..tensor import Tensor, tensor as make_tensor
from .generator import seed_of


class Dataset:
    """A map-style dataset: subclasses define ``__getitem__(i)`` and ``__len__()``."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__")


class TensorDataset(Dataset):
    """Rows of tensors of equal first dimension N: item i is ``(t[i] for t in tensors)``.

    Arguments may be gg Tensors (kept on their device) or NumPy arrays (wrapped on the cpu).
    Raises ValueError when the first dimensions differ or a tensor is 0-d.
    """

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset: needs at least one tensor")
        ts = [t if isinstance(t, Tensor) else make_tensor(t, dtype=np.asarray(t).dtype) for t in tensors]
        for i, t in enumerate(ts):
            if t.ndim == 0:
                raise ValueError(f"TensorDataset: tensor {i} is 0-d; every tensor needs a first (sample) dimension")
        sizes = [t.shape[0] for t in ts]
        if len(set(sizes)) > 1:
            raise ValueError(f"TensorDataset: size mismatch between tensors: first dimensions {sizes} "
                             f"(shapes {[t.shape for t in ts]}); every tensor needs one row per sample")
        self.tensors = tuple(ts)

    def __getitem__(self, index):
        # a[i, ...] keeps a 0-d row an array (a[i] of a 1-D NumPy array is a scalar)
        return tuple(Tensor._wrap(t._data[index, ...], t.device) for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]


class Subset(Dataset):
    """The items of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = [int(i) for i in indices]

    def __getitem__(self, index):
        if isinstance(index, (list, tuple, np.ndarray)):
            return [self.dataset[self.indices[int(i)]] for i in index]
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)


def random_split(dataset, lengths, generator=None) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random Subsets of the given ``lengths``.

    ``lengths`` are counts summing to ``len(dataset)``, or fractions summing to 1 (each gets
    floor(n * fraction) items, the remainder dealt one at a time from the first: PyTorch's rule).
    The permutation is a function of the generator's seed. Raises ValueError otherwise.
    """
    n = len(dataset)
    lengths = list(lengths)
    if lengths and math.isclose(sum(lengths), 1) and sum(lengths) <= 1 and not all(
            isinstance(x, (int, np.integer)) for x in lengths):
        for i, frac in enumerate(lengths):
            if not 0 <= frac <= 1:
                raise ValueError(f"random_split: fraction at index {i} is {frac}, not in [0, 1]")
        counts = [int(math.floor(n * frac)) for frac in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if any(int(x) != x or x < 0 for x in lengths):
        raise ValueError(f"random_split: lengths must be non-negative integers or fractions summing to 1, "
                         f"got {lengths}")
    if sum(lengths) != n:
        raise ValueError(f"random_split: the lengths {lengths} sum to {sum(lengths)} but the dataset has {n} items")
    seed = seed_of(generator, "random_split")
    perm = np.random.default_rng([seed, 0x5B117]).permutation(n)
    out, start = [], 0
    for k in lengths:
        out.append(Subset(dataset, perm[start:start + int(k)]))
        start += int(k)
    return out
