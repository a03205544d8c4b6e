"""Stateless neural-network functions, as ``torch.nn.functional``: linear, activations, softmax
family, normalisation, dropout, losses.

The losses live in ``loss_fns.py``, the activations in ``activation_fns.py``, the normalisations
in ``norm_fns.py``; this module gathers them under PyTorch's names (``import ... as F``).
"""
from __future__ import annotations

from ..ops import bias_sigmoid, linear, sigmoid, tanh  # noqa: F401
from ..ops import relu as _relu
from ..ops import log_softmax as _log_softmax, softmax as _softmax
from ..tensor import Tensor
from .activation_fns import (celu, dropout, elu, gelu, hardsigmoid, hardtanh, leaky_relu,  # noqa: F401
                             logsigmoid, relu6, selu, silu)
from .loss_fns import (binary_cross_entropy, binary_cross_entropy_with_logits,  # noqa: F401
                       huber_loss, l1_loss, mse_loss, smooth_l1_loss)
from .norm_fns import batch_norm, layer_norm  # noqa: F401
from .softplus_fns import softplus  # noqa: F401
from ..backends import get_backend
from .distance_fns import cosine_similarity, normalize, pairwise_distance  # noqa: F401
from .embedding import embedding  # noqa: F401
from .kl_div import kl_div  # noqa: F401
from .pad_fns import pad  # noqa: F401
from .prelu import prelu  # noqa: F401
from .extra_activations import glu, hardswish, mish, softmin, softsign, tanhshrink, threshold  # noqa: F401
from .likelihood_losses import gaussian_nll_loss, poisson_nll_loss  # noqa: F401
from . import loss_fns as _loss_fns

__all__ = ["linear", "linear_relu", "relu", "sigmoid", "tanh", "bias_sigmoid", "softmax", "log_softmax",
           "leaky_relu", "gelu", "silu", "elu", "selu", "celu", "logsigmoid", "hardtanh", "relu6",
           "hardsigmoid", "dropout", "layer_norm", "batch_norm", "one_hot",
           "cross_entropy", "nll_loss", "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss",
           "binary_cross_entropy", "binary_cross_entropy_with_logits", "softplus",
           "embedding", "normalize", "cosine_similarity", "pairwise_distance", "pad", "prelu", "kl_div",
           "celu", "glu", "hardsigmoid", "hardswish", "hardtanh", "logsigmoid", "mish", "relu6", "selu", "softmin",
           "softsign", "tanhshrink", "threshold", "gaussian_nll_loss", "poisson_nll_loss"]


def relu(x: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0). ``inplace`` is accepted (PyTorch's argument); the result is a new tensor."""
    return _relu(x)


def linear_relu(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """relu(x @ weight.T + bias) as one fused op (one kernel on the GPU)."""
    return linear(x, weight, bias, activation="relu")


def _implicit_dim(fn: str, x: Tensor, dim, kwargs) -> int:
    if "axis" in kwargs:
        if dim is not None:
            raise TypeError(f"{fn}: got both dim= (PyTorch's name) and axis= (NumPy's name); pass only one")
        dim = kwargs.pop("axis")
    if kwargs:
        raise TypeError(f"{fn}: unexpected keyword argument(s) {sorted(kwargs)}")
    if dim is None:   # PyTorch's legacy choice when dim is left out (it warns; so should you pass it)
        return 0 if x.ndim in (0, 1, 3) else 1
    return dim


def softmax(x: Tensor, dim=None, **kwargs) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim`` (``axis=`` too); without either, PyTorch's legacy
    choice (dim 0 for 0-, 1- and 3-D input, else 1)."""
    return _softmax(x, axis=_implicit_dim("softmax", x, dim, kwargs))


def log_softmax(x: Tensor, dim=None, **kwargs) -> Tensor:
    """log(softmax(x)) along ``dim``, computed stably; ``dim`` as in :func:`softmax`."""
    return _log_softmax(x, axis=_implicit_dim("log_softmax", x, dim, kwargs))


def one_hot(targets: Tensor, num_classes: int = -1) -> Tensor:
    """Integer ``targets`` (any shape) as int64 one-hot vectors along a new last dim, as
    ``torch.nn.functional.one_hot``; ``num_classes=-1`` uses max(targets) + 1."""
    if targets.dtype.kind not in "iu":
        raise TypeError(f"one_hot: targets must be integer class indices, got {targets.dtype}")
    xp = get_backend(targets.device).xp
    raw = targets._data
    n = int(raw.max()) + 1 if num_classes == -1 else int(num_classes)
    if raw.size and (int(raw.min()) < 0 or int(raw.max()) >= n):
        raise ValueError(f"one_hot: class values must be in [0, {n - 1}], got [{int(raw.min())}, "
                         f"{int(raw.max())}]")
    return Tensor._wrap((raw[..., None] == xp.arange(n)).astype(xp.int64), targets.device)


# -- class losses on (N, C), (C,) and (N, C, d1, ...) input, as PyTorch's ----------------------------
def _as_rows(fn, input, target):  # noqa: A002
    """(rows of (M, C), their targets, the shape of a reduction="none" result) for PyTorch's layouts:
    (N, C) as is; (C,) with a 0-d target as one row; (N, C, d1, ...) with the class dim moved last
    and every position a row (a class-probability target is moved the same way)."""
    if not isinstance(input, Tensor) or input.ndim == 2:
        return input, target, None
    if input.ndim == 0:
        raise ValueError(f"{fn}: input must be (C,), (N, C) or (N, C, d1, ...) scores, got a 0-d tensor")
    if input.ndim == 1:
        t = target.reshape((1,) + tuple(target.shape)) if isinstance(target, Tensor) else target
        return input.reshape(1, -1), t, ()
    c = input.shape[1]
    perm = (0,) + tuple(range(2, input.ndim)) + (1,)
    rows = input.transpose(perm).reshape(-1, c)
    if isinstance(target, Tensor) and target.dtype.kind == "f":      # class probabilities, input's shape
        if tuple(target.shape) != tuple(input.shape):
            raise ValueError(f"{fn}: class-probability targets must have the input's shape {input.shape}, got "
                             f"{target.shape}")
        return rows, target.transpose(perm).reshape(-1, c), (input.shape[0],) + tuple(input.shape[2:])
    want = (input.shape[0],) + tuple(input.shape[2:])
    if not isinstance(target, Tensor) or tuple(target.shape) != want:
        got = target.shape if isinstance(target, Tensor) else type(target).__name__
        raise ValueError(f"{fn}: for input of shape {input.shape} (N, C, d1, ...) the class targets must have "
                         f"shape {want}, got {got}")
    return rows, target.reshape(-1), want


def cross_entropy(input: Tensor, target, weight=None, ignore_index: int = -100,  # noqa: A002
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy over the class dim 1 of (N, C) logits, (C,) logits or (N, C, d1, ...)
    scores (every position a sample: mean/sum over all of them), as
    ``torch.nn.functional.cross_entropy``; see ``nn.loss_fns.cross_entropy`` for the arguments."""
    rows, t, shape = _as_rows("cross_entropy", input, target)
    out = _loss_fns.cross_entropy(rows, t, weight, ignore_index, reduction, label_smoothing)
    return out.reshape(shape) if shape is not None and reduction == "none" else out


def nll_loss(input: Tensor, target, weight=None, ignore_index: int = -100,  # noqa: A002
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of (N, C), (C,) or (N, C, d1, ...) log-probabilities, as
    ``torch.nn.functional.nll_loss``; see ``nn.loss_fns.nll_loss``."""
    rows, t, shape = _as_rows("nll_loss", input, target)
    out = _loss_fns.nll_loss(rows, t, weight, ignore_index, reduction)
    return out.reshape(shape) if shape is not None and reduction == "none" else out
