"""The CPU backend: NumPy arrays; every op runs in NumPy (sigmoid with a buffer-reusing variant)."""
import numpy as np

from .base import ArrayBackend


class CpuBackend(ArrayBackend):
    """NumPy storage and compute."""

    name = "cpu"
    KERNELS = {"sigmoid": "_sigmoid", "bias_sigmoid": "_bias_sigmoid"}
    IN_PLACE_VJPS = {"relu_vjp": "_relu_vjp_into_g"}

    def __init__(self):
        super().__init__(np)

    def to_numpy(self, a):
        return np.asarray(a)

    @staticmethod
    def _relu_vjp_into_g(g, y):
        """The ReLU VJP (y <= 0 ? 0 : g, see ops/activation.py) written into ``g``: only the 1-byte
        mask is allocated. A NaN y keeps g (NaN <= 0 is false), as the formula."""
        np.copyto(g, 0, where=y <= 0)
        return g

    def _sigmoid(self, x):
        return self._sigmoid_inplace(x.astype(x.dtype, copy=True))

    def _bias_sigmoid(self, z, b):
        return self._sigmoid_inplace(np.add(z, b, out=np.empty(np.broadcast_shapes(z.shape, b.shape),
                                                                 np.result_type(z, b))))

    @staticmethod
    def _sigmoid_inplace(t):
        """sigmoid(t) with t's storage reused: e = exp(-|t|), then 1/(1+e), or e/(1+e) where t < 0.

        Only exp(-|t|) is evaluated (no overflow), and small results keep their relative
        precision; two float allocations instead of one per step of the textbook formula.
        """
        neg = t < 0
        np.abs(t, out=t)
        np.negative(t, out=t)
        np.exp(t, out=t)
        r = np.add(t, 1, out=np.empty_like(t))  # out= keeps 0-d results arrays
        np.reciprocal(r, out=r)
        np.multiply(r, t, out=r, where=neg)
        return r
