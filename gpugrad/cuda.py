"""``gg.cuda``: GPU facts and helpers for users (PyTorch's torch.cuda names): availability, device
count, memory statistics, synchronisation, and whole-step CUDA graph capture (``graphed``).

The runtime itself lives below the backends (gpugrad/backends/cuda_runtime.py); this module only
shows it, together with the graph capture, which needs Tensor and so sits above the engine.
"""
from __future__ import annotations

from .backends.cuda_runtime import (default_device, device_count, is_available, memory_stats,  # noqa: F401
                                    reset_peak_memory_stats, synchronize, track_peak_memory)
from .creation import manual_seed_cuda
from .cuda_graph import graphed  # noqa: F401

__all__ = ["is_available", "device_count", "default_device", "synchronize", "memory_stats",
           "track_peak_memory", "reset_peak_memory_stats", "graphed", "manual_seed_all", "manual_seed"]


def manual_seed_all(seed: int) -> None:
    """Seed the random generators of every CUDA device, as ``torch.cuda.manual_seed_all``: each gets
    the stream ``gg.manual_seed(seed)`` would give it; the CPU's is untouched. A no-op in effect
    without a GPU (there is no CUDA generator to seed)."""
    manual_seed_cuda(seed)


manual_seed = manual_seed_all   # one GPU per process: torch.cuda.manual_seed seeds the same one
