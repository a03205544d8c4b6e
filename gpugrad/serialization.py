"""``gg.save`` / ``gg.load``: nested state (dicts, lists, Tensors, arrays, numbers, strings) in one .npz file.

The file is an ordinary NumPy ``.npz`` archive: every array is an entry ``a0, a1, ...`` and the
structure around them is JSON in the entry ``__gpugrad__``. Nothing is pickled, and loading never
unpickles (``allow_pickle=False``), so opening a checkpoint cannot run code.

Saving is atomic: the archive is written to a temporary file in the target's directory, flushed
and fsynced, then renamed over the target with ``os.replace``. A crash mid-save leaves the
previous checkpoint intact.

>>> gg.save({"model": model.state_dict(), "epoch": 3}, "ckpt.npz")
>>> state = gg.load("ckpt.npz", device="cpu")
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile
import zlib

import numpy as np

from .device import as_device
from .tensor import Tensor

__all__ = ["save", "load", "CheckpointError"]

_META = "__gpugrad__"
_FORMAT = "gpugrad-checkpoint"
_VERSION = 1


class CheckpointError(ValueError):
    """A file that gg.load cannot read: missing, truncated, corrupted, or not a gpugrad checkpoint."""


# -- encoding --------------------------------------------------------------------------------------
def _encode(obj, arrays: list, where: str):
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, np.generic):  # before int/float: np.float64 subclasses float
        return {"$": "scalar", "a": _add_array(np.asarray(obj), arrays, where)}
    if isinstance(obj, int):
        return obj
    if isinstance(obj, float):
        return {"$": "float", "v": repr(obj)}  # repr round-trips exactly, inf and nan included
    if isinstance(obj, Tensor):
        return {"$": "tensor", "a": _add_array(obj.numpy(), arrays, where), "device": str(obj.device),
                "requires_grad": bool(obj.requires_grad)}
    if isinstance(obj, np.ndarray):
        return {"$": "ndarray", "a": _add_array(obj, arrays, where)}
    if type(obj).__module__.split(".")[0] == "cupy" and hasattr(obj, "get"):
        return {"$": "ndarray", "a": _add_array(obj.get(), arrays, where)}
    if isinstance(obj, dict):
        keys = list(obj.keys())
        for k in keys:
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise TypeError(f"gg.save: dict keys must be str or int; {where} has key {k!r} "
                                f"({type(k).__name__})")
        return {"$": "dict", "k": keys,
                "v": [_encode(obj[k], arrays, f"{where}[{k!r}]") for k in keys]}
    if isinstance(obj, (list, tuple)):
        return {"$": "list" if isinstance(obj, list) else "tuple",
                "v": [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(obj)]}
    hint = " (save its .state_dict() instead)" if hasattr(obj, "state_dict") else ""
    raise TypeError(f"gg.save: cannot save {where} of type {type(obj).__name__}{hint}; supported: "
                    f"dict, list, tuple, Tensor, NumPy array, int, float, bool, str, None")


def _add_array(a: np.ndarray, arrays: list, where: str) -> str:
    if a.dtype.kind not in "biuf":
        raise TypeError(f"gg.save: {where} has dtype {a.dtype}; only bool, integer and float arrays "
                        f"can be saved")
    arrays.append(np.asarray(a, order="C"))  # (np.ascontiguousarray would make a 0-d array 1-d)
    return f"a{len(arrays) - 1}"


def save(obj, path) -> None:
    """Write ``obj`` (nested dicts/lists of Tensors, arrays, numbers, strings) to ``path`` atomically.

    The write goes to a temporary file beside ``path``, is fsynced, and then renamed over
    ``path``: readers see either the old file or the complete new one, never a partial write.
    """
    path = os.fspath(path)
    arrays: list = []
    meta = {"format": _FORMAT, "version": _VERSION, "tree": _encode(obj, arrays, "obj")}
    entries = {f"a{i}": a for i, a in enumerate(arrays)}
    entries[_META] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"gg.save: cannot write {path}: directory {directory} does not exist")
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        # mkstemp creates the file 0600; give it the mode a plain open() would (umask applied).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **entries)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(directory)


def _fsync_dir(directory: str) -> None:
    """Make the rename itself durable (best effort: not every platform can open a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# -- decoding ----------------------------------------------------------------------------------------
def load(path, device=None):
    """Read a file written by :func:`save`. Tensors go to ``device`` (default: where they were saved).

    Raises ``FileNotFoundError`` for a missing file and ``CheckpointError`` (a ValueError) naming
    the file for anything truncated, corrupted or not written by ``gg.save``.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"gg.load: no such file: {path}")
    dev = None if device is None else as_device(device)
    try:
        archive = np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise CheckpointError(f"gg.load: {path} is not a readable gpugrad checkpoint (not a valid .npz "
                              f"archive: {exc}); it may be truncated or corrupted") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise CheckpointError(f"gg.load: {path} is a single .npy array, not a gpugrad checkpoint")
    with archive:
        if _META not in archive.files:
            held = ", ".join(archive.files[:8]) or "nothing"
            raise CheckpointError(f"gg.load: {path} is an .npz archive but not a gpugrad checkpoint "
                                  f"(no '{_META}' entry; it holds: {held})")
        try:
            raw = bytes(_read(archive, _META, path))
            meta = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CheckpointError(f"gg.load: {path} is corrupted: its structure entry is not valid "
                                  f"JSON ({exc})") from None
        if not isinstance(meta, dict) or meta.get("format") != _FORMAT or "tree" not in meta:
            raise CheckpointError(f"gg.load: {path} is not a gpugrad checkpoint (unknown format)")
        if meta.get("version", 0) > _VERSION:
            raise CheckpointError(f"gg.load: {path} was written by a newer gpugrad (format version "
                                  f"{meta['version']}; this one reads up to {_VERSION}); upgrade gpugrad")
        try:
            return _decode(meta["tree"], archive, path, dev)
        except CheckpointError:
            raise
        except (KeyError, TypeError, IndexError, ValueError) as exc:
            raise CheckpointError(f"gg.load: {path} is corrupted: its structure does not match its "
                                  f"arrays ({type(exc).__name__}: {exc})") from None


def _read(archive, key: str, path: str) -> np.ndarray:
    if key not in archive.files:
        raise CheckpointError(f"gg.load: {path} is corrupted: array entry {key!r} is missing")
    try:
        return archive[key]
    except (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError) as exc:
        raise CheckpointError(f"gg.load: {path} is corrupted: entry {key!r} cannot be read "
                              f"({exc}); it may be truncated") from None


def _decode(node, archive, path, dev):
    if node is None or isinstance(node, (bool, int, str)):
        return node
    if isinstance(node, float):
        return node
    tag = node["$"]
    if tag == "float":
        return float(node["v"])
    if tag == "dict":
        return {k: _decode(v, archive, path, dev) for k, v in zip(node["k"], node["v"])}
    if tag == "list":
        return [_decode(v, archive, path, dev) for v in node["v"]]
    if tag == "tuple":
        return tuple(_decode(v, archive, path, dev) for v in node["v"])
    arr = _read(archive, node["a"], path)
    if tag == "ndarray":
        return arr
    if tag == "scalar":
        return arr[()]
    if tag == "tensor":
        target = as_device(node["device"]) if dev is None else dev
        if target.type == "cpu":
            t = Tensor._wrap(arr, target)
        else:
            from .backends import get_backend
            t = Tensor._wrap(get_backend(target).asarray(arr), target)
        if node.get("requires_grad") and arr.dtype.kind == "f":
            t.requires_grad = True
        return t
    raise CheckpointError(f"gg.load: {path} is corrupted: unknown entry type {tag!r}")
