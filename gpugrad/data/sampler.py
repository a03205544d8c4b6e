"""``WeightedRandomSampler``: PyTorch's sampler of indices drawn with given weights, the usual cure
for an imbalanced classification set (``torch.utils.data.WeightedRandomSampler``).

As every order in gpugrad.data, epoch ``e``'s draw is a function of (seed, e) alone, so a resumed
run repeats the epoch it stopped in exactly; ``iter(sampler)`` gives the next epoch's draw, as a
PyTorch sampler does, and ``DataLoader(dataset, sampler=...)`` asks for the loader's epoch.
"""
from __future__ import annotations

import numpy as np

from .generator import seed_of

__all__ = ["WeightedRandomSampler"]


class WeightedRandomSampler:
    """Draw ``num_samples`` indices in 0..len(weights)-1, index i with probability
    weights[i] / sum(weights); with ``replacement=False`` each index at most once (then
    num_samples must not exceed the count of nonzero weights).

    ``weights``: 1-D, non-negative, finite, not all zero (a list, NumPy array or Tensor; need not
    sum to 1). ``generator``: a ``gg.Generator``, an int seed, or None (one draw from gpugrad's
    global generator, seeded by ``gg.manual_seed``). Raises ValueError for bad weights or
    num_samples, TypeError for a non-integer num_samples or a non-bool replacement, as PyTorch.

    Numbers differ from PyTorch's (its ``torch.multinomial`` stream); the distribution is the same.

    >>> counts = np.bincount(y)                       # an imbalanced label vector
    >>> sampler = gg.data.WeightedRandomSampler(1.0 / counts[y], num_samples=len(y))
    >>> loader = gg.data.DataLoader(dataset, batch_size=64, sampler=sampler)
    """

    def __init__(self, weights, num_samples: int, replacement: bool = True, generator=None):
        if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples <= 0:
            raise ValueError(f"WeightedRandomSampler: num_samples must be a positive integer, got {num_samples!r}")
        if not isinstance(replacement, bool):
            raise TypeError(f"WeightedRandomSampler: replacement must be a bool, got {replacement!r}")
        w = np.asarray(weights.numpy() if hasattr(weights, "numpy") else weights, dtype=np.float64)
        if w.ndim != 1 or w.size == 0:
            raise ValueError(f"WeightedRandomSampler: weights must be a non-empty 1-D sequence, got shape {w.shape}")
        if not np.all(np.isfinite(w)) or np.any(w < 0) or not w.sum() > 0:
            raise ValueError("WeightedRandomSampler: weights must be finite and non-negative, and not all zero")
        nonzero = int(np.count_nonzero(w))
        if not replacement and num_samples > nonzero:
            raise ValueError(f"WeightedRandomSampler: cannot draw {num_samples} samples without replacement "
                             f"from {nonzero} indices of nonzero weight")
        self.weights, self.num_samples, self.replacement = w, int(num_samples), replacement
        self.seed = seed_of(generator, "WeightedRandomSampler")
        self.epoch = 0

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Make the next ``iter(sampler)`` the draw of epoch ``epoch``."""
        self.epoch = int(epoch)

    def indices(self, epoch: int) -> np.ndarray:
        """The int64 indices of epoch ``epoch``: a function of (seed, epoch) only."""
        rng = np.random.default_rng([self.seed, int(epoch), 0x5A3B1E])   # a stream of its own
        return rng.choice(self.weights.size, size=self.num_samples, replace=self.replacement,
                          p=self.weights / self.weights.sum()).astype(np.int64)

    def __iter__(self):
        epoch, self.epoch = self.epoch, self.epoch + 1
        return iter(self.indices(epoch).tolist())
