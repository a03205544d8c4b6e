"""The CUDA runtime below the backends: availability, device count, memory statistics and the
out-of-memory error, synchronisation. Imports nothing of gpugrad, so the backends, the engine and
the CUDA graph capture all stand on it; ``gpugrad.cuda`` is its public face.

Nothing here fails on a CPU-only machine: ``is_available()`` simply returns False.
"""
from __future__ import annotations

import functools
import weakref


@functools.lru_cache(maxsize=1)
def is_available() -> bool:
    """True only when CuPy imports, a CUDA driver and GPU are present, and a tiny kernel really runs."""
    try:
        import cupy
        if not cupy.cuda.is_available():
            return False
        x = cupy.arange(4, dtype=cupy.float32)
        return float((x * 2).sum().get()) == 12.0
    except Exception:  # no CuPy, no driver, a broken install: all mean "no usable GPU"
        return False


def device_count() -> int:
    """Number of usable GPUs (0 without CuPy or a driver)."""
    if not is_available():
        return 0
    import cupy
    return int(cupy.cuda.runtime.getDeviceCount())


def default_device() -> str:
    """"cuda" when a GPU really works, else "cpu" (what ``--device auto`` picks)."""
    return "cuda" if is_available() else "cpu"


def synchronize() -> None:
    """Wait for all queued GPU work on the current device, on every stream (no-op without a GPU)."""
    if is_available():
        import cupy
        # The device, not just the current stream: a graphed step's side stream and any stream
        # the user made must be finished too (cudaDeviceSynchronize).
        cupy.cuda.Device().synchronize()


# Graphed steps that hold a private memory pool (as ``owner._graph_pool``). Only weak references:
# the pool lives and dies with its owner, and nothing here can free a pool (possibly in the middle
# of a later capture, from inside an allocation) or keep a discarded one alive. The pool itself
# cannot be weakly referenced (cupy.cuda.MemoryPool has no __weakref__ slot), hence the owner.
_graph_owners = weakref.WeakSet()


def register_graph_pool(owner, pool) -> None:
    """Give ``owner`` its CUDA graph's private ``pool`` (as ``owner._graph_pool``) and count that pool
    in memory_stats() for as long as ``owner`` lives; ``owner`` must be weak-referenceable."""
    owner._graph_pool = pool
    _graph_owners.add(owner)


def unregister_graph_pool(owner) -> None:
    """Forget ``owner``'s pool (a failed capture): it is no longer counted, nor kept by ``owner``."""
    _graph_owners.discard(owner)
    owner._graph_pool = None


def _pools() -> list:
    import cupy
    graph_pools = [getattr(owner, "_graph_pool", None) for owner in _graph_owners]
    return [cupy.get_default_memory_pool()] + [pool for pool in graph_pools if pool is not None]


def _used_total() -> int:
    return sum(int(pool.used_bytes()) for pool in _pools())


class _PeakTracker:
    """Allocator wrappers recording the high-water mark of bytes in use across all pools."""

    def __init__(self):
        self.peak = _used_total()

    def allocator(self, pool):
        def malloc(size):
            mem = pool.malloc(size)
            used = _used_total()
            if used > self.peak:
                self.peak = used
            return mem
        return malloc


_tracker: _PeakTracker | None = None
#: CuPy's allocator before peak tracking installed its wrapper (restored when tracking stops).
_allocator_before_tracking = None


def allocator_for(pool):
    """The allocation function to use for ``pool``: tracked when peak tracking is on."""
    return pool.malloc if _tracker is None else _tracker.allocator(pool)


def track_peak_memory(enabled: bool = True) -> None:
    """Start (or stop) recording peak GPU memory; off by default, as it costs a Python call per
    allocation. Stopping puts back the allocator CuPy had before tracking started (CuPy's own C
    allocator, unless the user had set one), so no Python wrapper stays on the allocation path."""
    global _tracker, _allocator_before_tracking
    import cupy
    if enabled:
        if _tracker is None:
            _allocator_before_tracking = cupy.cuda.get_allocator()
        _tracker = _PeakTracker()
        cupy.cuda.set_allocator(_tracker.allocator(cupy.get_default_memory_pool()))
    elif _tracker is not None:
        _tracker = None
        cupy.cuda.set_allocator(_allocator_before_tracking)
        _allocator_before_tracking = None


def reset_peak_memory_stats() -> None:
    """Restart the peak at the bytes in use now (starts tracking if it was off)."""
    if _tracker is None:
        track_peak_memory(True)
    else:
        _tracker.peak = _used_total()


def memory_stats() -> dict:
    """GPU memory of CuPy's pools (the default one and those of captured CUDA graphs): bytes in use
    by arrays, bytes held by the pools, and the peak in use since ``reset_peak_memory_stats()``
    (None when peak tracking is off)."""
    if not is_available():
        return {"used_bytes": 0, "pool_bytes": 0, "peak_bytes": None}
    pools = _pools()
    return {"used_bytes": sum(int(p.used_bytes()) for p in pools),
            "pool_bytes": sum(int(p.total_bytes()) for p in pools),
            "peak_bytes": None if _tracker is None else int(_tracker.peak)}


# -- what a CUDA graph capture must refuse (gpugrad/cuda_graph.py) ------------------------------------
class CaptureWatch:
    """What happened during one capture that makes its graph wrong: work gpugrad launched on a stream
    other than the capturing one (it ran at once instead of being recorded), and state first made
    inside the capture (its initial values would be written by the graph on every replay, and were
    never written for real). ``lazy`` holds (container, key, previous) to undo such state."""

    def __init__(self, stream_ptr: int):
        self.stream_ptr = stream_ptr
        self.cross_stream: list[str] = []
        self.lazy: list[tuple] = []

    def rollback(self) -> None:
        """Undo the state made inside the capture (newest first), so an eager run makes it for real."""
        for container, key, previous in reversed(self.lazy):
            if previous is _ABSENT:
                container.pop(key, None)
            else:
                container[key] = previous
        self.lazy.clear()


_ABSENT = object()
_watch: CaptureWatch | None = None


def capture_watch() -> CaptureWatch | None:
    """The watch of the capture in progress in this process, or None."""
    return _watch


def set_capture_watch(watch: CaptureWatch | None) -> None:
    global _watch
    _watch = watch


def note_lazy_state(container, key, what: str = "") -> None:
    """Call before ``container[key]`` is first set (or converted) to state that persists across
    steps (optimizer state, a device step count). Outside a capture it does nothing; inside, the
    capture is refused and the entry undone afterwards (see CaptureWatch)."""
    if _watch is not None:
        _watch.lazy.append((container, key, container.get(key, _ABSENT)))


def note_launch_stream(ptr: int, what: str) -> None:
    """Call with the stream a gpugrad kernel is about to be launched on: during a capture, a launch
    on another stream is recorded as a hazard (the capture is then refused)."""
    if _watch is not None and ptr != _watch.stream_ptr:
        _watch.cross_stream.append(f"{what} on stream {ptr:#x}")


def out_of_memory_error(op_name: str, device, exc: BaseException) -> MemoryError:
    """A MemoryError saying what was asked (CuPy's message) and what the pool holds now."""
    stats = memory_stats()
    return MemoryError(f"{op_name}: out of GPU memory on {device}: {exc}. In use by tensors: "
                       f"{stats['used_bytes'] / 2**20:.1f} MiB; held by the pool: "
                       f"{stats['pool_bytes'] / 2**20:.1f} MiB. Free tensors you no longer need "
                       f"(del, or run under gg.no_grad() for inference) or use a smaller batch.")
