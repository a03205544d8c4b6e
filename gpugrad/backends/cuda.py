"""The CUDA backend: CuPy arrays on one GPU; matmul, relu and bias_sigmoid (forward and VJP) go to
the hand-written Numba kernels or to cuBLAS/CuPy, as the kernel policy says. Every other op is CuPy.

Everything is queued on CuPy's current stream (the Numba launches too); nothing here waits for
the GPU. Out-of-memory errors are re-raised as MemoryError with the sizes involved.
"""
from __future__ import annotations

from .kernel_backend import KernelBackend

# cuBLAS math modes (cublas_api.h): default, and TF32 tensor-op math for float32 GEMMs.
_CUBLAS_DEFAULT_MATH = 0
_CUBLAS_TF32_TENSOR_OP_MATH = 3


class CudaBackend(KernelBackend):
    """CuPy storage on GPU ``index``."""

    name = "cuda"

    def __init__(self, index: int = 0):
        import cupy
        import cupyx
        super().__init__(cupy)
        self.index = index
        self._cupyx = cupyx
        n = cupy.cuda.runtime.getDeviceCount()
        if not 0 <= index < n:
            raise ValueError(f"device cuda:{index} does not exist: this machine has {n} GPU(s)")
        self.device = cupy.cuda.Device(index)

    def vendor_matmul(self, a, b, trans_a, trans_b, tf32=False):
        left = a.T if trans_a else a
        right = b.T if trans_b else b
        if not tf32 or a.dtype != self.xp.float32:
            return left @ right
        from cupy_backends.cuda.libs import cublas
        handle = self.xp.cuda.device.get_cublas_handle()
        cublas.setMathMode(handle, _CUBLAS_TF32_TENSOR_OP_MATH)
        try:
            return left @ right
        finally:
            cublas.setMathMode(handle, _CUBLAS_DEFAULT_MATH)

    def add_at(self, target, index, values):
        self._cupyx.scatter_add(target, index, values)

    def asarray(self, data, dtype=None):
        with self.device:
            return self.xp.asarray(data, dtype=dtype)

    def to_numpy(self, a):
        return self.xp.asnumpy(a)

    def synchronize(self) -> None:
        self.device.synchronize()
