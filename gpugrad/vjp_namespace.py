"""The namespace ``F`` that VJPs are written against, in two implementations.

* ``RawNamespace(backend)``: the fast path. Values are raw arrays and every function is the
  backend's own (NumPy/CuPy, or the hand-written kernels), so backward wraps nothing in Tensors.
* ``TENSOR_NAMESPACE``: for ``create_graph=True``. Values are Tensors and every function is a
  differentiable gpugrad op, so the backward pass is itself recorded. Fused kernels (relu_vjp,
  bias_sigmoid_vjp) fall back to their composite formulas here.

Both offer the same names with the same signatures; ``+ - * /`` and comparisons work on either.
"""
from __future__ import annotations

from .ops._shapes import sum_to_array


class RawNamespace:
    """VJP functions on raw arrays of one backend."""

    def __init__(self, backend, owns_g=False):
        xp = backend.xp
        self.backend = backend
        self.exp, self.log, self.sin, self.cos = xp.exp, xp.log, xp.sin, xp.cos
        self.sqrt, self.sign, self.where = xp.sqrt, xp.sign, xp.where
        self.broadcast_to, self.matmul, self.swapaxes = xp.broadcast_to, xp.matmul, xp.swapaxes
        self.mm = backend.matmul
        self.relu_vjp = backend.relu_vjp
        self.bias_relu_vjp = backend.bias_relu_vjp
        if owns_g:   # the engine owns the upstream gradient: VJPs may write into it (CPU only)
            self.relu_vjp = getattr(backend, "relu_vjp_into", self.relu_vjp)
            self.bias_relu_vjp = getattr(backend, "bias_relu_vjp_into", self.bias_relu_vjp)
        self.bias_sigmoid_vjp = backend.bias_sigmoid_vjp
        self.sum_to = sum_to_array

    @staticmethod
    def sum(x, axis=None, keepdims=False):
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

    def index_add(self, g, shape, index, accumulate):
        from .ops.shape import _index_add_fwd
        return _index_add_fwd(self.backend, g, shape, index, accumulate)

    @staticmethod
    def to_device(g, src, dst):
        from .ops.transfer import move_array
        return move_array(g, src, dst)

    def one_hot(self, targets, num_classes, dtype):
        xp = self.backend.xp
        out = xp.zeros((targets.shape[0], num_classes), dtype=dtype)
        out[xp.arange(targets.shape[0]), targets] = 1
        return out


class _TensorNamespace:
    """VJP functions on Tensors, built from differentiable ops (for create_graph=True)."""

    def __init__(self):
        from . import ops
        from .ops import linalg, shape
        self.exp, self.log, self.sin, self.cos = ops.exp, ops.log, ops.sin, ops.cos
        self.sqrt, self.sign, self.where = ops.sqrt, ops.sign, ops.where
        self.broadcast_to, self.matmul, self.swapaxes = shape.broadcast_to, linalg.matmul, shape.swapaxes
        self.sum_to, self.reshape, self.transpose = shape.sum_to, shape.reshape, shape.transpose
        self.sum, self.astype = ops.sum, ops.cast

    @staticmethod
    def mm(a, b, trans_a, trans_b):
        from .ops.linalg import mm
        return mm(a, b, trans_a=trans_a, trans_b=trans_b)

    @staticmethod
    def to_device(g, src, dst):
        from .ops.transfer import to_device
        return to_device(g, dst)

    @staticmethod
    def relu_vjp(g, y):
        return g * (y > 0)

    @staticmethod
    def bias_sigmoid_vjp(g, h):
        dz = g * h * (1 - h)
        return dz, dz.sum(axis=0)

    @staticmethod
    def bias_relu_vjp(g, y):
        dz = g * (y > 0)
        return dz, dz.sum(axis=0)

    @staticmethod
    def index_add(g, shape, index, accumulate):
        from .ops.shape import index_add
        return index_add(g, shape=shape, index=index, accumulate=accumulate)

    @staticmethod
    def one_hot(targets, num_classes, dtype):
        from .backends import get_backend
        from .tensor import Tensor
        raw = RawNamespace(get_backend(targets.device)).one_hot(targets._data, num_classes, dtype)
        return Tensor._wrap(raw, targets.device)


def raw_namespace(backend, owns_g: bool = False) -> RawNamespace:
    """The (cached) raw-array namespace of ``backend``; with ``owns_g`` the one whose fused VJPs
    (relu_vjp, bias_relu_vjp) may write into the upstream gradient, for ops declared
    ``vjp_writes_g`` when the engine holds the only reference to that gradient."""
    key = "_raw_namespace_owns_g" if owns_g else "_raw_namespace"
    ns = backend.__dict__.get(key)
    if ns is None:
        ns = RawNamespace(backend, owns_g)
        setattr(backend, key, ns)
    return ns


_tensor_ns = None


def tensor_namespace() -> _TensorNamespace:
    """The Tensor namespace (built on first use: it imports the op modules)."""
    global _tensor_ns
    if _tensor_ns is None:
        _tensor_ns = _TensorNamespace()
    return _tensor_ns
