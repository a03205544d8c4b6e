"""The CUDA backend's fused CuPy kernels, compiled with nvcc for sm_90 without a GPU.

CuPy compiles an ElementwiseKernel only when it first runs, on a GPU; a typo in a body would
surface only there. Here each body is wrapped the way CuPy wraps it (inputs by value, raw
inputs as pointers, outputs by reference, T the array dtype) and compiled for float and double.
"""
from __future__ import annotations

import shutil
import subprocess

import pytest

from gpugrad.backends.cuda import ELEMENTWISE_KERNELS

from helpers import KERNEL_CTYPES, kernel_params

NVCC = shutil.which("nvcc")


def _params(spec: str, output: bool) -> list[str]:
    return [f"{KERNEL_CTYPES[typ]}& {name}" if output else f"const {KERNEL_CTYPES[typ]}* {name}" if raw
            else f"const {KERNEL_CTYPES[typ]} {name}" for typ, name, raw in kernel_params(spec)]


def _source(name: str) -> str:
    ins, outs, body = ELEMENTWISE_KERNELS[name]
    params = ", ".join(_params(ins, False) + _params(outs, True))
    return (f"template <typename T>\n__device__ void gpugrad_{name}({params}) {{\n{body}\n}}\n"
            f"template __device__ void gpugrad_{name}<float>({params.replace('T', 'float')});\n"
            f"template __device__ void gpugrad_{name}<double>({params.replace('T', 'double')});\n")


@pytest.mark.skipif(NVCC is None, reason="nvcc not installed")
@pytest.mark.parametrize("name", sorted(ELEMENTWISE_KERNELS))
def test_fused_kernel_body_compiles_for_sm90(name, tmp_path):
    src = tmp_path / f"{name}.cu"
    src.write_text(_source(name))
    result = subprocess.run([NVCC, "-arch=sm_90", "-rdc=true", "-c", str(src), "-o",
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
