"""The CPU backend: NumPy arrays; every op, the kernel entry points included, runs in NumPy."""
import numpy as np

from .base import ArrayBackend


class CpuBackend(ArrayBackend):
    """NumPy storage and compute."""

    name = "cpu"

    def __init__(self):
        super().__init__(np)

    def to_numpy(self, a):
        return np.asarray(a)

    # -- VJPs that write into the upstream gradient ------------------------------------------
    # The engine calls these instead of relu_vjp / bias_relu_vjp only when it owns ``g`` (no other
    # gradient, Tensor or user holds that array; see autograd._owned): the product is written into
    # g, so the step allocates no new (M, N) array for it (only the 1-byte mask).
    @staticmethod
    def relu_vjp_into(g, y):
        """g * (y > 0), written into ``g`` (which is returned)."""
        return np.multiply(g, y > 0, out=g)

    def bias_relu_vjp_into(self, g, y):
        """(dz, db) as bias_relu_vjp, with dz written into ``g``."""
        dz = np.multiply(g, y > 0, out=g)
        return dz, dz.sum(axis=0)

    def sigmoid(self, x):
        return self._sigmoid_inplace(x.astype(x.dtype, copy=True))

    def bias_sigmoid(self, z, b):
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
