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
from .backends.cuda_runtime import allocator_for, register_graph_pool, unregister_graph_pool
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
        self._outputs, self._replay = _capture_cuda(self.step, self.static_inputs, owner=self)
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


def _capture_cuda(step, static_inputs, owner):
    """Capture ``step`` as a CUDA graph on a side stream with a private pool; return (outputs, replay)."""
    import cupy

    current = cupy.cuda.get_current_stream()
    stream = cupy.cuda.Stream(non_blocking=True)
    stream.wait_event(current.record())
    pool = cupy.cuda.MemoryPool()
    # Registered before capturing, so peak tracking counts what the capture allocates.
    register_graph_pool(owner, pool)
    try:
        with cupy.cuda.using_allocator(allocator_for(pool)), stream:
            stream.begin_capture()
            try:
                out = step(*static_inputs)
            except Exception as exc:
                try:
                    stream.end_capture()
                except Exception:  # the capture is already invalidated; the original error matters
                    pass
                raise RuntimeError(
                    f"graphed: capturing the step failed ({type(exc).__name__}: {exc}). A step that "
                    f"waits for the host inside (.item(), .numpy(), print of a tensor) cannot be "
                    f"captured; move those outside the step.") from exc
            graph = stream.end_capture()
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
