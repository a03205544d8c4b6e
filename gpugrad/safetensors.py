"""State dicts <-> ``.safetensors`` files: weights interchange with PyTorch (and anything else that
reads the format), through the ``safetensors`` package (``pip install gpugrad[safetensors]``).

The gpugrad counterpart of ``safetensors.torch``: a gg.nn model's ``state_dict()`` uses PyTorch's
names and layouts (``"0.weight"`` of shape (out_features, in_features), ``"0.bias"``), so

>>> gg.safetensors.save_file(model.state_dict(), "mlp.safetensors")      # PyTorch: load_file + load_state_dict
>>> model.load_state_dict(gg.safetensors.load_file("mlp.safetensors"))   # from safetensors.torch.save_file

A safetensors file holds flat {name: array} only (plus string metadata): for optimizer or
scheduler state and nested containers use ``gg.save``. Nothing is pickled either way.
"""
from __future__ import annotations

import os

import numpy as np

from .device import as_device
from .serialization import atomic_write
from .tensor import Tensor
from .backends import get_backend

__all__ = ["save_file", "load_file", "save", "load"]


def _package(op: str):
    try:
        import safetensors.numpy as st_numpy
    except ImportError:
        raise ImportError(f"gg.safetensors.{op}: needs the safetensors package: pip install safetensors "
                          f"(or pip install 'gpugrad[safetensors]')") from None
    return st_numpy


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
    return st.save(_arrays(tensors, "save"), metadata=metadata)


def save_file(tensors: dict, filename, metadata: dict | None = None) -> None:
    """Write ``tensors`` (e.g. ``model.state_dict()``) to ``filename`` in the safetensors format.

    Tensors are copied to the host; dtypes are kept (float16/32/64, ints, bool). The write is
    atomic (a temporary file renamed over the target), as ``gg.save``'s is. Raises TypeError for a
    value that is not a tensor, FileNotFoundError for a missing directory.
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
