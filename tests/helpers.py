"""Helpers for the core tests: building inputs on a device, contiguous or strided."""
from __future__ import annotations

import numpy as np

import gpugrad as gg
from gpugrad.backends import get_backend
from gpugrad.device import as_device


def make_input(host: np.ndarray, device: str, contiguous: bool = True, requires_grad: bool = True):
    """A leaf Tensor on ``device`` holding ``host``'s values; strided (a view) when not contiguous."""
    dev = as_device(device)
    xp = get_backend(dev).xp
    if contiguous or host.ndim == 0:
        arr = xp.array(host)
    else:
        wide = np.zeros(host.shape[:-1] + (host.shape[-1] * 2,), dtype=host.dtype)
        wide[..., ::2] = host
        arr = xp.asarray(wide)[..., ::2]
        assert not arr.flags.c_contiguous or host.shape[-1] <= 1
    t = gg.Tensor._wrap(arr, dev)
    if requires_grad and host.dtype.kind == "f":
        t.requires_grad = True
    return t


def host(t) -> np.ndarray:
    """A Tensor's (or array's) values as a NumPy float64 array."""
    if isinstance(t, gg.Tensor):
        return np.asarray(t.numpy(), dtype=np.float64)
    return np.asarray(t, dtype=np.float64)


TOL = {"float32": dict(rtol=2e-5, atol=2e-5), "float64": dict(rtol=1e-10, atol=1e-11)}


#: C type of each type name a CuPy kernel parameter list may use ("T": the template type).
KERNEL_CTYPES = {"float64": "double", "float32": "float", "int32": "int", "int64": "long long", "T": "T"}


def kernel_params(spec: str) -> list[tuple[str, str, bool]]:
    """A CuPy ElementwiseKernel parameter list as CuPy reads it: 'T g, raw int64 step' ->
    [("T", "g", False), ("int64", "step", True)] (type name, parameter name, raw)."""
    out = []
    for item in filter(None, (p.strip() for p in spec.split(","))):
        words = item.split()
        out.append((words[-2], words[-1], words[0] == "raw"))
    return out
