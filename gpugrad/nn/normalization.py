"""LayerNorm and BatchNorm1d, with PyTorch's arguments, parameters and buffers (so their
state_dicts have PyTorch's keys: weight, bias, running_mean, running_var, num_batches_tracked)."""
from __future__ import annotations

from ..creation import ones, zeros
from . import functional as F
from .module import Module, Parameter


class LayerNorm(Module):
    """Normalise over the last dims ``normalized_shape``, then an elementwise affine map
    (weight ones, bias zeros) when ``elementwise_affine``; ``bias=False`` drops the shift."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device=None, dtype=None):
        super().__init__()
        shape = (int(normalized_shape),) if isinstance(normalized_shape, int) else tuple(
            int(s) for s in normalized_shape)
        self.normalized_shape, self.eps, self.elementwise_affine = shape, float(eps), elementwise_affine
        self._bias_arg = bias
        if elementwise_affine:
            self.weight = Parameter(ones(shape, dtype=dtype, device=device))
            if bias:
                self.bias = Parameter(zeros(shape, dtype=dtype, device=device))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x):
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self._bias_arg}")


class BatchNorm1d(Module):
    """Batch normalisation of (N, C) or (N, C, L) input, as ``torch.nn.BatchNorm1d``.

    Training mode normalises with the batch's statistics and updates the running ones
    (``momentum``: the weight of the new batch; None for a cumulative average over batches);
    eval mode uses the running statistics. ``track_running_stats=False`` keeps none and always
    uses the batch's. ``affine``: a learnt per-channel weight (ones) and bias (zeros; none
    with ``bias=False``).
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device=None, dtype=None,
                 bias: bool = True):
        super().__init__()
        c = int(num_features)
        self.num_features, self.eps, self.momentum = c, float(eps), momentum
        self.affine, self.track_running_stats, self._bias_arg = affine, track_running_stats, bias
        if affine:
            self.weight = Parameter(ones(c, dtype=dtype, device=device))
            if bias:
                self.bias = Parameter(zeros(c, dtype=dtype, device=device))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", zeros(c, dtype=dtype, device=device))
            self.register_buffer("running_var", ones(c, dtype=dtype, device=device))
            self.register_buffer("num_batches_tracked", zeros((), dtype="int64", device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean._data[...] = 0
            self.running_var._data[...] = 1
            self.num_batches_tracked._data[...] = 0

    def forward(self, x):
        if x.ndim not in (2, 3) or x.shape[1] != self.num_features:
            raise ValueError(f"BatchNorm1d({self.num_features}): expected input of shape (N, "
                             f"{self.num_features}) or (N, {self.num_features}, L), got {x.shape}")
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked._data[...] += 1
            self.num_batches_tracked._bump_version()
            if self.momentum is None:     # cumulative moving average
                momentum = 1.0 / int(self.num_batches_tracked.item())
        use_batch_stats = self.training or self.running_mean is None
        return F.batch_norm(x, self.running_mean if not self.training or self.track_running_stats else None,
                            self.running_var if not self.training or self.track_running_stats else None,
                            self.weight, self.bias, use_batch_stats, momentum, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self._bias_arg}, track_running_stats={self.track_running_stats}")
