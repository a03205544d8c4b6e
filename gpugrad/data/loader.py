"""``DataLoader``: seeded, reproducible mini-batches, in gpugrad's form over in-memory arrays
``DataLoader(x, y, batch_size, shuffle=True, seed=0, device=...)`` and in PyTorch's form over a
dataset ``DataLoader(dataset, batch_size=1, shuffle=False, drop_last=False, generator=None,
collate_fn=None)``.

The order of epoch ``e`` is a permutation drawn from a generator seeded with ``(seed, e)`` alone,
never from state carried over from earlier epochs. Epoch 7 is therefore the same whether the
run went straight through or was stopped after epoch 6 and resumed.
"""
from __future__ import annotations

import inspect

import numpy as np

from ..backends import get_backend
from ..device import as_device
from ..tensor import Tensor
from .collate import default_collate
from .dataset import Subset, TensorDataset
from .generator import seed_of


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


def _arrays_form(x, y, batch_size, shuffle=True, seed=0, drop_last=False, device=None, *, generator=None):
    """gpugrad's original signature: arrays x (N, ...) and y (N, ...)."""


def _dataset_form(dataset, batch_size=1, shuffle=False, num_workers=0, collate_fn=None, pin_memory=False,
                  drop_last=False, *, generator=None, seed=None, device=None, sampler=None):
    """PyTorch's signature (the arguments gpugrad supports)."""


_ARRAYS, _DATASET = inspect.signature(_arrays_form), inspect.signature(_dataset_form)


class DataLoader:
    """Mini-batches of Tensors, in a seeded order.

    Two forms:

    * ``DataLoader(x, y, batch_size, shuffle=True, seed=0, drop_last=False, device=None)``: arrays
      (NumPy, CuPy or Tensors) with one row per sample, moved to ``device`` once; each batch is
      ``(xb, yb)``, gathered on the device.
    * ``DataLoader(dataset, batch_size=1, shuffle=False, num_workers=0, collate_fn=None,
      pin_memory=False, drop_last=False, generator=None)``: PyTorch's. Items are fetched with
      ``dataset[i]`` and merged by ``collate_fn`` (default: :func:`default_collate`, which stacks
      tuples of tensors into tuples of batched tensors); a TensorDataset (or a Subset of one) is
      gathered in one indexing per tensor instead, with the same result. ``batch_size=None``
      yields single items, uncollated. ``num_workers`` and ``pin_memory`` are accepted for
      PyTorch scripts and change nothing: items are loaded in this process (same batches).

    Shuffling: epoch ``e`` is :func:`epoch_permutation` of (seed, e), where the seed is ``seed``,
    or the seed of ``generator`` (``gg.Generator().manual_seed(s)`` or an int), or, in PyTorch's
    form with neither, one draw from gpugrad's global generator (seeded by ``gg.manual_seed``).
    Each ``iter(loader)`` is one epoch: the one set by ``set_epoch``, or the next after the last.

    >>> loader = gg.data.DataLoader(gg.data.TensorDataset(x, y), batch_size=64, shuffle=True,
    ...                             generator=gg.Generator().manual_seed(0))
    >>> for epoch in range(10):
    ...     for xb, yb in loader: ...
    """

    def __init__(self, dataset, *args, **kwargs):
        second = args[0] if args else kwargs.get("y")
        arrays = "y" in kwargs or (args and not isinstance(second, (int, np.integer, type(None))))
        sig = _ARRAYS if arrays else _DATASET
        try:
            bound = sig.bind(dataset, *args, **kwargs)
        except TypeError as exc:
            form = ("DataLoader(x, y, batch_size, shuffle=True, seed=0, drop_last=False, device=None)" if arrays
                    else "DataLoader(dataset, batch_size=1, shuffle=False, num_workers=0, collate_fn=None, "
                         "pin_memory=False, drop_last=False, generator=None)")
            raise TypeError(f"DataLoader: {exc}; the supported form is {form}") from None
        bound.apply_defaults()
        a = bound.arguments
        bs = a["batch_size"]
        if bs is not None and (isinstance(bs, bool) or int(bs) != bs or int(bs) < 1):
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got {bs}")
        if bs is None and a["drop_last"]:
            raise ValueError("DataLoader: drop_last=True needs a batch_size (batch_size=None yields single items)")
        self.batch_size = None if bs is None else int(bs)
        self.shuffle, self.drop_last = bool(a["shuffle"]), bool(a["drop_last"])
        self.generator = a["generator"]
        self.collate_fn = None if arrays else a["collate_fn"]
        self.num_workers = 0 if arrays else int(a["num_workers"])
        if a["seed"] is not None and a["generator"] is not None:
            raise ValueError("DataLoader: give seed or generator, not both")
        self.seed = int(a["seed"]) if a["seed"] is not None else seed_of(a["generator"], "DataLoader")
        self.epoch = 0
        # PyTorch's sampler= (e.g. WeightedRandomSampler): the epoch's indices come from it.
        # (self._sampler: ShardedLoader's self.sampler is its DistributedSampler)
        self._sampler = None if arrays else a["sampler"]
        if self._sampler is not None:
            if self.shuffle:
                raise ValueError("DataLoader: sampler and shuffle=True are mutually exclusive (as in PyTorch); "
                                 "the sampler decides the order")
            if not (hasattr(self._sampler, "__iter__") and hasattr(self._sampler, "__len__")):
                raise TypeError(f"DataLoader: sampler must be iterable with a length (e.g. "
                                f"gg.data.WeightedRandomSampler), got {type(self._sampler).__name__}")
        self._arrays = None
        if arrays:
            x, y = _host(a["x"]), _host(a["y"])
            if len(x) != len(y):
                raise ValueError(f"DataLoader: x has {len(x)} samples but y has {len(y)}; they must match")
            self.device = as_device(a["device"])
            backend = get_backend(self.device)
            self._arrays = [backend.asarray(x), backend.asarray(y)]
            self._x, self._y = self._arrays      # what subclasses (data.sharding.ShardedLoader) gather from
            self.dataset = None
            self._n = len(x)
        else:
            self.dataset = dataset
            if not (hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__")):
                raise TypeError(f"DataLoader: the dataset must have __getitem__ and __len__ (a map-style "
                                f"dataset such as gg.data.TensorDataset), got {type(dataset).__name__}")
            self._n = len(dataset)
            self.device = None if a["device"] is None else as_device(a["device"])
            if self.collate_fn is None and self.batch_size is not None:
                self._arrays = _tensor_rows(dataset, self.device)
            if self.device is None and self._arrays is not None:
                self.device = self._arrays.device
        if self._arrays is not None:
            self._xp = get_backend(self.device).xp

    @property
    def num_samples(self) -> int:
        return self._n if self._sampler is None else len(self._sampler)

    def __len__(self) -> int:
        n, b = self.num_samples, self.batch_size
        if b is None:
            return n
        return n // b if self.drop_last else -(-n // b)

    def set_epoch(self, epoch: int) -> None:
        """Make the next pass epoch ``epoch`` (its order is a function of (seed, epoch))."""
        self.epoch = int(epoch)

    def order(self, epoch: int) -> np.ndarray:
        """The sample order of ``epoch`` (identity when shuffle is off)."""
        if self._sampler is not None:   # epoch-addressable samplers keep (seed, epoch) resumes exact
            if hasattr(self._sampler, "indices"):
                return np.asarray(self._sampler.indices(epoch), dtype=np.int64)
            return np.fromiter(iter(self._sampler), dtype=np.int64)
        n = self.num_samples
        return epoch_permutation(n, self.seed, epoch) if self.shuffle else np.arange(n)

    def __iter__(self):
        epoch = self.epoch
        self.epoch = epoch + 1
        order = self.order(epoch)
        if self.batch_size is None:
            for i in order:
                yield self.dataset[int(i)]
            return
        if self._arrays is not None:
            idx = self._xp.asarray(order)
            for i in range(len(self)):
                sel = idx[i * self.batch_size:(i + 1) * self.batch_size]
                yield tuple(Tensor._wrap(a[sel], self.device) for a in self._arrays)
            return
        collate = self.collate_fn or default_collate
        for i in range(len(self)):
            sel = order[i * self.batch_size:(i + 1) * self.batch_size]
            batch = collate([self.dataset[int(j)] for j in sel])
            yield _to_device(batch, self.device) if self.device is not None else batch

    def state_dict(self) -> dict:
        return {"seed": self.seed, "epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        self.seed, self.epoch = int(state["seed"]), int(state["epoch"])


def _tensor_rows(dataset, device):
    """The arrays behind a TensorDataset (or a Subset of one, gathered once), on ``device``, so a
    batch is one fancy-index per tensor; None for any other dataset."""
    indices = None
    while isinstance(dataset, Subset):
        idx = np.asarray(dataset.indices, dtype=np.int64)
        indices = idx if indices is None else idx[indices]
        dataset = dataset.dataset
    if type(dataset) is not TensorDataset:
        return None
    tensors = dataset.tensors
    devices = {t.device for t in tensors}
    if len(devices) > 1 and device is None:
        return None        # mixed devices: item by item, as PyTorch's collate would
    dev = device if device is not None else tensors[0].device
    backend = get_backend(dev)
    out = []
    for t in tensors:
        a = t._data if t.device == dev else backend.asarray(t.numpy())
        if indices is not None:
            a = a[backend.xp.asarray(indices)]
        out.append(a)
    return _Rows(out, dev)


class _Rows(list):
    """A list of arrays that remembers their device."""

    def __init__(self, arrays, device):
        super().__init__(arrays)
        self.device = device


def _to_device(batch, device):
    if isinstance(batch, Tensor):
        return batch if batch.device == device else batch.to(device)
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    return batch
