"""The CUDA backend: CuPy arrays on one GPU; matmul, relu and bias_sigmoid (forward and VJP) go to
the hand-written Numba kernels or to cuBLAS/CuPy, as the kernel policy says. Every other op is CuPy.

Everything is queued on CuPy's current stream (the Numba launches too); nothing here waits for
the GPU. Out-of-memory errors are re-raised as MemoryError with the sizes involved.
"""
from __future__ import annotations

import contextlib

from .cuda_runtime import out_of_memory_error
from .fused_elementwise import ELEMENTWISE_KERNELS, register_elementwise  # noqa: F401  (re-exported)
from .fused_elementwise import compiled as _elementwise
from .kernel_backend import KernelBackend

# cuBLAS math modes (cublas_api.h, cublasMath_t): default (FP32 GEMMs in FP32), and TF32 tensor-op
# math for float32 GEMMs. The "cublas-tf32" kernel policy and `gpugrad bench kernels` both switch
# through cublas_math_mode() below.
CUBLAS_DEFAULT_MATH = 0
CUBLAS_TF32_TENSOR_OP_MATH = 3


class CudaBackend(KernelBackend):
    """CuPy storage on GPU ``index``."""

    name = "cuda"
    fuses_elementwise = True

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
        pin_fp32_compute_type(cupy)

    def vendor_matmul(self, a, b, trans_a, trans_b, tf32=False):
        left = a.T if trans_a else a
        right = b.T if trans_b else b
        if not tf32 or a.dtype != self.xp.float32:
            return left @ right
        with cublas_math_mode(CUBLAS_TF32_TENSOR_OP_MATH):
            return left @ right

    # The vendor path of the kernel ops (policy "cupy"): one fused CuPy elementwise kernel each, the
    # fair baseline for the Numba kernels. bias_sigmoid_vjp and bias_relu_vjp need no line: their
    # formulas (ops/activation.py) call sigmoid_vjp / relu_vjp, then a column sum.
    KERNELS = {"sigmoid": "_ew_sigmoid", "sigmoid_vjp": "_ew_sigmoid_vjp", "bias_sigmoid": "_ew_bias_sigmoid",
               "relu_vjp": "_ew_relu_vjp"}

    def _ew_sigmoid(self, x):
        return _elementwise("sigmoid")(x)

    def _ew_sigmoid_vjp(self, g, h):
        return _elementwise("sigmoid_vjp")(g, h)

    def _ew_bias_sigmoid(self, z, b):
        return _elementwise("sigmoid_bias")(z, b)      # b broadcasts over the rows of z

    def _ew_relu_vjp(self, g, y):
        return _elementwise("relu_vjp")(g, y)

    def translate_error(self, exc, what, device):
        # CuPy's OutOfMemoryError: a MemoryError with what was asked and what the pools hold.
        if isinstance(exc, self.xp.cuda.memory.OutOfMemoryError):
            return out_of_memory_error(what, device, exc)
        return None

    @staticmethod
    def elementwise(name):
        """The compiled fused CuPy kernel ``name`` (see ELEMENTWISE_KERNELS): this backend fuses.
        A static method: `gpugrad bench kernels` times these very objects (built once, cached)."""
        return _elementwise(name)

    def add_at(self, target, index, values):
        self._cupyx.scatter_add(target, index, values)

    def asarray(self, data, dtype=None):
        with self.device:
            return self.xp.asarray(data, dtype=dtype)

    def to_numpy(self, a):
        return self.xp.asnumpy(a)


def pin_fp32_compute_type(cupy) -> str | None:
    """Make float32 cupy.matmul use CUBLAS_COMPUTE_32F, so only the handle's math mode (set by the
    "cublas-tf32" policy, cublas_math_mode) turns TF32 on: CUPY_TF32=1 in the environment would
    otherwise make the "cublas" policy TF32 behind the user's back.

    Returns None when pinned, else why not (a CuPy without this internal: CUPY_TF32 then decides,
    as CuPy documents); never raises, as a backend must still work on such a CuPy."""
    try:
        from cupy._core import _routines_linalg as rl
        rl.set_compute_type(cupy.float32, rl.COMPUTE_TYPE_DEFAULT)
    except Exception as exc:
        return f"could not pin cuBLAS float32 compute type ({exc!r})"
    return None


@contextlib.contextmanager
def cublas_math_mode(mode: int):
    """Run a block with the math mode of CuPy's cuBLAS handle (current device) set to ``mode``
    (CUBLAS_DEFAULT_MATH or CUBLAS_TF32_TENSOR_OP_MATH), restoring the mode it had on exit, also on
    error. Like PyTorch's ``torch.backends.cuda.matmul.allow_tf32``, but scoped to a block."""
    from cupy_backends.cuda.libs import cublas
    import cupy
    handle = cupy.cuda.device.get_cublas_handle()
    previous = cublas.getMathMode(handle)
    cublas.setMathMode(handle, mode)
    try:
        yield
    finally:
        cublas.setMathMode(handle, previous)


# The kernel ops' vendor kernels: fused CuPy kernels, as (input params, output params, body) (see
# fused_elementwise.py, where each optimizer registers its update kernel beside its formula too).
# sigmoid without overflow: only exp(-|s|) is evaluated (as in the Numba kernel and on the CPU).
_SIGMOID = "T e = exp(-fabs(s)); y = s >= 0 ? (T)1 / ((T)1 + e) : e / ((T)1 + e);"
register_elementwise({
    "sigmoid": ("T x", "T y", "T s = x; " + _SIGMOID),
    "sigmoid_bias": ("T z, T b", "T y", "T s = z + b; " + _SIGMOID),
    "sigmoid_vjp": ("T g, T h", "T dz", "dz = g * h * ((T)1 - h);"),
    "relu_vjp": ("T g, T y", "T dx", "dx = y <= (T)0 ? (T)0 : g;"),
})
