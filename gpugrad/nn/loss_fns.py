"""Loss functions with PyTorch's names and arguments (``torch.nn.functional``): cross_entropy,
nll_loss, mse_loss, l1_loss, smooth_l1_loss, huber_loss, binary_cross_entropy,
binary_cross_entropy_with_logits. ``reduction`` is "mean" (default), "sum" or "none" throughout.

Formulas and normalisations follow the PyTorch 2.x documentation: a weighted mean divides by the
sum of the weights of the counted targets; ignored targets count for nothing.

What a loss discards it selects away (``where``), never multiplies by a 0/1 mask: an ignored row's
NaN or -inf (a padded row of -inf logits), and the clamped side of a log, then reach neither the
forward nor any order of the gradient (inf * 0 would be NaN). float16 inputs are computed in
float32 and the loss rounded once (``accumulates_in_float32``), as PyTorch's reductions are.
"""
from __future__ import annotations

import numpy as np

from ..backends import get_backend
from ..dtypes import check_same_float_dtype
from ..op import defop
from ..ops import abs as _abs, exp, log, log1p, log_softmax, maximum, softmax, where
from ..ops._precision import accumulates_in_float32
from ..ops.activation import take_along_axis
from ..ops.losses import binary_cross_entropy as _bce
from ..tensor import Tensor, tensor as new_tensor
from ..vjp_namespace import RawNamespace


def _reduce(x: Tensor, reduction: str, fn: str, denominator=None) -> Tensor:
    if reduction == "mean":
        if denominator is None:
            return x.mean()
        # A zero total weight (every target ignored) gives NaN, as PyTorch, but gradients of 0 (each
        # term's weight is 0): dividing by the raw 0 would make them 0 * inf = NaN. Tensor ops only,
        # so a GPU never waits to test the denominator.
        zero = denominator == 0
        return where(zero, float("nan"), x.sum() / where(zero, 1.0, denominator))
    if reduction == "sum":
        return x.sum()
    if reduction == "none":
        return x
    raise ValueError(f"{fn}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _same_shape(fn: str, input: Tensor, target: Tensor) -> None:  # noqa: A002
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"{fn}: input shape {input.shape} and target shape {target.shape} differ; they "
                         f"must match")
    if input.device != target.device:
        raise RuntimeError(f"{fn}: input is on {input.device} but target on {target.device}; move them "
                           f"to one device")


def _as_target(target, like: Tensor) -> Tensor:
    return target if isinstance(target, Tensor) else new_tensor(target, device=like.device)


def _class_targets(fn: str, logits: Tensor, targets: Tensor, ignore_index: int) -> tuple:
    """Checked integer targets, the targets made safe to gather with (ignored -> 0), and the bool
    mask (N,) of counted rows (None when nothing can be ignored)."""
    if logits.ndim != 2:
        raise ValueError(f"{fn}: input must be (N, C), got shape {logits.shape}")
    if targets.dtype.kind not in "iu":
        raise TypeError(f"{fn}: targets must be integer class indices, got dtype {targets.dtype}; "
                        f"convert with targets.long()")
    if targets.shape != (logits.shape[0],):
        raise ValueError(f"{fn}: targets shape {targets.shape} does not match input shape "
                         f"{logits.shape}: expected ({logits.shape[0]},)")
    if targets.device != logits.device:
        raise RuntimeError(f"{fn}: input is on {logits.device} but targets on {targets.device}; move "
                           f"them to one device")
    c = logits.shape[1]
    raw = targets._data
    ignored = raw == ignore_index
    # On the CPU a bad target is a ValueError here. On a GPU that check would wait for the
    # device; there the gather turns a bad row's loss into NaN (see take_along_axis) instead.
    if raw.size and isinstance(raw, np.ndarray):
        bad = ((raw < 0) | (raw >= c)) & ~ignored
        if bad.any():
            counted = raw[~ignored]
            raise ValueError(f"{fn}: target class out of range: targets span [{int(counted.min())}, "
                             f"{int(counted.max())}] but the input has {c} classes (valid: 0..{c - 1}, "
                             f"or ignore_index={ignore_index})")
    if isinstance(raw, np.ndarray) and not ignored.any():   # (on a GPU, always mask: no sync)
        return targets, None
    xp = get_backend(targets.device).xp
    safe = Tensor._wrap(xp.where(ignored, 0, raw), targets.device)
    return safe, Tensor._wrap(~ignored, targets.device)


@accumulates_in_float32
def nll_loss(input: Tensor, target, weight=None, ignore_index: int = -100,  # noqa: A002
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of (N, C) log-probabilities ``input`` at integer ``target`` (N,):
    loss_i = -weight[t_i] * input[i, t_i]; rows whose target is ``ignore_index`` count for nothing.
    "mean" divides by the sum of weight[t_i] over counted rows (by their number without weight).

    Ignored rows are selected away: their loss is 0 (reduction="none") whatever their input holds,
    and their gradient 0 at every order. When every row is ignored the "mean" is 0/0 = NaN, as in
    PyTorch, and the gradient 0, as in PyTorch."""
    target = _as_target(target, input)
    safe, counted = _class_targets("nll_loss", input, target, ignore_index)
    losses = -take_along_axis(input, safe)
    w = None
    if weight is not None:
        _check_weight("nll_loss", weight, input)
        w = weight[safe]
    if w is not None:
        losses = losses * w
    if counted is not None:
        # selected, not multiplied by 0: an ignored row's value (NaN, inf) reaches neither sum nor gradient
        w = counted.astype(input.dtype) if w is None else where(counted, w, 0.0)
        losses = where(counted, losses, 0.0)
    return _reduce(losses, reduction, "nll_loss", None if w is None else w.sum())


def _check_weight(fn, weight, input):  # noqa: A002
    c = input.shape[1]
    if not isinstance(weight, Tensor) or tuple(weight.shape) != (c,):
        raise ValueError(f"{fn}: weight must be a tensor of shape ({c},) (one per class), got "
                         f"{getattr(weight, 'shape', type(weight).__name__)}")
    check_same_float_dtype(fn, ("input", input), ("weight", weight))   # PyTorch raises here too


@accumulates_in_float32
def cross_entropy(input: Tensor, target, weight=None, ignore_index: int = -100,  # noqa: A002
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy of (N, C) logits, as ``torch.nn.functional.cross_entropy``.

    ``target``: integer classes (N,) or class probabilities of the input's shape (floating).
    ``weight``: per-class weights (C,). ``ignore_index``: rows with this target count for nothing
    (class targets only). ``label_smoothing`` = e mixes the target with the uniform distribution:
    (1 - e) * nll + e / C * sum_c (-weight_c * log p_c). Computed from log_softmax, so finite
    for logits as large as +-1e4 in float32.

    An ignored row's logits are replaced before log_softmax (a row of -inf padding gives NaN
    there), so the loss is the mean over the other rows and the row's gradient 0, at every order
    (PyTorch's loss is the same, its gradient NaN). Every row ignored: NaN loss (0/0, PyTorch's),
    zero gradient. A class of target probability 0 contributes 0 even at a -inf logit (PyTorch: NaN).
    """
    target = _as_target(target, input)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    if input.ndim != 2:
        raise ValueError(f"cross_entropy: input must be (N, C) logits, got shape {input.shape}")
    c = input.shape[1]
    if weight is not None:
        _check_weight("cross_entropy", weight, input)
    if target.dtype.kind != "f" and reduction in ("mean", "sum"):
        fused = _fused_cross_entropy(input, target, weight, ignore_index, reduction, label_smoothing)
        if fused is not None:
            return fused
    if target.dtype.kind == "f":                     # class probabilities
        if tuple(target.shape) != tuple(input.shape):
            raise TypeError(f"cross_entropy: targets must be integer class indices of shape ({input.shape[0]},) "
                            f"or class probabilities of the input's shape {input.shape}; got {target.dtype} "
                            f"of shape {target.shape} (convert class indices with targets.long())")
        _same_shape("cross_entropy", input, target)
        logp = log_softmax(input, axis=1)
        if label_smoothing:
            target = target * (1.0 - label_smoothing) + label_smoothing / c
        coef = target if weight is None else target * weight
        # 0 * log 0 counts 0 (a -inf logit of a class without mass), selected so that neither the
        # loss nor either gradient sees 0 * -inf; elsewhere the product, whose target gradient is logp
        per_class = where((coef == 0) & (logp == -np.inf), 0.0, logp * coef)
        return _reduce(-per_class.sum(axis=1), reduction, "cross_entropy")
    safe, counted = _class_targets("cross_entropy", input, target, ignore_index)
    if counted is not None:   # an ignored row never reaches log_softmax
        input = where(Tensor._wrap(counted._data[:, None], input.device), input, 0.0)
    logp = log_softmax(input, axis=1)
    if weight is None and not label_smoothing and reduction in ("mean", "sum") and counted is None:
        return _reduce(-take_along_axis(logp, target), reduction, "cross_entropy")   # one gather
    nll = nll_loss(logp, target, weight, ignore_index, reduction)
    if not label_smoothing:
        return nll
    smooth = -(logp.sum(axis=1) if weight is None else (logp * weight).sum(axis=1))
    denom = None
    if counted is not None:
        smooth = where(counted, smooth, 0.0)
    if reduction == "mean":
        w = weight[safe] if weight is not None else None
        if counted is not None:
            w = counted.astype(input.dtype) if w is None else where(counted, w, 0.0)
        denom = w.sum() if w is not None else None
    return (1.0 - label_smoothing) * nll + (label_smoothing / c) * _reduce(smooth, reduction,
                                                                           "cross_entropy", denom)


# -- the fused path: forward and VJP one kernel launch each (gpugrad/kernels/cross_entropy.py) ---------
#: Largest N * C sent to the one-block kernels; bigger heads take the composite formula above.
FUSED_MAX_ELEMENTS = 1 << 22


def _fused_cross_entropy(input, target, weight, ignore_index, reduction, label_smoothing):  # noqa: A002
    """The loss through the fused op when the backend has it (cuda, cudasim) and the inputs suit it
    (float32/float64 (N, C) logits, a weight of their dtype, N * C <= FUSED_MAX_ELEMENTS), else None."""
    backend = get_backend(input.device)
    if not getattr(backend, "fuses_cross_entropy", False) or input.dtype.name not in ("float32", "float64"):
        return None
    n, c = input.shape
    if n == 0 or c == 0 or n * c > FUSED_MAX_ELEMENTS or target.shape != (n,) or target.device != input.device:
        return None
    if weight is not None and (weight.dtype != input.dtype or weight.device != input.device):
        return None
    t = target if target.dtype.name == "int64" else target.astype(np.int64)
    w = 1.0 if weight is None else weight
    return _ce_op(input, t, w, ignore_index=int(ignore_index), label_smoothing=float(label_smoothing),
                  mean=reduction == "mean")


def _ce_forward(backend, x, t, w, ignore_index, label_smoothing, mean):
    out = backend.fused_cross_entropy(x, t, None if isinstance(w, float) else w, ignore_index,
                                      label_smoothing, mean)
    return out[0:1].reshape(())


def _ce_vjp(ns, g, ans, x, t, w, ignore_index, label_smoothing, mean):
    """dx (see kernels/cross_entropy.py): the fused kernel on raw arrays; under create_graph the same
    derivative from differentiable ops (softmax of the selected logits), so higher orders select too."""
    if isinstance(ns, RawNamespace):
        return ns.backend.fused_cross_entropy_vjp(g, x, t, None if isinstance(w, float) else w,
                                                  ignore_index, label_smoothing, mean)
    xp = get_backend(x.device).xp
    n, c = x.shape
    raw_t = t._data
    counted = raw_t != ignore_index
    safe = xp.where(counted, raw_t, 0)
    wv = xp.ones(c, dtype=x.dtype) if isinstance(w, float) else w._data
    wt = xp.where(counted, wv[safe], 0).astype(x.dtype)
    onehot = (xp.arange(c)[None, :] == safe[:, None]).astype(x.dtype)
    keep = Tensor._wrap(counted[:, None], x.device)
    p = softmax(where(keep, x, 0.0), axis=1)
    e = label_smoothing
    row = (1 - e) * Tensor._wrap(wt[:, None], x.device) * (p - Tensor._wrap(onehot, x.device))
    if e:
        row = row + (e / c) * (float(wv.sum()) * p - Tensor._wrap(xp.broadcast_to(wv, (n, c)), x.device))
    coef = g / Tensor._wrap(wt.sum(), x.device) if mean else g
    return where(keep, row * coef, 0.0)


_ce_op = defop("cross_entropy_fused", _ce_forward, save=(0, 1, 2), derivs=("softmax - onehot",))
_ce_op.defvjp(_ce_vjp, None, None)


@accumulates_in_float32
def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Mean squared error (input - target)^2 (shapes must match)."""
    target = _as_target(target, input)
    _same_shape("mse_loss", input, target)
    d = input - target
    return _reduce(d * d, reduction, "mse_loss")


@accumulates_in_float32
def l1_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Mean absolute error |input - target| (shapes must match)."""
    target = _as_target(target, input)
    _same_shape("l1_loss", input, target)
    return _reduce(_abs(input - target), reduction, "l1_loss")


@accumulates_in_float32
def smooth_l1_loss(input: Tensor, target: Tensor, reduction: str = "mean",  # noqa: A002
                   beta: float = 1.0) -> Tensor:
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = input - target); beta = 0 is L1."""
    target = _as_target(target, input)
    _same_shape("smooth_l1_loss", input, target)
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be >= 0, got {beta}")
    d = input - target
    a = _abs(d)
    if beta == 0:
        return _reduce(a, reduction, "smooth_l1_loss")
    return _reduce(where(a < beta, (0.5 / beta) * d * d, a - 0.5 * beta), reduction, "smooth_l1_loss")


@accumulates_in_float32
def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean",  # noqa: A002
               delta: float = 1.0) -> Tensor:
    """0.5 d^2 where |d| <= delta, else delta (|d| - 0.5 delta) (d = input - target)."""
    target = _as_target(target, input)
    _same_shape("huber_loss", input, target)
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be > 0, got {delta}")
    d = input - target
    a = _abs(d)
    # "<", not "<=": at |d| = delta both pieces and their slopes agree, and the outer piece gives
    # the second derivative PyTorch gives there (0).
    return _reduce(where(a < delta, 0.5 * d * d, delta * (a - 0.5 * delta)), reduction, "huber_loss")


@accumulates_in_float32
def binary_cross_entropy(input: Tensor, target: Tensor, weight=None,  # noqa: A002
                         reduction: str = "mean") -> Tensor:
    """-weight (t log p + (1 - t) log(1 - p)) for probabilities p = ``input`` in [0, 1]; each log
    is clamped at -100 as in PyTorch, so p = 0 or 1 gives a finite loss."""
    target = _as_target(target, input)
    _same_shape("binary_cross_entropy", input, target)
    check_same_float_dtype("binary_cross_entropy", ("input", input), ("target", target), ("weight", weight))
    raw = input._data
    if isinstance(raw, np.ndarray) and raw.size and (raw.min() < 0 or raw.max() > 1):
        raise ValueError("binary_cross_entropy: input must be probabilities in [0, 1]; apply sigmoid "
                         "first, or use binary_cross_entropy_with_logits")
    # PyTorch's clamps, and its gradient (p - t) / max(p (1 - p), 1e-12): finite at p = 0 and 1
    # (where a float32 sigmoid saturates) at every order (gpugrad/ops/losses.py).
    loss = _bce(input, target)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy")


def _softplus(z: Tensor) -> Tensor:
    """log(1 + e^z) without overflow, and with its exact derivative sigmoid(z) everywhere.

    Not log(1 + e^-|z|) + max(z, 0): at z = 0 the subgradients of |z| and max(z, 0) do not cancel
    (0 + 0 instead of 1/2), which made the gradient of binary_cross_entropy_with_logits wrong
    by a factor of 2 at logit 0. Each branch sees only its own side of 0, so the branch not taken
    never overflows into a NaN gradient; log1p keeps the tail: softplus(-40) = 4.2e-18, not 0.
    """
    pos = where(z > 0, z, 0.0)
    neg = where(z > 0, 0.0, z)
    return where(z > 0, pos + log1p(exp(-pos)), log1p(exp(neg)))


@accumulates_in_float32
def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight=None,  # noqa: A002
                                     reduction: str = "mean", pos_weight=None) -> Tensor:
    """Binary cross-entropy of sigmoid(``input``) computed from the logits without overflow:
    pos_weight t softplus(-x) + (1 - t) softplus(x), PyTorch's (1 - t) x + (1 + (pos_weight - 1) t)
    softplus(-x) rearranged so that both tails keep their digits (softplus with log1p).
    ``pos_weight`` (broadcast over the last dim) weighs the positive term; ``weight`` each element."""
    target = _as_target(target, input)
    _same_shape("binary_cross_entropy_with_logits", input, target)
    # t softplus(-x) + (1 - t) softplus(x), each term precise in its own tail (the loss of a
    # confident right answer, 4.25e-18 at x = 40, t = 1, is not lost to (1 - t) x + ... = 40 - 40);
    # equal to PyTorch's (1 - t) x + (1 + (pos_weight - 1) t) softplus(-x).
    pos_term = target * _softplus(-input)
    if pos_weight is not None:
        pos_term = pos_term * pos_weight
    loss = pos_term + (1.0 - target) * _softplus(input)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")
