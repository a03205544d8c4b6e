"""``Module`` (a tree of layers that owns Parameters) and ``Parameter`` (a Tensor a Module trains).

Assigning a Parameter or a Module to an attribute registers it, as in PyTorch::

    class Affine(gg.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = gg.nn.Parameter(gg.ones(3))
        def forward(self, x):
            return x * self.w
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Iterator, NamedTuple

import numpy as np

from ..backends import get_backend
from ..device import Device, as_device
from ..dtypes import resolve_dtype
from ..tensor import Tensor, tensor
from ..ops.transfer import move_array


class Parameter(Tensor):
    """A Tensor that a Module registers as trainable (requires_grad defaults to True).

    Shares storage with ``data`` (a Tensor or an array of its device) when it can; never records history.
    """

    __slots__ = ()

    def __new__(cls, data=None, requires_grad: bool = True):
        if data is None:
            data = np.zeros((0,), dtype=np.float32)
        if isinstance(data, Tensor):
            arr, dev = data._data, data._device
        else:
            t = tensor(data)
            arr, dev = t._data, t._device
        p = Tensor._wrap.__func__(cls, arr, dev)
        p.requires_grad = requires_grad
        return p

    def __init__(self, data=None, requires_grad: bool = True):
        pass  # everything happened in __new__ (Tensor.__init__ would copy)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class IncompatibleKeys(NamedTuple):
    missing_keys: list
    unexpected_keys: list


class Module:
    """Base class of every layer: registers Parameters and sub-Modules assigned as attributes.

    Subclasses call ``super().__init__()`` first and define ``forward``; calling the module calls it.
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "training", True)

    # -- registration -------------------------------------------------------------------------
    def __setattr__(self, name: str, value) -> None:
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() before assigning "
                               f"attributes (assigning {name!r})")
        if name in self._buffers and (value is None or isinstance(value, Tensor)) \
                and not isinstance(value, Parameter):
            self._buffers[name] = value      # a buffer stays a buffer (e.g. running statistics)
            return
        if name in self._parameters and value is not None and not isinstance(value, Parameter):
            raise TypeError(f"{type(self).__name__}: cannot assign a {type(value).__name__} to "
                            f"parameter {name!r}; wrap it as gg.nn.Parameter(...) or assign None")
        target = (self._parameters if isinstance(value, Parameter)
                  else self._modules if isinstance(value, Module) else None)
        for d in (self._parameters, self._buffers, self._modules):
            if d is not target:
                d.pop(name, None)
        if target is None:
            object.__setattr__(self, name, value)
            return
        target[name] = value     # a replaced entry keeps its place (state_dict order, as PyTorch)
        self.__dict__.pop(name, None)

    def __getattr__(self, name: str):
        # Only called when normal lookup fails: registered entries live in the three dicts.
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            if key in d and name in d[key]:
                return d[key][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        for d in (self._parameters, self._buffers, self._modules):
            if name in d:
                del d[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` under ``name`` (None registers an absent parameter, e.g. no bias)."""
        if param is None:
            self.__dict__.pop(name, None)
            self._parameters[name] = None
        elif not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: {name!r} must be a gg.nn.Parameter (or None), got a "
                            f"{type(param).__name__}; wrap it as gg.nn.Parameter(tensor)")
        else:
            setattr(self, name, param)

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Register a non-trainable tensor (e.g. running statistics), moved by ``to()`` with the
        parameters. ``persistent`` buffers are part of the state_dict; others are not (PyTorch's rule)."""
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"register_buffer: buffer name must be a non-empty string without '.', got {name!r}")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer: {name!r} must be a Tensor or None, got {type(tensor).__name__}")
        if name in self._parameters or name in self._modules:
            raise KeyError(f"register_buffer: {name!r} is already a parameter or submodule of "
                           f"{type(self).__name__}")
        self.__dict__.pop(name, None)
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)

    def register_module(self, name: str, module: "Module | None") -> None:
        """Alias of :meth:`add_module`, as in PyTorch."""
        self.add_module(name, module)

    def get_submodule(self, target: str) -> "Module":
        """The descendant at dotted path ``target`` ("" is self), as PyTorch's get_submodule."""
        m = self
        for part in filter(None, target.split(".")):
            if part not in m._modules or m._modules[part] is None:
                raise AttributeError(f"get_submodule: {type(m).__name__} has no submodule {part!r} "
                                     f"(path {target!r})")
            m = m._modules[part]
        return m

    def add_module(self, name: str, module: "Module | None") -> None:
        """Register ``module`` as a child under ``name``."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {name!r} must be a Module, got {type(module).__name__}")
        self.__dict__.pop(name, None)
        self._modules[name] = module

    # -- calling ------------------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # -- traversal ----------------------------------------------------------------------------
    def named_modules(self, prefix: str = "", memo=None, remove_duplicate: bool = True
                      ) -> Iterator[tuple[str, "Module"]]:
        """(name, module) for this module and every descendant, depth first. A module registered
        in two places appears once (``remove_duplicate=False``: under every name, as PyTorch's).

        Note: ``prefix`` comes first here (PyTorch's first positional is ``memo``); pass both by
        keyword to write code that runs on either.
        """
        if remove_duplicate:
            memo = set() if memo is None else memo
            if id(self) in memo:
                return
            memo.add(id(self))
        yield from self._walk_modules(prefix, memo if remove_duplicate else None, ())

    def _walk_modules(self, prefix, memo, path):
        # ``path``: the ids of the ancestors. Without dedup a module that contains itself would
        # recurse forever (PyTorch's does); it is visited once on each path instead.
        yield prefix, self
        path = path + (id(self),)
        for name, m in self._modules.items():
            if m is None or id(m) in path:
                continue
            if memo is not None:
                if id(m) in memo:
                    continue
                memo.add(id(m))
            yield from m._walk_modules(f"{prefix}.{name}" if prefix else name, memo, path)

    def modules(self) -> Iterator["Module"]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        """(name, child) pairs; a child registered under two names appears once (PyTorch's)."""
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self) -> Iterator["Module"]:
        for _, m in self.named_children():
            yield m

    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
                         ) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, Parameter) pairs. A Parameter shared by two modules (tied weights,
        ``b.weight = a.weight``) appears once, under its first name; ``remove_duplicate=False``
        gives every name (PyTorch's rule, also for a module registered twice)."""
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def _named_members(self, kind: str, prefix: str, recurse: bool, remove_duplicate: bool):
        seen = set()
        mods = self.named_modules(prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for mprefix, m in mods:
            for name, t in getattr(m, kind).items():
                if t is None:
                    continue
                if remove_duplicate:
                    if id(t) in seen:
                        continue
                    seen.add(id(t))
                yield (f"{mprefix}.{name}" if mprefix else name), t

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
                      ) -> Iterator[tuple[str, Tensor]]:
        """(dotted name, buffer) pairs, persistent or not; None buffers are skipped; a buffer
        shared by two modules appears once unless ``remove_duplicate=False`` (PyTorch's rule)."""
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn) -> "Module":
        """Call ``fn(module)`` on every descendant and then on self (children first, as PyTorch);
        typically to initialise weights. Returns self."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        """Set requires_grad on every parameter (e.g. False to freeze a part). Returns self."""
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    # -- modes and housekeeping --------------------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        """Set training mode (Dropout active) on this module and every descendant."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> "Module":
        """Set evaluation mode (Dropout is the identity)."""
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's ``.grad`` (drop it, or fill it with zeros in place)."""
        for p in self.parameters():
            clear_grad(p, set_to_none)

    def to(self, *args, device=None, dtype=None, non_blocking: bool = False) -> "Module":
        """Move and/or cast every parameter and buffer in place; returns self. As PyTorch's:
        ``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(tensor)`` or keywords; a dtype
        casts only floating-point parameters and buffers (integer buffers such as
        num_batches_tracked keep theirs), and must itself be floating.

        The Parameter objects stay the same, so an optimizer built before ``to`` still holds them.
        """
        for a in args:
            if isinstance(a, Tensor):
                device, dtype = a.device, a.dtype
            elif a is None:
                continue
            elif isinstance(a, Device) or (isinstance(a, str) and a.split(":")[0] in ("cpu", "cuda", "cudasim")):
                device = a
            else:
                dtype = a
        if dtype is not None:
            dtype = resolve_dtype(dtype)
            if dtype.kind != "f":
                raise TypeError(f"{type(self).__name__}.to: only floating dtypes are allowed, got {dtype}")
        dev = None if device is None else as_device(device)
        tensors = list(self.parameters()) + [b for _, b in self.named_buffers()]
        for t in tensors:
            cast = dtype if t.dtype.kind == "f" else None
            _move(t, dev, cast)
            if t.grad is not None:
                _move(t.grad, dev, cast)
        return self

    def cuda(self, device=None) -> "Module":
        """Move every parameter and buffer to the GPU (``device``: an index or "cuda:N")."""
        return self.to("cuda" if device is None else (f"cuda:{device}" if isinstance(device, int) else device))

    def cpu(self) -> "Module":
        """Move every parameter and buffer to the CPU."""
        return self.to("cpu")

    def float(self) -> "Module":  # noqa: A003
        """Cast floating parameters and buffers to float32."""
        return self.to(dtype="float32")

    def double(self) -> "Module":
        """Cast floating parameters and buffers to float64."""
        return self.to(dtype="float64")

    def half(self) -> "Module":
        """Cast floating parameters and buffers to float16."""
        return self.to(dtype="float16")

    # -- state ----------------------------------------------------------------------------------
    def _state_items(self, prefix: str = ""):
        """(dotted name, tensor) of parameters and persistent buffers, module by module (each
        module's parameters then its buffers), in PyTorch's state_dict order. Every name is kept:
        a tied tensor (``b.weight = a.weight``) or a module registered twice appears under each of
        its names, as in PyTorch, so either library loads the other's state_dict."""
        for mprefix, m in self.named_modules(prefix, remove_duplicate=False):
            for name, p in m._parameters.items():
                if p is not None:
                    yield (f"{mprefix}.{name}" if mprefix else name), p
            for name, b in m._buffers.items():
                if b is not None and name not in m._non_persistent_buffers:
                    yield (f"{mprefix}.{name}" if mprefix else name), b

    def state_dict(self, destination=None, prefix: str = "", keep_vars: bool = False):
        """Parameters and persistent buffers by dotted name, as detached Tensors sharing the
        module's storage (``keep_vars=True``: the Parameters themselves), in PyTorch's order."""
        out = OrderedDict() if destination is None else destination
        for name, t in self._state_items(prefix.rstrip(".")):
            out[name] = t if keep_vars else t.detach()
        return out

    def load_state_dict(self, state_dict, strict: bool = True) -> IncompatibleKeys:
        """Copy values from ``state_dict`` (Tensors or arrays by name) into this module's storage.

        With ``strict`` (the default) any missing or unexpected key is an error; a shape mismatch
        always is. The error lists every offending entry. Returns (missing_keys, unexpected_keys).

        Tied tensors: the values are copied into the module's own storage, so a tie
        (``b.weight = a.weight``) stays one Parameter. A state_dict may name a tied tensor under
        all of its names (PyTorch's and gpugrad's state_dict do) or under only one (a
        ``gg.safetensors.save_model`` file, or a gpugrad checkpoint older than this rule): a name
        left out whose tensor is loaded under another name is not missing. This last point goes
        beyond PyTorch, whose strict load reports such a name as missing.
        """
        own = OrderedDict(self._state_items())
        loaded = {id(t) for k, t in own.items() if k in state_dict}
        missing = [k for k, t in own.items() if k not in state_dict and id(t) not in loaded]
        unexpected = [k for k in state_dict if k not in own]
        bad_shape = []
        for k, t in own.items():
            if k in state_dict:
                shape = tuple(np.shape(state_dict[k]) if not isinstance(state_dict[k], Tensor)
                              else state_dict[k].shape)
                if shape != t.shape:
                    bad_shape.append(f"{k}: checkpoint has shape {shape}, model has {t.shape}")
        problems = []
        if strict and missing:
            problems.append("missing keys: " + ", ".join(missing))
        if strict and unexpected:
            problems.append("unexpected keys: " + ", ".join(unexpected))
        if bad_shape:
            problems.append("wrong shapes: " + "; ".join(bad_shape))
        if problems:
            raise RuntimeError(f"load_state_dict for {type(self).__name__}: " + ". ".join(problems))
        for k, t in own.items():
            if k in state_dict:
                v = state_dict[k]
                src = v._data if isinstance(v, Tensor) and v._device == t._device else (
                    v.numpy() if isinstance(v, Tensor) else v)
                xp = get_backend(t._device).xp
                t._data[...] = xp.asarray(src, dtype=t.dtype)
                t._bump_version()
        return IncompatibleKeys(missing, unexpected)

    # -- printing ---------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"({name}): " + repr(m).replace("\n", "\n  ")       # every name, as PyTorch prints
                 for name, m in self._modules.items() if m is not None]
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"


def clear_grad(p: Tensor, set_to_none: bool) -> None:
    """Drop ``p.grad`` (set_to_none) or zero it in place; shared by Module and Optimizer zero_grad."""
    if p.grad is None:
        return
    if set_to_none:
        p.grad = None
    else:
        p.grad._data[...] = 0
        p.grad._bump_version()


def _move(t: Tensor, device, dtype) -> None:
    """Rebind ``t``'s storage to ``device``/``dtype`` (only where it changes)."""
    arr, dev = t._data, t._device
    if device is not None and device != dev:
        arr = move_array(arr, dev, device)
        dev = device
    if dtype is not None and arr.dtype != np.dtype(dtype):
        arr = arr.astype(dtype)
    if arr is not t._data or dev != t._device:  # cpu <-> cudasim keeps the same NumPy array
        t._data = arr
        t._device = dev
        t._bump_version()
