"""Sharding each epoch's order over data-parallel ranks, so N processes see what one process sees.

One process with batch size B takes batch i of epoch e as ``perm[i*B:(i+1)*B]``, where ``perm``
is :func:`epoch_permutation` (n, seed, e). With N ranks, rank r takes the r-th of N consecutive,
disjoint, near-equal parts of that same global batch (``np.array_split``: parts differ by at most
one sample, and only in a ragged last batch). The union of the ranks' parts of each batch is
exactly the one-process batch; the union over the epoch is exactly ``perm``. With the gradients
weighted by each part's size (see ``gpugrad.distributed.train_support``), N ranks therefore take
the same optimizer steps as one process. PyTorch's DistributedSampler instead pads the epoch by
repeating samples, which changes the result; this sampler never repeats or drops a sample.
"""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor
from .loader import DataLoader, epoch_permutation


class DistributedSampler:
    """This rank's share of every global batch of every epoch.

    Args:
        num_samples: samples in the dataset (n).
        batch_size: the global batch size B (over all ranks).
        num_replicas, rank: the world size N and this process's rank (0 <= rank < N).
        shuffle, seed: the epoch order is ``epoch_permutation(n, seed, epoch)`` (else 0..n-1).

    Raises ValueError for a rank outside 0..N-1 or B < 1. B need not divide by N here; a caller
    that wants equal parts of every full batch (``gpugrad train``) checks that itself.

    >>> s = DistributedSampler(10, batch_size=4, num_replicas=2, rank=1, seed=0)
    >>> [b.tolist() for b in s.batches(epoch=0)]  # this rank's part of each of the 3 global batches
    """

    def __init__(self, num_samples: int, batch_size: int, num_replicas: int, rank: int,
                 shuffle: bool = True, seed: int = 0):
        if int(num_replicas) < 1 or not 0 <= int(rank) < int(num_replicas):
            raise ValueError(f"DistributedSampler: rank must be in 0..{int(num_replicas) - 1} for "
                             f"num_replicas={num_replicas}, got rank={rank}")
        if int(batch_size) < 1:
            raise ValueError(f"DistributedSampler: batch_size must be >= 1, got {batch_size}")
        self.num_samples, self.batch_size = int(num_samples), int(batch_size)
        self.num_replicas, self.rank = int(num_replicas), int(rank)
        self.shuffle, self.seed = bool(shuffle), int(seed)

    def __len__(self) -> int:
        """Batches per epoch (the same on every rank)."""
        return -(-self.num_samples // self.batch_size)

    def order(self, epoch: int) -> np.ndarray:
        """The one-process order of ``epoch``."""
        n = self.num_samples
        return epoch_permutation(n, self.seed, epoch) if self.shuffle else np.arange(n)

    def global_batch_sizes(self) -> list:
        """The size of each global batch of an epoch (the last may be ragged)."""
        n, b = self.num_samples, self.batch_size
        return [min(b, n - i) for i in range(0, n, b)]

    def batches(self, epoch: int) -> list:
        """This rank's part of each global batch of ``epoch``: a list of index arrays (some may be
        empty when a ragged last batch has fewer samples than ranks)."""
        perm = self.order(epoch)
        b = self.batch_size
        return [np.array_split(perm[i:i + b], self.num_replicas)[self.rank]
                for i in range(0, self.num_samples, b)]

    def indices(self, epoch: int) -> np.ndarray:
        """All of this rank's samples of ``epoch``, in the order it sees them."""
        parts = self.batches(epoch)
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


class ShardedLoader(DataLoader):
    """A :class:`DataLoader` that yields only this rank's part of each global batch.

    ``batch_size`` is the global batch; ``global_batch`` holds the size of the global batch whose
    part was yielded last (a ragged last batch is smaller), so a step can weight its gradient.
    Batches of (x, y) Tensors on ``device``; ``set_epoch``/``state_dict`` as in DataLoader.
    """

    def __init__(self, x, y, batch_size: int, num_replicas: int, rank: int, shuffle: bool = True,
                 seed: int = 0, device=None):
        super().__init__(x, y, batch_size, shuffle=shuffle, seed=seed, drop_last=False, device=device)
        self.sampler = DistributedSampler(self.num_samples, batch_size, num_replicas, rank,
                                          shuffle=shuffle, seed=seed)
        self.global_batch = self.batch_size

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self):
        epoch = self.epoch
        self.epoch = epoch + 1
        sizes = self.sampler.global_batch_sizes()
        for part, size in zip(self.sampler.batches(epoch), sizes):
            sel = self._xp.asarray(part)
            self.global_batch = size
            yield Tensor._wrap(self._x[sel], self.device), Tensor._wrap(self._y[sel], self.device)
