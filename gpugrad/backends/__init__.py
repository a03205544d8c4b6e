"""Backends: the array module and the few kernels each device provides.

An op never names a device; it receives the backend of its inputs' device and calls
``backend.xp`` (NumPy or CuPy) or one of the backend's kernel entry points.
"""
from __future__ import annotations

from ..device import Device
from .cpu import CpuBackend
from .cuda_runtime import is_available

_backends: dict[str, object] = {"cpu": CpuBackend()}


def get_backend(device: Device):
    """The backend object serving ``device`` (created on first use for CUDA devices)."""
    b = _backends.get(device._str)
    if b is not None:
        device.backend = b
        return b
    if device.type == "cuda":
        _refuse_multi_gpu(device)
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


def _refuse_multi_gpu(device: Device) -> None:
    """Refuse ``cuda:N`` for N >= 1 before anything is created on it.

    Only the transfer into a device enters that device; creation, ops, optimizer state and
    kernel outputs all run on CUDA's current device (GPU 0), so a second GPU would silently
    compute on GPU 0 or crash. Until placement is supported, GPU N is chosen per process.
    """
    if device.index:
        raise RuntimeError(
            f"device '{device}': placing tensors on a GPU other than the first is not supported "
            f"yet (multi-GPU placement). To run on GPU {device.index}, select it for the whole "
            f"process with the environment variable CUDA_VISIBLE_DEVICES={device.index} and use "
            f"device 'cuda' (or 'cuda:0').")


def _require_gpu(device: Device) -> None:
    """A clear error, instead of an ImportError or a driver error, when no GPU can serve ``device``."""
    if is_available():
        return
    try:
        import cupy  # noqa: F401
        why = "CuPy is installed but finds no working CUDA driver and GPU"
    except ImportError:
        why = "CuPy is not installed (pip install 'gpugrad[cuda13]' or 'gpugrad[cuda12]')"
    raise RuntimeError(f"device '{device}' was asked for, but there is no usable GPU: {why}. "
                       f"Use device='cpu' (gg.default_device() picks what is available).")
