"""Issue 23: what a CUDA graph capture must refuse, shown with a stand-in for CuPy (no GPU needed).

* the capture mode: thread-local (an unsafe call from this thread during capture is an error), not
  CuPy's default relaxed, unless GPUGRAD_CAPTURE_MODE says otherwise;
* work gpugrad launches on a stream other than the capturing one (it would run once, not replay);
* persistent state first made inside the capture (optimizer state of a parameter whose first
  gradient comes in call 2): undone, the call runs eagerly (the warm-up), a later call captures;
* peak-memory tracking leaves CuPy's allocator as it found it.
"""
from __future__ import annotations

import contextlib
import sys
import types
import warnings

import numpy as np
import pytest

import gpugrad as gg
import gpugrad.nn.functional as F
from gpugrad import cuda_graph
from gpugrad.backends import cuda_runtime, fused_elementwise


class _Pool:
    def malloc(self, size):
        raise AssertionError("the stand-in allocates nothing")

    def used_bytes(self):
        return 0

    def total_bytes(self):
        return 0


class _FakeCuda:
    """cupy.cuda's streams (with a current-stream stack), pools, allocator and capture modes."""

    def __init__(self):
        self.null = _Stream(self, ptr=0)
        self.stack = [self.null]
        self.captures = []          # (stream, mode) of each begin_capture
        self.allocator = "cupy's own allocator"
        self.runtime = types.SimpleNamespace(streamCaptureModeGlobal=0, streamCaptureModeThreadLocal=1,
                                             streamCaptureModeRelaxed=2)
        self.MemoryPool = _Pool

    def Stream(self, non_blocking=False):  # noqa: N802  (CuPy's name)
        return _Stream(self)

    def get_current_stream(self):
        return self.stack[-1]

    def using_allocator(self, allocator):
        return contextlib.nullcontext()

    def get_allocator(self):
        return self.allocator

    def set_allocator(self, allocator):
        self.allocator = allocator


class _Stream:
    _next = 0x100

    def __init__(self, cuda, ptr=None):
        self.cuda = cuda
        if ptr is None:
            _Stream._next += 0x100
            ptr = _Stream._next
        self.ptr = ptr

    def record(self):
        return None

    def wait_event(self, event):
        pass

    def begin_capture(self, mode=None):
        self.cuda.captures.append((self, mode))

    def end_capture(self):
        return types.SimpleNamespace(launch=lambda stream: None)

    def __enter__(self):
        self.cuda.stack.append(self)
        return self

    def __exit__(self, *exc):
        self.cuda.stack.pop()
        return False


@pytest.fixture
def fake_cupy(monkeypatch):
    cuda = _FakeCuda()
    pool = _Pool()
    fake = types.SimpleNamespace(cuda=cuda, get_default_memory_pool=lambda: pool)
    monkeypatch.setitem(sys.modules, "cupy", fake)
    # a fused kernel that does nothing: what matters is the stream it is launched on
    monkeypatch.setitem(fused_elementwise._compiled, "relu_vjp", lambda *args: None)
    return fake


def _graphed(step, x, y):
    fast = gg.cuda.graphed(step, x, y)
    fast.device = types.SimpleNamespace(type="cuda")   # take the CUDA capture path on CPU tensors
    return fast


def _batch():
    return gg.ones(4, 5), gg.tensor([0, 1, 2, 0])


def test_capture_is_thread_local_not_relaxed(fake_cupy, monkeypatch):
    x, y = _batch()
    fast = _graphed(lambda x, y: x * 2, x, y)
    fast(x, y)
    fast(x, y)
    (stream, mode), = fake_cupy.cuda.captures
    assert mode == fake_cupy.cuda.runtime.streamCaptureModeThreadLocal
    monkeypatch.setenv("GPUGRAD_CAPTURE_MODE", "relaxed")   # the escape hatch, said out loud
    fast = _graphed(lambda x, y: x * 2, x, y)
    fast(x, y)
    fast(x, y)
    assert fake_cupy.cuda.captures[-1][1] == fake_cupy.cuda.runtime.streamCaptureModeRelaxed
    monkeypatch.setenv("GPUGRAD_CAPTURE_MODE", "sloppy")
    with pytest.raises(ValueError, match="GPUGRAD_CAPTURE_MODE='sloppy'"):
        cuda_graph.capture_mode()


def test_a_launch_on_another_stream_during_capture_is_refused(fake_cupy):
    x, y = _batch()
    side = fake_cupy.cuda.Stream()

    def step(x, y):
        fused_elementwise.compiled("relu_vjp")(x._data, y._data)      # on the capturing stream: fine
        with side:
            fused_elementwise.compiled("relu_vjp")(x._data, y._data)  # elsewhere: not recorded
        return x

    fast = _graphed(step, x, y)
    fast(x, y)                                   # eager warm-up: no capture, no check
    with pytest.raises(cuda_graph.CaptureRefused, match=r"stream other than the capturing one.*relu_vjp"):
        fast(x, y)
    assert fast.eager_reason and fast._replay is None
    assert cuda_runtime.capture_watch() is None and cuda_runtime._pools() == [
        fake_cupy.get_default_memory_pool()]


def test_a_numba_launch_on_another_stream_during_capture_is_refused(fake_cupy, monkeypatch):
    from gpugrad.kernels import _launch
    fake_cupy.cuda.runtime.getDevice = lambda: 0
    monkeypatch.setattr(_launch, "numba_cuda", lambda: types.SimpleNamespace(external_stream=lambda ptr: ptr))
    side = fake_cupy.cuda.Stream()

    def step(x, y):
        _launch.launch_stream(fake_cupy)
        with side:
            _launch.launch_stream(fake_cupy)
        return x

    x, y = _batch()
    fast = _graphed(step, x, y)
    fast(x, y)
    with pytest.raises(cuda_graph.CaptureRefused, match="a Numba kernel on stream"):
        fast(x, y)


def test_state_first_made_inside_the_capture_is_undone_and_made_by_an_eager_warm_up(fake_cupy):
    """w2 gets its first gradient in call 2 (the capture): its momentum buffer would be made, and
    initialised, by the graph on every replay. The capture is refused, the state undone, the call
    runs eagerly (making it), and call 3 captures."""
    rng = np.random.default_rng(0)
    w1 = gg.tensor(rng.standard_normal((3, 5)), requires_grad=True)
    w2 = gg.tensor(rng.standard_normal((3, 5)), requires_grad=True)
    opt = gg.optim.SGD([w1, w2], lr=0.1, momentum=0.9)
    made_in = {}

    def step(x, y):
        opt.zero_grad()
        use_w2 = fast.calls >= 2
        loss = F.cross_entropy(F.linear(x, w1) + (F.linear(x, w2) if use_w2 else 0), y)
        loss.backward()
        opt.step()
        if w2 in opt.state:
            made_in.setdefault(id(opt.state[w2]["momentum_buffer"]), cuda_runtime.capture_watch() is not None)
        return loss

    x, y = _batch()
    fast = _graphed(step, x, y)
    fast(x, y)
    assert w2 not in opt.state
    with warnings.catch_warnings():
        warnings.simplefilter("error")           # a refusal that is retried warns nothing
        fast(x, y)
    assert fast._refusals == 1 and fast._replay is None
    buffer = opt.state[w2]["momentum_buffer"]
    assert made_in[id(buffer)] is False, "the buffer kept is the one the eager warm-up made"
    fast(x, y)
    assert fast._replay is not None, "call 3 captures, every state now made"
    assert cuda_runtime.capture_watch() is None


def test_peak_tracking_puts_back_cupys_allocator(fake_cupy):
    before = fake_cupy.cuda.allocator
    cuda_runtime.track_peak_memory(True)
    assert fake_cupy.cuda.allocator is not before
    cuda_runtime.track_peak_memory(True)         # twice on: still one allocator to restore
    cuda_runtime.track_peak_memory(False)
    assert fake_cupy.cuda.allocator is before, "a Python allocator stayed installed after tracking"
