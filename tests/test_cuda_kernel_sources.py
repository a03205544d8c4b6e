"""The CUDA backend's fused CuPy kernels, compiled with nvcc for sm_90 without a GPU.

CuPy compiles an ElementwiseKernel only when it first runs, on a GPU; a typo in a body would
surface only there. Here each body is wrapped the way CuPy wraps it (inputs by value, raw
inputs as pointers, outputs by reference, T the array dtype) and compiled for float and double.
"""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from gpugrad.backends.cuda import ELEMENTWISE_KERNELS

from helpers import KERNEL_CTYPES, kernel_params

NVCC = shutil.which("nvcc")


_CTYPES = dict(KERNEL_CTYPES, S="S")   # S: a second array type (an optimizer's state, e.g. float32 for float16)
#: Kernels written for float16 parameters too (computed in float, state S): Adam's (issue 23).
FLOAT16_KERNELS = ("adam", "adam_amsgrad", "adam_step")


def _params(spec: str, output: bool) -> list[str]:
    return [(f"{_CTYPES[typ]}* {name}" if raw else f"{_CTYPES[typ]}& {name}") if output
            else f"const {_CTYPES[typ]}* {name}" if raw
            else f"const {_CTYPES[typ]} {name}" for typ, name, raw in kernel_params(spec)]


def _source(name: str) -> str:
    """The body as CuPy wraps it, instantiated for (T, S) = (float, float), (double, double) and
    (float16, float): CuPy's float16 class, from its headers, for float16 parameters."""
    ins, outs, body = ELEMENTWISE_KERNELS[name]
    params = ", ".join(_params(ins, False) + _params(outs, True))
    types = [("float", "float"), ("double", "double")]
    if name in FLOAT16_KERNELS:
        types.append(("float16", "float"))
    inst = "".join(f"template __device__ void gpugrad_{name}<{t}, {s}>("
                   f"{params.replace('T', t).replace('S', s)});\n" for t, s in types)
    return (f"#include <cassert>\n#include <cupy/float16.cuh>\n"
            f"template <typename T, typename S>\n__device__ void gpugrad_{name}({params}) {{\n{body}\n}}\n"
            + inst)


@pytest.mark.skipif(NVCC is None, reason="nvcc not installed")
@pytest.mark.parametrize("name", sorted(ELEMENTWISE_KERNELS))
def test_fused_kernel_body_compiles_for_sm90(name, tmp_path):
    src = tmp_path / f"{name}.cu"
    src.write_text(_source(name))
    cupy = pytest.importorskip("cupy")   # its headers: the float16 class
    include = os.path.join(os.path.dirname(cupy.__file__), "_core", "include")
    result = subprocess.run([NVCC, "-arch=sm_90", "-rdc=true", "-I", include, "-c", str(src), "-o",
                             str(tmp_path / f"{name}.o")], capture_output=True, text=True)
    assert result.returncode == 0, f"{name}:\n{_source(name)}\n{result.stderr}"


@pytest.mark.parametrize("name", sorted(ELEMENTWISE_KERNELS))
def test_fused_kernel_parameters_parse_in_cupy(name):
    """CuPy parses the parameter lists when the kernel object is built (no GPU needed): the
    numbers of inputs and outputs are what the backend passes."""
    cupy = pytest.importorskip("cupy")
    ins, outs, _ = ELEMENTWISE_KERNELS[name]
    kernel = cupy.ElementwiseKernel(ins, outs, ELEMENTWISE_KERNELS[name][2], f"gpugrad_{name}")
    assert kernel.nin == len(_params(ins, False))
    assert kernel.nout == len(_params(outs, True))


@pytest.mark.skipif(NVCC is None, reason="nvcc not installed")
def test_benchmark_spin_kernel_compiles_for_sm90(tmp_path):
    from gpugrad.commands.bench.timing import _SPIN_SOURCE
    src = tmp_path / "spin.cu"
    src.write_text(_SPIN_SOURCE)
    result = subprocess.run([NVCC, "-arch=sm_90", "-c", str(src), "-o", str(tmp_path / "spin.o")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def _half_source(name: str) -> str:
    """Kernel ``name`` as CuPy builds it for float16 arrays: T is CuPy's own float16 class
    (cupy/_core/include/cupy/float16.cuh), whose conversions make ``c ? -g : g`` ambiguous."""
    ins, outs, body = ELEMENTWISE_KERNELS[name]
    params = ", ".join(_params(ins, False) + _params(outs, True)).replace("const T ", "const float16 ") \
        .replace("T& ", "float16& ").replace("const T* ", "const float16* ") \
        .replace("const S ", "const float ").replace("S& ", "float& ")
    # S, a kernel's state type where it has one (Adam's): float32 for float16 parameters
    return (f"#include <cassert>\n#include <cupy/float16.cuh>\n"
            f"__device__ void gpugrad_{name}({params}) {{\n  typedef float16 T;\n  typedef float S;\n{body}\n}}\n")


@pytest.mark.skipif(NVCC is None, reason="nvcc not installed")
@pytest.mark.parametrize("name", sorted(ELEMENTWISE_KERNELS))
def test_fused_kernel_body_compiles_for_float16(name, tmp_path):
    """Every fused kernel compiles with T = float16 (issue 21): the activation kernels run on
    float16 tensors (the vendor path), and an optimizer kernel must not be a compile error waiting
    for the first float16 model on a GPU (the optimizers step float16 parameters in float32, see
    optim/optimizer.py float32_step, so their kernels see T = float32 in practice)."""
    cupy = pytest.importorskip("cupy")
    include = os.path.join(os.path.dirname(cupy.__file__), "_core", "include")
    src = tmp_path / f"{name}_f16.cu"
    src.write_text(_half_source(name))
    result = subprocess.run([NVCC, "-arch=sm_90", "-rdc=true", "-c", f"-I{include}", str(src), "-o",
                             str(tmp_path / f"{name}_f16.o")], capture_output=True, text=True)
    assert result.returncode == 0, f"{name}:\n{_half_source(name)}\n{result.stderr}"
