"""GPU facts and helpers: availability, device count, memory statistics, synchronisation.

Nothing here fails on a CPU-only machine: ``is_available()`` simply returns False.
"""
from __future__ import annotations

import functools

from .cuda_graph import graphed  # noqa: F401  (gg.cuda.graphed)


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
    """Wait for all queued GPU work (no-op without a GPU)."""
    if is_available():
        import cupy
        cupy.cuda.get_current_stream().synchronize()


class _PeakTracker:
    """A CuPy allocator wrapper recording the high-water mark of bytes in use in the pool."""

    def __init__(self, pool):
        self.pool = pool
        self.peak = pool.used_bytes()

    def malloc(self, size):
        mem = self.pool.malloc(size)
        used = self.pool.used_bytes()
        if used > self.peak:
            self.peak = used
        return mem


_tracker: _PeakTracker | None = None


def track_peak_memory(enabled: bool = True) -> None:
    """Start (or stop) recording peak GPU memory; off by default, as it costs a Python call per allocation."""
    global _tracker
    import cupy
    pool = cupy.get_default_memory_pool()
    if enabled:
        _tracker = _PeakTracker(pool)
        cupy.cuda.set_allocator(_tracker.malloc)
    else:
        _tracker = None
        cupy.cuda.set_allocator(pool.malloc)


def reset_peak_memory_stats() -> None:
    """Restart the peak at the bytes in use now (starts tracking if it was off)."""
    if _tracker is None:
        track_peak_memory(True)
    else:
        _tracker.peak = _tracker.pool.used_bytes()


def memory_stats() -> dict:
    """GPU memory of CuPy's pool: bytes in use by arrays, bytes held by the pool, and the peak in use
    since ``reset_peak_memory_stats()`` (None when peak tracking is off)."""
    if not is_available():
        return {"used_bytes": 0, "pool_bytes": 0, "peak_bytes": None}
    import cupy
    pool = cupy.get_default_memory_pool()
    return {"used_bytes": int(pool.used_bytes()), "pool_bytes": int(pool.total_bytes()),
            "peak_bytes": None if _tracker is None else int(_tracker.peak)}


def out_of_memory_error(op_name: str, device, exc: BaseException) -> MemoryError:
    """A MemoryError saying what was asked (CuPy's message) and what the pool holds now."""
    stats = memory_stats()
    return MemoryError(f"{op_name}: out of GPU memory on {device}: {exc}. In use by tensors: "
                       f"{stats['used_bytes'] / 2**20:.1f} MiB; held by the pool: "
                       f"{stats['pool_bytes'] / 2**20:.1f} MiB. Free tensors you no longer need "
                       f"(del, or run under gg.no_grad() for inference) or use a smaller batch.")
