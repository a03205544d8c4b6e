"""The launch plumbing of gpugrad.kernels (_launch): array checks and how kernels are compiled.
Stand-ins replace CuPy and numba.cuda, so these run without a GPU."""
import sys
import types

import numpy as np
import pytest

from gpugrad.kernels import _launch


def _fake_cupy_array_type():
    class ndarray:  # stands in for cupy.ndarray
        shape = (2, 2)
        dtype = np.dtype(np.float32)
        device = types.SimpleNamespace(id=0)

        @property
        def __cuda_array_interface__(self):
            raise AssertionError("read __cuda_array_interface__, a computed property on CuPy, "
                                 "to recognise an array")

    ndarray.__module__ = "cupy._core.core"
    return ndarray


@pytest.mark.parametrize("simulator", [False, True], ids=["gpu", "simulator"])
def test_cupy_arrays_are_recognised_by_type_alone(monkeypatch, simulator):
    ndarray = _fake_cupy_array_type()
    fake_cupy = types.SimpleNamespace(ndarray=ndarray)
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy)
    monkeypatch.setattr(_launch, "simulator_enabled", lambda: simulator)
    a = ndarray()
    if simulator:
        with pytest.raises(TypeError, match=r"kernels.relu: got a CuPy array .*NUMBA_ENABLE_CUDASIM"):
            _launch.array_module("relu", a)
    else:
        assert _launch.array_module("relu", a, a) is fake_cupy


def test_other_objects_of_a_cupy_type_are_still_refused(monkeypatch):
    ndarray = _fake_cupy_array_type()
    monkeypatch.setitem(sys.modules, "cupy", types.SimpleNamespace(ndarray=ndarray))
    monkeypatch.setattr(_launch, "simulator_enabled", lambda: False)
    not_an_array = type("Stream", (), {"__module__": "cupy.cuda.stream"})()
    with pytest.raises(TypeError, match=r"kernels.relu: expected a CuPy array, got a cupy"):
        _launch.array_module("relu", not_an_array)


def test_kernels_compile_without_debug_checks_and_optimised(monkeypatch):
    # NUMBA_CUDA_DEBUGINFO=1 in the environment must not make every launch sync with the host.
    options = []

    def jit(signature, **kwargs):
        options.append(kwargs)
        return lambda fn: fn

    monkeypatch.setattr(_launch, "numba_cuda", lambda: types.SimpleNamespace(jit=jit))
    monkeypatch.setattr(_launch, "_jitted", {})
    # A probe spec: building a real family would bind the stand-in into that family's module.
    probe = _launch.KernelSpec(name="probe", dtype="float32", build=lambda: lambda: None,
                               signature="void()", threads_per_block=32)
    _launch.jit_kernel(probe)
    assert options == [{"debug": False, "opt": True}]
