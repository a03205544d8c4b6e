"""The simulated CUDA backend ("cudasim"): the CUDA backend's dispatch with NumPy storage.

With no GPU, this runs the hand-written kernels in Numba's CUDA simulator, so the wiring from
Tensor op to kernel launch and back (VJPs included) is exercised in CI. Every other op runs in
NumPy. It needs ``NUMBA_ENABLE_CUDASIM=1`` set before numba is first imported.
"""
from __future__ import annotations

import os
import sys

import numpy as np

from .kernel_backend import KernelBackend


class CudaSimBackend(KernelBackend):
    """NumPy arrays; matmul/relu/bias_sigmoid through gpugrad.kernels under the CUDA simulator."""

    name = "cudasim"

    def __init__(self):
        if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") in ("", "0"):
            raise RuntimeError("device 'cudasim' needs Numba's CUDA simulator: set the environment "
                               "variable NUMBA_ENABLE_CUDASIM=1 before starting Python")
        if "numba" in sys.modules and not _numba_is_simulating():
            raise RuntimeError("device 'cudasim': numba was imported before NUMBA_ENABLE_CUDASIM=1 "
                               "was set, so the simulator is off; set it before importing numba")
        super().__init__(np)

    def to_numpy(self, a):
        return np.asarray(a)


def _numba_is_simulating() -> bool:
    from numba import config
    return bool(getattr(config, "ENABLE_CUDASIM", False))
