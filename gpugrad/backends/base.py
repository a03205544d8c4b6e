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

    # -- optimizer updates (in place; the CUDA backend fuses each into one kernel) ---------------
    # PyTorch's single-tensor formulas (torch/optim/{sgd,adam,rmsprop,adagrad}.py), written with as
    # few temporaries as NumPy allows: the user's gradient ``g`` is never written, everything else
    # is updated in place. Fresh temporaries come from out=empty_like(...), so a 0-d parameter gets a
    # 0-d array (NumPy ufuncs return scalars for 0-d inputs, which out= cannot write into).
    def _direction(self, p, g, weight_decay, maximize):
        """(d, owned): d = (-g if maximize else g) + weight_decay * p; ``owned`` when d is a fresh
        array that may be overwritten (never ``g`` itself)."""
        if weight_decay != 0:
            d = self.xp.multiply(p, weight_decay, out=self.xp.empty_like(p))
            if maximize:
                d -= g
            else:
                d += g
            return d, True
        if maximize:
            return self.xp.negative(g, out=self.xp.empty_like(g)), True
        return g, False

    def sgd_update(self, p, g, buf, lr, momentum, dampening, weight_decay, nesterov, maximize=False):
        """PyTorch's SGD step, in place on ``p`` and on ``buf``, the momentum buffer.

        Returns the buffer to keep: with momentum, ``buf`` None (the first step) starts a new one
        holding the (decayed) gradient; without momentum, None.
        """
        xp = self.xp
        d, owned = self._direction(p, g, weight_decay, maximize)
        if momentum != 0:
            if buf is None:
                buf = xp.array(d, dtype=p.dtype, copy=True)
            else:
                buf *= momentum
                if dampening == 0:
                    buf += d
                else:
                    buf += (1 - dampening) * d
            if nesterov:
                if not owned:
                    d, owned = xp.multiply(buf, momentum, out=xp.empty_like(buf)), True
                    d += g
                else:
                    d += momentum * buf
            else:
                d, owned = buf, False
        if owned:
            d *= lr
            p -= d
        else:
            p -= lr * d
        return buf

    def adam_update(self, p, g, state, lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad=False,
                    maximize=False):
        """PyTorch's Adam/AdamW step in place on ``p``, ``state["exp_avg"]``, ``state["exp_avg_sq"]``
        (and ``state["max_exp_avg_sq"]`` with amsgrad). ``state["step"]`` counts steps (incremented here).
        """
        xp = self.xp
        state["step"] += 1
        t = state["step"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        if decoupled:
            if weight_decay != 0:
                p *= 1 - lr * weight_decay
            d, _ = self._direction(p, g, 0, maximize)
        else:
            d, _ = self._direction(p, g, weight_decay, maximize)
        tmp = xp.multiply(d, 1 - beta1, out=xp.empty_like(m))   # the one temporary, reused below
        m *= beta1
        m += tmp
        xp.multiply(d, d, out=tmp)
        tmp *= 1 - beta2
        v *= beta2
        v += tmp
        if amsgrad:
            vmax = state["max_exp_avg_sq"]
            xp.maximum(vmax, v, out=vmax)
            v = vmax
        xp.sqrt(v, out=tmp)
        tmp /= (1 - beta2 ** t) ** 0.5
        tmp += eps
        xp.divide(m, tmp, out=tmp)
        tmp *= lr / (1 - beta1 ** t)
        p -= tmp

    def rmsprop_update(self, p, g, state, lr, alpha, eps, weight_decay, momentum, centered, maximize=False):
        """PyTorch's RMSprop step, in place on ``p`` and ``state["square_avg"]`` (plus
        ``state["momentum_buffer"]`` with momentum > 0, ``state["grad_avg"]`` when centered)."""
        xp = self.xp
        state["step"] += 1
        d, _ = self._direction(p, g, weight_decay, maximize)
        sq = state["square_avg"]
        tmp = xp.multiply(d, d, out=xp.empty_like(sq))          # the one temporary, reused below
        tmp *= 1 - alpha
        sq *= alpha
        sq += tmp
        if centered:
            ga = state["grad_avg"]
            xp.multiply(d, 1 - alpha, out=tmp)
            ga *= alpha
            ga += tmp
            xp.multiply(ga, ga, out=tmp)
            xp.subtract(sq, tmp, out=tmp)
            xp.sqrt(tmp, out=tmp)
        else:
            xp.sqrt(sq, out=tmp)
        tmp += eps
        xp.divide(d, tmp, out=tmp)
        if momentum > 0:
            buf = state["momentum_buffer"]
            buf *= momentum
            buf += tmp
            xp.multiply(buf, lr, out=tmp)
        else:
            tmp *= lr
        p -= tmp

    def adagrad_update(self, p, g, state, lr, lr_decay, weight_decay, eps, maximize=False):
        """PyTorch's Adagrad step, in place on ``p`` and ``state["sum"]``; ``state["step"]`` counts steps.
        The rate is lr / (1 + (step - 1) * lr_decay)."""
        xp = self.xp
        state["step"] += 1
        clr = lr / (1 + (state["step"] - 1) * lr_decay)
        d, _ = self._direction(p, g, weight_decay, maximize)
        s = state["sum"]
        tmp = xp.multiply(d, d, out=xp.empty_like(s))           # the one temporary, reused below
        s += tmp
        xp.sqrt(s, out=tmp)
        tmp += eps
        xp.divide(d, tmp, out=tmp)
        tmp *= clr
        p -= tmp

    # -- numerics shared by both array modules ------------------------------------------------
    def add_at(self, target, index, values):
        """target[index] += values, accumulating over repeated indices (in place)."""
        self.xp.add.at(target, index, values)

    # -- storage --------------------------------------------------------------------------------
    def asarray(self, data, dtype=None):
        """An array of this backend from host or device data (copying only when needed)."""
        return self.xp.asarray(data, dtype=dtype)

    def to_numpy(self, a):
        """The array as a NumPy array on the host."""
        raise NotImplementedError
