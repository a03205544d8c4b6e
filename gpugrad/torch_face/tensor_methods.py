"""PyTorch's Tensor methods, bound onto Tensor: ``size()``, ``numel()``, ``dim()``, ``float()``,
``long()``, ``to(dtype)``, ``view``, ``permute``, ``t``, ``mm``, ``masked_fill``, ``clamp`` ...

Each follows the PyTorch 2.x method of the same name. Where NumPy spells the same name differently
(``size`` is an int attribute in NumPy and a method in PyTorch; ``max(1)``; ``transpose(0, 1)``),
the docstring says how both uses are served.
"""
from __future__ import annotations

import numpy as np

from .. import ops
from ..device import Device, as_device
from ..dtypes import resolve_dtype
from . import functions as T
from ..tensor import Tensor


class Size(int):
    """``t.size``: NumPy's element count (an int) that can also be called as PyTorch's ``size()``.

    ``t.size == 12`` and ``t.size * 2`` use it as the int; ``t.size()`` gives the shape tuple and
    ``t.size(0)`` / ``t.size(-1)`` one dimension, as ``torch.Tensor.size``.
    """

    def __new__(cls, count: int, shape: tuple):
        obj = int.__new__(cls, count)
        obj.shape = shape
        return obj

    def __call__(self, dim=None):
        if dim is None:
            return self.shape
        nd = len(self.shape)
        if not isinstance(dim, (int, np.integer)) or not -max(nd, 1) <= dim < max(nd, 1) or nd == 0:
            raise IndexError(f"size: dimension {dim!r} is out of range for a tensor of shape {self.shape} "
                             f"(valid: {-nd}..{nd - 1})" if nd else
                             f"size: a 0-d tensor has no dimension {dim!r}; size() is ()")
        return self.shape[dim]


Tensor.size = property(lambda self: Size(self._data.size, tuple(self._data.shape)),
                       doc="Element count (an int, as NumPy); call it for the shape (as PyTorch).")


def numel(self) -> int:
    """The number of elements (a plain int), as ``torch.Tensor.numel``."""
    return int(self._data.size)


def dim(self) -> int:
    """The number of dimensions, as ``torch.Tensor.dim`` (NumPy: ``ndim``)."""
    return self._data.ndim


def is_floating_point(self) -> bool:
    """True for float16/32/64 tensors, as ``torch.Tensor.is_floating_point``."""
    return self._data.dtype.kind == "f"


Tensor.numel = Tensor.nelement = numel
Tensor.dim = Tensor.ndimension = dim
Tensor.is_floating_point = is_floating_point


# -- dtype conversions -----------------------------------------------------------------------------
_DEVICE_PREFIXES = ("cpu", "cuda", "cudasim")


def _is_device(obj) -> bool:
    return isinstance(obj, Device) or (isinstance(obj, str) and obj.split(":")[0] in _DEVICE_PREFIXES)


def _convert(x: Tensor, dtype) -> Tensor:
    """``x`` as ``dtype``; differentiable between floating dtypes, cut from the graph otherwise
    (an integer or bool tensor never requires grad, as in PyTorch)."""
    dtype = resolve_dtype(dtype)
    if x.dtype == dtype:
        return x
    if dtype.kind != "f":
        return ops.astype(x.detach(), dtype)
    return ops.astype(x, dtype)


def _to(self, *args, device=None, dtype=None, non_blocking=False, copy=False, **kwargs):
    """``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(other_tensor)``, keywords too, as
    ``torch.Tensor.to``; differentiable. ``non_blocking`` is accepted and ignored (copies are
    synchronous); ``copy=True`` always returns a new tensor."""
    if kwargs:
        raise TypeError(f"to: unexpected keyword argument(s) {sorted(kwargs)}")
    for a in args:
        if isinstance(a, Tensor):
            device, dtype = (a.device if device is None else device), (a.dtype if dtype is None else dtype)
        elif a is None:
            continue
        elif _is_device(a):
            if device is not None:
                raise TypeError(f"to: got two devices ({device}, {a})")
            device = a
        else:
            try:
                d = resolve_dtype(a)
            except TypeError:
                raise TypeError(f"to: {a!r} is neither a device ('cpu', 'cuda', 'cuda:0') nor a dtype "
                                f"(gg.float32, 'float64', ...)") from None
            if dtype is not None:
                raise TypeError(f"to: got two dtypes ({dtype}, {a})")
            dtype = d
    out = self if dtype is None else _convert(self, dtype)
    if device is not None and as_device(device) != out.device:
        out = _to_device_orig(out, device=device)
    if copy and out is self:
        out = self.clone()
    return out


_to_device_orig = Tensor.to
Tensor.to = _to


def _conversion(name: str, dtype):
    def method(self) -> Tensor:
        return _convert(self, dtype)
    method.__name__ = method.__qualname__ = name
    method.__doc__ = (f"This tensor as {np.dtype(dtype)}, as ``torch.Tensor.{name}()``: differentiable to a "
                      f"floating dtype, cut from the graph otherwise; ``self`` when already {np.dtype(dtype)}.")
    return method


for _name, _dtype in (("float", np.float32), ("double", np.float64), ("half", np.float16), ("long", np.int64),
                      ("int", np.int32), ("short", np.int16), ("byte", np.uint8), ("bool", np.bool_)):
    setattr(Tensor, _name, _conversion(_name, _dtype))


def type_as(self, other: Tensor) -> Tensor:
    """This tensor converted to ``other``'s dtype, as ``torch.Tensor.type_as``."""
    return _convert(self, other.dtype)


def contiguous(self) -> Tensor:
    """This tensor if its elements are one C-ordered block, else a (differentiable) copy that is."""
    return self if self._data.flags.c_contiguous else ops.copy(self)


Tensor.type_as = type_as
Tensor.contiguous = contiguous

# -- shape and reductions with PyTorch's conventions (see torch_face/functions.py) ------------------------
for _name in ("max", "min", "argmax", "argmin", "all", "any", "permute", "transpose", "t", "mm", "view",
              "expand", "clamp", "masked_fill", "var", "std"):
    setattr(Tensor, _name, getattr(T, _name))
Tensor.clip = T.clamp
Tensor.swapdims = Tensor.swapaxes

# -- arithmetic as methods (x.add(y), x.mul(2), x.pow(2) ...) ---------------------------------------
for _name in ("add", "sub", "mul", "div", "matmul", "eq", "ne", "lt", "le", "gt", "ge", "neg"):
    _fn = getattr(ops, _name)
    setattr(Tensor, _name, _fn.as_method() if hasattr(_fn, "as_method") else _fn)


def pow(self, exponent) -> Tensor:  # noqa: A001
    """``self ** exponent`` (a number or a tensor), as ``torch.Tensor.pow``."""
    return ops.pow(self, exponent)


Tensor.pow = pow
Tensor.multiply, Tensor.subtract, Tensor.divide = Tensor.mul, Tensor.sub, Tensor.div


# -- Python protocols PyTorch scripts rely on: f"{loss:.4f}", copy.deepcopy(model) -------------------
def __format__(self, format_spec: str) -> str:
    """``f"{loss:.4f}"``: a 0-d tensor formats as its Python number, as ``torch.Tensor.__format__``.

    Any other tensor formats as ``str(t)`` with an empty spec and raises TypeError with a spec
    (PyTorch's behaviour; format ``t.item()`` or ``t.tolist()`` instead).
    """
    if self._data.ndim == 0:
        return format(self.item(), format_spec)
    if format_spec:
        raise TypeError(f"unsupported format string {format_spec!r} for a tensor of shape {self.shape}: "
                        f"only 0-d tensors format as numbers (as in PyTorch); use t.item() for a "
                        f"one-element tensor")
    return str(self)


def __deepcopy__(self, memo) -> Tensor:
    """``copy.deepcopy(t)``: a leaf with its own copy of the data, ``requires_grad`` and ``grad``
    (deep-copied), of the same class (a Parameter stays a Parameter), as ``torch.Tensor.__deepcopy__``.

    Raises RuntimeError for a tensor made by a recorded op (not a graph leaf), as PyTorch does:
    copying would cut it from its graph. Detach it first (``t.detach().clone()``).
    """
    if not self.is_leaf:
        raise RuntimeError(f"deepcopy: only tensors created explicitly by the user (graph leaves) support "
                           f"the deepcopy protocol (as in PyTorch); this one (shape {self.shape}) was made "
                           f"by op '{self._node.op.name}'. Copy t.detach().clone() instead")
    if id(self) in memo:
        return memo[id(self)]
    import copy as _copy
    new = Tensor._wrap(self._data.copy(), self._device)
    if type(self) is not Tensor:
        object.__setattr__(new, "__class__", type(self))  # Parameter and other Tensor subclasses
    memo[id(self)] = new
    new._requires_grad = self._requires_grad
    new.grad = None if self.grad is None else _copy.deepcopy(self.grad, memo)
    for key, value in getattr(self, "__dict__", {}).items():   # name, hooks, user attributes
        setattr(new, key, _copy.deepcopy(value, memo))
    return new


Tensor.__format__ = __format__
Tensor.__deepcopy__ = __deepcopy__


# -- common methods a PyTorch script calls (issue 12 review) -----------------------------------------
from . import ops as _TO  # noqa: E402

for _name in ("norm", "prod", "repeat", "nonzero"):
    setattr(Tensor, _name, getattr(T, _name))
for _name in ("cumsum", "isnan", "isinf", "isfinite", "remainder", "floor_divide"):
    _fn = getattr(_TO, _name)
    setattr(Tensor, _name, _fn.as_method() if hasattr(_fn, "as_method") else _fn)
Tensor.is_cuda = property(lambda self: self._device.type == "cuda",
                          doc="True when the tensor is on a CUDA GPU, as ``torch.Tensor.is_cuda``.")


def _alpha_method(name, op):
    def method(self, other, *, alpha=1):
        return op(self, other if alpha == 1 else other * alpha)
    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"``self {'+' if name == 'add' else '-'} alpha * other``, as ``torch.Tensor.{name}``."
    return method


Tensor.add = _alpha_method("add", ops.add)
Tensor.sub = Tensor.subtract = _alpha_method("sub", ops.sub)
Tensor.__mod__ = lambda self, other: _TO.remainder(self, other)
Tensor.__rmod__ = lambda self, other: _TO.remainder(other, self)
Tensor.__floordiv__ = lambda self, other: _TO.floor_divide(self, other)
Tensor.__rfloordiv__ = lambda self, other: _TO.floor_divide(other, self)


# -- selection, splitting and ordering (indexing.py), and the rest of issue 25's names ---------------
from ..creation import full as _full  # noqa: E402
from ..tensor import tensor as _tensor  # noqa: E402
from . import indexing as _IX  # noqa: E402
from . import top_level as _TL  # noqa: E402

for _name in ("gather", "index_select", "split", "chunk", "unbind", "sort", "argsort", "topk", "unique",
              "bincount"):
    setattr(Tensor, _name, getattr(_IX, _name))
Tensor.nan_to_num = _TL.nan_to_num
Tensor.bmm = _TL.bmm
for _name in ("atan", "ceil", "cosh", "expm1", "floor", "log1p", "round", "sinh", "trunc", "frac", "hypot", "lerp",
              "log2", "log10", "logical_and", "logical_not", "logical_or", "logical_xor", "reciprocal", "rsqrt",
              "square", "xlogy", "isclose", "amax", "amin", "count_nonzero", "diag", "dot", "flip", "masked_select",
              "movedim", "moveaxis", "narrow", "outer", "repeat_interleave", "roll", "select", "tile", "tril", "triu"):
    setattr(Tensor, _name, getattr(_TL, _name))


def view_as(self, other: Tensor) -> Tensor:
    """``self.view(other.shape)``, as ``torch.Tensor.view_as``."""
    return T.view(self, other.shape)


def reshape_as(self, other: Tensor) -> Tensor:
    """``self.reshape(other.shape)``, as ``torch.Tensor.reshape_as``."""
    return ops.reshape(self, other.shape)


def expand_as(self, other: Tensor) -> Tensor:
    """``self.expand(other.shape)``, as ``torch.Tensor.expand_as``."""
    return T.expand(self, other.shape)


def unflatten(self, dim: int, sizes) -> Tensor:
    """Split dim ``dim`` into ``sizes`` (one may be -1), as ``torch.Tensor.unflatten``."""
    d = dim % self.ndim if self.ndim else 0
    return ops.reshape(self, self.shape[:d] + tuple(sizes) + self.shape[d + 1:])


def new_tensor(self, data, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A new tensor of ``data`` with this tensor's dtype and device unless given, as
    ``torch.Tensor.new_tensor``."""
    return _tensor(data, dtype=self.dtype if dtype is None else dtype,
                   device=self.device if device is None else device, requires_grad=requires_grad)


def is_contiguous(self) -> bool:
    """True when the elements are one C-ordered block, as ``torch.Tensor.is_contiguous``."""
    return bool(self._data.flags.c_contiguous)


Tensor.view_as, Tensor.reshape_as, Tensor.expand_as, Tensor.unflatten = view_as, reshape_as, expand_as, unflatten
Tensor.new_tensor, Tensor.is_contiguous = new_tensor, is_contiguous
Tensor.new_empty = lambda self, *size, dtype=None, device=None, requires_grad=False: Tensor.new_zeros(
    self, *size, dtype=dtype, device=device, requires_grad=requires_grad)
Tensor.element_size = lambda self: int(self._data.itemsize)
Tensor.element_size.__doc__ = "Bytes per element, as ``torch.Tensor.element_size``."
Tensor.nbytes = property(lambda self: int(self._data.nbytes), doc="Bytes of the elements, as ``torch.Tensor.nbytes``.")



def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """``fill_value`` in shape ``size``, with this tensor's dtype and device unless given, as
    ``torch.Tensor.new_full`` (also ``new_zeros``, ``new_ones``, ``new_tensor``)."""
    return _full(tuple(size) if not isinstance(size, int) else (size,), fill_value,
                dtype=self.dtype if dtype is None else dtype, device=self.device if device is None else device,
                requires_grad=requires_grad)


Tensor.new_full = new_full
Tensor.new_zeros = lambda self, *size, dtype=None, device=None, requires_grad=False: new_full(
    self, size[0] if len(size) == 1 and not isinstance(size[0], int) else size, 0, dtype=dtype, device=device,
    requires_grad=requires_grad)
Tensor.new_ones = lambda self, *size, dtype=None, device=None, requires_grad=False: new_full(
    self, size[0] if len(size) == 1 and not isinstance(size[0], int) else size, 1, dtype=dtype, device=device,
    requires_grad=requires_grad)


# -- a PyTorch method gpugrad lacks says so (only reached when normal lookup fails) -----------------
from . import missing as _missing  # noqa: E402


def __getattr__(self, name: str):
    raise _missing.attribute_error(f"{type(self).__name__!r} object", "torch.Tensor", name)


Tensor.__getattr__ = __getattr__
