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


# --- the sm_90 machine code of every kernel, compiled once per test session -------------------

def _have_sm90_toolchain():
    import importlib.util
    return all(importlib.util.find_spec(m) is not None for m in ("numba_cuda", "cuda.core", "cuda.bindings"))


def compile_sm90_figures(*extra_args):
    """{(name, dtype): figures} from ``python -m gpugrad.kernels._sass`` (registers, spills, SASS
    loop figures; see kernels/_sass.py), two subprocesses in parallel (one per dtype, or one for
    ``extra_args``). Subprocesses because the simulator (on in the tests) replaces compile_ptx."""
    import json
    import subprocess
    import sys
    if not _have_sm90_toolchain():
        pytest.skip("numba-cuda[cu13] (NVVM, nvJitLink, cuda.core) is not installed: pip install -e .[test]")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    argsets = [list(extra_args)] if extra_args else [["--dtype", "float32"], ["--dtype", "float64"]]
    procs = [subprocess.Popen([sys.executable, "-m", "gpugrad.kernels._sass", *a], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for a in argsets]
    rows = {}
    for p in procs:
        out, err = p.communicate(timeout=1200)
        assert p.returncode == 0, f"sm_90 compile failed:\n{err[-4000:]}"
        for line in out.splitlines():
            r = json.loads(line)
            rows[(r["name"], r["dtype"])] = r
    return rows


@pytest.fixture(scope="session")
def sm90_compile():
    """``compile_sm90_figures`` (for kernels outside the registry, e.g. the deliberately bad ones)."""
    return compile_sm90_figures


@pytest.fixture(scope="session")
def sm90_figures():
    """Every registered kernel compiled for sm_90 with the launcher's options, disassembled and
    measured: compiled once per session (~1-2 min on 2 cores), shared by the resource and SASS
    tests. Prints the table of figures (visible with ``pytest -s``)."""
    from gpugrad.kernels import _sass
    rows = compile_sm90_figures()
    print("\nsm_90 machine-code figures (static, from the SASS; not a GPU timing):\n"
          + _sass.format_table(sorted(rows.values(), key=lambda r: (r["dtype"], r["name"]))))
    return rows
