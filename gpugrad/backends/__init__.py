"""Backends: the array module and the few kernels each device provides.

An op never names a device; it receives the backend of its inputs' device and calls
``backend.xp`` (NumPy or CuPy) or one of the backend's kernel entry points.
"""
from __future__ import annotations

from ..device import Device
from .cpu import CpuBackend

_backends: dict[str, object] = {"cpu": CpuBackend()}


def get_backend(device: Device):
    """The backend object serving ``device`` (created on first use for CUDA devices)."""
    b = _backends.get(device._str)
    if b is not None:
        device.backend = b
        return b
    if device.type == "cuda":
        from .cuda import CudaBackend  # imported lazily: needs CuPy and a GPU
        b = CudaBackend(device.index)
        _backends[device._str] = b
        return b
    if device.type == "cudasim":
        from .cudasim import CudaSimBackend
        b = _backends[device._str] = CudaSimBackend()
        return b
    raise ValueError(f"no backend for device {device}")
