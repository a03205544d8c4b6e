"""Fixtures for the kernel tests: the same tests run on NumPy arrays in Numba's CUDA simulator
(no GPU: tests/conftest.py sets NUMBA_ENABLE_CUDASIM=1) and on CuPy arrays on a real GPU."""
import os

import numpy as np
import pytest

from gpugrad.kernels import _launch

if os.environ.get("GPUGRAD_SANITIZER") == "1" and not _launch.simulator_enabled():
    # Under compute-sanitizer: allocate every array with its own cudaMalloc, so memcheck sees its
    # exact bounds (CuPy's pool rounds sizes up and reuses chunks, hiding edge overruns).
    import cupy
    cupy.cuda.set_allocator(None)


class KernelArrays:
    """Moves test data to where the kernels run (NumPy under the simulator, CuPy on a GPU), and back.

    Not a device: the ``device`` fixture (tests/conftest.py) is a gpugrad device name everywhere;
    the kernel tests take raw arrays, so they ask for ``arrays``."""

    def __init__(self):
        self.simulator = _launch.simulator_enabled()
        if self.simulator:
            self.xp = np
        else:
            import cupy
            self.xp = cupy

    def put(self, x):
        return x if self.simulator else self.xp.asarray(x)

    def get(self, x):
        return x if self.simulator else self.xp.asnumpy(x)

    def __repr__(self):
        return "simulator" if self.simulator else "gpu"


@pytest.fixture(scope="session")
def arrays():
    return KernelArrays()


@pytest.fixture
def no_launch(monkeypatch):
    """Any kernel compile/launch fails the test: for checks that must raise before launching."""
    def forbidden(spec):
        raise AssertionError(f"{spec.name} was launched; the input should have been rejected first")
    monkeypatch.setattr(_launch, "jit_kernel", forbidden)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
