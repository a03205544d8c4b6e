"""``Tensor``: an array on a device plus what autograd needs (requires_grad, grad, the Node that made it).

Operators and array methods (``+``, ``@``, ``.sum()``, ``.reshape()`` ...) are bound onto the class
in ``torch_face/tensor_operators.py``, next to nothing else, so this file stays about the object itself.
"""
from __future__ import annotations

import weakref

import numpy as np

from .backends import get_backend
from .device import as_device
from .dtypes import get_default_dtype, resolve_dtype


class Tensor:
    """An n-dimensional array on a device ("cpu": NumPy, "cuda": CuPy) that records autograd history.

    Create tensors with :func:`gpugrad.tensor`, :func:`gpugrad.zeros`, :func:`gpugrad.randn`, ...
    """

    # Hot attributes in slots; rarely set ones (name, _hooks) live in __dict__ only when set,
    # so creating a Tensor (once per op) stays cheap.
    __slots__ = ("_data", "_device", "_requires_grad", "grad", "_node", "_vc", "__dict__",
                 "__weakref__")
    name = None      # optional label (used by gg.viz)
    _hooks = None    # gradient hooks of a leaf
    # Let NumPy defer to Tensor's reflected operators (ndarray + Tensor -> Tensor.__radd__).
    __array_priority__ = 1000
    __array_ufunc__ = None

    def __init__(self, data, dtype=None, device=None, requires_grad=False):
        t = tensor(data, dtype=dtype, device=device, requires_grad=requires_grad)
        for s in ("_data", "_device", "_requires_grad", "grad", "_node", "_vc"):
            object.__setattr__(self, s, getattr(t, s))

    @classmethod
    def _wrap(cls, data, device, requires_grad=False):
        """Wrap an array of ``device``'s backend, without copying or checking."""
        t = object.__new__(cls)
        if isinstance(data, np.generic):  # NumPy returns scalars from 0-d operations
            data = np.asarray(data)
        t._data = data
        t._device = device
        t._requires_grad = requires_grad
        t.grad = None
        t._node = None
        t._vc = None  # version counter [n], created when an op first saves this tensor
        return t

    # -- attributes -------------------------------------------------------------------------
    @property
    def data(self) -> "Tensor":
        """A tensor sharing this one's storage, cut from the graph (PyTorch's ``.data``).

        Writes through it (``p.data -= lr * p.grad``) change this tensor and bump the version
        counter it shares, so a graph that saved the old values refuses to backward. The raw
        NumPy/CuPy array is ``.numpy()`` (a read-only view on cpu) or ``._data``.
        """
        return self.detach()

    @data.setter
    def data(self, value: "Tensor") -> None:
        """Make this tensor share ``value``'s storage (PyTorch's ``x.data = y``); no gradient flows.

        Raises TypeError when ``value`` is not a Tensor, or is not floating while this tensor
        requires grad.
        """
        if not isinstance(value, Tensor):
            raise TypeError(f"data: can only be set to a Tensor, got {type(value).__name__}; wrap "
                            f"arrays with gg.tensor(...) first")
        if value._data is self._data:        # ``p.data -= x`` wrote in place already
            return
        if self._requires_grad and value.dtype.kind != "f":
            raise TypeError(f"data: this tensor requires grad, so its data must be floating; got "
                            f"{value.dtype} (shape {value.shape})")
        self._data = value._data
        self._device = value._device
        self._vc = value._version_counter()

    @property
    def shape(self) -> tuple:
        return tuple(self._data.shape)

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def size(self) -> int:
        return int(self._data.size)

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def device(self):
        return self._device

    @property
    def is_leaf(self) -> bool:
        """True for tensors the user created (not the result of a recorded op)."""
        return self._node is None

    @property
    def grad_fn(self):
        """The graph Node that produced this tensor, or None for leaves."""
        return self._node

    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        value = bool(value)
        if value and self._data.dtype.kind != "f":
            raise TypeError(f"only floating-point tensors can require gradients; this tensor is "
                            f"{self._data.dtype} with shape {self.shape}. Convert it first, e.g. "
                            f"t.astype('float32')")
        if not value and self._node is not None:
            raise RuntimeError("requires_grad can only be turned off on leaf tensors; use .detach()")
        self._requires_grad = value

    def requires_grad_(self, value: bool = True) -> "Tensor":
        """Set requires_grad in place and return self."""
        self.requires_grad = value
        return self

    def _edge(self):
        """What a consumer's Node points at: our Node, ourselves if a leaf needing grad, else None."""
        if self._node is not None:
            return self._node
        return self if self._requires_grad else None

    # -- conversion -------------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The values as a NumPy array: a read-only view on cpu, a host copy for cuda (waits for the GPU)."""
        if self._device.type == "cpu":
            view = self._data.view()
            view.flags.writeable = False
            return view
        return get_backend(self._device).to_numpy(self._data)

    def item(self):
        """The single value of a one-element tensor as a Python number."""
        if self._data.size != 1:
            raise ValueError(f"item(): only one-element tensors can be converted to a Python "
                             f"scalar; this one has shape {self.shape}")
        return self.numpy().reshape(()).item()

    def tolist(self):
        """The values as (nested) Python lists."""
        return self.numpy().tolist()

    def cpu(self) -> "Tensor":
        """This tensor on the CPU."""
        return self.to("cpu")

    def cuda(self, index: int = 0) -> "Tensor":
        """This tensor on GPU ``index``."""
        return self.to(f"cuda:{index}")

    def detach(self) -> "Tensor":
        """A tensor sharing this one's array, cut from the graph (requires_grad False).

        It shares the version counter too: an in-place write through either is seen by graphs
        that saved the other (PyTorch's rule: one counter per storage).
        """
        t = Tensor._wrap(self._data, self._device)
        t._vc = self._version_counter()
        return t

    def __dlpack__(self, *args, **kwargs):
        return self._data.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self):
        return self._data.__dlpack_device__()

    def __array__(self, dtype=None, copy=None):
        a = self.numpy()
        return a if dtype is None else a.astype(dtype)

    # -- autograd entry points ----------------------------------------------------------------
    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor after backward (leaves always keep theirs)."""
        if not self._requires_grad:
            raise RuntimeError("retain_grad(): this tensor does not require grad")
        if self._node is not None:
            self._node.retained = weakref.ref(self)

    def register_hook(self, fn):
        """Call ``fn(grad)`` when this tensor's gradient is computed; a returned Tensor replaces it.

        Returns a handle whose ``remove()`` unregisters the hook.
        """
        if not self._requires_grad:
            raise RuntimeError("register_hook(): cannot register a hook on a tensor that does not "
                               "require grad")
        if self._node is not None:
            if self._node.hooks is None:
                self._node.hooks = []
            hooks = self._node.hooks
        else:
            if self._hooks is None:
                self._hooks = []
            hooks = self._hooks
        hooks.append(fn)
        return _HookHandle(hooks, fn)

    def _version_counter(self) -> list:
        """The version counter ``[n]`` of this tensor's storage, created on first need."""
        vc = self._vc
        if vc is None:
            vc = self._vc = [0]
        return vc

    def _bump_version(self) -> None:
        """Record an in-place change, so graphs that saved the old values refuse to backward."""
        if self._vc is not None:
            self._vc[0] += 1

    # -- printing / hashing -------------------------------------------------------------------
    def __repr__(self) -> str:
        body = np.array2string(self.numpy(), separator=", ", prefix="tensor(")
        extras = []
        if self._device.type != "cpu":
            extras.append(f"device='{self._device}'")
        if self._data.dtype != get_default_dtype() and self._data.dtype.kind == "f":
            extras.append(f"dtype={self._data.dtype}")
        elif self._data.dtype.kind not in "fb" and self._data.dtype != np.int64:
            extras.append(f"dtype={self._data.dtype}")
        if self._node is not None:
            extras.append(f"grad_fn=<{self._node.op.name}>")
        elif self._requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise ValueError(f"the truth value of a tensor with shape {self.shape} is ambiguous; "
                             f"use .any() or .all()")
        return bool(self.item())

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self._data.dtype.kind not in "iu":
            raise TypeError("only integer tensors can be used as an index")
        return int(self.item())


class _HookHandle:
    """Returned by register_hook; ``remove()`` unregisters the hook."""

    def __init__(self, hooks, fn):
        self._hooks, self._fn = hooks, fn

    def remove(self) -> None:
        if self._fn in self._hooks:
            self._hooks.remove(self._fn)


def tensor(data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A new tensor (always a copy) from a list, scalar, NumPy/CuPy array or Tensor.

    Floating-point data becomes the default dtype (float32) unless ``dtype`` says otherwise;
    integer and boolean data keep their kind.

    >>> x = gg.tensor([[1.0, 2.0]], requires_grad=True)
    """
    dev = as_device(device)
    backend = get_backend(dev)
    if isinstance(data, Tensor):
        data = data._data if data._device == dev else data.numpy()
    elif dev.type == "cpu" and type(data).__module__.split(".")[0] == "cupy":
        data = data.get()
    if dtype is not None:
        dt = resolve_dtype(dtype)
    else:
        dt = getattr(data, "dtype", None)
        if dt is None:
            dt = np.asarray(data).dtype
        dt = np.dtype(dt)
        if dt.kind == "f":
            dt = get_default_dtype()
        elif dt.kind not in "iub":
            if dt.kind == "c":
                raise TypeError("gpugrad does not support complex dtypes")
            raise TypeError(f"tensor(): cannot make a tensor from data of dtype {dt}")
    arr = backend.xp.array(data, dtype=dt, copy=True)
    t = Tensor._wrap(arr, dev)
    if requires_grad:
        t.requires_grad = True
    return t
