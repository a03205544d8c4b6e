"""The dispatch of the kernel ops (matmul, linear, and the ops in NUMBA_KERNELS) to gpugrad.kernels, shared by the real CUDA backend
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
    """ArrayBackend whose matmul, relu and bias_sigmoid (forward and VJP) follow the kernel policy.

    A kernel op runs its Numba kernel when the policy says "numba" and the operands suit it, else
    the vendor path: the backend's own faster kernel (``KERNELS``) or the op's composite formula."""

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

    #: cross_entropy of class targets as one fused kernel forward and one backward (nn/loss_fns.py)
    fuses_cross_entropy = True

    def fused_cross_entropy(self, x, t, w, ignore_index, label_smoothing, mean):
        """[loss, denominator] of (N, C) logits ``x`` at int64 targets ``t`` (kernels/cross_entropy.py)."""
        return self._k.cross_entropy(self._contig(x), self._contig(t), None if w is None else self._contig(w),
                                     ignore_index=ignore_index, label_smoothing=label_smoothing, mean=mean)

    def fused_cross_entropy_vjp(self, g, x, t, w, ignore_index, label_smoothing, mean):
        return self._k.cross_entropy_vjp(g, self._contig(x), self._contig(t),
                                         None if w is None else self._contig(w), ignore_index=ignore_index,
                                         label_smoothing=label_smoothing, mean=mean)

    def vendor_matmul(self, a, b, trans_a, trans_b, tf32=False):
        """The vendor library's product (NumPy's BLAS here; cuBLAS on the CUDA backend)."""
        return ArrayBackend.matmul(self, a, b, trans_a, trans_b)

    def implementation(self, op, formula, kernels=True):
        # The vendor path (what the policies "cupy"/"cublas" run): the array module's faster
        # kernel for ``op`` if any (ArrayBackend.KERNELS), else the composite formula.
        vendor = ArrayBackend.implementation(self, op, formula)
        entry = NUMBA_KERNELS.get(op)
        if entry is None or not kernels:
            return vendor
        policy, kernel_name = entry
        use_kernel, contig, k = self._use_kernel, self._contig, self._k

        def run(*arrays):
            if use_kernel(policy, *arrays):
                # looked up per call: tests spy on gpugrad.kernels' launch wrappers
                return getattr(k, kernel_name)(*[contig(a) for a in arrays])
            return vendor(*arrays)

        run.__name__ = run.__qualname__ = op
        return run


#: op -> (kernel-policy key, gpugrad.kernels launch wrapper): the hand-written kernels, one line each.
#: The op's formula (the fallback) lives beside it in gpugrad/ops/activation.py.
NUMBA_KERNELS = {
    "relu": ("relu", "relu"),
    "relu_vjp": ("relu", "relu_vjp"),
    "bias_relu_vjp": ("relu", "bias_relu_vjp"),     # linear_relu's VJP: dz and db in one pass over g
    "bias_sigmoid": ("bias_sigmoid", "bias_sigmoid"),
    "bias_sigmoid_vjp": ("bias_sigmoid", "bias_sigmoid_vjp"),
}
