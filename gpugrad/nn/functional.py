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
from .loss_fns import (binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy,  # noqa: F401
                       huber_loss, l1_loss, mse_loss, nll_loss, smooth_l1_loss)
from .norm_fns import batch_norm, layer_norm  # noqa: F401
from .softplus_fns import softplus  # noqa: F401
from ..backends import get_backend

__all__ = ["linear", "linear_relu", "relu", "sigmoid", "tanh", "bias_sigmoid", "softmax", "log_softmax",
           "leaky_relu", "gelu", "silu", "elu", "selu", "celu", "logsigmoid", "hardtanh", "relu6",
           "hardsigmoid", "dropout", "layer_norm", "batch_norm", "one_hot",
           "cross_entropy", "nll_loss", "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss",
           "binary_cross_entropy", "binary_cross_entropy_with_logits", "softplus"]


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
