"""Devices ("cpu", "cuda:0") and the default device for new tensors."""
from __future__ import annotations

import sys
import types


class Device:
    """Where a tensor's array lives: ``Device("cpu")`` or ``Device("cuda", 0)``.

    Compares equal to its string form, so ``t.device == "cpu"`` works.
    """

    __slots__ = ("type", "index", "_str", "backend")

    def __init__(self, type: str, index: int | None = None):
        self.backend = None  # set by backends.get_backend on first use (saves a lookup per op)
        self.type = type
        self.index = index
        self._str = type if index is None else f"{type}:{index}"

    def __repr__(self) -> str:
        return f"device('{self._str}')"

    def __str__(self) -> str:
        return self._str

    def __eq__(self, other) -> bool:
        if isinstance(other, Device):
            return self._str == other._str
        if isinstance(other, str):
            try:
                return self._str == as_device(other)._str
            except ValueError:
                return False
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._str)

    # A Device is an immutable name (its cached backend is a module, which cannot be copied or
    # pickled): copies are the device itself, and pickling stores its string.
    def __copy__(self) -> "Device":
        return self

    def __deepcopy__(self, memo) -> "Device":
        return self

    def __reduce__(self):
        return as_device, (self._str,)


CPU = Device("cpu")
_cache: dict[str, Device] = {"cpu": CPU}
_default_device = CPU


def as_device(device) -> Device:
    """Normalise ``None`` (the default device), a string ("cpu", "cuda", "cuda:1") or a Device."""
    if device is None:
        return _default_device
    if isinstance(device, Device):
        return device
    if not isinstance(device, str):
        raise TypeError(f"device must be a string such as 'cpu' or 'cuda:0', got {type(device).__name__}")
    found = _cache.get(device)
    if found is not None:
        return found
    kind, _, idx = device.partition(":")
    if kind == "cpu" and not idx:
        return CPU
    if kind == "cudasim" and not idx:
        dev = _cache[device] = Device("cudasim")
        return dev
    if kind == "cuda":
        if idx and not idx.isdigit():
            raise ValueError(f"bad device string {device!r}: expected 'cuda' or 'cuda:N'")
        dev = Device("cuda", int(idx) if idx else 0)
        _cache[device] = dev
        return dev
    raise ValueError(f"unknown device {device!r}: expected 'cpu', 'cuda', 'cuda:N' or 'cudasim' "
                     f"(the CUDA simulator)")


def set_default_device(device) -> None:
    """Choose the device that creation functions use when ``device`` is not given ("cpu" at start)."""
    global _default_device
    _default_device = as_device(device)


def get_default_device() -> Device:
    """The device that creation functions use when ``device`` is not given."""
    return _default_device


def device(type_or_spec, index: int | None = None) -> Device:
    """``gg.device(...)``: a Device, with ``torch.device``'s spellings.

    ``device("cpu")``, ``device("cuda")``, ``device("cuda:0")``, ``device("cuda", 0)``,
    ``device(0)`` (an int means that CUDA device, as in PyTorch), or an existing Device. The
    result is what ``Tensor.to``, ``Module.to`` and ``tensor(device=)`` accept. Unlike PyTorch,
    ``"cuda"`` is normalised to ``cuda:0`` (gpugrad uses one GPU per process).

    Raises TypeError for a type that is neither a string, an int nor a Device, and ValueError for
    an unknown device, a negative index, or an index given twice (``device("cuda:0", 1)``).
    """
    if isinstance(type_or_spec, Device):
        if index is not None:
            raise TypeError(f"device: got a device ({type_or_spec}) and an index ({index}); pass one")
        return type_or_spec
    if isinstance(type_or_spec, int) and not isinstance(type_or_spec, bool):
        if index is not None:
            raise TypeError(f"device: device({type_or_spec}, {index}): an int is already an index")
        type_or_spec, index = "cuda", type_or_spec
    if not isinstance(type_or_spec, str):
        raise TypeError(f"device: expected a string such as 'cpu' or 'cuda:0', an int or a device, got "
                        f"{type(type_or_spec).__name__}")
    if index is None:
        return as_device(type_or_spec)
    if ":" in type_or_spec:
        raise ValueError(f"device: {type_or_spec!r} already has an index; device({type_or_spec!r}, "
                         f"{index!r}) gives it twice (write device('cuda', {index}) or device('cuda:{index}'))")
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise ValueError(f"device: the index must be a non-negative int, got {index!r}")
    if type_or_spec == "cpu":   # torch.device("cpu", 0) is the CPU
        return CPU
    return as_device(f"{type_or_spec}:{index}")


class _CallableModule(types.ModuleType):
    """This module, callable as ``gg.device(...)`` (torch.device's spelling) and usable in
    ``isinstance(d, gg.device)``, while ``import gpugrad.device`` keeps giving the module."""

    def __call__(self, *args, **kwargs) -> Device:
        return device(*args, **kwargs)

    def __instancecheck__(self, obj) -> bool:
        return isinstance(obj, Device)


sys.modules[__name__].__class__ = _CallableModule
