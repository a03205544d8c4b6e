"""More of PyTorch's activations, functions and modules (``mish``, ``hardswish``, ``softsign``,
``softmin``, ``glu``, ``tanhshrink``, ``threshold``), composed from the op table with PyTorch's
gradients at the kinks: hardswish's is x/3 + 1/2 strictly inside (-3, 3). ``inplace=`` is accepted
and ignored. (hardtanh, relu6, hardsigmoid, selu, celu and logsigmoid, with their modules, are in
activation_fns.py / activation.py.)
"""
from __future__ import annotations

from ..ops import abs as _abs, clip, sigmoid, softmax, tanh, where
from ..ops import shape as S
from ..tensor import Tensor
from .module import Module
from .softplus_fns import softplus











def mish(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """x * tanh(softplus(x)), as ``torch.nn.functional.mish``."""
    return input * tanh(softplus(input))






def hardswish(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """x * relu6(x + 3) / 6; gradient 0 up to -3, x/3 + 1/2 strictly inside (-3, 3), 1 from 3 on
    (PyTorch 2.13's backward at the two kinks)."""
    mid = input * (input + 3.0) * (1.0 / 6.0)
    return where(input <= -3.0, input * 0.0, where(input < 3.0, mid, input))


def softsign(input: Tensor) -> Tensor:  # noqa: A002
    """x / (1 + |x|), as ``torch.nn.functional.softsign``."""
    return input / (1.0 + _abs(input))


def softmin(input: Tensor, dim=None, _stacklevel: int = 3, dtype=None) -> Tensor:  # noqa: A002
    """softmax(-x) along ``dim``, as ``torch.nn.functional.softmin``."""
    x = input if dtype is None else input.astype(dtype)
    if dim is None:   # PyTorch's legacy choice, as F.softmax's
        dim = 0 if x.ndim in (0, 1, 3) else 1
    return softmax(-x, axis=dim)


def glu(input: Tensor, dim: int = -1) -> Tensor:  # noqa: A002
    """a * sigmoid(b) for the halves a, b of ``dim`` (its size must be even), as PyTorch."""
    d = dim % input.ndim if input.ndim else 0
    n = input.shape[d] if input.ndim else 0
    if input.ndim == 0 or n % 2:
        raise ValueError(f"glu: dim {dim} must have an even size, got shape {input.shape}")
    before = (slice(None),) * d
    return S.getitem(input, before + (slice(0, n // 2),)) * sigmoid(S.getitem(input, before + (slice(n // 2, n),)))


def tanhshrink(input: Tensor) -> Tensor:  # noqa: A002
    """x - tanh(x), as ``torch.nn.functional.tanhshrink``."""
    return input - tanh(input)


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:  # noqa: A002
    """x where x > threshold, else ``value``, as ``torch.nn.functional.threshold``."""
    return where(input > threshold, input, float(value) if input.dtype.kind == "f" else value)


def _module(name, fn, doc, **defaults):
    """A module calling ``fn(x, **its settings)``, whose constructor takes ``defaults`` by keyword or
    position, as PyTorch's."""
    keys = list(defaults)

    def __init__(self, *args, **kwargs):
        Module.__init__(self)
        if len(args) > len(keys):
            raise TypeError(f"{name}: takes at most {len(keys)} arguments, got {len(args)}")
        values = dict(defaults)
        values.update(zip(keys, args))
        unknown = set(kwargs) - set(keys) - {"inplace"}
        if unknown:
            raise TypeError(f"{name}: unexpected keyword argument(s) {sorted(unknown)}")
        values.update({k: v for k, v in kwargs.items() if k != "inplace"})
        for k, v in values.items():
            object.__setattr__(self, k, v)

    def forward(self, input):  # noqa: A002
        return fn(input, **{k: getattr(self, k) for k in keys})

    def extra_repr(self):
        return ", ".join(f"{k}={getattr(self, k)}" for k in keys)

    return type(name, (Module,), {"__init__": __init__, "forward": forward, "extra_repr": extra_repr,
                                  "__doc__": doc, "__module__": __name__})


Mish = _module("Mish", mish, "x * tanh(softplus(x)), as ``torch.nn.Mish``.")
Hardswish = _module("Hardswish", hardswish, "x * hardsigmoid(x), as ``torch.nn.Hardswish``.")
Softsign = _module("Softsign", softsign, "x / (1 + |x|), as ``torch.nn.Softsign``.")
Softmin = _module("Softmin", softmin, "softmax(-x) along ``dim``, as ``torch.nn.Softmin``.", dim=None)
GLU = _module("GLU", glu, "Gated linear unit over ``dim``, as ``torch.nn.GLU``.", dim=-1)
Tanhshrink = _module("Tanhshrink", tanhshrink, "x - tanh(x), as ``torch.nn.Tanhshrink``.")
Threshold = _module("Threshold", threshold, "x where x > threshold else value, as ``torch.nn.Threshold``.",
                    threshold=0.0, value=0.0)


