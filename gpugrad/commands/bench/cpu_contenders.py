"""The CPU contenders of ``gpugrad bench mlp`` besides gpugrad and PyTorch: the same training step
written by hand in NumPy, the step's matrix products alone (the BLAS floor), and JAX jit.

Each takes the initial parameters gpugrad's ``MLP`` drew (names and float32 arrays, weight
``(out, in)`` as in PyTorch) and the fixed batch, and follows ``mlp.Contender``: ``step()`` runs one
training step and returns the loss, ``loss_value``, ``sync``, ``peak_bytes``, ``close``. The
optimizers are PyTorch's formulas (SGD with momentum 0.9, dampening 0; Adam), so every contender's
losses can be compared step by step.
"""
from __future__ import annotations

import numpy as np

LR, MOMENTUM, BETAS, EPS = 1e-3, 0.9, (0.9, 0.999), 1e-8


class _CpuContender:
    notes: list
    on_gpu = False
    policy = None
    graphed = False

    def loss_value(self, loss) -> float:
        return float(loss)

    def sync(self):
        pass

    def peak_bytes(self):
        return None

    def stop_memory_tracking(self):
        pass

    def close(self):
        self.__dict__.clear()


class NumpyContender(_CpuContender):
    """Forward, softmax cross-entropy, backward and the optimizer update written by hand in NumPy,
    with the updates in place: the floor of a NumPy engine (no graph, no dispatch)."""

    impl = "hand numpy"
    framework = "numpy"

    def __init__(self, optimizer, init, x, y):
        self.notes = []
        self.params = [a.copy() for a in init]               # W0, b0, W1, b1, ...
        self.x, self.y = x, y
        self.rows = np.arange(len(y))
        self.optimizer = optimizer
        self.state = [None] * len(self.params)
        if optimizer == "adam":
            self.m = [np.zeros_like(p) for p in self.params]
            self.v = [np.zeros_like(p) for p in self.params]
            self.t = 0

    def step(self, x=None, y=None):
        """One step on the fixed batch, or on ``x``, ``y`` when given (train-cpu's batches)."""
        if x is None:
            x, y = self.x, self.y
        ps = self.params
        rows = self.rows if len(y) == len(self.rows) else np.arange(len(y))
        L = len(ps) // 2
        hs = [x]
        for i in range(L):
            z = hs[-1] @ ps[2 * i].T
            z += ps[2 * i + 1]
            if i < L - 1:
                np.maximum(z, 0, out=z)
            hs.append(z)
        z = hs[-1]
        z -= z.max(axis=1, keepdims=True)
        picked = z[rows, y]                                  # the targets' shifted logits
        np.exp(z, out=z)                                     # z is now e = exp(shifted logits)
        s = z.sum(axis=1, keepdims=True)
        loss = float(np.mean(np.log(s[:, 0]) - picked))
        z /= s                                               # softmax
        z[rows, y] -= 1
        z /= len(y)
        g = z
        grads = [None] * len(ps)
        for i in reversed(range(L)):
            grads[2 * i] = g.T @ hs[i]
            grads[2 * i + 1] = g.sum(axis=0)
            if i:
                g2 = g @ ps[2 * i]
                np.multiply(g2, hs[i] > 0, out=g2)
                g = g2
        self._update(grads)
        return loss

    def _update(self, grads):
        if self.optimizer == "sgd":
            for k, (p, gp) in enumerate(zip(self.params, grads)):
                buf = self.state[k]
                if buf is None:
                    buf = self.state[k] = gp            # the gradient is fresh: keep it as the buffer
                else:
                    buf *= MOMENTUM
                    buf += gp
                p -= LR * buf
            return
        b1, b2 = BETAS
        self.t += 1
        c1, c2 = LR / (1 - b1 ** self.t), (1 - b2 ** self.t) ** 0.5
        for p, gp, m, v in zip(self.params, grads, self.m, self.v):
            m *= b1
            m += (1 - b1) * gp
            v *= b2
            np.multiply(gp, gp, out=gp)
            gp *= 1 - b2
            v += gp
            np.sqrt(v, out=gp)
            gp /= c2
            gp += EPS
            np.divide(m, gp, out=gp)
            gp *= c1
            p -= gp


class GemmFloorContender(_CpuContender):
    """Only the step's matrix products, same shapes and layouts as the step (x Wᵀ forward; gᵀ h
    and g W backward, no dX for the first layer), into preallocated outputs: what a step costs
    when everything but BLAS is free."""

    impl = "GEMMs only (floor)"
    framework = "floor"

    def __init__(self, init, x):
        self.notes = ["GEMMs only: the step's matrix products alone into preallocated outputs "
                      "(no loss: not compared, only timed)"]
        rng = np.random.default_rng(0)
        self.ws = [init[2 * i] for i in range(len(init) // 2)]
        b = x.shape[0]
        self.x = x
        self.hs = [np.empty((b, w.shape[0]), np.float32) for w in self.ws]
        self.gs = [rng.standard_normal((b, w.shape[0]), dtype=np.float32) for w in self.ws]
        self.dws = [np.empty_like(w) for w in self.ws]
        self.dxs = [np.empty((b, w.shape[1]), np.float32) for w in self.ws]

    def step(self):
        ins = [self.x] + self.hs[:-1]
        for w, h_in, h in zip(self.ws, ins, self.hs):
            np.matmul(h_in, w.T, out=h)
        for i in reversed(range(len(self.ws))):
            np.matmul(self.gs[i].T, ins[i], out=self.dws[i])
            if i:
                np.matmul(self.gs[i], self.ws[i], out=self.dxs[i])
        return None

    def loss_value(self, loss):
        return None


def jax_or_none():
    """The ``jax`` module when installed and importable, else None (JAX is optional)."""
    try:
        import jax
        jax.config.update("jax_platforms", "cpu")
        return jax
    except Exception:
        return None


class JaxContender(_CpuContender):
    """The step as one ``jax.jit``-compiled function (forward, loss, ``jax.grad``, optimizer),
    parameters and optimizer state donated so XLA updates them in place."""

    impl = "jax jit"
    framework = "jax"

    def __init__(self, jax, optimizer, init, x, y):
        import jax.numpy as jnp
        self.notes = []
        self.jax, self.jnp = jax, jnp
        L = len(init) // 2

        def loss_fn(params, xb, yb):
            h = xb
            for i in range(L):
                h = h @ params[2 * i].T + params[2 * i + 1]
                if i < L - 1:
                    h = jnp.maximum(h, 0)
            logp = jax.nn.log_softmax(h, axis=1)
            return -jnp.mean(jnp.take_along_axis(logp, yb[:, None], axis=1))

        grad_fn = jax.value_and_grad(loss_fn)

        if optimizer == "sgd":
            def step(params, state, xb, yb):
                loss, grads = grad_fn(params, xb, yb)
                bufs = [MOMENTUM * b + g for b, g in zip(state, grads)]   # buf 0 at first: = g
                return [p - LR * b for p, b in zip(params, bufs)], bufs, loss
            state = [jnp.zeros_like(jnp.asarray(a)) for a in init]
        else:
            b1, b2 = BETAS

            def step(params, state, xb, yb):
                loss, grads = grad_fn(params, xb, yb)
                ms, vs, t = state
                t = t + 1
                ms = [b1 * m + (1 - b1) * g for m, g in zip(ms, grads)]
                vs = [b2 * v + (1 - b2) * g * g for v, g in zip(vs, grads)]
                c1, c2 = LR / (1 - b1 ** t), jnp.sqrt(1 - b2 ** t)
                params = [p - c1 * m / (jnp.sqrt(v) / c2 + EPS) for p, m, v in zip(params, ms, vs)]
                return params, (ms, vs, t), loss
            state = ([jnp.zeros_like(jnp.asarray(a)) for a in init],
                     [jnp.zeros_like(jnp.asarray(a)) for a in init], jnp.float32(0))
        self._step = jax.jit(step, donate_argnums=(0, 1))
        self.params = [jnp.asarray(a.copy()) for a in init]
        self.state = state
        self.x, self.y = jnp.asarray(x), jnp.asarray(y.astype(np.int32))

    def step(self, x=None, y=None):
        """One step on the fixed batch, or on ``x``, ``y`` (NumPy) when given."""
        if x is None:
            x, y = self.x, self.y
        else:
            x, y = self.jnp.asarray(x), self.jnp.asarray(y.astype(np.int32))
        self.params, self.state, loss = self._step(self.params, self.state, x, y)
        return loss.block_until_ready()

    def loss_value(self, loss) -> float:
        return float(loss)


def numpy_peak_bytes(fn) -> int:
    """Peak bytes NumPy allocated during one call of ``fn`` above what was live before it
    (tracemalloc: NumPy reports its array buffers to it)."""
    import tracemalloc
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        if started:
            tracemalloc.stop()


class TracedPeak:
    """The most memory a contender's NumPy arrays ever held at once during one training step:
    tracing starts before the contender is built, so its parameters, optimizer state, gradients
    kept between steps and batch copies are all counted, as in a process that trains only it.

        with TracedPeak() as tp:
            c = make(); c.step()            # build, warm up (state allocated)
            tp.reset(); c.step()            # the measured step
        tp.peak_bytes
    """

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.peak_bytes = None

    def __enter__(self):
        import tracemalloc
        self._tm = tracemalloc
        self._started = self.enabled and not tracemalloc.is_tracing()
        if self._started:
            tracemalloc.start()
        return self

    def reset(self):
        if self._started:
            self._tm.reset_peak()

    def __exit__(self, *exc):
        if self._started:
            self.peak_bytes = self._tm.get_traced_memory()[1]
            self._tm.stop()
        return False
