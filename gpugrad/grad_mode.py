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


class no_grad(_GradModeSwitch):
    """Disable graph recording, as a context manager or decorator (inference, optimizer steps).

    >>> with gg.no_grad():
    ...     y = model(x)          # y.requires_grad is False
    """

    _value = False


class enable_grad(_GradModeSwitch):
    """Re-enable graph recording inside a ``no_grad`` region (context manager or decorator)."""

    _value = True


class set_grad_enabled(_GradModeSwitch):
    """Set grad mode to ``mode`` for the duration of a ``with`` block."""

    def __init__(self, mode: bool):
        self._value = bool(mode)
