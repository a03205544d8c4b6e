"""PyTorch's top-level names (``torch.float32``, ``torch.long``, ``torch.cat``, ``torch.argmax``,
``torch.inference_mode`` ...), exported by ``gpugrad/__init__.py`` so that ``import gpugrad as
torch`` finds them. dtypes are NumPy dtypes, so ``t.dtype == gg.float32`` and
``gg.zeros(3, dtype=gg.long)`` work as in PyTorch and ``np.dtype(gg.int64)`` as in NumPy.
"""
from __future__ import annotations

import numpy as np

from .creation import as_tensor, eye, linspace, randint, randperm  # noqa: F401
from .grad_mode import inference_mode, set_grad_enabled  # noqa: F401
from .ops.torch_names import (all, any, argmax, argmin, cat, clamp, masked_fill, max, min, mm,  # noqa: F401
                              permute, std, t, transpose, var, view)
from .ops.special import erf  # noqa: F401
from .tensor import Tensor

float16 = half = np.dtype(np.float16)
float32 = float = np.dtype(np.float32)  # noqa: A001
float64 = double = np.dtype(np.float64)
int8 = np.dtype(np.int8)
int16 = short = np.dtype(np.int16)
int32 = int = np.dtype(np.int32)  # noqa: A001
int64 = long = np.dtype(np.int64)
uint8 = np.dtype(np.uint8)
bool = np.dtype(np.bool_)  # noqa: A001

concat = concatenate = cat


def is_tensor(obj) -> "bool":
    """True when ``obj`` is a gpugrad Tensor (Parameters included), as ``torch.is_tensor``."""
    return isinstance(obj, Tensor)


def numel(t: Tensor) -> "int":
    """The number of elements of ``t``, as ``torch.numel``."""
    return t.numel()


def allclose(a, b, rtol: "float" = 1e-05, atol: "float" = 1e-08, equal_nan: "bool" = False) -> "bool":
    """True when |a - b| <= atol + rtol * |b| everywhere (broadcasting), as ``torch.allclose``."""
    def host(v):
        return v.numpy() if isinstance(v, Tensor) else np.asarray(v)
    return np.allclose(host(a), host(b), rtol=rtol, atol=atol, equal_nan=equal_nan)


__all__ = ["float16", "half", "float32", "float", "float64", "double", "int8", "int16", "short", "int32",
           "int", "int64", "long", "uint8", "bool", "as_tensor", "eye", "linspace", "randint", "randperm",
           "inference_mode", "set_grad_enabled", "all", "any", "argmax", "argmin", "cat", "concat", "clamp",
           "masked_fill", "max", "min", "mm", "permute", "t", "transpose", "view", "var", "std", "erf", "is_tensor", "numel",
           "allclose"]
