"""Whole-step CUDA graph capture: ``gg.cuda.graphed(step, *example_inputs)``.

A training step of a small MLP is dozens of tiny kernels, each costing more Python and launch
time than GPU time. Capturing the step once as a CUDA graph and replaying it removes both.

How it works, and the contract it puts on ``step``:

* The step's tensor arguments are copied into static input buffers on every call; the step is
  always run on those buffers, so the captured kernels read from fixed addresses.
* Call 1 runs ``step`` eagerly: it compiles every kernel (Numba and CuPy), creates optimizer
  state and warms the memory pool. Call 2 captures the step on a side stream, with its own
  private memory pool (so nothing else can ever be given the addresses the graph writes),
  then launches the graph; later calls only copy inputs and launch. Every call therefore does
  exactly one real step, and the results equal the eager ones.
* Returned tensors are static: each replay overwrites them (read ``.item()`` before the next call).
* The capture runs in thread-local mode (GPUGRAD_CAPTURE_MODE): an unsafe CUDA call from this
  thread during it (a host sync, the legacy default stream) is an error, not a silently incomplete
  graph. Two hazards CUDA cannot see are refused too (CaptureRefused): a gpugrad kernel launched on
  another stream (it would run once, not be recorded), and persistent state first made inside the
  capture (optimizer state of a parameter that had no gradient in call 1, a device step count):
  the graph would re-initialise it on every replay. The latter is undone, the call runs eagerly
  (making that state: the warm-up) and a later call captures.
* ``step`` must not wait for the host inside (``.item()``, ``.numpy()``, printing). Python values
  it reads are frozen into the graph at capture: the optimizers pass the learning rate and their
  other hyper-parameters (momentum, betas, eps, weight decay) to the fused update kernels as
  Python numbers, so replays keep using the values of call 2. After changing them (e.g. a
  learning-rate scheduler step), build a new graphed step. (Adam's step count is the exception:
  it lives on the device and advances on every replay.) Random numbers drawn inside (dropout)
  repeat on every replay.

On the CPU the step is captured too, as the NumPy calls it makes, and replayed into static
buffers (gpugrad/cpu_graph.py, with a safety net: a step it cannot replay exactly runs eagerly
from then on, after one warning saying why; there the optimizers' hyper-parameters are checked
before every replay, and a change makes the step run eagerly instead of using stale values). On cudasim the same wrapper runs ``step`` eagerly
on the static buffers, with the same semantics, so code written for it runs everywhere.
"""
from __future__ import annotations

import warnings

from . import cpu_graph
from .backends.cuda_runtime import (CaptureWatch, allocator_for, register_graph_pool, set_capture_watch,
                                    unregister_graph_pool)
from .tensor import Tensor


def graphed(step, *example_inputs):
    """Wrap ``step(*tensors)`` so that, on a GPU, it runs as a replayed CUDA graph, and on the CPU as
    a replay of its NumPy calls into static buffers (see module doc and gpugrad/cpu_graph.py; also
    ``gg.graphed``). Returns a callable taking tensors of the example inputs' shapes and dtypes.

    >>> fast_step = gg.cuda.graphed(train_step, x_batch, y_batch)
    >>> for x, y in loader:
    ...     loss = fast_step(x, y)
    """
    return GraphedStep(step, example_inputs)


class GraphedStep:
    """The callable returned by :func:`graphed`."""

    def __init__(self, step, example_inputs):
        if not example_inputs or not all(isinstance(t, Tensor) for t in example_inputs):
            raise TypeError("graphed: pass the step and example Tensor inputs, e.g. "
                            "graphed(step, x_batch, y_batch)")
        self.step = step
        self.device = example_inputs[0].device
        self.static_inputs = [Tensor._wrap(t._data.copy(), t.device) for t in example_inputs]
        self.calls = 0
        self._replay = None
        self._outputs = None
        self._graph_pool = None   # the captured graph's private pool: held here, never by gg.cuda
        self.eager_reason = None  # cpu: why the step could not be captured (it then runs eagerly)
        self._first_tape = None   # cpu: the first of the two captures, checked against the second
        self._refusals = 0        # cuda: captures refused so far (CaptureRefused)

    def __call__(self, *inputs):
        self._copy_inputs(inputs)
        self.calls += 1
        if self._replay is not None:
            try:
                self._replay()
            except cpu_graph.GuardFailed as exc:
                # the replay stopped before changing any state: this call and later ones run eagerly
                self._replay = self._outputs = None
                self.eager_reason = str(exc)
                warnings.warn(f"graphed step (cpu): {exc}; it runs eagerly from now on",
                              RuntimeWarning, stacklevel=2)
                return self.step(*self.static_inputs)
            return self._outputs
        if self.calls == 1 or self.eager_reason is not None or self.device.type not in ("cuda", "cpu"):
            return self.step(*self.static_inputs)
        if self.device.type == "cpu":
            # Calls 2 and 3 are both captured (and run for real); the second capture must record the
            # same calls and constants as the first, and its tape is the one replayed from call 4.
            out, replay, reason = cpu_graph.capture(self.step, self.static_inputs, self._first_tape)
            if replay is None:
                self.eager_reason = reason
                self._first_tape = None
                warnings.warn(f"graphed step (cpu): the step cannot be replayed, so it runs eagerly "
                              f"from now on: {reason}", RuntimeWarning, stacklevel=2)
            elif self._first_tape is None:
                self._first_tape = replay
            else:
                self._first_tape = None
                self._outputs, self._replay = out, replay
            return out
        try:
            self._outputs, self._replay = _capture_cuda(self.step, self.static_inputs, owner=self)
        except CaptureRefused as exc:
            # State made inside the capture: nothing of the step ran (a capture records, it does
            # not execute) and that state was undone, so run the step eagerly now, which makes it
            # for real (the warm-up), and capture again on the next call. Cross-stream work already
            # ran for real: that is the user's error to see.
            self._refusals += 1
            if not exc.retry:
                self.eager_reason = str(exc)
                raise
            if self._refusals >= 3:
                self.eager_reason = str(exc)
                warnings.warn(f"{exc} Refused {self._refusals} times: it runs eagerly from now on.",
                              RuntimeWarning, stacklevel=2)
            return self.step(*self.static_inputs)
        self._replay()
        return self._outputs

    def _copy_inputs(self, inputs):
        if len(inputs) != len(self.static_inputs):
            raise TypeError(f"graphed step: captured with {len(self.static_inputs)} inputs, called "
                            f"with {len(inputs)}")
        for i, (new, static) in enumerate(zip(inputs, self.static_inputs)):
            if not isinstance(new, Tensor):
                raise TypeError(f"graphed step: input {i} is a {type(new).__name__}, not a Tensor")
            if new.shape != static.shape or new.dtype != static.dtype or new.device != static.device:
                raise ValueError(
                    f"graphed step: input {i} has shape {new.shape}, dtype {new.dtype} on {new.device}, "
                    f"but the step was set up for shape {static.shape}, dtype {static.dtype} on "
                    f"{static.device}. Make a separate graphed step per shape (e.g. drop_last=True "
                    f"in the data loader for a ragged last batch).")
            static._data[...] = new._data


#: Capture mode: "thread_local" (default) makes an unsafe CUDA call from this thread during the
#: capture (a host sync, a legacy-stream launch, a cudaMalloc outside the private pool's wrapper) an
#: error instead of silently leaving work out of the graph; "global" extends that to every thread;
#: "relaxed" is CuPy's default, kept as an escape hatch (GPUGRAD_CAPTURE_MODE=relaxed).
CAPTURE_MODES = ("thread_local", "global", "relaxed")


def capture_mode() -> str:
    import os
    mode = os.environ.get("GPUGRAD_CAPTURE_MODE", "thread_local")
    if mode not in CAPTURE_MODES:
        raise ValueError(f"graphed: GPUGRAD_CAPTURE_MODE={mode!r}; use one of {', '.join(CAPTURE_MODES)}")
    return mode


class CaptureRefused(RuntimeError):
    """The capture recorded a wrong graph (cross-stream work, or state first made inside it).
    ``retry``: True when running the step eagerly once fixes it (state made inside the capture)."""

    def __init__(self, message: str, retry: bool):
        super().__init__(message)
        self.retry = retry


def _relaxed_allocator(alloc):
    """``alloc`` with the thread's capture mode switched to relaxed around each call: cudaMalloc is an
    unsafe call under a global/thread-local capture, and CuPy's pool calls it when the private pool
    grows (PyTorch's allocator does the same swap, CUDAStreamCaptureModeGuard). The memory is the
    graph's for good: the private pool never frees it before the graph goes."""
    try:
        from cuda.bindings import driver
    except ImportError:   # no cuda-bindings: capture relaxed (see _capture_cuda)
        return None
    relaxed = driver.CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_RELAXED

    def malloc(size):
        err, previous = driver.cuThreadExchangeStreamCaptureMode(relaxed)
        try:
            return alloc(size)
        finally:
            driver.cuThreadExchangeStreamCaptureMode(previous)

    return malloc


def _capture_cuda(step, static_inputs, owner):
    """Capture ``step`` as a CUDA graph on a side stream with a private pool; return (outputs, replay).

    Raises CaptureRefused (after undoing any state the step made) when the step launched gpugrad
    work on another stream or first made persistent state inside the capture: such a graph would
    replay without that work, or re-initialise that state on every replay."""
    import cupy
    runtime = cupy.cuda.runtime

    current = cupy.cuda.get_current_stream()
    stream = cupy.cuda.Stream(non_blocking=True)
    stream.wait_event(current.record())
    pool = cupy.cuda.MemoryPool()
    # Registered before capturing, so peak tracking counts what the capture allocates.
    register_graph_pool(owner, pool)
    mode = capture_mode()
    alloc = allocator_for(pool)
    if mode != "relaxed":
        guarded = _relaxed_allocator(alloc)
        alloc, mode = (alloc, "relaxed") if guarded is None else (guarded, mode)
    mode_flag = {"thread_local": runtime.streamCaptureModeThreadLocal,
                 "global": runtime.streamCaptureModeGlobal,
                 "relaxed": runtime.streamCaptureModeRelaxed}[mode]
    watch = CaptureWatch(stream.ptr)
    try:
        with cupy.cuda.using_allocator(alloc), stream:
            stream.begin_capture(mode=mode_flag)
            set_capture_watch(watch)
            try:
                out = step(*static_inputs)
            except Exception as exc:
                set_capture_watch(None)
                try:
                    stream.end_capture()
                except Exception:  # the capture is already invalidated; the original error matters
                    pass
                watch.rollback()
                raise RuntimeError(
                    f"graphed: capturing the step failed ({type(exc).__name__}: {exc}). A step that "
                    f"waits for the host inside (.item(), .numpy(), print of a tensor) cannot be "
                    f"captured; move those outside the step.") from exc
            set_capture_watch(None)
            graph = stream.end_capture()
        if watch.cross_stream or watch.lazy:
            made = sorted({f"{type(c).__name__}[{getattr(k, 'shape', k)!r}]" for c, k, _ in watch.lazy})
            watch.rollback()
            if watch.cross_stream:
                raise CaptureRefused(
                    f"graphed: the step launched work on a stream other than the capturing one "
                    f"({'; '.join(watch.cross_stream[:3])}): it ran at once instead of being recorded, "
                    f"so the graph would replay without it. Launch everything on the current stream "
                    f"(no `with cupy.cuda.Stream():` inside the step). That work may have read unset "
                    f"buffers: rebuild the model state before going on.", retry=False)
            raise CaptureRefused(
                f"graphed: the step first made persistent state inside the capture ({', '.join(made)}); "
                f"the graph would re-initialise it on every replay. It was undone; the step runs "
                f"eagerly once more (a warm-up that makes it) and is captured on a later call.", retry=True)
    except BaseException:
        # Leave nothing behind: the owner neither keeps nor counts the pool of a failed capture
        # (the pool and the side stream go when this frame does).
        unregister_graph_pool(owner)
        raise
    outputs = tuple(o.detach() if isinstance(o, Tensor) else o for o in out) \
        if isinstance(out, (tuple, list)) else (out.detach() if isinstance(out, Tensor) else out)
    keep_alive = (pool, stream)

    def replay():
        graph.launch(cupy.cuda.get_current_stream())
        return keep_alive

    return outputs, replay
