"""`gpugrad bench kernels` measures what gpugrad runs: its vendor contenders are the CUDA backend's own
objects (fused CuPy kernels, cuBLAS math-mode switch, float32 compute-type pin), never a copy.

No GPU needed: CuPy builds ElementwiseKernel objects without one (it compiles on first call), and
the cuBLAS handle and library are replaced by recorders where a call would need a device.
"""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from gpugrad.backends import cuda as cuda_backend
from gpugrad.commands.bench import kernels as bk

ROOT = Path(__file__).resolve().parents[1]
cupy = pytest.importorskip("cupy", reason="CuPy is not installed (pip install 'gpugrad[cuda13]')")

#: Calls that define a GPU kernel or set cuBLAS/CuPy math state: only the backend layer makes them.
#: (timing.py's RawKernel is the benchmark's own spin kernel, which gpugrad does not run.)
BACKEND_ONLY_CALLS = {"ElementwiseKernel", "ReductionKernel", "RawKernel", "setMathMode", "set_compute_type"}
ALLOWED = {("gpugrad/commands/bench/timing.py", "RawKernel")}


#: Where benchmark code lives: the command's package, and any script in benchmarks/.
BENCH_CODE = ("gpugrad/commands/bench", "benchmarks")


def _benchmark_files(root: Path) -> list[Path]:
    return sorted(p for d in BENCH_CODE for p in (root / d).glob("*.py"))


def _backend_only_calls(root: Path) -> list[str]:
    """'file:line calls NAME' for each call in BACKEND_ONLY_CALLS in the benchmarks under ``root``."""
    found = []
    for path in _benchmark_files(root):
        rel = path.relative_to(root).as_posix()
        for node in ast.walk(ast.parse(path.read_text(), filename=rel)):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "attr", getattr(node.func, "id", None))
                if name in BACKEND_ONLY_CALLS and (rel, name) not in ALLOWED:
                    found.append(f"{rel}:{node.lineno} calls {name}")
    return found


def test_the_benchmarks_define_no_kernel_and_set_no_math_mode_of_their_own():
    scanned = {p.relative_to(ROOT).as_posix() for p in _benchmark_files(ROOT)}
    assert "gpugrad/commands/bench/kernels.py" in scanned, f"the scan misses the benchmarks: {sorted(scanned)}"
    found = _backend_only_calls(ROOT)
    assert not found, ("the benchmark writes a second copy of what the CUDA backend runs; import it from "
                       "gpugrad/backends/cuda.py instead:\n" + "\n".join(found))


def test_the_scan_sees_a_kernel_or_math_mode_written_in_a_benchmark(tmp_path):
    """The scan above can fail: what the old bench did (its own kernel, raw math modes) is reported."""
    (tmp_path / "gpugrad" / "commands" / "bench").mkdir(parents=True)
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "gpugrad" / "commands" / "bench" / "k.py").write_text(
        "import cupy\nk = cupy.ElementwiseKernel('T x', 'T y', 'y = x', 'k')\n")
    (tmp_path / "benchmarks" / "m.py").write_text("def f(cublas, h):\n    cublas.setMathMode(h, 3)\n")
    assert sorted(_backend_only_calls(tmp_path)) == ["benchmarks/m.py:2 calls setMathMode",
                                                     "gpugrad/commands/bench/k.py:2 calls ElementwiseKernel"]


def test_the_vendor_kernels_are_the_cuda_backends_own_objects():
    kernels = bk.vendor_kernels()
    assert set(kernels) == set(bk.ELEMENTWISE) - {"relu"}   # relu's formula is CuPy's maximum
    for name, kernel in kernels.items():
        backend_name = bk.VENDOR_KERNELS[name]
        assert kernel is cuda_backend.CudaBackend.elementwise(backend_name)
        assert kernel is cuda_backend._elementwise(backend_name)
        assert (kernel.name, kernel.operation) == (f"gpugrad_{backend_name}",
                                                   cuda_backend.ELEMENTWISE_KERNELS[backend_name][2])


def test_the_vendor_kernels_are_what_the_cupy_policy_runs(monkeypatch):
    """The "cupy" policy path of each op (the raw namespace without Numba kernels) launches the very
    kernel the bench times as its vendor contender (bias_sigmoid_vjp: sigmoid_vjp's, then a column sum)."""
    from gpugrad.backends.kernel_backend import KernelBackend
    from gpugrad.vjp_namespace import raw_namespace
    launched = []

    def kernel_named(name):
        def run(*args):
            launched.append(name)
            return np.array(args[0], copy=True)
        return run
    monkeypatch.setattr(cuda_backend, "_elementwise", kernel_named)
    backend = cuda_backend.CudaBackend.__new__(cuda_backend.CudaBackend)
    KernelBackend.__init__(backend, np)
    vendor = raw_namespace(backend, kernels=False)
    x = np.ones((2, 3), np.float32)
    for name in bk.VENDOR_KERNELS:
        args = (x, x[0]) if name == "bias_sigmoid" else (x, x)
        getattr(vendor, name)(*args)
        assert launched.pop() == bk.VENDOR_KERNELS[name], name
        assert not launched


class _FakeCublas:
    """cupy_backends' cublas module, recording the math mode of one handle."""

    def __init__(self, mode):
        self.mode, self.calls = mode, []

    def getMathMode(self, handle):
        assert handle == "handle"
        return self.mode

    def setMathMode(self, handle, mode):
        assert handle == "handle"
        self.calls.append(mode)
        self.mode = mode


@pytest.fixture
def fake_cublas(monkeypatch):
    import cupy_backends.cuda.libs as libs
    fake = _FakeCublas(cuda_backend.CUBLAS_DEFAULT_MATH)
    monkeypatch.setitem(libs.__dict__, "cublas", fake)   # setattr would load the real library first
    monkeypatch.setattr(cupy.cuda.device, "get_cublas_handle", lambda: "handle")
    return fake


@pytest.mark.parametrize("previous", [cuda_backend.CUBLAS_DEFAULT_MATH, 1])
def test_cublas_math_mode_sets_the_mode_and_restores_the_previous_one_even_on_error(fake_cublas, previous):
    fake_cublas.mode = previous
    with cuda_backend.cublas_math_mode(cuda_backend.CUBLAS_TF32_TENSOR_OP_MATH):
        assert fake_cublas.mode == cuda_backend.CUBLAS_TF32_TENSOR_OP_MATH == 3
    assert fake_cublas.mode == previous
    with pytest.raises(ZeroDivisionError):
        with cuda_backend.cublas_math_mode(cuda_backend.CUBLAS_TF32_TENSOR_OP_MATH):
            1 / 0
    assert fake_cublas.mode == previous and fake_cublas.calls == [3, previous, 3, previous]


class _MatmulRecorder:
    """An array module whose matmul records the cuBLAS math mode it ran under."""

    float32 = np.float32

    def __init__(self, cublas):
        self.cublas, self.modes = cublas, []

    def matmul(self, a, b, out=None):
        self.modes.append(self.cublas.mode)
        return np.matmul(a, b, out=out)


@pytest.mark.parametrize("tf32", [False, True])
def test_bench_and_backend_run_cublas_under_the_same_math_mode(fake_cublas, tf32):
    a = np.ones((2, 3), np.float32)
    b = np.ones((3, 4), np.float32)
    expected = cuda_backend.CUBLAS_TF32_TENSOR_OP_MATH if tf32 else cuda_backend.CUBLAS_DEFAULT_MATH

    env = bk.CupyEnv.__new__(bk.CupyEnv)
    env.xp = _MatmulRecorder(fake_cublas)
    env.cublas_matmul(a, b, False, False, np.empty((2, 4), np.float32), tf32=tf32)

    class _Arr(np.ndarray):     # the backend writes `left @ right`: route it to the recorder
        def __matmul__(self, other):
            return backend.xp.matmul(np.asarray(self), np.asarray(other))

    backend = cuda_backend.CudaBackend.__new__(cuda_backend.CudaBackend)
    backend.xp = _MatmulRecorder(fake_cublas)
    backend.vendor_matmul(a.view(_Arr), b.view(_Arr), False, False, tf32=tf32)
    assert env.xp.modes == backend.xp.modes == [expected]
    assert fake_cublas.mode == cuda_backend.CUBLAS_DEFAULT_MATH


def test_pin_fp32_compute_type_pins_or_says_why_not(monkeypatch):
    from cupy._core import _routines_linalg as rl
    assert cuda_backend.pin_fp32_compute_type(cupy) is None
    assert rl.get_compute_type(cupy.float32) == rl.COMPUTE_TYPE_DEFAULT

    def missing(*args):
        raise AttributeError("no set_compute_type in this CuPy")
    monkeypatch.setattr(rl, "set_compute_type", missing)
    reason = cuda_backend.pin_fp32_compute_type(cupy)
    assert reason.startswith("could not pin cuBLAS float32 compute type") and "this CuPy" in reason


def test_cupy_env_pins_through_the_backend(monkeypatch):
    """CupyEnv asks the backend's pin (and notes its reason), never CuPy's internals itself."""
    calls = []
    monkeypatch.setattr(cuda_backend, "pin_fp32_compute_type", lambda cp: calls.append(cp) or "cannot pin here")

    class _Backend:
        def __init__(self, index):
            pass
    monkeypatch.setattr(cuda_backend, "CudaBackend", _Backend)
    monkeypatch.setattr(cupy.cuda.runtime, "getDevice", lambda: 0)

    class _Device:
        attributes = {"L2CacheSize": 50 * 2**20}
    monkeypatch.setattr(cupy.cuda, "Device", _Device)
    monkeypatch.setattr(bk, "vendor_kernels", lambda: {})
    env = bk.CupyEnv()
    assert calls == [cupy] and "cannot pin here" in env.notes and env.l2_bytes == 50 * 2**20
