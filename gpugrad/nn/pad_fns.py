"""``F.pad``: constant, reflect, replicate and circular padding, as ``torch.nn.functional.pad``.

``pad`` lists (left, right) pairs from the last dimension backwards. Constant padding joins the
input with filled blocks (negative pads crop), so the gradient is the input's slice of the
upstream one. The other modes gather from the input with an index per padded dimension (the
mirrored, clamped or wrapped positions): integer indexing, whose VJP adds the gradient of every
copy back into the element it came from, at every order.
"""
from __future__ import annotations

import numpy as np

from ..backends import get_backend
from ..creation import full
from ..ops import concatenate, getitem
from ..tensor import Tensor

MODES = ("constant", "reflect", "replicate", "circular")


def _positions(mode, n, left, right, dim, x):
    i = np.arange(-left, n + right)
    if mode == "reflect":
        if left >= n or right >= n:
            raise ValueError(f"pad: reflect padding ({left}, {right}) must be smaller than the size {n} of dim "
                             f"{dim} (shape {x.shape}), as in PyTorch")
        i = np.abs(i)
        i = np.where(i >= n, 2 * (n - 1) - i, i)
    elif mode == "replicate":
        if n == 0:
            raise ValueError(f"pad: replicate padding of an empty dim {dim} (shape {x.shape}) has nothing to copy")
        i = np.clip(i, 0, n - 1)
    else:
        if left > n or right > n:
            raise ValueError(f"pad: circular padding ({left}, {right}) can be at most the size {n} of dim {dim} "
                             f"(shape {x.shape}), as in PyTorch")
        i = np.mod(i, n)
    return i


def pad(input: Tensor, pad, mode: str = "constant", value=None) -> Tensor:  # noqa: A002
    """``input`` padded by ``pad = (left_last, right_last, left_2nd_last, right_2nd_last, ...)``, as
    ``torch.nn.functional.pad``. ``mode``: "constant" (``value``, default 0; negative pads crop; any
    number of dims), "reflect" (mirror without the edge), "replicate" (repeat the edge), "circular"
    (wrap around); the last three pad the last 1-3 dims of a batched or unbatched input (2-3 dims for
    one padded dim, 3-4 for two, 4-5 for three), as PyTorch. Differentiable.

    Raises ValueError for an odd-length pad, more padded dims than the input has, an unknown mode, or
    pads a mode cannot take.
    """
    pad = [int(p) for p in pad]
    if len(pad) % 2:
        raise ValueError(f"pad: the padding must have an even length (pairs per dim), got {tuple(pad)}")
    k = len(pad) // 2
    if k > input.ndim:
        raise ValueError(f"pad: {len(pad)} pads cover {k} dims but the input has {input.ndim} (shape {input.shape})")
    if mode not in MODES:
        raise ValueError(f"pad: mode must be one of {', '.join(MODES)}, got {mode!r}")
    if mode != "constant":
        if value not in (None, 0, 0.0):
            raise ValueError(f"pad: value= is for mode 'constant' only, got value={value} with mode {mode!r}")
        if not (k + 1 <= input.ndim <= k + 2) or k > 3:
            raise ValueError(f"pad: {mode} padding of the last {k} dim(s) takes a {k + 1}-D or {k + 2}-D input "
                             f"(unbatched or batched, as in PyTorch), got shape {input.shape}")
        if any(p < 0 for p in pad):
            raise ValueError(f"pad: negative pads are for mode 'constant' only, got {tuple(pad)} with {mode!r}")
    out = input
    for j in range(k):
        left, right = pad[2 * j], pad[2 * j + 1]
        if not (left or right):
            continue
        dim = input.ndim - 1 - j
        before = (slice(None),) * dim
        if mode == "constant":
            n = out.shape[dim]
            lo, hi = max(-left, 0), n - max(-right, 0)
            if lo or hi != n:
                if hi < lo:
                    raise ValueError(f"pad: pads {tuple(pad)} crop more than dim {dim}'s size {n} (shape "
                                     f"{input.shape})")
                out = getitem(out, before + (slice(lo, hi),))
            parts = []
            fill = 0 if value is None else value
            for width in (max(left, 0), max(right, 0)):
                shape = out.shape[:dim] + (width,) + out.shape[dim + 1:]
                parts.append(full(shape, fill, dtype=out.dtype, device=out.device) if width else None)
            pieces = [p for p in (parts[0], out, parts[1]) if p is not None]
            out = concatenate(pieces, axis=dim) if len(pieces) > 1 else out
        else:
            idx = _positions(mode, out.shape[dim], left, right, dim, input)
            xp = get_backend(out.device).xp
            out = getitem(out, before + (Tensor._wrap(xp.asarray(idx), out.device),))
    return out
