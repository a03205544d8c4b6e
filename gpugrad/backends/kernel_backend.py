"""The dispatch of the five kernel entry points to gpugrad.kernels, shared by the real CUDA backend
(CuPy arrays) and the simulated one (NumPy arrays under Numba's CUDA simulator).

The kernels read their operands in place: the elementwise ones need C-contiguous arrays, matmul
takes C- or F-contiguous ones (a transposed view is read as a layout). Any other strided operand
(rare: a slice feeding an op) is made contiguous here, once. The kernels are written for float32
and float64 only; operands of any other dtype (integers, float16) take the vendor path, as under
the policy "cupy"/"cublas", so such an op gives on a CUDA device what it gives on the CPU.
"""
from __future__ import annotations

from .. import kernel_policy
from ..kernels._launch import SUPPORTED_DTYPES  # cheap: imports neither numba nor cupy
from .base import ArrayBackend


class KernelBackend(ArrayBackend):
    """ArrayBackend whose matmul, relu and bias_sigmoid (forward and VJP) follow the kernel policy."""

    def __init__(self, xp):
        super().__init__(xp)
        from .. import kernels  # noqa: F401  (gpugrad.kernels: cheap, compiles lazily)
        self._k = kernels

    @staticmethod
    def _use_kernel(op, *arrays):
        """True when the policy picks the Numba kernel for ``op`` and the kernel takes the operands:
        one dtype for all, float32 or float64 (any other goes to the vendor path)."""
        if kernel_policy.current(op) != "numba":
            return False
        dt = arrays[0].dtype
        return dt in SUPPORTED_DTYPES and all(a.dtype == dt for a in arrays[1:])

    def _contig(self, a):
        return a if a.flags.c_contiguous else self.xp.ascontiguousarray(a)

    def _contig_either(self, a):
        # The matmul kernel reads an F-contiguous operand as the transpose of a C-contiguous one.
        return a if a.flags.c_contiguous or a.flags.f_contiguous else self.xp.ascontiguousarray(a)

    def matmul(self, a, b, trans_a=False, trans_b=False):
        if self._use_kernel("matmul", a, b):
            return self._k.matmul(self._contig_either(a), self._contig_either(b), trans_a=trans_a,
                                  trans_b=trans_b)
        return self.vendor_matmul(a, b, trans_a, trans_b,
                                  tf32=kernel_policy.current("matmul") == "cublas-tf32")

    def linear(self, x, w, b, activation=None):
        # The hand-written matmul adds the bias and applies ReLU in its epilogue: one pass.
        if activation in (None, "relu") and self._use_kernel("matmul", x, w, b):
            return self._k.matmul(self._contig_either(x), self._contig_either(w), trans_b=True,
                                  bias=self._contig(b), relu=activation == "relu")
        return ArrayBackend.linear(self, x, w, b, activation)

    def vendor_matmul(self, a, b, trans_a, trans_b, tf32=False):
        """The vendor library's product (NumPy's BLAS here; cuBLAS on the CUDA backend)."""
        return ArrayBackend.matmul(self, a, b, trans_a, trans_b)

    def relu(self, x):
        if self._use_kernel("relu", x):
            return self._k.relu(self._contig(x))
        return self.vendor_relu(x)

    def relu_vjp(self, g, y):
        if self._use_kernel("relu", g, y):
            return self._k.relu_vjp(self._contig(g), self._contig(y))
        return self.vendor_relu_vjp(g, y)

    def bias_relu_vjp(self, g, y):
        # The VJP of linear_relu's activation and its bias gradient: one kernel, one pass over g.
        if self._use_kernel("relu", g, y):
            return self._k.bias_relu_vjp(self._contig(g), self._contig(y))
        return ArrayBackend.bias_relu_vjp(self, g, y)   # vendor relu_vjp, then the column sums

    def bias_sigmoid(self, z, b):
        if self._use_kernel("bias_sigmoid", z, b):
            return self._k.bias_sigmoid(self._contig(z), self._contig(b))
        return self.vendor_bias_sigmoid(z, b)

    def bias_sigmoid_vjp(self, g, h):
        if self._use_kernel("bias_sigmoid", g, h):
            return self._k.bias_sigmoid_vjp(self._contig(g), self._contig(h))
        return self.vendor_bias_sigmoid_vjp(g, h)

    # The vendor implementations (policy "cupy"): the array module's own; the CUDA backend
    # replaces them with one fused CuPy kernel each, the fair baseline for the Numba kernels.
    def vendor_relu(self, x):
        return ArrayBackend.relu(self, x)

    def vendor_relu_vjp(self, g, y):
        return ArrayBackend.relu_vjp(self, g, y)

    def vendor_bias_sigmoid(self, z, b):
        return ArrayBackend.bias_sigmoid(self, z, b)

    def vendor_bias_sigmoid_vjp(self, g, h):
        return ArrayBackend.bias_sigmoid_vjp(self, g, h)
