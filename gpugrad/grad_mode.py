"""Whether operations are recorded for backward: ``no_grad``, ``enable_grad``, ``set_grad_enabled``,
``inference_mode``.

Each is a context manager and a decorator, as in PyTorch (``torch/autograd/grad_mode.py`` and
``torch/utils/_contextlib.py``). The mode is per thread (a new thread starts with grad enabled).
As a decorator the mode holds while the decorated code runs, and only then:

* a function or method: for the duration of each call;
* a generator function: inside the generator's body from each resumption to the next ``yield``
  (also while ``send``, ``throw`` and ``close`` run it); between yields the caller's own mode is
  back, whatever the caller changes it to;
* a class is refused (TypeError): decorate its methods.

Async functions are not special-cased (as in PyTorch): the mode holds while the coroutine object is
created, not across its awaits.
"""
from __future__ import annotations

import functools
import inspect
import threading


class _State(threading.local):
    enabled = True


state = _State()


def is_grad_enabled() -> bool:
    """True when new operations are recorded in the graph."""
    return state.enabled


def _decorate(make_context, fn):
    """``fn`` wrapped so that each call runs inside a fresh ``make_context()``.

    A fresh context per call keeps recursion and reentrant use right (each ``__enter__`` saves the
    mode it replaces). Generator functions get the wrapper PyTorch uses (its PR #49017): a
    generator's body runs in pieces, so the mode is entered around each piece and left before the
    value goes back to the caller.
    """
    if inspect.isclass(fn):
        raise TypeError(f"cannot decorate the class {fn.__name__} with a grad mode: it is ambiguous "
                        f"whether the constructor or every method is meant; decorate the methods")
    if not callable(fn):
        raise TypeError(f"a grad mode decorates a function, method or generator function; got a "
                        f"{type(fn).__name__} ({fn!r})")
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def generator_wrapper(*args, **kwargs):
            gen = fn(*args, **kwargs)
            try:
                with make_context():
                    response = gen.send(None)
                while True:
                    try:
                        request = yield response
                    except GeneratorExit:
                        with make_context():
                            gen.close()
                        raise
                    except BaseException as exc:     # thrown in by the caller: on to the body
                        with make_context():
                            response = gen.throw(exc)
                    else:
                        with make_context():
                            response = gen.send(request)
            except StopIteration as stop:
                return stop.value

        return generator_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with make_context():
            return fn(*args, **kwargs)

    return wrapper


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

    def _clone(self):
        return self.__class__()

    def __call__(self, fn):
        return _decorate(self._clone, fn)


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

    def _clone(self):
        return set_grad_enabled(self._value)

    def __call__(self, fn):
        state.enabled = self._prev      # decorating must not change the mode of the caller
        return _decorate(self._clone, fn)


class inference_mode(_GradModeSwitch):
    """``torch.inference_mode``: here grad mode off (gpugrad has no separate inference tensors).

    As PyTorch's, ``inference_mode(mode)`` sets grad mode to ``not mode`` for its block, so
    ``inference_mode(False)`` turns recording on even inside ``no_grad``. Usable bare as a
    decorator (``@gg.inference_mode``).
    """

    def __new__(cls, mode=True):
        if callable(mode) and not isinstance(mode, bool):   # @gg.inference_mode without parentheses
            return cls()(mode)
        return super().__new__(cls)

    def __init__(self, mode: bool = True):
        self._mode = bool(mode)
        self._value = not self._mode

    def _clone(self):
        return inference_mode(self._mode)
