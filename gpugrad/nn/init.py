"""Parameter initialisers, in place, seeded by ``gg.manual_seed``.

Names and formulas follow ``torch.nn.init``: for a weight of shape (out_features, in_features),
fan_in = in_features and fan_out = out_features. The uniform ones (``uniform_``,
``kaiming_uniform_``, ``xavier_uniform_``) draw from gpugrad.rng's copy of PyTorch's CPU stream
and compute their bounds in PyTorch's order of operations, so after the same ``manual_seed`` they
fill the same numbers as PyTorch, bit for bit, on every device (PyTorch's CUDA generator differs:
there a model built on the device gets other numbers in PyTorch). ``normal_``, ``xavier_normal_`` and
``kaiming_normal_`` draw from NumPy's generator: same distribution, other numbers.

``he_uniform_`` and ``glorot_uniform_`` are the explicit choices of ``nn.MLP`` and ``gpugrad train``
(``Linear(init="kaiming"/"xavier")``); they draw from NumPy's generator, as they always have, so
the runs' numbers do not move.
"""
from __future__ import annotations

import math

from ..backends import get_backend
from ..creation import randn, uniform
from ..rng import torch_uniform
from ..tensor import Tensor

__all__ = ["calculate_gain", "uniform_", "normal_", "zeros_", "ones_", "constant_", "xavier_uniform_",
           "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "he_uniform_", "glorot_uniform_"]


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The recommended gain for an activation: 1 (linear, sigmoid), 5/3 (tanh), sqrt(2) (relu)."""
    if nonlinearity in ("linear", "identity", "sigmoid", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                        "conv_transpose2d", "conv_transpose3d"):
        return 1.0
    if nonlinearity == "selu":
        return 3.0 / 4
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)   # PyTorch's default negative slope
        return math.sqrt(2.0 / (1 + slope ** 2))
    raise ValueError(f"calculate_gain: unknown nonlinearity {nonlinearity!r}; expected linear, sigmoid, "
                     f"tanh, relu or leaky_relu")


def _fans(t: Tensor) -> tuple[int, int]:
    if t.ndim < 2:
        raise ValueError(f"fan in and fan out need a tensor with at least 2 dims, got shape {t.shape}")
    if t.size == 0:
        raise ValueError(f"fan in and fan out cannot be computed for an empty tensor of shape {t.shape}")
    receptive = 1
    for s in t.shape[2:]:
        receptive *= s
    return t.shape[1] * receptive, t.shape[0] * receptive


def _fill(t: Tensor, src: Tensor) -> Tensor:
    t._data[...] = src._data
    t._bump_version()
    return t


def _no_generator(generator, fn):
    if generator is not None:
        raise TypeError(f"{fn}: generator= is not supported; gpugrad draws from its own seeded generator "
                        f"(gg.manual_seed)")


def _torch_fill(t: Tensor, a: float, b: float) -> Tensor:
    # t's dtype decides the draw (float64 takes two 32-bit words per value, as PyTorch).
    arr = torch_uniform(t.shape, a, b, t.dtype)
    t._data[...] = get_backend(t.device).xp.asarray(arr)
    t._bump_version()
    return t


def uniform_(t: Tensor, a: float = 0.0, b: float = 1.0, generator=None) -> Tensor:
    """Fill ``t`` with samples from U(a, b): PyTorch's numbers after the same ``manual_seed``."""
    _no_generator(generator, "uniform_")
    if t.dtype.kind != "f":
        raise TypeError(f"uniform_: needs a floating tensor, got {t.dtype} (shape {t.shape})")
    return _torch_fill(t, a, b)


def normal_(t: Tensor, mean: float = 0.0, std: float = 1.0, generator=None) -> Tensor:
    """Fill ``t`` with samples from N(mean, std^2)."""
    _no_generator(generator, "normal_")
    z = randn(t.shape, dtype=t.dtype, device=t.device)
    z._data *= z.dtype.type(std)
    z._data += z.dtype.type(mean)
    return _fill(t, z)


def constant_(t: Tensor, value: float) -> Tensor:
    """Fill ``t`` with ``value``."""
    t._data[...] = value
    t._bump_version()
    return t


def zeros_(t: Tensor) -> Tensor:
    """Fill ``t`` with 0."""
    return constant_(t, 0)


def ones_(t: Tensor) -> Tensor:
    """Fill ``t`` with 1."""
    return constant_(t, 1)


def xavier_uniform_(t: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """Glorot: U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)). Suits sigmoid and tanh.
    PyTorch's numbers after the same ``manual_seed``."""
    _no_generator(generator, "xavier_uniform_")
    fan_in, fan_out = _fans(t)
    a = math.sqrt(3.0) * (gain * math.sqrt(2.0 / float(fan_in + fan_out)))   # PyTorch's rounding
    return uniform_(t, -a, a)


def glorot_uniform_(t: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot as ``xavier_uniform_``, drawn from NumPy's generator (``nn.MLP``'s and
    ``gpugrad train``'s choice for sigmoid/tanh and output layers)."""
    fan_in, fan_out = _fans(t)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return _fill(t, uniform(-a, a, t.shape, dtype=t.dtype, device=t.device))


def he_uniform_(t: Tensor) -> Tensor:
    """He for ReLU: U(+-sqrt(6 / fan_in)), drawn from NumPy's generator (``nn.MLP``'s and
    ``gpugrad train``'s choice for ReLU layers)."""
    bound = math.sqrt(2.0) * math.sqrt(3.0 / _fans(t)[0])
    return _fill(t, uniform(-bound, bound, t.shape, dtype=t.dtype, device=t.device))


def xavier_normal_(t: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """Glorot: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    _no_generator(generator, "xavier_normal_")
    fan_in, fan_out = _fans(t)
    return normal_(t, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def _fan(t: Tensor, mode: str, fn: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"{fn}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    return _fans(t)[0 if mode == "fan_in" else 1]


def kaiming_uniform_(t: Tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu", generator=None) -> Tensor:
    """He: U(-bound, bound) with bound = gain * sqrt(3 / fan), gain = calculate_gain(nonlinearity, a)
    (PyTorch's defaults: leaky_relu with a = 0, i.e. gain sqrt(2)). Suits ReLU. PyTorch's numbers
    after the same ``manual_seed``; ``a=math.sqrt(5)`` is ``nn.Linear``'s default."""
    _no_generator(generator, "kaiming_uniform_")
    fan = _fan(t, mode, "kaiming_uniform_")
    bound = math.sqrt(3.0) * (calculate_gain(nonlinearity, a) / math.sqrt(fan))   # PyTorch's rounding
    return uniform_(t, -bound, bound)


def kaiming_normal_(t: Tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", generator=None) -> Tensor:
    """He: N(0, std^2) with std = gain / sqrt(fan) (defaults as kaiming_uniform_)."""
    _no_generator(generator, "kaiming_normal_")
    fan = _fan(t, mode, "kaiming_normal_")
    return normal_(t, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan))
