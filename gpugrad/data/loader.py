"""``DataLoader``: seeded, reproducible mini-batches over in-memory arrays.

The order of epoch ``e`` is a permutation drawn from a generator seeded with ``(seed, e)`` alone,
never from state carried over from earlier epochs. Epoch 7 is therefore the same whether the
run went straight through or was stopped after epoch 6 and resumed.
"""
from __future__ import annotations

import numpy as np

from ..backends import get_backend
from ..device import as_device
from ..tensor import Tensor


def _host(a) -> np.ndarray:
    """``a`` as a NumPy array: a Tensor or a CuPy array is copied to the host first (the loader
    moves the data to its own device once, up front). np.asarray alone refuses CuPy arrays."""
    if isinstance(a, Tensor):
        return a.numpy()
    if type(a).__module__.split(".")[0] == "cupy":
        return a.get()
    return np.asarray(a)


def epoch_permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    """The shuffled order of ``n`` samples for ``epoch``: a function of (seed, epoch) only."""
    return np.random.default_rng([int(seed), int(epoch)]).permutation(n)


class DataLoader:
    """Batches of (x, y) Tensors on ``device`` from arrays ``x`` (N, ...) and ``y`` (N, ...).

    Each ``iter(loader)`` is one epoch: it uses the epoch number set by ``set_epoch`` (or the
    next one after the previous pass) and shuffles with :func:`epoch_permutation`.
    The arrays are moved to ``device`` once, up front; batches are gathered there.

    >>> loader = gg.data.DataLoader(x, y, batch_size=64, seed=0)
    >>> for epoch in range(10):
    ...     loader.set_epoch(epoch)
    ...     for xb, yb in loader: ...
    """

    def __init__(self, x, y, batch_size: int, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False, device=None):
        x, y = _host(x), _host(y)
        if len(x) != len(y):
            raise ValueError(f"DataLoader: x has {len(x)} samples but y has {len(y)}; they must match")
        if int(batch_size) < 1:
            raise ValueError(f"DataLoader: batch_size must be >= 1, got {batch_size}")
        self.batch_size, self.shuffle, self.seed = int(batch_size), bool(shuffle), int(seed)
        self.drop_last = bool(drop_last)
        self.device = as_device(device)
        backend = get_backend(self.device)
        self._x, self._y = backend.asarray(x), backend.asarray(y)
        self._xp = backend.xp
        self.epoch = 0

    @property
    def num_samples(self) -> int:
        return int(self._x.shape[0])

    def __len__(self) -> int:
        n, b = self.num_samples, self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def set_epoch(self, epoch: int) -> None:
        """Make the next pass epoch ``epoch`` (its order is a function of (seed, epoch))."""
        self.epoch = int(epoch)

    def order(self, epoch: int) -> np.ndarray:
        """The sample order of ``epoch`` (identity when shuffle is off)."""
        n = self.num_samples
        return epoch_permutation(n, self.seed, epoch) if self.shuffle else np.arange(n)

    def __iter__(self):
        epoch = self.epoch
        self.epoch = epoch + 1
        idx = self._xp.asarray(self.order(epoch))
        for i in range(len(self)):
            sel = idx[i * self.batch_size:(i + 1) * self.batch_size]
            yield Tensor._wrap(self._x[sel], self.device), Tensor._wrap(self._y[sel], self.device)

    def state_dict(self) -> dict:
        return {"seed": self.seed, "epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        self.seed, self.epoch = int(state["seed"]), int(state["epoch"])
