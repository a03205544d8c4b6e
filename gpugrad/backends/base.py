"""The array-module backend shared by NumPy (cpu) and CuPy (cuda).

Everything here is written against ``self.xp``. The kernel ops (relu, sigmoid, bias_sigmoid and
their VJPs) are not here: their formulas sit beside the ops in gpugrad/ops/activation.py, and a
backend only names the faster kernels it has for them in ``KERNELS``.
"""
from __future__ import annotations


class ArrayBackend:
    """Generic backend over a NumPy-compatible array module ``xp``."""

    name = "generic"

    def __init__(self, xp):
        self.xp = xp

    #: op name -> name of this backend's method that runs faster than the op's composite formula
    #: (the formulas live beside their ops in gpugrad/ops/; see gpugrad/vjp_namespace.py). One line
    #: per kernel; an op not named here runs its formula on ``xp``.
    KERNELS: dict[str, str] = {}

    #: op name -> name of this backend's method that computes the kernel op's VJP INTO its upstream
    #: gradient ``g`` (the first argument) and returns it. The engine calls it instead of the op's
    #: formula only when it holds the only reference to ``g`` (autograd._run_plain), so the step
    #: allocates no new array for it. Ops that allow it say ``vjp_writes_g=True`` in defop.
    IN_PLACE_VJPS: dict[str, str] = {}

    #: True when the backend compiles fused elementwise kernels (``elementwise(name)``, CUDA): the
    #: optimizers then run their fused update kernel instead of their array formula (gpugrad/optim/).
    fuses_elementwise = False

    def implementation(self, op: str, formula, kernels: bool = True):
        """What runs for kernel op ``op`` on this backend: its faster kernel where it has one, else
        ``formula`` (the composite, already bound to the raw namespace). ``kernels=False`` asks for
        the path without hand-written Numba kernels (the same here; see KernelBackend)."""
        method = self.KERNELS.get(op)
        return getattr(self, method) if method else formula

    # -- products ----------------------------------------------------------------------------
    def matmul(self, a, b, trans_a: bool = False, trans_b: bool = False):
        """op(a) @ op(b) for 2-D arrays, where op transposes when asked (views, no copies)."""
        return (a.T if trans_a else a) @ (b.T if trans_b else b)

    def linear(self, x, w, b, activation=None):
        """x @ w.T + b, then the activation ("relu" or None), writing in place into the product."""
        out = self.matmul(x, w, False, True)
        out += b
        if activation == "relu":
            self.xp.maximum(out, 0, out=out)
        return out

    def add_at(self, target, index, values):
        """target[index] += values, accumulating over repeated indices (in place)."""
        self.xp.add.at(target, index, values)

    # -- errors -------------------------------------------------------------------------------------
    def translate_error(self, exc: BaseException, what: str, device) -> BaseException | None:
        """The error to raise instead of ``exc`` (raised by this backend while running ``what`` on
        ``device``), or None to let ``exc`` through. The engine never recognises a library's errors
        itself; the CUDA backend re-says CuPy's out-of-memory error."""
        return None

    # -- storage --------------------------------------------------------------------------------
    def asarray(self, data, dtype=None):
        """An array of this backend from host or device data (copying only when needed)."""
        return self.xp.asarray(data, dtype=dtype)

    def to_numpy(self, a):
        """The array as a NumPy array on the host."""
        raise NotImplementedError
