"""The CPU backend: NumPy arrays; every op runs in NumPy (sigmoid with a buffer-reusing variant)."""
import numpy as np

from .base import ArrayBackend

# The integer type with a float's size, to select between a float's bits and zero by a bitwise AND.
_SAME_SIZE_INT = {2: np.int16, 4: np.int32, 8: np.int64}


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
        """The ReLU VJP (y <= 0 ? 0 : g, see ops/activation.py) written into ``g``, which is returned.

        The select is a bitwise AND of g's bits with an all-ones/all-zeros integer mask (0 where
        y <= 0): exactly +0.0 there whatever g holds (inf, NaN), g's bits elsewhere (a NaN y keeps
        g, NaN <= 0 being false). 3x faster than np.where and 4x than np.copyto(where=) on a
        (128, 256) float32 gradient, within 1.5x of the (NaN-producing) g * [y > 0]."""
        bits = _SAME_SIZE_INT.get(g.dtype.itemsize)
        if bits is None or g.dtype.kind != "f" or not g.flags.c_contiguous:
            np.copyto(g, 0, where=y <= 0)
            return g
        keep = np.subtract(y <= 0, 1, dtype=bits)          # 0 where y <= 0, -1 (all bits set) elsewhere
        gi = g.view(bits)
        np.bitwise_and(gi, keep, out=gi)
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
