"""layer_norm and batch_norm with PyTorch's arguments (``torch.nn.functional``), composed from the
op table. Variances are biased (divide by n) for normalising, as PyTorch; batch_norm's running
variance is updated with the unbiased batch variance, as PyTorch."""
from __future__ import annotations

from ..dtypes import check_same_float_dtype
from ..grad_mode import no_grad
from ..ops import sqrt
from ..tensor import Tensor


def _normalize(x: Tensor, axes: tuple, eps: float) -> tuple:
    mean = x.mean(axis=axes, keepdims=True)
    d = x - mean
    var = (d * d).mean(axis=axes, keepdims=True)
    return d / sqrt(var + float(eps)), mean, var


def layer_norm(x: Tensor, normalized_shape, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    """Normalise over the last ``len(normalized_shape)`` dims (which must equal normalized_shape),
    then scale by ``weight`` and shift by ``bias`` (both of shape normalized_shape, optional)."""
    shape = (int(normalized_shape),) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if not shape or tuple(x.shape[-len(shape):]) != shape or x.ndim < len(shape):
        raise ValueError(f"layer_norm: normalized_shape {shape} must match the last dims of the input, "
                         f"whose shape is {x.shape}")
    check_same_float_dtype("layer_norm", ("input", x), ("weight", weight), ("bias", bias))
    y, _, _ = _normalize(x, tuple(range(x.ndim - len(shape), x.ndim)), eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def batch_norm(x: Tensor, running_mean, running_var, weight=None, bias=None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalisation of (N, C) or (N, C, L) input over N (and L) per channel C.

    ``training``: normalise with the batch statistics and, when running_mean/running_var are
    given, update them in place: r = (1 - momentum) r + momentum * batch_stat (unbiased variance).
    Otherwise normalise with running_mean/running_var. Raises ValueError for other ranks, a channel
    count that does not match, or a training batch with one value per channel (as PyTorch).
    """
    if x.ndim not in (2, 3):
        raise ValueError(f"batch_norm: expected 2-D (N, C) or 3-D (N, C, L) input, got shape {x.shape}")
    c = x.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if t is not None and tuple(t.shape) != (c,):
            raise ValueError(f"batch_norm: {name} has shape {tuple(t.shape)} but the input has {c} "
                             f"channels (shape {x.shape}); expected ({c},)")
    check_same_float_dtype("batch_norm", ("input", x), ("weight", weight), ("bias", bias),
                           ("running_mean", running_mean), ("running_var", running_var))
    axes = (0,) if x.ndim == 2 else (0, 2)
    bshape = (1, c) if x.ndim == 2 else (1, c, 1)
    if training:
        n = x.shape[0] * (1 if x.ndim == 2 else x.shape[2])
        if n <= 1:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when training, got "
                             f"input of shape {x.shape}")
        y, mean, var = _normalize(x, axes, eps)
        if running_mean is not None and running_var is not None:
            m = float(momentum)
            with no_grad():
                _update(running_mean, mean.detach().reshape(c), m)
                _update(running_var, var.detach().reshape(c) * (n / (n - 1)), m)
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: running_mean and running_var are needed when training=False")
        y = (x - running_mean.reshape(bshape)) / sqrt(running_var.reshape(bshape) + float(eps))
    if weight is not None:
        y = y * weight.reshape(bshape)
    if bias is not None:
        y = y + bias.reshape(bshape)
    return y


def _update(running: Tensor, stat: Tensor, momentum: float) -> None:
    """running <- (1 - momentum) running + momentum stat, in place (a buffer, outside the graph)."""
    running._data[...] = (running._data * (1.0 - momentum) + stat._data.astype(running.dtype) * momentum
                          ).astype(running.dtype, copy=False)
    running._bump_version()
