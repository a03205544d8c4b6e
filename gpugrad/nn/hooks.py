"""Module forward hooks, as PyTorch's ``register_forward_pre_hook`` / ``register_forward_hook``.

A module's hooks live in its ``__dict__`` only once one is registered, so a module without hooks
is called as before (one dict lookup) and its ``state_dict`` never sees them. Semantics are
PyTorch 2.x's: a pre-hook ``hook(module, args)`` may return new args (a non-tuple is wrapped in
one); a forward hook ``hook(module, args, output)`` may return a new output; ``with_kwargs=True``
passes the keyword arguments too (``hook(module, args, kwargs)`` -> (args, kwargs) or None;
``hook(module, args, kwargs, output)``); ``prepend=True`` runs a hook before those already there;
``always_call=True`` runs a forward hook even when forward raised. Each registration returns a
handle whose ``remove()`` takes the hook out (also as a context manager).
"""
from __future__ import annotations

import itertools
from collections import OrderedDict

_ids = itertools.count()

PRE, POST = "_forward_pre_hooks", "_forward_hooks"


class RemovableHandle:
    """What ``register_*_hook`` returns: ``handle.remove()`` unregisters the hook (again: a no-op),
    as ``torch.utils.hooks.RemovableHandle``; ``with module.register_forward_hook(h): ...`` too."""

    def __init__(self, hooks: OrderedDict):
        self.id = next(_ids)
        self._hooks = hooks

    def remove(self) -> None:
        self._hooks.pop(self.id, None)

    def __enter__(self) -> "RemovableHandle":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def has_hooks(module) -> bool:
    """Whether ``module`` has a forward hook or pre-hook registered now (None: no module, False)."""
    d = getattr(module, "__dict__", None)
    return bool(d) and bool(d.get(PRE) or d.get(POST))


def register(module, which: str, hook, prepend: bool, **flags) -> RemovableHandle:
    if not callable(hook):
        raise TypeError(f"register_forward{'_pre' if which == PRE else ''}_hook: hook must be callable, got "
                        f"{type(hook).__name__}")
    hooks = module.__dict__.get(which)
    if hooks is None:
        hooks = module.__dict__[which] = OrderedDict()
    handle = RemovableHandle(hooks)
    hooks[handle.id] = (hook, flags)
    if prepend:
        hooks.move_to_end(handle.id, last=False)
    return handle


def call(module, args: tuple, kwargs: dict):
    """``module(*args, **kwargs)`` with its hooks around ``forward``."""
    for hook, flags in list(module.__dict__.get(PRE, {}).values()):
        if flags.get("with_kwargs"):
            result = hook(module, args, kwargs)
            if result is not None:
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise RuntimeError(f"forward pre-hook {hook!r} (with_kwargs=True) must return None or "
                                       f"a tuple (args, kwargs), got {type(result).__name__}")
                args, kwargs = result
        else:
            result = hook(module, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
    post = list(module.__dict__.get(POST, {}).values())
    try:
        output = module.forward(*args, **kwargs)
    except Exception:
        for hook, flags in post:
            if flags.get("always_call"):
                try:
                    hook(module, args, kwargs, None) if flags.get("with_kwargs") else hook(module, args, None)
                except Exception:   # the forward's error is the one to report, as PyTorch does
                    pass
        raise
    for hook, flags in post:
        result = hook(module, args, kwargs, output) if flags.get("with_kwargs") else hook(module, args, output)
        if result is not None:
            output = result
    return output
