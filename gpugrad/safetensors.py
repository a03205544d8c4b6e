"""State dicts <-> ``.safetensors`` files: weights interchange with PyTorch (and anything else that
reads the format), through the ``safetensors`` package (``pip install gpugrad[safetensors]``).

The gpugrad counterpart of ``safetensors.torch``: a gg.nn model's ``state_dict()`` uses PyTorch's
names and layouts (``"0.weight"`` of shape (out_features, in_features), ``"0.bias"``), so

>>> gg.safetensors.save_file(model.state_dict(), "mlp.safetensors")      # PyTorch: load_file + load_state_dict
>>> model.load_state_dict(gg.safetensors.load_file("mlp.safetensors"))   # from safetensors.torch.save_file

A safetensors file holds flat {name: array} only (plus string metadata): for optimizer or
scheduler state and nested containers use ``gg.save``. Nothing is pickled either way.

Shared tensors (tied weights, ``b.weight = a.weight``): a safetensors file cannot say that two
names share memory, so, as ``safetensors.torch``, :func:`save_file` refuses a dict in which two
entries share memory, and :func:`save_model` / :func:`load_model` store each shared tensor once
(under the alphabetically first name; the metadata maps each dropped name to the kept one) and
restore the tie by loading into the model. Files are interchangeable with
``safetensors.torch.save_model`` / ``load_model``.
"""
from __future__ import annotations

import os

import numpy as np

from .device import as_device
from .serialization import atomic_write
from .tensor import Tensor
from .backends import get_backend

__all__ = ["save_file", "load_file", "save", "load", "save_model", "load_model"]


def _package(op: str):
    try:
        import safetensors.numpy as st_numpy
    except ImportError:
        raise ImportError(f"gg.safetensors.{op}: needs the safetensors package: pip install safetensors "
                          f"(or pip install 'gpugrad[safetensors]')") from None
    return st_numpy


def _extent(a):
    """(device, first byte, one past the last byte) that array ``a`` (NumPy or CuPy) spans, or
    None when it is empty."""
    if a.size == 0:
        return None
    if isinstance(a, np.ndarray):
        ptr, dev = a.__array_interface__["data"][0], "cpu"
    else:                                   # CuPy
        ptr, dev = a.data.ptr, f"cuda:{a.device.id}"
    lo = ptr + sum(min(0, (n - 1) * st) for n, st in zip(a.shape, a.strides))
    hi = ptr + sum(max(0, (n - 1) * st) for n, st in zip(a.shape, a.strides)) + a.itemsize
    return dev, lo, hi


def shared_groups(tensors: dict) -> list:
    """The sets of names in ``tensors`` (name -> Tensor or array) whose memory overlaps, each
    with two or more names, sorted; what ``safetensors.torch``'s ``_find_shared_tensors`` finds."""
    spans = []
    for k, v in tensors.items():
        arr = v._data if isinstance(v, Tensor) else v
        is_array = isinstance(arr, np.ndarray) or type(arr).__module__.split(".")[0] == "cupy"
        e = _extent(arr) if is_array else None
        if e is not None:
            spans.append((e, k))
    spans.sort()
    groups, current, end = [], [], None
    for (dev, lo, hi), k in spans:        # a sweep over the sorted extents
        if current and (dev, lo) < end:
            current.append(k)
            end = max(end, (dev, hi))
        else:
            if len(current) > 1:
                groups.append(sorted(current))
            current, end = [k], (dev, hi)
    if len(current) > 1:
        groups.append(sorted(current))
    return groups


def _refuse_shared(tensors, op: str) -> None:
    groups = shared_groups(tensors)
    if groups:
        raise RuntimeError(f"gg.safetensors.{op}: some tensors share memory, which a safetensors file "
                           f"cannot record (it would hold duplicates that load as separate tensors): "
                           f"{groups}. Save the model with gg.safetensors.save_model(model, filename), "
                           f"which keeps one name per shared tensor, as safetensors.torch refuses and "
                           f"advises the same")


def _arrays(tensors, op: str) -> dict:
    if not isinstance(tensors, dict):
        raise TypeError(f"gg.safetensors.{op}: expected a dict of name -> Tensor (e.g. model.state_dict()), "
                        f"got {type(tensors).__name__}")
    out = {}
    for k, v in tensors.items():
        if not isinstance(k, str):
            raise TypeError(f"gg.safetensors.{op}: keys must be str, got {k!r}")
        if isinstance(v, Tensor):
            a = v.numpy()
        elif isinstance(v, (np.ndarray, np.generic)):
            a = np.asarray(v)
        else:
            raise TypeError(f"gg.safetensors.{op}: {k!r} is a {type(v).__name__}; a safetensors file holds only "
                            f"tensors (use gg.save for optimizer/scheduler state and other values)")
        if a.dtype.kind not in "biuf":
            raise TypeError(f"gg.safetensors.{op}: {k!r} has dtype {a.dtype}, which safetensors cannot store")
        # np.ascontiguousarray makes 0-d arrays 1-d: reshape back
        out[k] = np.ascontiguousarray(a).reshape(a.shape)
    return out


def save(tensors: dict, metadata: dict | None = None) -> bytes:
    """The ``.safetensors`` bytes of ``tensors`` (name -> Tensor or NumPy array)."""
    st = _package("save")
    if metadata is not None and not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise TypeError("gg.safetensors.save: metadata must map str to str")
    arrays = _arrays(tensors, "save")
    _refuse_shared(tensors, "save")
    return st.save(arrays, metadata=metadata)


def save_file(tensors: dict, filename, metadata: dict | None = None) -> None:
    """Write ``tensors`` (e.g. ``model.state_dict()``) to ``filename`` in the safetensors format.

    Tensors are copied to the host; dtypes are kept (float16/32/64, ints, bool). The write is
    atomic (a temporary file renamed over the target), as ``gg.save``'s is. Raises TypeError for a
    value that is not a tensor, FileNotFoundError for a missing directory, RuntimeError when two
    entries share memory (tied weights: use :func:`save_model`), as ``safetensors.torch`` does.
    """
    filename = os.fspath(filename)
    data = save(tensors, metadata)
    atomic_write(filename, "gg.safetensors.save_file", lambda f, tmp: f.write(data))


def _wrap(arrays: dict, device) -> dict:
    dev = as_device(device)
    if dev.type == "cpu":
        return {k: Tensor._wrap(np.array(v, copy=True), dev) for k, v in arrays.items()}
    backend = get_backend(dev)
    return {k: Tensor._wrap(backend.asarray(v), dev) for k, v in arrays.items()}


def load(data: bytes, device="cpu") -> dict:
    """The tensors of ``.safetensors`` bytes, as a dict name -> Tensor on ``device``."""
    st = _package("load")
    try:
        arrays = st.load(data)
    except Exception as exc:  # the package raises its own SafetensorError / TypeError for bad bytes
        raise ValueError(f"gg.safetensors.load: not valid safetensors data ({type(exc).__name__}: {exc})") from None
    return _wrap(arrays, device)


def load_file(filename, device="cpu") -> dict:
    """Read a ``.safetensors`` file (e.g. written by ``safetensors.torch.save_file``) into a dict
    name -> Tensor on ``device``, ready for ``model.load_state_dict``.

    Raises FileNotFoundError for a missing file, ValueError naming the file for a corrupt one or
    for a dtype NumPy lacks (bfloat16: convert it with ``.float()`` in PyTorch before saving).
    """
    filename = os.fspath(filename)
    st = _package("load_file")
    if not os.path.exists(filename):
        raise FileNotFoundError(f"gg.safetensors.load_file: no such file: {filename}")
    try:
        arrays = st.load_file(filename)
    except Exception as exc:
        raise ValueError(f"gg.safetensors.load_file: cannot read {filename} ({type(exc).__name__}: {exc}); "
                         f"it may be truncated or not a safetensors file, or hold a dtype NumPy lacks "
                         f"(bfloat16)") from None
    return _wrap(arrays, device)


def save_model(model, filename, metadata: dict | None = None) -> None:
    """Write ``model.state_dict()`` to ``filename``, each shared tensor once (safetensors.torch's
    ``save_model``): of names sharing memory the alphabetically first is kept, and the metadata
    maps every dropped name to it (an entry the caller already put in ``metadata`` is kept).
    Load it with :func:`load_model` (or ``safetensors.torch.load_model`` into a PyTorch model)."""
    state = dict(model.state_dict())
    metadata = dict(metadata or {})
    for group in shared_groups(state):
        keep, dropped = group[0], group[1:]
        for name in dropped:
            metadata.setdefault(name, keep)
            del state[name]
    save_file(state, filename, metadata=metadata or None)


def load_model(model, filename, strict: bool = True, device="cpu"):
    """Load a file written by :func:`save_model` (or ``safetensors.torch.save_model``, or any
    safetensors state dict) into ``model``, keeping its ties; returns (missing, unexpected).

    A name the file lacks counts as loaded when it shares memory with a name the file has (the
    file kept one name of a tie). With ``strict`` any other missing or unexpected name is a
    RuntimeError listing them, as safetensors.torch's ``load_model``; shapes must match always.
    """
    state = load_file(filename, device=device)
    missing, unexpected = model.load_state_dict(state, strict=False)
    own = model.state_dict()
    covered = set()
    for group in shared_groups(own):
        if any(name in state for name in group):
            covered.update(group)
    missing = [k for k in missing if k not in covered]
    if strict and (missing or unexpected):
        parts = []
        if missing:
            parts.append("missing keys: " + ", ".join(sorted(missing)))
        if unexpected:
            parts.append("unexpected keys: " + ", ".join(sorted(unexpected)))
        raise RuntimeError(f"gg.safetensors.load_model: {filename} does not fit "
                           f"{type(model).__name__}: " + "; ".join(parts))
    return missing, list(unexpected)
