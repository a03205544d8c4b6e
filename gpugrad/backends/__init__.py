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
        _require_gpu(device)
        from .cuda import CudaBackend  # imported lazily: needs CuPy and a GPU
        b = CudaBackend(device.index)
        _backends[device._str] = b
        return b
    if device.type == "cudasim":
        from .cudasim import CudaSimBackend
        b = _backends[device._str] = CudaSimBackend()
        return b
    raise ValueError(f"no backend for device {device}")


def _require_gpu(device: Device) -> None:
    """A clear error, instead of an ImportError or a driver error, when no GPU can serve ``device``."""
    from ..cuda import is_available
    if is_available():
        return
    try:
        import cupy  # noqa: F401
        why = "CuPy is installed but finds no working CUDA driver and GPU"
    except ImportError:
        why = "CuPy is not installed (pip install 'gpugrad[cuda13]' or 'gpugrad[cuda12]')"
    raise RuntimeError(f"device '{device}' was asked for, but there is no usable GPU: {why}. "
                       f"Use device='cpu' (gg.default_device() picks what is available).")
