"""The array-module backend shared by NumPy (cpu) and CuPy (cuda).

Everything here is written against ``self.xp``; the CUDA backend overrides the kernel entry
points (matmul, relu, relu_vjp, bias_sigmoid, bias_sigmoid_vjp) with hand-written kernels.
"""
from __future__ import annotations


class ArrayBackend:
    """Generic backend over a NumPy-compatible array module ``xp``."""

    name = "generic"

    def __init__(self, xp):
        self.xp = xp

    # -- the five kernel entry points -----------------------------------------------------
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

    def relu(self, x):
        """max(x, 0), elementwise."""
        return self.xp.maximum(x, 0)

    def relu_vjp(self, g, y):
        """g * (y > 0): the ReLU VJP from its output (equivalently its input)."""
        return g * (y > 0)

    def bias_relu_vjp(self, g, y):
        """(dz, db) for y = relu(z + b), from the output: dz = g [y > 0], db = column sums of dz."""
        dz = self.relu_vjp(g, y)
        return dz, dz.sum(axis=0)

    def bias_sigmoid(self, z, b):
        """sigmoid(z + b) with b broadcast over the rows of z."""
        return self.sigmoid(z + b)

    def bias_sigmoid_vjp(self, g, h):
        """(dz, db) for h = sigmoid(z + b): dz = g h (1 - h), db = column sums of dz."""
        dz = g * h * (1 - h)
        return dz, dz.sum(axis=0)

    # -- optimizer updates (in place; the CUDA backend fuses each into one kernel) ---------------
    def sgd_update(self, p, g, buf, lr, momentum, dampening, weight_decay, nesterov):
        """PyTorch's SGD step, in place on ``p`` and on ``buf``, the momentum buffer.

        Returns the buffer to keep: with momentum, ``buf`` None (the first step) starts a new one
        holding the (decayed) gradient; without momentum, None.
        """
        xp = self.xp
        if weight_decay != 0:
            g = g + weight_decay * p
        if momentum != 0:
            if buf is None:
                buf = xp.array(g, dtype=p.dtype, copy=True)
            else:
                xp.multiply(buf, momentum, out=buf)
                buf += (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        p -= lr * g
        return buf

    def adam_update(self, p, g, state, lr, beta1, beta2, eps, weight_decay, decoupled):
        """PyTorch's Adam/AdamW step in place on ``p``, ``state["exp_avg"]``, ``state["exp_avg_sq"]``.

        ``state["step"]`` counts steps (incremented here).
        """
        xp = self.xp
        state["step"] += 1
        t = state["step"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        if weight_decay != 0:
            if decoupled:
                xp.multiply(p, 1 - lr * weight_decay, out=p)
            else:
                g = g + weight_decay * p
        xp.multiply(m, beta1, out=m)
        m += (1 - beta1) * g
        xp.multiply(v, beta2, out=v)
        v += (1 - beta2) * (g * g)
        denom = xp.sqrt(v)
        denom /= (1 - beta2 ** t) ** 0.5
        denom += eps
        step = m / denom
        step *= lr / (1 - beta1 ** t)
        p -= step

    # -- numerics shared by both array modules ------------------------------------------------
    def sigmoid(self, x):
        """Logistic sigmoid without overflow: only exp(-|x|) is ever evaluated."""
        xp = self.xp
        e = xp.exp(-xp.abs(x))
        return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))

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
