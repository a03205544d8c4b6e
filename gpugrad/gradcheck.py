"""``gradcheck``: compare a function's autograd gradients with central finite differences in float64."""
from __future__ import annotations

import numpy as np

from .autograd import grad as _grad
from .tensor import Tensor
from .backends import get_backend


class GradcheckError(AssertionError):
    """Raised by gradcheck when analytic and numerical directional derivatives disagree."""


def gradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-4,
              n_directions: int = 3, seed: int = 0, raise_exception: bool = True) -> bool:
    """Check ``fn``'s gradients at ``inputs`` by directional central differences, in float64.

    Floating inputs are copied to float64 (on their device) and differentiated. For random unit
    directions d (over all inputs at once) and a random output weight w, the analytic value
    <grad of sum(w * fn(x)), d> must match (L(x + eps d) - L(x - eps d)) / (2 eps) within
    ``atol + rtol * |numeric|``. Non-floating inputs are passed through unchanged.

    Returns True, or raises GradcheckError (returns False when ``raise_exception=False``).

    >>> gg.gradcheck(lambda x: (x * x).sin().sum(), [gg.randn(3, 4)])
    True
    """
    if isinstance(inputs, Tensor):
        inputs = [inputs]
    rng = np.random.default_rng(seed)
    xs, diff = [], []
    for x in inputs:
        if isinstance(x, Tensor) and x.dtype.kind == "f":
            x64 = Tensor._wrap(x._data.astype(np.float64), x.device, True)
            xs.append(x64)
            diff.append(x64)
        else:
            xs.append(x)
    if not diff:
        raise ValueError("gradcheck: no floating-point Tensor among the inputs")

    out = _outputs(fn(*xs))
    weights = [Tensor._wrap(_like(o, rng.standard_normal(o.shape)), o.device) for o in out]

    def loss_of(args):
        total = None
        for o, w in zip(_outputs(fn(*args)), weights):
            term = (o.astype(np.float64) * w).sum()
            total = term if total is None else total + term
        return total

    grads = _grad(loss_of(xs), diff, allow_unused=True)
    for k in range(n_directions):
        dirs = [rng.standard_normal(t.shape) for t in diff]
        norm = np.sqrt(sum(float((d * d).sum()) for d in dirs)) or 1.0
        dirs = [d / norm for d in dirs]
        analytic = sum(float((g.numpy() * d).sum()) for g, d in zip(grads, dirs) if g is not None)
        plus, minus = [], []
        it = iter(dirs)
        for x in xs:
            if any(x is t for t in diff):
                d = next(it)
                plus.append(Tensor._wrap(_like(x, x.numpy() + eps * d), x.device))
                minus.append(Tensor._wrap(_like(x, x.numpy() - eps * d), x.device))
            else:
                plus.append(x)
                minus.append(x)
        numeric = (loss_of(plus).item() - loss_of(minus).item()) / (2 * eps)
        if not abs(analytic - numeric) <= atol + rtol * abs(numeric):
            msg = (f"gradcheck failed (direction {k}): analytic directional derivative {analytic:.8g} "
                   f"vs numerical {numeric:.8g} (|diff| {abs(analytic - numeric):.3g} > atol {atol} "
                   f"+ rtol {rtol} * |numeric|); input shapes {[tuple(t.shape) for t in diff]}")
            if raise_exception:
                raise GradcheckError(msg)
            return False
    return True


def _outputs(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _like(t, host_array):
    """``host_array`` on the same device as Tensor ``t``."""
    if t.device.type == "cpu":
        return np.asarray(host_array)
    return get_backend(t.device).asarray(host_array)
