"""Operators and array methods of Tensor, bound to the op-table functions.

Kept apart from tensor.py so that the class file is about the object (data, device, grad) and
this file is the one place that maps Python syntax and method names onto ops.
"""
from __future__ import annotations

from . import ops
from .function import Op
from .tensor import Tensor


def _method(fn):
    """Ops become plain functions (cheap to bind); other callables are used as they are."""
    return fn.as_method() if isinstance(fn, Op) else fn


def _reflected(fn):
    if isinstance(fn, Op):
        from .function import apply
        return lambda self, other: apply(fn, (other, self), {})
    return lambda self, other: fn(other, self)


def _inplace(fn):
    """An in-place operator: allowed only outside the graph (e.g. optimizer updates under no_grad)."""
    def method(self, other):
        from .grad_mode import is_grad_enabled
        if self._requires_grad and is_grad_enabled():
            raise RuntimeError(f"in-place {fn.name} on a tensor that requires grad would corrupt "
                               f"its graph; do it under gg.no_grad() or use the out-of-place form")
        result = fn(self.detach(), other.detach() if isinstance(other, Tensor) else other)
        self._data[...] = result._data
        self._bump_version()
        return self
    return method


_BINARY = {"add": ops.add, "sub": ops.sub, "mul": ops.mul, "truediv": ops.div, "pow": ops.pow,
           "matmul": ops.matmul}
for _name, _fn in _BINARY.items():
    setattr(Tensor, f"__{_name}__", _method(_fn))
    setattr(Tensor, f"__r{_name}__", _reflected(_fn))
for _name in ("add", "sub", "mul", "truediv"):
    setattr(Tensor, f"__i{_name}__", _inplace(_BINARY[_name]))

Tensor.__neg__ = _method(ops.neg)
Tensor.__pos__ = lambda self: self
Tensor.__abs__ = _method(ops.abs)
Tensor.__eq__ = _method(ops.eq)
Tensor.__ne__ = _method(ops.ne)
Tensor.__lt__ = _method(ops.lt)
Tensor.__le__ = _method(ops.le)
Tensor.__gt__ = _method(ops.gt)
Tensor.__ge__ = _method(ops.ge)
Tensor.__and__ = _method(ops.logical_and)
Tensor.__or__ = _method(ops.logical_or)
Tensor.__invert__ = _method(ops.logical_not)
Tensor.__getitem__ = _method(ops.getitem)
Tensor.__hash__ = object.__hash__  # defining __eq__ would otherwise make Tensor unhashable

for _name in ("exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu", "abs", "clip",
              "sum", "mean", "max", "min", "logsumexp", "softmax", "log_softmax", "transpose",
              "squeeze", "expand_dims", "unsqueeze", "broadcast_to", "expand", "flatten", "swapaxes",
              "sum_to", "sign", "maximum", "minimum"):
    setattr(Tensor, _name, _method(getattr(ops, _name)))

Tensor.astype = ops.cast
Tensor.reshape = ops.reshape
Tensor.T = property(lambda self: ops.transpose(self))
Tensor.mT = property(lambda self: ops.swapaxes(self, -1, -2))


def _setitem(self, index, value):
    """``t[index] = value``: in place, so only on tensors outside the graph (or under no_grad)."""
    from .grad_mode import is_grad_enabled
    if self._requires_grad and is_grad_enabled():
        raise RuntimeError("item assignment on a tensor that requires grad would corrupt its graph; "
                           "do it under gg.no_grad() or build a new tensor with gg.where")
    self._data[index] = value._data if isinstance(value, Tensor) else value
    self._bump_version()


Tensor.__setitem__ = _setitem


def _zero_(self):
    """Fill with zeros in place."""
    self._data[...] = 0
    self._bump_version()
    return self


def _copy_(self, src):
    """Copy ``src``'s values into this tensor in place (shapes must broadcast)."""
    self._data[...] = src._data if isinstance(src, Tensor) else src
    self._bump_version()
    return self


Tensor.zero_ = _zero_
Tensor.copy_ = _copy_


# -- PyTorch's Tensor methods (issue 12): the names a PyTorch script calls, NumPy's kept working --
from . import torch_tensor as _torch_tensor  # noqa: E402,F401  (binds size(), float(), to(dtype) ...)
