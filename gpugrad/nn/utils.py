"""``torch.nn.utils``' training helpers: gradient clipping and flattening parameters to a vector."""
from __future__ import annotations

from ..ops import concatenate
from ..optim.clip_grad import clip_grad_norm_  # noqa: F401  (one implementation, shared with gg.optim)
from ..tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector", "vector_to_parameters"]


def _params(parameters) -> list:
    return [parameters] if isinstance(parameters, Tensor) else list(parameters)


def clip_grad_value_(parameters, clip_value: float) -> None:
    """Clamp every ``.grad`` into [-clip_value, clip_value] in place, as ``torch.nn.utils.clip_grad_value_``."""
    v = float(clip_value)
    if v < 0:
        raise ValueError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value}")
    for p in _params(parameters):
        if p.grad is not None:
            g = p.grad
            g._data[...] = g._data.clip(-v, v)
            g._bump_version()


def parameters_to_vector(parameters) -> Tensor:
    """All parameters flattened and joined into one 1-D tensor (differentiable), in order."""
    params = _params(parameters)
    if not params:
        raise ValueError("parameters_to_vector: got no parameters")
    dev = params[0].device
    for p in params:
        if p.device != dev:
            raise RuntimeError(f"parameters_to_vector: parameters are on different devices ({dev}, "
                               f"{p.device}); move the model to one device first")
    return concatenate([p.reshape(-1) for p in params], axis=0)


def vector_to_parameters(vec: Tensor, parameters) -> None:
    """Copy consecutive slices of the 1-D ``vec`` into the parameters, in place (the inverse of
    :func:`parameters_to_vector`). Raises ValueError, changing nothing, when the sizes differ."""
    params = _params(parameters)
    if not isinstance(vec, Tensor) or vec.ndim != 1:
        raise TypeError(f"vector_to_parameters: expected a 1-D tensor, got "
                        f"{getattr(vec, 'shape', type(vec).__name__)}")
    total = sum(p.numel() for p in params)
    if vec.shape[0] != total:
        raise ValueError(f"vector_to_parameters: vector has {vec.shape[0]} elements but the parameters "
                         f"have {total}")
    src = vec.detach()
    start = 0
    for p in params:
        n = p.numel()
        p._data[...] = src[start:start + n].reshape(p.shape).to(p.device)._data
        p._bump_version()
        start += n
