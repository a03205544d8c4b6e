"""Devices ("cpu", "cuda:0") and the default device for new tensors."""
from __future__ import annotations


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
