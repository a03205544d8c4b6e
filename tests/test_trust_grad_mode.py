"""Grad-mode contexts as decorators, checked against PyTorch as the reference.

The matrix: every grad-mode context of gpugrad/grad_mode.py (no_grad, enable_grad, set_grad_enabled,
inference_mode; with and without parentheses) x every target kind (function, method, generator
function driven by next/send/throw/close, recursion) x the mode around the call (none, no_grad,
enable_grad). Each case runs the same scenario with gpugrad and with torch and compares the
grad-mode readings taken inside the body and in the caller between steps. Handed case (issue 21,
item 4): ``@gg.no_grad()`` on a generator function left its body recording graphs.
"""
from __future__ import annotations

import threading

import numpy as np
import pytest

import gpugrad as gg

torch = pytest.importorskip("torch")

# (name, factory taking the library module and returning a decorator)
CONTEXTS = {
    "no_grad()": lambda L: L.no_grad(),
    "no_grad": lambda L: L.no_grad,
    "enable_grad()": lambda L: L.enable_grad(),
    "enable_grad": lambda L: L.enable_grad,
    "set_grad_enabled(False)": lambda L: L.set_grad_enabled(False),
    "set_grad_enabled(True)": lambda L: L.set_grad_enabled(True),
    "inference_mode()": lambda L: L.inference_mode(),
    "inference_mode": lambda L: L.inference_mode,
    "inference_mode(False)": lambda L: L.inference_mode(False),
}
OUTER = {
    "none": lambda L: _Null(),
    "no_grad": lambda L: L.no_grad(),
    "enable_grad": lambda L: L.enable_grad(),
}


class _Null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _records(L, x):
    """Whether an op on ``x`` records a graph, as the library sees it now."""
    return (L.is_grad_enabled(), bool((x * 2).requires_grad))


def _leaf(L):
    return (gg.tensor([1.0, 2.0], requires_grad=True) if L is gg
            else torch.tensor([1.0, 2.0], requires_grad=True))


def scenario_function(L, deco, seen):
    x = _leaf(L)

    @deco
    def f(a, b=1):
        seen.append(("body",) + _records(L, x))
        return a + b
    assert f(1, b=2) == 3
    seen.append(("after",) + _records(L, x))


def scenario_method(L, deco, seen):
    x = _leaf(L)

    class C:
        scale = 3

        @deco
        def m(self, a):
            seen.append(("body",) + _records(L, x))
            return a * self.scale
    assert C().m(2) == 6
    seen.append(("after",) + _records(L, x))


def scenario_recursion(L, deco, seen):
    x = _leaf(L)

    @deco
    def f(n):
        seen.append((f"depth{n}",) + _records(L, x))
        return 0 if n == 0 else 1 + f(n - 1)
    assert f(2) == 2
    seen.append(("after",) + _records(L, x))


def scenario_generator_next(L, deco, seen):
    x = _leaf(L)

    @deco
    def gen(n):
        for i in range(n):
            seen.append((f"body{i}",) + _records(L, x))
            yield x * (i + 1)
        seen.append(("body-end",) + _records(L, x))
        return "done"
    g = gen(3)
    seen.append(("created",) + _records(L, x))
    for i, y in enumerate(g):
        seen.append((f"caller{i}", L.is_grad_enabled(), bool(y.requires_grad)))
        # the caller changes its own mode between yields: the body must not see it, and the
        # caller must get it back after the next step
        L.set_grad_enabled(i % 2 == 0)
    seen.append(("after",) + _records(L, x))


def scenario_generator_send(L, deco, seen):
    x = _leaf(L)

    @deco
    def echo():
        got = yield "ready"
        while got is not None:
            seen.append((f"got {got}",) + _records(L, x))
            got = yield got * 10
        return "stopped"
    g = echo()
    assert next(g) == "ready"
    seen.append(("caller",) + _records(L, x))
    assert g.send(1) == 10
    assert g.send(2) == 20
    seen.append(("caller2",) + _records(L, x))
    with pytest.raises(StopIteration) as stop:
        g.send(None)
    assert stop.value.value == "stopped"
    seen.append(("after",) + _records(L, x))


def scenario_generator_throw(L, deco, seen):
    x = _leaf(L)

    @deco
    def gen():
        while True:
            try:
                yield 1
            except KeyError as exc:
                seen.append((f"caught {exc}",) + _records(L, x))
                yield 2
            except ValueError:
                seen.append(("re-raise",) + _records(L, x))
                raise
    g = gen()
    next(g)
    assert g.throw(KeyError("k")) == 2
    seen.append(("caller",) + _records(L, x))
    next(g)
    with pytest.raises(ValueError):
        g.throw(ValueError("v"))
    seen.append(("after",) + _records(L, x))


def scenario_generator_close(L, deco, seen):
    x = _leaf(L)

    @deco
    def gen():
        try:
            yield 1
            yield 2
        finally:
            seen.append(("finally",) + _records(L, x))
    g = gen()
    next(g)
    g.close()
    seen.append(("after close",) + _records(L, x))
    g2 = gen()
    next(g2)
    del g2          # closed by the garbage collector: still under the decorated mode
    seen.append(("after del",) + _records(L, x))


def scenario_yield_from(L, deco, seen):
    x = _leaf(L)

    def inner():
        seen.append(("inner",) + _records(L, x))
        yield 1
        return 7

    @deco
    def outer():
        r = yield from inner()
        seen.append((f"outer got {r}",) + _records(L, x))
        yield r
    assert list(outer()) == [1, 7]
    seen.append(("after",) + _records(L, x))


SCENARIOS = {name[len("scenario_"):]: fn for name, fn in globals().items() if name.startswith("scenario_")}


def _run(L, scenario, context, outer):
    seen = []
    L.set_grad_enabled(True)
    try:
        with OUTER[outer](L):
            seen.append(("outer",) + _records(L, _leaf(L)))
            SCENARIOS[scenario](L, CONTEXTS[context](L), seen)
        seen.append(("outside",) + _records(L, _leaf(L)))
    finally:
        L.set_grad_enabled(True)
    return seen


@pytest.mark.parametrize("outer", list(OUTER))
@pytest.mark.parametrize("scenario", list(SCENARIOS))
@pytest.mark.parametrize("context", list(CONTEXTS))
def test_decorator_matrix_matches_torch(context, scenario, outer):
    want = _run(torch, scenario, context, outer)
    got = _run(gg, scenario, context, outer)
    assert got == want


# -- the handed case -------------------------------------------------------------------------------
def test_no_grad_generator_yields_tensors_without_graph():
    w = gg.tensor([1.0, 2.0], requires_grad=True)

    @gg.no_grad()
    def batches():
        for i in range(3):
            yield w * i
    ys = list(batches())
    assert [y.requires_grad for y in ys] == [False, False, False]
    assert gg.is_grad_enabled()


@pytest.mark.parametrize("deco", [lambda: gg.set_grad_enabled(False), lambda: gg.inference_mode()])
def test_set_grad_enabled_and_inference_mode_generators(deco):
    w = gg.tensor([1.0], requires_grad=True)

    @deco()
    def gen():
        yield w * 2
        yield w * 3
    assert gg.is_grad_enabled()        # decorating did not change the caller's mode
    assert [y.requires_grad for y in gen()] == [False, False]


# -- threads: the mode is per thread, and a decorated generator carries it to the thread that runs it
def test_mode_is_per_thread_and_generator_brings_its_mode_to_the_resuming_thread():
    w = gg.tensor([1.0], requires_grad=True)
    seen = {}

    @gg.no_grad()
    def gen():
        while True:
            yield (gg.is_grad_enabled(), (w * 2).requires_grad)

    g = gen()
    with gg.no_grad():
        def other():
            seen["thread starts enabled"] = gg.is_grad_enabled()
            seen["thread body"] = next(g)
            seen["thread after"] = gg.is_grad_enabled()
        t = threading.Thread(target=other)
        t.start()
        t.join()
        seen["main inside no_grad"] = gg.is_grad_enabled()
    assert seen == {"thread starts enabled": True, "thread body": (False, False),
                    "thread after": True, "main inside no_grad": False}


def test_decorating_a_class_or_non_callable_is_refused():
    with pytest.raises(TypeError, match="decorate the methods"):
        @gg.no_grad()
        class C:
            pass
    with pytest.raises(TypeError, match="no_grad"):
        gg.no_grad(3)


def test_decorated_function_keeps_name_doc_and_signature():
    import inspect

    @gg.inference_mode
    def f(a, b=2):
        """Doc."""
        return a

    def g(a, b=2):
        yield a
    wrapped = gg.no_grad()(g)
    assert f.__name__ == "f" and f.__doc__ == "Doc." and str(inspect.signature(f)) == "(a, b=2)"
    assert wrapped.__name__ == "g" and inspect.isgeneratorfunction(wrapped)
    assert np.array_equal(next(wrapped(1)), 1)
