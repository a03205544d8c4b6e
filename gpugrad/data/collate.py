"""``default_collate``: merge a list of dataset items into a batch, as PyTorch's
``torch.utils.data.default_collate`` does for the types gpugrad has."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..backends import get_backend
from ..tensor import Tensor
from ..device import as_device


def default_collate(batch: list):
    """Stack a list of items into a batch with a new leading dimension of size len(batch).

    * Tensors (equal shapes, one device) -> one Tensor, stacked on that device;
    * NumPy arrays and NumPy scalars -> a cpu Tensor of their dtype;
    * Python floats -> float64, ints -> int64, bools -> bool (PyTorch's dtypes);
    * strings -> the list as is; dicts -> a dict of collated values per key;
    * tuples / lists (equal lengths) -> the same type of collated columns, so ``(x, y)`` items
      give ``(xb, yb)``.

    Raises TypeError naming the element type it cannot batch, ValueError for unequal shapes or
    lengths.
    """
    if not batch:
        raise ValueError("default_collate: got an empty batch")
    elem = batch[0]
    if isinstance(elem, Tensor):
        devices = {t.device for t in batch}
        if len(devices) > 1:
            raise ValueError(f"default_collate: the items' tensors are on different devices: "
                             f"{sorted(str(d) for d in devices)}")
        shapes = {t.shape for t in batch}
        if len(shapes) > 1:
            raise ValueError(f"default_collate: cannot stack tensors of different shapes {sorted(shapes)}; "
                             f"pad them or pass a collate_fn")
        xp = get_backend(elem.device).xp
        return Tensor._wrap(xp.stack([t._data for t in batch]), elem.device)
    if isinstance(elem, (np.ndarray, np.generic)) and np.asarray(elem).dtype.kind in "biuf":
        shapes = {np.shape(a) for a in batch}
        if len(shapes) > 1:
            raise ValueError(f"default_collate: cannot stack arrays of different shapes {sorted(shapes)}")
        return Tensor._wrap(np.stack([np.asarray(a) for a in batch]), _cpu())
    if isinstance(elem, bool):
        return Tensor._wrap(np.array(batch, dtype=np.bool_), _cpu())
    if isinstance(elem, int):
        return Tensor._wrap(np.array(batch, dtype=np.int64), _cpu())
    if isinstance(elem, float):
        return Tensor._wrap(np.array(batch, dtype=np.float64), _cpu())
    if isinstance(elem, str):
        return list(batch)
    if isinstance(elem, Mapping):
        return {k: default_collate([d[k] for d in batch]) for k in elem}
    if isinstance(elem, Sequence):
        if len({len(e) for e in batch}) > 1:
            raise ValueError("default_collate: each item of the batch must have the same number of fields")
        columns = [default_collate(list(col)) for col in zip(*batch)]
        return tuple(columns) if isinstance(elem, tuple) else columns
    raise TypeError(f"default_collate: cannot batch items of type {type(elem).__name__}; items must be "
                    f"Tensors, NumPy arrays, numbers, strings, or dicts/tuples/lists of them (or pass a collate_fn)")


def _cpu():
    return as_device("cpu")
