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

import glob
import json
import os
import tempfile
import zipfile

import numpy as np

from .device import as_device
from .npz_reader import NpzError, NpzReader
from .tensor import Tensor
from .backends import get_backend

__all__ = ["save", "load", "CheckpointError", "remove_stale_temps", "set_write_hook", "MAX_DEPTH"]

_META = "__gpugrad__"
_FORMAT = "gpugrad-checkpoint"
_VERSION = 2                        # 2: tensors and arrays may share an earlier entry ("alias")
MAX_DEPTH = 100                     # containers nested deeper are refused by save and load alike
# The JSON structure entry: parsing costs up to ~25x its size in Python objects, so it is bounded
# (32 MiB: ~800 MB at worst) and, if compressed, may expand at most 20x (JSON text compresses
# ~5-10x; a bomb of "[]," repeated compresses ~1000x).
_MAX_META_BYTES = 32 * 2 ** 20
_MAX_META_RATIO = 20

# For fault-injection tests: called as hook(point, path) at each step of save() (see save).
_write_hook = None


def set_write_hook(hook) -> None:
    """Install ``hook(point, path)`` (or None), called by :func:`save` at each step of a write:
    ``"tmp-created"``, ``"member:<key>"`` after each array, ``"written"``, ``"synced"`` (fsynced,
    before the rename) and ``"replaced"`` (after it). Tests raise or send signals there to prove
    that an interruption at any point leaves the previous file intact."""
    global _write_hook
    _write_hook = hook


def _hook(point: str, path: str) -> None:
    if _write_hook is not None:
        _write_hook(point, path)


class CheckpointError(ValueError):
    """A file that gg.load cannot read: missing, truncated, corrupted, or not a gpugrad checkpoint."""


# -- encoding --------------------------------------------------------------------------------------
class _Shared(dict):
    """What ``_encode`` has written so far, for ties: id of an array -> (entry key, the array, kept
    alive so its id is not reused), and id of a Tensor -> entry key. A tensor stored twice (tied
    weights: ``state_dict()`` names ``a.weight`` and ``b.weight``, two Tensors on one array) is
    written once and referenced again with ``"alias"``, so that it loads back as one storage, as
    ``torch.save`` keeps storages shared. Views of a common base (partial overlap) are written
    as separate arrays."""

    def __init__(self):
        super().__init__()
        self.tensors: dict = {}
        self.aliased = False


def _encode(obj, arrays: list, where: str, depth: int = 0, shared: _Shared | None = None):
    if shared is None:
        shared = _Shared()
    if depth > MAX_DEPTH:
        raise ValueError(f"gg.save: {where[:120]} is nested more than {MAX_DEPTH} levels deep (or "
                         f"contains itself); gg.load would refuse it")
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, np.generic):  # before int/float: np.float64 subclasses float
        return {"$": "scalar", "a": _add_array(np.asarray(obj), arrays, where)}
    if isinstance(obj, int):
        return obj
    if isinstance(obj, float):
        return {"$": "float", "v": repr(obj)}  # repr round-trips exactly, inf and nan included
    if isinstance(obj, Tensor):
        node = {"$": "tensor", "device": str(obj.device), "requires_grad": bool(obj.requires_grad)}
        if id(obj) in shared.tensors:                   # the same Tensor object again
            shared.aliased = True
            return dict(node, a=shared.tensors[id(obj)], alias="tensor")
        seen = shared.get(id(obj._data))
        if seen is not None:                            # another Tensor on the same array
            shared.aliased = True
            node.update(a=seen[0], alias="array")
        else:
            node["a"] = _add_array(obj.numpy(), arrays, where)
            shared[id(obj._data)] = (node["a"], obj._data)
        shared.tensors[id(obj)] = node["a"]
        return node
    if isinstance(obj, np.ndarray):
        seen = shared.get(id(obj))
        if seen is not None:
            shared.aliased = True
            return {"$": "ndarray", "a": seen[0], "alias": "array"}
        key = _add_array(obj, arrays, where)
        shared[id(obj)] = (key, obj)
        return {"$": "ndarray", "a": key}
    if type(obj).__module__.split(".")[0] == "cupy" and hasattr(obj, "get"):
        return {"$": "ndarray", "a": _add_array(obj.get(), arrays, where)}
    if isinstance(obj, dict):
        keys = list(obj.keys())
        for k in keys:
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise TypeError(f"gg.save: dict keys must be str or int; {where} has key {k!r} "
                                f"({type(k).__name__})")
        return {"$": "dict", "k": keys,
                "v": [_encode(obj[k], arrays, f"{where}[{k!r}]", depth + 1, shared) for k in keys]}
    if isinstance(obj, (list, tuple)):
        return {"$": "list" if isinstance(obj, list) else "tuple",
                "v": [_encode(v, arrays, f"{where}[{i}]", depth + 1, shared) for i, v in enumerate(obj)]}
    hint = " (save its .state_dict() instead)" if hasattr(obj, "state_dict") else ""
    raise TypeError(f"gg.save: cannot save {where} of type {type(obj).__name__}{hint}; supported: "
                    f"dict, list, tuple, Tensor, NumPy array, int, float, bool, str, None")


def _add_array(a: np.ndarray, arrays: list, where: str) -> str:
    if a.dtype.kind not in "biuf":
        raise TypeError(f"gg.save: {where} has dtype {a.dtype}; only bool, integer and float arrays "
                        f"can be saved")
    # Not np.ascontiguousarray: it turns a 0-d array into shape (1,).
    arrays.append(a if a.flags.c_contiguous else a.copy(order="C"))
    return f"a{len(arrays) - 1}"


def save(obj, path) -> None:
    """Write ``obj`` (nested dicts/lists of Tensors, arrays, numbers, strings) to ``path`` atomically.

    The write goes to a temporary file beside ``path``, is fsynced, and then renamed over
    ``path``: readers see either the old file or the complete new one, never a partial write.
    """
    path = os.fspath(path)
    arrays: list = []
    shared = _Shared()
    tree = _encode(obj, arrays, "obj", 0, shared)
    # Files without ties stay version 1, readable by gpugrad versions that predate aliases.
    meta = {"format": _FORMAT, "version": _VERSION if shared.aliased else 1, "tree": tree}
    entries = {f"a{i}": a for i, a in enumerate(arrays)}
    text = json.dumps(meta, separators=(",", ":")).encode("utf-8")
    if len(text) > _MAX_META_BYTES:
        raise ValueError(f"gg.save: the structure of {path} would take {len(text):,} bytes of JSON (at "
                         f"most {_MAX_META_BYTES:,}); put long lists of numbers in arrays")
    entries[_META] = np.frombuffer(text, dtype=np.uint8)
    atomic_write(path, "gg.save", lambda f, tmp: _write_npz(f, entries, tmp))


def atomic_write(path: str, api: str, write) -> None:
    """Write ``path`` so that readers see the old file or the complete new one, never a part.

    ``write(f, tmp)`` fills a temporary file beside ``path`` (created with the mode a plain
    ``open()`` would give it); it is fsynced and renamed over ``path``, then the directory is
    fsynced. On any error, the temporary file is removed and the error re-raised. The
    fault-injection hook (``set_write_hook``) sees each step. Raises FileNotFoundError naming
    ``api`` when the directory does not exist.
    """
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{api}: cannot write {path}: directory {directory} does not exist")
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        # mkstemp creates the file 0600; give it the mode a plain open() would (umask applied).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            _hook("tmp-created", tmp)
            write(f, tmp)
            f.flush()
            _hook("written", tmp)
            os.fsync(f.fileno())
        _hook("synced", tmp)
        os.replace(tmp, path)
        _hook("replaced", path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(directory)


def _write_npz(f, entries: dict, tmp: str) -> None:
    """The archive np.savez writes (stored members, zip64 headers), one member at a time so that
    the fault-injection hook can interrupt it between members."""
    with zipfile.ZipFile(f, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for key, arr in entries.items():
            with zf.open(key + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, arr, allow_pickle=False)
            _hook(f"member:{key}", tmp)


def remove_stale_temps(path) -> list:
    """Delete the temporary files that interrupted saves to ``path`` left beside it (a SIGKILL
    or power loss mid-save cannot clean up after itself). Returns the paths removed.

    Only call this when no other process is saving to ``path`` at the same moment (``gpugrad
    train`` calls it when a run starts or resumes, before its first save).
    """
    path = os.fspath(path)
    directory, name = os.path.split(os.path.abspath(path))
    removed = []
    for tmp in glob.glob(os.path.join(glob.escape(directory), f".{glob.escape(name)}.*.tmp")):
        try:
            os.unlink(tmp)
            removed.append(tmp)
        except FileNotFoundError:
            pass
    return removed


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
def load(path, device=None, *, map_location=None, weights_only=None, max_bytes: int | None = None):
    """Read a file written by :func:`save`. Tensors go to ``device`` (default: where they were saved).

    ``map_location`` is PyTorch's spelling of the same: a device ("cpu", "cuda", a gg.Device) for
    every tensor, or a dict from saved device to target device ({"cuda:0": "cpu"}); devices not in
    the dict stay. ``weights_only`` is accepted for PyTorch scripts and changes nothing: gg.load
    never unpickles, so every load is as safe as PyTorch's ``weights_only=True``.

    The file is untrusted input: it is read with :class:`gpugrad.npz_reader.NpzReader` (a
    regular file only, every array's declared shape x item size checked against its stored size
    and ``max_bytes`` before allocation, no pickle, decompression bombs refused), and its
    structure entry must be a 1-D uint8 JSON document of at most 32 MiB, nested at most
    ``MAX_DEPTH`` deep, whose every node has the expected type and references each array once.

    Raises ``FileNotFoundError`` for a missing file and ``CheckpointError`` (a ValueError) with
    one line naming the file for anything truncated, corrupted, oversized or not written by
    ``gg.save``; ``TypeError`` for a map_location that is not a device or a dict (PyTorch's
    callable form is not supported).
    """
    path = os.fspath(path)
    dev = _placement(device, map_location)
    try:
        reader = NpzReader(path, max_bytes=max_bytes)
    except FileNotFoundError:
        raise FileNotFoundError(f"gg.load: no such file: {path}") from None
    except NpzError as exc:
        raise CheckpointError(f"gg.load: {path} is not a readable gpugrad checkpoint: {exc}") from None
    with reader:
        if _META not in reader.files:
            held = ", ".join(k[:40] for k in reader.files[:8]) or "nothing"
            raise CheckpointError(f"gg.load: {path} is an .npz archive but not a gpugrad checkpoint "
                                  f"(no '{_META}' entry; it holds: {held})")
        meta = _read_meta(reader, path)
        return _Decoder(reader, path, dev).decode(meta["tree"], 0)


def _placement(device, map_location):
    """None (stay where saved), one Device for every tensor, or a dict {saved device str: Device}."""
    if device is not None and map_location is not None:
        raise ValueError("gg.load: give device or map_location, not both")
    where = device if map_location is None else map_location
    if where is None:
        return None
    if isinstance(where, dict):
        return {str(as_device(k)): as_device(v) for k, v in where.items()}
    if callable(where):
        raise TypeError("gg.load: map_location as a function is not supported; pass a device "
                        "(map_location='cpu') or a dict ({'cuda:0': 'cpu'})")
    return as_device(where)


def _place(saved: str, dev):
    if dev is None:
        return as_device(saved)
    if isinstance(dev, dict):
        return dev.get(str(as_device(saved)), None) or as_device(saved)
    return dev


def _read_meta(reader, path) -> dict:
    info = reader._members[_META]  # noqa: SLF001 (its sizes are checked before it is read)
    if info.file_size > _MAX_META_BYTES:
        raise CheckpointError(f"gg.load: {path} is corrupted: its structure entry declares "
                              f"{info.file_size:,} bytes (at most {_MAX_META_BYTES:,})")
    if info.compress_type != zipfile.ZIP_STORED and info.file_size > 65536 and \
            info.file_size > _MAX_META_RATIO * max(1, info.compress_size):
        raise CheckpointError(f"gg.load: {path} is corrupted: its structure entry expands from "
                              f"{info.compress_size:,} to {info.file_size:,} bytes (over "
                              f"{_MAX_META_RATIO}x): refused as a decompression bomb")
    raw = _read(reader, _META, path)
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise CheckpointError(f"gg.load: {path} is corrupted: its structure entry is a {raw.dtype} "
                              f"array of shape {raw.shape}, not 1-D uint8 JSON text")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise CheckpointError(f"gg.load: {path} is corrupted: its structure entry is not valid "
                              f"JSON ({_one_line(exc)})") from None
    except RecursionError:
        raise CheckpointError(f"gg.load: {path} is corrupted: its structure entry is nested too "
                              f"deeply to parse") from None
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT or "tree" not in meta:
        raise CheckpointError(f"gg.load: {path} is not a gpugrad checkpoint (unknown format)")
    version = meta.get("version", 0)
    if type(version) is not int:
        raise CheckpointError(f"gg.load: {path} is corrupted: its format version is a "
                              f"{type(version).__name__}, not an integer")
    if version > _VERSION:
        raise CheckpointError(f"gg.load: {path} was written by a newer gpugrad (format version "
                              f"{version}; this one reads up to {_VERSION}); upgrade gpugrad")
    return meta


def _read(reader, key: str, path: str) -> np.ndarray:
    if key not in reader.files:
        raise CheckpointError(f"gg.load: {path} is corrupted: array entry {key[:40]!r} is missing")
    try:
        return reader.read(key)
    except NpzError as exc:
        raise CheckpointError(f"gg.load: {path} is corrupted: {exc}") from None


def _one_line(exc) -> str:
    text = " ".join(str(exc).split())
    return text[:160] + ("..." if len(text) > 160 else "")


class _Decoder:
    """Rebuilds the saved object from the JSON tree, checking each node's type as it goes."""

    def __init__(self, reader, path, dev):
        self.reader, self.path, self.dev = reader, path, dev
        self.used: set = set()
        # Ties (format 2): each entry's array as read, its copy on each device, and the Tensor
        # decoded from it; an "alias" node reuses them instead of reading the entry again.
        self.host: dict = {}
        self.placed: dict = {}
        self.tensors: dict = {}

    def bad(self, what: str) -> CheckpointError:
        return CheckpointError(f"gg.load: {self.path} is corrupted: {what}")

    def field(self, node: dict, name: str, types):
        if name not in node:
            raise self.bad(f"a {node.get('$')!r} node has no {name!r} field")
        v = node[name]
        if not isinstance(v, types) or (isinstance(v, bool) and bool not in _as_tuple(types)):
            raise self.bad(f"a {node.get('$')!r} node's {name!r} is a {type(v).__name__}")
        return v

    def decode(self, node, depth: int):
        if depth > MAX_DEPTH:
            raise self.bad(f"its structure is nested more than {MAX_DEPTH} levels deep")
        if node is None or isinstance(node, (bool, int, str, float)):
            return node
        if not isinstance(node, dict) or not isinstance(node.get("$"), str):
            raise self.bad(f"a structure node is a {type(node).__name__} without a type tag")
        tag = node["$"]
        if tag == "float":
            v = self.field(node, "v", str)
            try:
                if len(v) > 64:
                    raise ValueError
                return float(v)
            except ValueError:
                raise self.bad(f"a float is stored as {v[:20]!r}") from None
        if tag == "dict":
            keys, vals = self.field(node, "k", list), self.field(node, "v", list)
            if len(keys) != len(vals):
                raise self.bad(f"a dict has {len(keys)} keys but {len(vals)} values")
            out = {}
            for k, v in zip(keys, vals):
                if not isinstance(k, (str, int)) or isinstance(k, bool):
                    raise self.bad(f"a dict key is a {type(k).__name__}")
                out[k] = self.decode(v, depth + 1)
            return out
        if tag in ("list", "tuple"):
            items = [self.decode(v, depth + 1) for v in self.field(node, "v", list)]
            return items if tag == "list" else tuple(items)
        if tag not in ("ndarray", "scalar", "tensor"):
            raise self.bad(f"unknown entry type {tag[:40]!r}")
        key = self.field(node, "a", str)
        alias = node.get("alias")
        if alias is not None:
            # A tie: the entry was read for an earlier node; share it (nothing is read or
            # allocated again, so aliases cannot make a small file expensive).
            if alias not in ("array", "tensor") or tag == "scalar":
                raise self.bad(f"a {tag!r} node has alias {str(alias)[:20]!r}")
            if key not in self.host:
                raise self.bad(f"an alias refers to array entry {key[:40]!r} before it is stored")
            if alias == "tensor":
                if tag != "tensor" or key not in self.tensors:
                    raise self.bad(f"an alias refers to tensor {key[:40]!r}, which is not a tensor")
                return self.tensors[key]
            arr = self.host[key]
        else:
            if key in self.used or key == _META:
                # gg.save writes each array once; a second plain reference would read it again (a
                # way to make a small file allocate without bound).
                raise self.bad(f"array entry {key[:40]!r} is referenced more than once")
            self.used.add(key)
            arr = self.host[key] = _read(self.reader, key, self.path)
        if tag == "ndarray":
            return arr
        if tag == "scalar":
            if arr.ndim != 0:
                raise self.bad(f"scalar entry {key!r} has shape {arr.shape}")
            return arr[()]
        device = self.field(node, "device", str)
        requires_grad = node.get("requires_grad", False)
        if not isinstance(requires_grad, bool):
            raise self.bad(f"tensor entry {key!r} has requires_grad of type {type(requires_grad).__name__}")
        try:
            target = _place(device, self.dev)
        except (ValueError, TypeError, RuntimeError) as exc:
            raise self.bad(f"tensor entry {key!r} names device {device[:40]!r} ({_one_line(exc)})") from None
        if target.type == "cpu":
            t = Tensor._wrap(arr, target)
        else:
            where = (key, str(target))
            if where not in self.placed:
                self.placed[where] = get_backend(target).asarray(arr)
            t = Tensor._wrap(self.placed[where], target)
        if requires_grad and arr.dtype.kind == "f":
            t.requires_grad = True
        if key in self.tensors and self.tensors[key]._device == t._device:
            t._vc = self.tensors[key]._version_counter()   # one counter per storage, as detach()
        self.tensors.setdefault(key, t)
        return t


def _as_tuple(types) -> tuple:
    return types if isinstance(types, tuple) else (types,)
