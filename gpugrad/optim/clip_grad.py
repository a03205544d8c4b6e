"""Gradient clipping by the global norm of all gradients together."""
from __future__ import annotations

from ..backends import get_backend
from ..tensor import Tensor
from ..creation import zeros


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> Tensor:
    """Scale every ``.grad`` in place so that their global ``norm_type``-norm is at most ``max_norm``.

    Returns the total norm before clipping, as a 0-d Tensor (computed in float64, returned in the
    gradients' dtype). Like PyTorch, the scale is max_norm / (norm + 1e-6), applied only when < 1.
    The arithmetic stays on the device: no host synchronisation.
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return zeros(())
    dev = grads[0].device
    if any(g.device != dev for g in grads):
        raise RuntimeError("clip_grad_norm_: gradients are on different devices: "
                           + ", ".join(sorted({str(g.device) for g in grads})))
    xp = get_backend(dev).xp
    norm_type = float(norm_type)
    if norm_type == float("inf"):
        total = xp.max(xp.stack([xp.max(xp.abs(g._data)).astype(xp.float64) for g in grads]))
    else:
        total = xp.sum(xp.stack([xp.sum(xp.abs(g._data).astype(xp.float64) ** norm_type)
                                 for g in grads])) ** (1.0 / norm_type)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(f"clip_grad_norm_: the total norm of the gradients is {float(total)}; "
                           f"pass error_if_nonfinite=False to clip anyway")
    scale = xp.minimum(max_norm / (total + 1e-6), 1.0)
    for g in grads:
        g._data *= scale.astype(g.dtype)
        g._bump_version()
    return Tensor._wrap(xp.asarray(total, dtype=grads[0].dtype), dev)
