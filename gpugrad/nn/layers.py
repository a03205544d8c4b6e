"""Layers: Linear, the activations, Dropout, Sequential and MLP.

``Sequential`` runs a Linear directly followed by a Sigmoid as one fused op,
``bias_sigmoid(x @ W.T, b)``: one pass (one kernel on the GPU) instead of a bias add and a sigmoid;
and a Linear followed by a ReLU as ``linear_relu`` (bias and ReLU in the matmul kernel's epilogue).
"""
from __future__ import annotations

import math
from collections import OrderedDict

from . import functional as F
from . import init as nn_init
from ..creation import empty
from ..ops import tanh
from .module import Module, Parameter
from .hooks import has_hooks

__all__ = ["Linear", "ReLU", "Sigmoid", "Tanh", "Identity", "Dropout", "Sequential", "MLP"]

_INITS = ("kaiming", "xavier", "torch")


class Linear(Module):
    """y = x @ weight.T + bias, with weight of shape (out_features, in_features).

    ``init`` picks the initialisation. ``"torch"``, the default, is PyTorch's
    (``kaiming_uniform_(weight, a=sqrt(5))``, i.e. U(+-1/sqrt(in_features)), and the bias
    U(+-1/sqrt(in_features))), drawn from gpugrad's copy of PyTorch's CPU stream: after the same
    ``manual_seed`` an import-swapped script's layers start from PyTorch's very numbers.
    ``"kaiming"`` (He uniform, for ReLU) and ``"xavier"`` (Glorot uniform scaled by ``gain``, for
    sigmoid and tanh; ``gain=5/3`` suits tanh) are what ``nn.MLP`` and ``gpugrad train`` choose;
    their biases start at zero and they draw from NumPy's generator.

    >>> layer = gg.nn.Linear(64, 10)
    >>> layer(gg.randn(8, 64)).shape
    (8, 10)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, init: str = "torch",
                 gain: float = 1.0, device=None, dtype=None):
        super().__init__()
        if int(in_features) < 1 or int(out_features) < 1:
            raise ValueError(f"Linear: in_features and out_features must be positive, got "
                             f"{in_features} and {out_features}")
        if init not in _INITS:
            raise ValueError(f"Linear: init must be one of {', '.join(_INITS)}; got {init!r}")
        self.in_features, self.out_features, self.init = int(in_features), int(out_features), init
        self.weight = Parameter(empty(self.out_features, self.in_features, dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(empty(self.out_features, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters(gain)

    def reset_parameters(self, gain: float = 1.0) -> None:
        if self.init == "torch":
            # torch.nn.Linear.reset_parameters, step for step (the draws' order included).
            nn_init.kaiming_uniform_(self.weight, a=math.sqrt(5))
            if self.bias is not None:
                bound = 1 / math.sqrt(self.in_features)
                nn_init.uniform_(self.bias, -bound, bound)
            return
        if self.init == "kaiming":
            nn_init.he_uniform_(self.weight)
        else:
            nn_init.glorot_uniform_(self.weight, gain=gain)
        if self.bias is not None:
            nn_init.zeros_(self.bias)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, " \
               f"bias={self.bias is not None}"


class ReLU(Module):
    """max(x, 0). ``inplace`` is accepted (PyTorch's argument); the result is a new tensor."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""

    def forward(self, x):
        return F.relu(x)


class Sigmoid(Module):
    """1 / (1 + exp(-x)); fused with a preceding Linear inside Sequential."""

    def forward(self, x):
        return F.sigmoid(x)


class Tanh(Module):
    """tanh(x)."""

    def forward(self, x):
        return tanh(x)


class Identity(Module):
    """Returns its input; any constructor arguments are ignored, as in PyTorch."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x


class Dropout(Module):
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p) in training mode;
    the identity in eval mode. Masks come from gpugrad's seeded generator (``gg.manual_seed``)."""

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be a probability in [0, 1], got {p}")
        self.p, self.inplace = float(p), inplace

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Sequential(Module):
    """Modules applied in order; ``Sequential(a, b)`` or ``Sequential(OrderedDict(name=module))``.

    A Linear (with bias) followed by a Sigmoid runs as ``bias_sigmoid(linear(x, W), b)``, and
    followed by a ReLU as ``linear_relu(x, W, b)``.
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, m in modules[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(modules):
                if not isinstance(m, Module):
                    raise TypeError(f"Sequential: argument {i} is a {type(m).__name__}, not a Module")
                self.add_module(str(i), m)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, i):
        mods = list(self._modules.values())
        if isinstance(i, slice):
            return Sequential(*mods[i])
        return mods[i]

    def append(self, module: Module) -> "Sequential":
        self.add_module(str(len(self)), module)
        return self

    def forward(self, x):
        mods = list(self._modules.values())
        i = 0
        while i < len(mods):
            m = mods[i]
            nxt = mods[i + 1] if i + 1 < len(mods) else None
            # fused Linear + activation, unless a hook must see either module's call (nn/hooks.py)
            if type(m) is Linear and m.bias is not None and x.ndim == 2 and not has_hooks(m) \
                    and not has_hooks(nxt):
                if type(nxt) is Sigmoid:
                    x = F.bias_sigmoid(F.linear(x, m.weight), m.bias)
                    i += 2
                    continue
                if type(nxt) is ReLU:
                    x = F.linear_relu(x, m.weight, m.bias)
                    i += 2
                    continue
            x = m(x)
            i += 1
        return x


_ACTIVATIONS = {"relu": (ReLU, "kaiming", 1.0), "sigmoid": (Sigmoid, "xavier", 1.0),
                "tanh": (Tanh, "xavier", 5.0 / 3)}


class MLP(Sequential):
    """A multilayer perceptron: Linear layers of ``sizes`` = [in, hidden..., out] with ``activation``
    ("relu", "sigmoid" or "tanh") and optional Dropout between them, and none after the last.

    Initialisation follows the activation: He (Kaiming) for ReLU, Glorot (Xavier) for sigmoid and
    tanh (gain 5/3), Glorot for the output layer.

    >>> model = gg.nn.MLP([64, 256, 256, 10], activation="relu")
    """

    def __init__(self, sizes, activation: str = "relu", dropout: float = 0.0, bias: bool = True,
                 device=None, dtype=None):
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2:
            raise ValueError(f"MLP: sizes must list at least an input and an output size, got {sizes}")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"MLP: activation must be one of {', '.join(_ACTIVATIONS)}; got "
                             f"{activation!r}")
        act, init, gain = _ACTIVATIONS[activation]
        layers = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            last = i == len(sizes) - 2
            layers.append(Linear(n_in, n_out, bias=bias, init="xavier" if last else init,
                                 gain=1.0 if last else gain, device=device, dtype=dtype))
            if not last:
                layers.append(act())
                if dropout > 0:
                    layers.append(Dropout(dropout))
        super().__init__(*layers)
        self.sizes, self.activation = sizes, activation
