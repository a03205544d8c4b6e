"""Whether operations are recorded for backward: ``no_grad``, ``enable_grad``, ``set_grad_enabled``."""
from __future__ import annotations

import functools
import threading


class _State(threading.local):
    enabled = True


state = _State()


def is_grad_enabled() -> bool:
    """True when new operations are recorded in the graph."""
    return state.enabled


class _GradModeSwitch:
    """Context manager and decorator that sets the grad mode and restores the previous one."""

    _value = True

    def __enter__(self):
        self._prev = state.enabled
        state.enabled = self._value
        return self

    def __exit__(self, *exc):
        state.enabled = self._prev
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper


class _BareDecorator(_GradModeSwitch):
    """Also usable without parentheses, ``@gg.no_grad``, as PyTorch 2.x allows."""

    def __new__(cls, fn=None):
        if fn is not None:
            if not callable(fn):
                raise TypeError(f"{cls.__name__}() takes no arguments (got {fn!r}); use it as "
                                f"`with gg.{cls.__name__}():` or as a decorator")
            return cls()(fn)
        return super().__new__(cls)

    def __init__(self, fn=None):
        pass


class no_grad(_BareDecorator):
    """Disable graph recording, as a context manager or decorator (inference, optimizer steps).

    >>> with gg.no_grad():
    ...     y = model(x)          # y.requires_grad is False
    """

    _value = False


class enable_grad(_BareDecorator):
    """Re-enable graph recording inside a ``no_grad`` region (context manager or decorator)."""

    _value = True


class set_grad_enabled(_GradModeSwitch):
    """Set grad mode to ``mode``: at once when called (``gg.set_grad_enabled(False)``), until the
    end of the block when used with ``with``, or around each call as a decorator, as PyTorch's."""

    def __init__(self, mode: bool):
        self._value = bool(mode)
        self._prev = state.enabled
        state.enabled = self._value     # PyTorch applies the mode on construction

    def __enter__(self):
        return self

    def __call__(self, fn):
        state.enabled = self._prev      # decorating must not change the mode of the caller
        mode = self._value

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        return wrapper


class inference_mode(_GradModeSwitch):
    """``torch.inference_mode``: here the same as ``no_grad`` (gpugrad has no separate inference
    tensors). ``inference_mode(False)`` leaves grad mode as it is; usable bare as a decorator."""

    def __new__(cls, mode=True):
        if callable(mode):              # @gg.inference_mode without parentheses
            return no_grad()(mode)
        return super().__new__(cls)

    def __init__(self, mode: bool = True):
        self._mode = bool(mode)

    def __enter__(self):
        self._prev = state.enabled
        if self._mode:
            state.enabled = False
        return self

    def __call__(self, fn):
        mode = self._mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with inference_mode(mode):
                return fn(*args, **kwargs)

        return wrapper
