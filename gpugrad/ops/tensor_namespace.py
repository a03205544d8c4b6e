"""The VJP namespace ``ns`` on Tensors, for ``create_graph=True``: every function is a differentiable
gpugrad op, so the backward pass is itself recorded (the raw-array namespace is
gpugrad/vjp_namespace.py; both offer the same names with the same signatures). The kernel ops run
their composite formulas here (registered with ``@composite`` beside each op).
"""
from __future__ import annotations

from functools import partial

from .. import ops
from ..backends import get_backend
from ..creation import zeros_like
from ..tensor import Tensor
from ..vjp_namespace import COMPOSITES, RawNamespace
from . import linalg, shape as shape_ops, transfer


class TensorNamespace:
    """VJP functions on Tensors, built from differentiable ops (for create_graph=True)."""

    def __init__(self):
        self.exp, self.log, self.sin, self.cos = ops.exp, ops.log, ops.sin, ops.cos
        self.log1p, self.expm1 = ops.log1p, ops.expm1
        self.sqrt, self.sign, self.where = ops.sqrt, ops.sign, ops.where
        self.abs, self.maximum = ops.abs, ops.maximum
        self.broadcast_to, self.matmul, self.swapaxes = shape_ops.broadcast_to, linalg.matmul, shape_ops.swapaxes
        self.sum_to, self.reshape, self.transpose = shape_ops.sum_to, shape_ops.reshape, shape_ops.transpose
        self.sum, self.astype = ops.sum, ops.astype
        for name, formula in COMPOSITES.items():   # the kernel ops, as their composite formulas
            setattr(self, name, partial(formula, self))

    @staticmethod
    def zeros_like(t):
        """A constant zero gradient (a derivative that is 0 everywhere, e.g. of x ** 0)."""
        return zeros_like(t)

    @staticmethod
    def mm(a, b, trans_a, trans_b):
        return linalg.mm(a, b, trans_a=trans_a, trans_b=trans_b)

    @staticmethod
    def to_device(g, src, dst):
        return transfer.to_device(g, dst)

    @staticmethod
    def index_put(g, shape, index, accumulate):
        return shape_ops.index_put(g, shape=shape, index=index, accumulate=accumulate)

    @staticmethod
    def one_hot(targets, num_classes, dtype):
        raw = RawNamespace(get_backend(targets.device)).one_hot(targets._data, num_classes, dtype)
        return Tensor._wrap(raw, targets.device)


_tensor_ns = None


def tensor_namespace() -> TensorNamespace:
    """The Tensor namespace (built on first use, once every op module has registered its composites)."""
    global _tensor_ns
    if _tensor_ns is None:
        _tensor_ns = TensorNamespace()
    return _tensor_ns
