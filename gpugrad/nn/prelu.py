"""``F.prelu`` and ``nn.PReLU``: leaky ReLU with a learned slope, as ``torch.nn.functional.prelu``
/ ``torch.nn.PReLU``, composed from the op table (``where(x > 0, x, weight * x)``: at x = 0 the
input's gradient is the slope's side, and the slope's gradient is 0 there, as PyTorch's)."""
from __future__ import annotations

from ..creation import full
from ..grad_mode import no_grad
from ..ops import where
from ..tensor import Tensor
from .module import Module, Parameter


def prelu(input: Tensor, weight: Tensor) -> Tensor:  # noqa: A002
    """``max(0, x) + weight * min(0, x)``; ``weight`` is one slope, or one per channel (dim 1 of the
    input; a 0-d or 1-D input has one channel), as PyTorch. Raises TypeError for mixed dtypes and ValueError for a
    weight whose size is neither 1 nor the number of channels."""
    if input.dtype != weight.dtype:
        raise TypeError(f"prelu: the input is {input.dtype} and the weight {weight.dtype} (PyTorch raises too); "
                        f"convert the input with .to({str(weight.dtype)!r}) or the module with .to(dtype)")
    if weight.ndim > 1:
        raise ValueError(f"prelu: weight must be 0-d or 1-D, got shape {weight.shape}")
    n = weight.size
    if n != 1:
        channels = input.shape[1] if input.ndim >= 2 else 1
        if n != channels:
            raise ValueError(f"prelu: {n} slopes for an input of shape {input.shape} ({channels} channel(s): dim 1, "
                             f"or 1 for a 0-d or 1-D input); use 1 slope or one per channel")
        if input.ndim >= 2:
            weight = weight.reshape((n,) + (1,) * (input.ndim - 2))
    elif weight.ndim:
        weight = weight.reshape(())
    return where(input > 0, input, weight * input)


class PReLU(Module):
    """PReLU with ``num_parameters`` learned slopes (1, or the number of channels), each starting at
    ``init`` (0.25), as ``torch.nn.PReLU``."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device=None, dtype=None):
        super().__init__()
        if int(num_parameters) < 1:
            raise ValueError(f"PReLU: num_parameters must be positive, got {num_parameters}")
        self.num_parameters, self.init = int(num_parameters), float(init)
        self.weight = Parameter(full((self.num_parameters,), self.init, dtype=dtype, device=device))

    def reset_parameters(self) -> None:
        with no_grad():
            self.weight.fill_(self.init)

    def forward(self, input):  # noqa: A002
        return prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"
