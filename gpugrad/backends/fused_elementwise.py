"""The registry of fused CuPy elementwise kernels: the CUDA backend's vendor kernels for the kernel
ops (registered in backends/cuda.py) and each optimizer's update kernel (registered beside its
formula in gpugrad/optim/).

Kernels are plain data, ``{name: (in_params, out_params, body)}`` for ``cupy.ElementwiseKernel``,
compiled on first use, so registering one imports neither CuPy nor the CUDA backend: ``import
gpugrad`` on a CPU-only machine loads neither (tests/test_import_graph.py), and tests compile the
bodies with nvcc on a machine without a GPU (tests/test_cuda_kernel_sources.py).
"""
from __future__ import annotations

from . import cuda_runtime

#: name -> (input params, output params, body), for cupy.ElementwiseKernel.
ELEMENTWISE_KERNELS: dict[str, tuple[str, str, str]] = {}

_compiled: dict = {}


def register_elementwise(kernels: dict) -> None:
    """Add fused CuPy kernels ``{name: (in_params, out_params, body)}`` (compiled on first use).

    Raises ValueError when a name is registered twice."""
    clash = set(kernels) & set(ELEMENTWISE_KERNELS)
    if clash:
        raise ValueError(f"elementwise kernels registered twice: {sorted(clash)}")
    ELEMENTWISE_KERNELS.update(kernels)


def compiled(name: str):
    """The ``cupy.ElementwiseKernel`` of registered kernel ``name`` (built on first use, then cached).
    Called once per launch: during a CUDA graph capture it also checks the launch goes to the
    capturing stream (cuda_runtime.note_launch_stream)."""
    if cuda_runtime.capture_watch() is not None:
        import cupy
        cuda_runtime.note_launch_stream(cupy.cuda.get_current_stream().ptr, f"the fused kernel {name!r}")
    k = _compiled.get(name)
    if k is None:
        import cupy
        k = _compiled[name] = cupy.ElementwiseKernel(*ELEMENTWISE_KERNELS[name], f"gpugrad_{name}")
    return k
