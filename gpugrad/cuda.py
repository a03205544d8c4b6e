"""``gg.cuda``: GPU facts and helpers for users (PyTorch's torch.cuda names): availability, device
count, memory statistics, synchronisation, and whole-step CUDA graph capture (``graphed``).

The runtime itself lives below the backends (gpugrad/backends/cuda_runtime.py); this module only
shows it, together with the graph capture, which needs Tensor and so sits above the engine.
"""
from __future__ import annotations

from .backends.cuda_runtime import (default_device, device_count, is_available, memory_stats,  # noqa: F401
                                    reset_peak_memory_stats, synchronize, track_peak_memory)
from .cuda_graph import graphed  # noqa: F401

__all__ = ["is_available", "device_count", "default_device", "synchronize", "memory_stats",
           "track_peak_memory", "reset_peak_memory_stats", "graphed"]
