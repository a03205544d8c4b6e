"""Operators and array methods of Tensor, bound to the op-table functions.

Kept apart from tensor.py so that the class file is about the object (data, device, grad) and
this file is the one place that maps Python syntax and method names onto ops.
"""
from __future__ import annotations

from . import ops
from .autograd import backward as _backward
from .backends import get_backend
from .device import as_device
from .dtypes import resolve_dtype
from .op import Op, apply
from .grad_mode import is_grad_enabled
from .tensor import Tensor


def _method(fn):
    """Ops become plain functions (cheap to bind); other callables are used as they are."""
    return fn.as_method() if isinstance(fn, Op) else fn


def _reflected(fn):
    if isinstance(fn, Op):
        return lambda self, other: apply(fn, (other, self), {})
    return lambda self, other: fn(other, self)


def _check_inplace(self, what: str) -> None:
    if self._requires_grad and is_grad_enabled():
        raise RuntimeError(f"{what}: in place on a tensor that requires grad (shape {self.shape}) "
                           f"would corrupt its graph; do it under gg.no_grad() or use the "
                           f"out-of-place form")


def _write_inplace(self, result, what: str):
    """Write ``result`` (an op's output) into ``self``'s storage, all or nothing, and bump its version.

    Follows PyTorch: the result must keep ``self``'s shape (no broadcasting ``self`` up) and must
    be castable to ``self``'s dtype by NumPy's "same_kind" rule (a float result into an integer
    tensor is refused). Checked before writing, so an error never leaves a half-done change.
    """
    src = result._data if isinstance(result, Tensor) else result
    if tuple(src.shape) != self.shape:
        raise RuntimeError(f"{what}: the result has shape {tuple(src.shape)} but the tensor written "
                           f"in place has shape {self.shape}; an in-place op cannot change the shape")
    if src.dtype != self.dtype and not get_backend(self._device).xp.can_cast(
            src.dtype, self.dtype, casting="same_kind"):
        raise TypeError(f"{what}: the result's dtype {src.dtype} cannot be written in place into a "
                        f"{self.dtype} tensor; convert the tensor first, e.g. t = t.astype({str(src.dtype)!r})")
    self._data[...] = src
    self._bump_version()
    return self


def _inplace(fn):
    """An in-place operator: allowed only outside the graph (e.g. optimizer updates under no_grad)."""
    def method(self, other):
        _check_inplace(self, f"in-place {fn.name}")
        result = fn(self.detach(), other.detach() if isinstance(other, Tensor) else other)
        return _write_inplace(self, result, f"in-place {fn.name}")
    method.__name__ = f"__i{fn.name}__"
    return method


def _inplace_method(name, compute):
    """A PyTorch-style in-place method (``add_``, ``mul_`` ...) from an out-of-place computation."""
    def method(self, *args, **kwargs):
        _check_inplace(self, f"{name}()")
        args = [a.detach() if isinstance(a, Tensor) else a for a in args]
        return _write_inplace(self, compute(self.detach(), *args, **kwargs), f"{name}()")
    method.__name__ = method.__qualname__ = name
    method.__doc__ = (f"In place: ``{name}`` writes the result into this tensor and bumps its "
                      f"version counter (PyTorch's ``Tensor.{name}``). Not allowed on a tensor "
                      f"that requires grad unless under ``gg.no_grad()``.")
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

Tensor.astype = ops.astype
Tensor.reshape = ops.reshape
Tensor.T = property(lambda self: ops.transpose(self))
Tensor.mT = property(lambda self: ops.swapaxes(self, -1, -2))


def _setitem(self, index, value):
    """``t[index] = value``: in place, so only on tensors outside the graph (or under no_grad)."""
    if self._requires_grad and is_grad_enabled():
        raise RuntimeError("item assignment on a tensor that requires grad would corrupt its graph; "
                           "do it under gg.no_grad() or build a new tensor with gg.where")
    ops.shape.assign_index(self, index, value)   # index forms and errors: gpugrad/ops/shape.py
    self._bump_version()


Tensor.__setitem__ = _setitem


Tensor.add_ = _inplace_method("add_", lambda x, y, alpha=1: x + (y if alpha == 1 else y * alpha))
Tensor.sub_ = _inplace_method("sub_", lambda x, y, alpha=1: x - (y if alpha == 1 else y * alpha))
Tensor.mul_ = _inplace_method("mul_", lambda x, y: x * y)
Tensor.div_ = _inplace_method("div_", lambda x, y: x / y)
Tensor.clamp_ = _inplace_method("clamp_", lambda x, min=None, max=None: ops.clip(x, min, max))
Tensor.fill_ = _inplace_method(
    "fill_", lambda x, value: get_backend(x._device).xp.full(x.shape, value, dtype=x.dtype))
Tensor.zero_ = _inplace_method("zero_", lambda x: get_backend(x._device).xp.zeros_like(x._data))
Tensor.copy_ = _inplace_method(
    "copy_", lambda x, src: get_backend(x._device).xp.broadcast_to(
        src._data if isinstance(src, Tensor) else src, x.shape).astype(x.dtype, copy=False))

# -- methods that run ops or the engine (bound here, so tensor.py imports neither) ------------------
def _to(self, device=None, dtype=None) -> Tensor:
    """This tensor on ``device`` and/or as ``dtype``; differentiable (gradients flow back)."""
    out = self
    if dtype is not None and resolve_dtype(dtype) != self.dtype:
        out = ops.astype(out, dtype)
    if device is not None:
        dev = as_device(device)
        if dev != out._device:
            out = ops.to_device(out, device=dev)
    return out


def _clone(self) -> Tensor:
    """A copy with its own storage; differentiable."""
    return ops.copy(self)


def _backward_method(self, grad=None, retain_graph: bool = False, create_graph: bool = False) -> None:
    """Accumulate d(self)/d(leaf) into every leaf's ``.grad`` (``grad`` required if non-scalar)."""
    _backward([self], None if grad is None else [grad], retain_graph=retain_graph, create_graph=create_graph)


_to.__name__, _clone.__name__, _backward_method.__name__ = "to", "clone", "backward"
Tensor.to, Tensor.clone, Tensor.backward = _to, _clone, _backward_method


# -- PyTorch's Tensor methods (issue 12): the names a PyTorch script calls, NumPy's kept working --
from . import torch_tensor as _torch_tensor  # noqa: E402,F401  (binds size(), float(), to(dtype) ...)
