"""gg.cuda.graphed: the static-buffer contract, on every device (a real CUDA graph on "cuda")."""
from __future__ import annotations

import contextlib
import gc
import sys
import types
import weakref

import numpy as np
import pytest

import gpugrad as gg
from gpugrad.backends import cuda_runtime
import gpugrad.nn.functional as F
from helpers import host


def _model(device):
    gg.manual_seed(0)
    rng = np.random.default_rng(0)
    w1 = gg.tensor(rng.standard_normal((8, 5)) * 0.5, device=device, requires_grad=True)
    b1 = gg.zeros(8, device=device, requires_grad=True)
    w2 = gg.tensor(rng.standard_normal((3, 8)) * 0.5, device=device, requires_grad=True)
    return [w1, b1, w2]


def _step_fn(params, lr=0.1):
    w1, b1, w2 = params

    def step(x, y):
        for p in params:
            p.grad = None
        loss = F.cross_entropy(F.linear(F.linear_relu(x, w1, b1), w2), y)
        loss.backward()
        with gg.no_grad():
            for p in params:
                p -= lr * p.grad
        return loss

    return step


def test_graphed_step_gives_the_same_numbers_as_the_eager_step(device):
    rng = np.random.default_rng(1)
    batches = [(gg.tensor(rng.standard_normal((6, 5)), device=device),
                gg.tensor(rng.integers(0, 3, 6), device=device)) for _ in range(5)]
    eager_params, graph_params = _model(device), _model(device)
    eager, fast = _step_fn(eager_params), None
    losses_eager, losses_graph = [], []
    for x, y in batches:
        losses_eager.append(eager(x, y).item())
        if fast is None:
            fast = gg.cuda.graphed(_step_fn(graph_params), x, y)
        losses_graph.append(fast(x, y).item())
    np.testing.assert_allclose(losses_graph, losses_eager, rtol=1e-6)
    for a, b in zip(eager_params, graph_params):
        np.testing.assert_allclose(host(b), host(a), rtol=1e-6, atol=1e-7)


def test_graphed_step_refuses_inputs_of_another_shape(device):
    x = gg.ones(4, 5, device=device)
    y = gg.tensor([0, 1, 2, 0], device=device)
    fast = gg.cuda.graphed(_step_fn(_model(device)), x, y)
    fast(x, y)
    with pytest.raises(ValueError, match=r"input 0 has shape \(3, 5\).*\(4, 5\).*drop_last"):
        fast(gg.ones(3, 5, device=device), y)
    with pytest.raises(TypeError, match="2 inputs"):
        fast(x)


# --- the private memory pool's lifetime, with a stand-in for CuPy (no GPU needed) ----------------

class _FakePool:
    """Stands in for cupy.cuda.MemoryPool (which, unlike this, cannot be weakly referenced)."""

    def malloc(self, size):
        raise AssertionError("the fake capture allocates nothing")

    def used_bytes(self):
        return 0

    def total_bytes(self):
        return 0


class _FakeStream:
    made = 0

    def __init__(self, non_blocking=False):
        _FakeStream.made += 1
        self.ptr = 0x1000 * _FakeStream.made
        self.capture_mode = None

    def record(self):
        return None

    def wait_event(self, event):
        pass

    def begin_capture(self, mode=None):
        self.capture_mode = mode
        _FakeStream.last_capture = self

    def end_capture(self):
        return types.SimpleNamespace(launch=lambda stream: None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.fixture
def fake_cupy(monkeypatch):
    """``import cupy`` yields a stand-in whose streams capture nothing and whose pools hold nothing;
    ``fake.pools_made`` lists the private pools made (for captures)."""
    default_pool = _FakePool()

    def memory_pool():
        fake.pools_made.append(_FakePool())
        return fake.pools_made[-1]

    fake = types.SimpleNamespace(
        pools_made=[], get_default_memory_pool=lambda: default_pool,
        cuda=types.SimpleNamespace(get_current_stream=_FakeStream, Stream=_FakeStream,
                                   MemoryPool=memory_pool,
                                   using_allocator=lambda allocator: contextlib.nullcontext(),
                                   runtime=types.SimpleNamespace(streamCaptureModeGlobal=0,
                                                                 streamCaptureModeThreadLocal=1,
                                                                 streamCaptureModeRelaxed=2)))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    return fake


def _graphed_on_fake_cuda(step):
    """A graphed step that takes the CUDA capture path (on CPU tensors, with the fake CuPy)."""
    x = gg.ones(4, 5)
    y = gg.tensor([0, 1, 2, 0])
    fast = gg.cuda.graphed(step, x, y)
    fast.device = types.SimpleNamespace(type="cuda")
    return fast, x, y


def test_a_discarded_graphed_step_frees_its_private_pool(fake_cupy):
    fast, x, y = _graphed_on_fake_cuda(_step_fn(_model("cpu")))
    fast(x, y)   # eager warm-up
    fast(x, y)   # capture and first replay
    assert len(fake_cupy.pools_made) == 1
    pool = weakref.ref(fake_cupy.pools_made.pop())
    assert pool() in cuda_runtime._pools()     # counted in memory_stats while the step lives
    del fast
    gc.collect()
    assert pool() is None, "the module registry kept a discarded graphed step's pool alive"
    assert cuda_runtime._pools() == [fake_cupy.get_default_memory_pool()]


def test_a_failed_capture_leaves_no_pool_registered(fake_cupy):
    def step(x, y):
        if fast.calls > 1:
            raise ValueError("boom")
        return x

    fast, x, y = _graphed_on_fake_cuda(step)
    fast(x, y)
    with pytest.raises(RuntimeError, match=r"graphed: capturing the step failed \(ValueError: boom\)"):
        fast(x, y)
    assert cuda_runtime._pools() == [fake_cupy.get_default_memory_pool()]
    assert getattr(fast, "_graph_pool", None) is None
