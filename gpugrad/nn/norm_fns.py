"""layer_norm and batch_norm with PyTorch's arguments (``torch.nn.functional``), composed from the
op table. Variances are biased (divide by n) for normalising, as PyTorch; batch_norm's running
variance is updated with the unbiased batch variance, as PyTorch.

float16 input is normalised in float32 (statistics, normalisation and the affine map) and rounded
once at the end, and the running statistics are updated in float32 before being stored: PyTorch's
rule, without which activations of ~300 give a variance of ~9e4 that overflows float16 (to inf:
all-zero outputs and an inf running_var)."""
from __future__ import annotations

from ..dtypes import check_same_float_dtype
from ..grad_mode import no_grad
from ..ops import astype, sqrt
from ..ops._precision import F32, acc_dtype, is_half
from ..tensor import Tensor


def _widen(t):
    """``t`` (a Tensor or None) in float32 when it is half precision."""
    return astype(t, F32) if t is not None and is_half(t.dtype) else t


def _normalize(x: Tensor, axes: tuple, eps: float) -> tuple:
    """(x - mean) / sqrt(var + eps), mean, var over ``axes``, in ``x``'s dtype (float32 for half)."""
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
    out_dtype = x.dtype
    y, _, _ = _normalize(_widen(x), tuple(range(x.ndim - len(shape), x.ndim)), eps)
    if weight is not None:
        y = y * _widen(weight)
    if bias is not None:
        y = y + _widen(bias)
    return y if y.dtype == out_dtype else astype(y, out_dtype)


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
    out_dtype = x.dtype
    x, weight, bias = _widen(x), _widen(weight), _widen(bias)
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
        rm, rv = _widen(running_mean), _widen(running_var)
        y = (x - rm.reshape(bshape)) / sqrt(rv.reshape(bshape) + float(eps))
    if weight is not None:
        y = y * weight.reshape(bshape)
    if bias is not None:
        y = y + bias.reshape(bshape)
    return y if y.dtype == out_dtype else astype(y, out_dtype)


def _update(running: Tensor, stat: Tensor, momentum: float) -> None:
    """running <- (1 - momentum) running + momentum stat, in place (a buffer, outside the graph);
    computed in float32 for a half buffer, so only the stored value is rounded."""
    acc = acc_dtype(running.dtype)
    running._data[...] = (running._data.astype(acc, copy=False) * (1.0 - momentum)
                          + stat._data.astype(acc, copy=False) * momentum).astype(running.dtype, copy=False)
    running._bump_version()
