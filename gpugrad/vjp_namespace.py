"""The namespace ``ns`` that VJPs are written against, in two implementations.

* ``RawNamespace(backend)`` (here): the fast path. Values are raw arrays and every function is the
  backend's own (NumPy/CuPy, or the hand-written kernels), so backward wraps nothing in Tensors.
* ``TensorNamespace`` (gpugrad/ops/tensor_namespace.py, above the ops it is built from): for
  ``create_graph=True``. Values are Tensors and every function is a differentiable gpugrad op, so
  the backward pass is itself recorded. Fused kernels (relu_vjp, bias_sigmoid_vjp) fall back to
  their composite formulas there.

Both offer the same names with the same signatures; ``+ - * /`` and comparisons work on either.

The kernel ops' formulas (relu, relu_vjp, sigmoid, bias_sigmoid and their VJPs) are written once,
beside their op in gpugrad/ops/, as composites against this namespace and registered with
``@composite``. Both namespaces expose every composite by name; the raw one asks the backend
whether it has a faster kernel for it (``backend.implementation``), the Tensor one always uses the
formula (so create_graph differentiates through it).
"""
from __future__ import annotations

from functools import partial
from typing import Callable

import numpy as np

from .ops._shapes import sum_to_array

_F16, _F32 = np.dtype(np.float16), np.dtype(np.float32)

#: op name -> its composite formula ``f(ns, *arrays)``, registered beside the op in gpugrad/ops/.
COMPOSITES: dict[str, Callable] = {}


def composite(name: str):
    """Register the decorated formula ``f(ns, *arrays)`` as the definition of op ``name``.

    ``ns`` is a VJP namespace (raw arrays or Tensors). A backend may replace the formula with a
    faster kernel by naming ``name`` in its kernel map; otherwise the formula runs as written."""
    return _register_in(COMPOSITES, name, "composite")


def _register_in(table: dict, name: str, what: str):
    """A decorator adding its function to ``table`` under ``name``; ValueError when taken."""
    def register(fn):
        if name in table:
            raise ValueError(f"{what} {name!r} is registered twice ({table[name]} and {fn})")
        table[name] = fn
        return fn
    return register


#: op name -> the raw forward ``f(backend, *arrays, *params)`` of an op that VJPs call by name
#: (index_put, to_device), registered beside the op; the Tensor namespace calls the op itself.
RAW_FORWARDS: dict[str, Callable] = {}


def raw_forward(name: str):
    """Register the decorated op forward under ``name`` in every raw namespace (bound to its backend)."""
    return _register_in(RAW_FORWARDS, name, "raw forward")


class RawNamespace:
    """VJP functions on raw arrays of one backend.

    ``kernels=False`` builds the namespace without the backend's hand-written (Numba) kernels: what
    the kernel policies "cupy"/"cublas" run, for benchmarks and tests comparing the two.
    ``owns_g=True``: the backend's ``IN_PLACE_VJPS`` replace their formulas (they write into the
    upstream gradient); the engine uses this namespace only for an op declared ``vjp_writes_g``
    whose upstream gradient it holds the only reference to. Composites built on them (bias_relu_vjp
    on relu_vjp) follow, as they call through the namespace."""

    def __init__(self, backend, kernels: bool = True, owns_g: bool = False):
        xp = backend.xp
        self.backend = backend
        self.exp, self.log, self.sin, self.cos = xp.exp, xp.log, xp.sin, xp.cos
        self.log1p, self.expm1 = xp.log1p, xp.expm1
        self.sqrt, self.sign, self.where = xp.sqrt, xp.sign, xp.where
        self.abs, self.maximum = xp.abs, xp.maximum
        self.zeros_like = xp.zeros_like
        self.broadcast_to, self.matmul, self.swapaxes = xp.broadcast_to, xp.matmul, xp.swapaxes
        self.mm = backend.matmul
        self.sum_to = sum_to_array
        for name, formula in COMPOSITES.items():
            setattr(self, name, backend.implementation(name, partial(formula, self), kernels=kernels))
        for name, forward in RAW_FORWARDS.items():
            setattr(self, name, partial(forward, backend))
        if owns_g:   # the engine owns the upstream gradient: VJPs may write into it
            for name, method in backend.IN_PLACE_VJPS.items():
                setattr(self, name, getattr(backend, method))

    @staticmethod
    def sum(x, axis=None, keepdims=False):
        # float16 accumulates in float32 and rounds once (NumPy sums a float16 axis 0 in float16:
        # 4096 ones give 2048), as every reduction does (gpugrad/ops/_precision.py)
        if x.dtype == _F16:
            return x.sum(axis=axis, keepdims=keepdims, dtype=_F32).astype(_F16)
        return x.sum(axis=axis, keepdims=keepdims)

    @staticmethod
    def reshape(x, shape):
        return x.reshape(shape)

    @staticmethod
    def transpose(x, axes):
        return x.transpose(axes)

    @staticmethod
    def astype(x, dtype):
        return x.astype(dtype, copy=False)

    def one_hot(self, targets, num_classes, dtype):
        xp = self.backend.xp
        out = xp.zeros((targets.shape[0], num_classes), dtype=dtype)
        out[xp.arange(targets.shape[0]), targets] = 1
        return out


def raw_namespace(backend, kernels: bool = True, owns_g: bool = False) -> RawNamespace:
    """The (cached) raw-array namespace of ``backend`` (``kernels=False``: without its Numba kernels;
    ``owns_g``: with its VJPs that write into the upstream gradient)."""
    key = ("_raw_namespace" if kernels else "_raw_namespace_vendor") + ("_owns_g" if owns_g else "")
    ns = backend.__dict__.get(key)
    if ns is None:
        ns = RawNamespace(backend, kernels, owns_g)
        setattr(backend, key, ns)
    return ns
