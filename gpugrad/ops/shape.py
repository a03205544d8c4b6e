"""Movement ops: reshape, transpose, broadcast_to / sum_to, squeeze / expand_dims, indexing,
concatenate and stack. Each forward beside its VJP; none of them does arithmetic."""
from __future__ import annotations

import numpy as np

from ._shapes import check_axis, normalize_axis, sum_to_array
from ..backends import get_backend
from ..op import defop
from ..tensor import Tensor
from ..torch_args import accepts_torch_names
from ..vjp_namespace import raw_forward

reshape_op = defop("reshape", lambda backend, x, shape: x.reshape(shape), derivs=("reshape⁻¹",))
reshape_op.defvjp(lambda ns, g, ans, x, shape: ns.reshape(g, x.shape))

transpose_op = defop("transpose", lambda backend, x, axes: x.transpose(axes), derivs=("transpose⁻¹",))
transpose_op.defvjp(lambda ns, g, ans, x, axes: ns.transpose(g, tuple(np.argsort(axes))))

broadcast_to_op = defop("broadcast_to", lambda backend, x, shape: backend.xp.broadcast_to(x, shape),
                        derivs=("sum over broadcast axes",))
broadcast_to_op.defvjp(lambda ns, g, ans, x, shape: ns.sum_to(g, x.shape))

sum_to_op = defop("sum_to", lambda backend, x, shape: sum_to_array(x, shape), derivs=("broadcast",))
sum_to_op.defvjp(lambda ns, g, ans, x, shape: ns.broadcast_to(g, x.shape))


@raw_forward("index_put")
def _index_put_fwd(backend, g, shape, index, accumulate):
    out = backend.xp.zeros(shape, dtype=g.dtype)
    if accumulate:
        backend.add_at(out, index, g)
    else:
        out[index] = g
    return out


# The VJP of indexing: scatter the gradient into zeros, accumulating on repeated indices when
# ``accumulate`` (PyTorch's zeros(shape).index_put_(index, g, accumulate=True)). An op of its own so
# that gradients of gradients through indexing work.
index_put = defop("index_put", _index_put_fwd, derivs=("gather",))
index_put.defvjp(lambda ns, g, ans, x, shape, index, accumulate: g[index])

getitem_op = defop("getitem", lambda backend, x, index, accumulate: x[index], derivs=("scatter",))
getitem_op.defvjp(lambda ns, g, ans, x, index, accumulate: ns.index_put(g, x.shape, index, accumulate))


def _concat_vjp(ns, g, ans, needs, *xs, axis):
    grads, start = [], 0
    for x, need in zip(xs, needs):
        stop = start + x.shape[axis]
        grads.append(g[(slice(None),) * axis + (slice(start, stop),)] if need else None)
        start = stop
    return grads


concatenate_op = defop("concatenate", lambda backend, *xs, axis: backend.xp.concatenate(xs, axis=axis),
                       derivs="slice of g")
concatenate_op.defvjp_joint(_concat_vjp)

stack_op = defop("stack", lambda backend, *xs, axis: backend.xp.stack(xs, axis=axis), derivs="slice of g")
stack_op.defvjp_joint(lambda ns, g, ans, needs, *xs, axis: [
    g[(slice(None),) * axis + (i,)] if need else None for i, need in enumerate(needs)])


# -- user-facing wrappers: argument normalisation and clear errors ----------------------------------
def reshape(x, *shape):
    """``x`` with a new shape of the same size (one dimension may be -1)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    shape = tuple(int(s) for s in shape)
    size = x.size
    if shape.count(-1) > 1:
        raise ValueError(f"reshape: only one dimension can be -1, got {shape}")
    if -1 in shape:
        known = int(np.prod([s for s in shape if s != -1]))
        if known == 0 or size % known:
            raise ValueError(f"reshape: cannot reshape tensor of shape {x.shape} ({size} elements) "
                             f"into {shape}")
        shape = tuple(size // known if s == -1 else s for s in shape)
    if int(np.prod(shape)) != size:
        raise ValueError(f"reshape: cannot reshape tensor of shape {x.shape} ({size} elements) into "
                         f"shape {shape} ({int(np.prod(shape))} elements)")
    # A new node even when the shape is unchanged, as PyTorch's view: a hook or retain_grad on the
    # result must act on the result, not on x (returning x made them see every use of x).
    return reshape_op(x, shape=shape)


def transpose(x, *axes):
    """Permute the axes (reverse them when none are given), as NumPy's ``transpose``.

    NumPy's spellings: ``x.transpose((2, 0, 1))``, ``x.transpose(2, 0, 1)`` or ``x.transpose()``;
    negative axes count from the end. Note: PyTorch's ``transpose(d0, d1)`` swaps two dims, which
    is ``swapaxes`` here. Raises AxisError for an axis outside [-ndim, ndim) and ValueError when
    ``axes`` is not a permutation.
    """
    if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
        axes = axes[0]
    if axes is None or len(axes) == 0:
        axes = tuple(range(x.ndim))[::-1]
    axes = tuple(check_axis(a, x.ndim, "transpose") for a in axes)
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of the axes of a tensor of "
                         f"shape {x.shape} ({x.ndim} dimensions)")
    return transpose_op(x, axes=axes)


def swapaxes(x, axis1: int, axis2: int):
    """Swap two axes (NumPy's ``swapaxes``; PyTorch's ``transpose(d0, d1)``)."""
    a, b = check_axis(axis1, x.ndim, "swapaxes"), check_axis(axis2, x.ndim, "swapaxes")
    axes = list(range(x.ndim))
    axes[a], axes[b] = axes[b], axes[a]
    return transpose(x, axes)


def broadcast_to(x, shape):
    """``x`` broadcast to ``shape`` (NumPy rules); its VJP sums over the broadcast axes."""
    shape = tuple(shape)
    try:
        np.broadcast_shapes(x.shape, shape)
    except ValueError:
        raise ValueError(f"broadcast_to: cannot broadcast shape {x.shape} to {shape}") from None
    if np.broadcast_shapes(x.shape, shape) != shape:
        raise ValueError(f"broadcast_to: cannot broadcast shape {x.shape} to {shape}")
    return broadcast_to_op(x, shape=shape)   # a new node even when unchanged (see reshape)


expand = broadcast_to


def sum_to(x, shape):
    """Sum ``x`` down to ``shape``: the inverse of broadcasting, used to undo it in VJPs."""
    shape = tuple(shape)
    return x if shape == x.shape else sum_to_op(x, shape=shape)


@accepts_torch_names()
def squeeze(x, axis=None):
    """Remove axes of size 1 (all of them when ``axis`` is None)."""
    axes = normalize_axis(axis, x.ndim, "squeeze")
    if axes is None:
        axes = tuple(i for i, s in enumerate(x.shape) if s == 1)
    for a in axes:
        if x.shape[a] != 1:
            raise ValueError(f"squeeze: axis {a} of shape {x.shape} has size {x.shape[a]}, not 1")
    return reshape(x, tuple(s for i, s in enumerate(x.shape) if i not in axes))


@accepts_torch_names()
def expand_dims(x, axis):
    """Insert axes of size 1 at ``axis`` (an int or a tuple, as NumPy's; PyTorch: unsqueeze).

    Each axis is a position in the result, in [-(ndim + k), ndim + k) for k new axes.
    """
    axes = normalize_axis(axis, x.ndim + (len(axis) if isinstance(axis, (tuple, list)) else 1),
                          "expand_dims")
    shape, rest = [], iter(x.shape)
    for i in range(x.ndim + len(axes)):
        shape.append(1 if i in axes else next(rest))
    return reshape(x, tuple(shape))


unsqueeze = expand_dims


@accepts_torch_names({"start_dim": "start_axis", "end_dim": "end_axis"})
def flatten(x, start_axis: int = 0, end_axis: int = -1):
    """Collapse the axes ``start_axis..end_axis`` (inclusive) into one, as ``torch.flatten``.

    A 0-d tensor becomes shape (1,), as in PyTorch. Also accepts ``start_dim=``/``end_dim=``.
    """
    if x.ndim == 0:
        return reshape(x, (1,))
    start, end = (normalize_axis(a, x.ndim, "flatten")[0] for a in (start_axis, end_axis))
    if start > end:
        raise ValueError(f"flatten: start_dim {start_axis} comes after end_dim {end_axis} for a tensor "
                         f"of shape {x.shape}")
    return reshape(x, x.shape[:start] + (int(np.prod(x.shape[start:end + 1])),) + x.shape[end + 1:])


# -- indexing ---------------------------------------------------------------------------------------
# The index forms NumPy accepts, with NumPy's meaning (gpugrad names array things after NumPy):
# ints (negative too), slices with any step, None, Ellipsis, bools, and arrays (lists, nested lists
# of any length and depth, empty included; NumPy or CuPy arrays; gpugrad Tensors) of integers or
# booleans, mixed with the basic forms as NumPy mixes them. Where PyTorch differs: a list of
# lists is an array index here (PyTorch 2.x still reads ``x[[[0, 1], [1, 0]]]`` as a tuple, with
# a warning that it will change to NumPy's reading); uint8 arrays are integer indices (PyTorch's
# deprecated reading is a mask); negative slice steps work (PyTorch refuses them).
_BASIC = (int, slice, type(None), type(Ellipsis), bool, np.integer, np.bool_)


def _index_item(it, x, where):
    """One non-basic entry of an index, as the array library indexes with it: Tensors become
    their arrays (moved to ``x``'s device later), lists and tuples become integer or boolean
    arrays; anything else is returned for the library to accept or refuse."""
    if isinstance(it, Tensor):
        it = it._data if it._device == x._device or x._device.type != "cpu" else it.numpy()
    elif isinstance(it, (list, tuple)):
        try:
            arr = np.asarray(it)
        except ValueError:
            raise IndexError(f"{where}: the list {_short(it)} in the index (tensor of shape "
                             f"{x.shape}) is ragged, rows of different lengths; an index array must "
                             f"be rectangular") from None
        if arr.dtype.kind == "f" and arr.size == 0:
            arr = arr.astype(np.intp)           # [] and [[]]: empty integer indices, as NumPy
        if arr.dtype == object:
            raise IndexError(f"{where}: the list {_short(it)} in the index (tensor of shape "
                             f"{x.shape}) holds {_kinds(it)}, not only integers or booleans; to "
                             f"index several axes use a tuple, x[a, b] (not x[[a, b]])")
        it = arr
    elif isinstance(it, _BASIC):
        return it
    if _is_array(it):
        if it.dtype.kind not in "biu":
            raise IndexError(f"{where}: index arrays must hold integers or booleans, got {it.dtype} "
                             f"of shape {tuple(it.shape)} (tensor of shape {x.shape}); convert with "
                             f".astype(gg.int64) or round first")
    return it


def _is_array(it) -> bool:
    return isinstance(it, np.ndarray) or (getattr(it, "ndim", None) is not None
                                          and not isinstance(it, np.generic))


def _short(obj, n=60) -> str:
    text = repr(obj)
    return text if len(text) <= n else text[:n - 3] + "..."


def _kinds(items) -> str:
    names = sorted({type(v).__name__ for v in np.asarray(items, dtype=object).ravel()})
    return ", ".join(names)


def _describe(index) -> str:
    """The index as the user wrote it, short, arrays by dtype and shape."""
    items = index if isinstance(index, tuple) else (index,)
    parts = []
    for it in items:
        if isinstance(it, Tensor) or (hasattr(it, "dtype") and hasattr(it, "shape")
                                      and not isinstance(it, np.generic)):
            parts.append(f"<{it.dtype} array of shape {tuple(it.shape)}>")
        elif it is Ellipsis:
            parts.append("...")
        else:
            parts.append(_short(it, 40))
    return "[" + ", ".join(parts) + "]"


def prepare_index(x, index, where="getitem"):
    """``index`` in the form the array library takes for ``x``'s array, and whether repeated
    positions are possible (integer arrays), so that the VJP must accumulate. Raises IndexError
    naming ``where``, ``x``'s shape and the index for entries that are not an index."""
    if isinstance(index, _BASIC):                   # the common cases, untouched
        return index, False
    items = index if isinstance(index, tuple) else (index,)
    out, advanced, masks = [], False, False
    for it in items:                                # one pass: this runs on every indexing call
        if not isinstance(it, _BASIC):
            it = _index_item(it, x, where)
            kind = it.dtype.kind if _is_array(it) else None
            advanced = advanced or kind in ("i", "u")
            masks = masks or kind == "b"
        out.append(it)
    if not advanced and not masks and isinstance(index, tuple):
        return index, False                         # basic entries only
    if advanced and masks:
        # Accumulating scatters (np.add.at, cupyx.scatter_add) are given integer arrays only: a
        # mask is the tuple of its nonzero() positions (NumPy's definition of mask indexing).
        spread = []
        for it in out:
            if _is_array(it) and it.dtype.kind == "b":
                spread.extend(it.nonzero() if it.ndim else (it,))
            else:
                spread.append(it)
        out = spread
    if x.device.type != "cpu":
        xp = get_backend(x.device).xp
        out = [xp.asarray(it) if isinstance(it, np.ndarray) else it for it in out]
    return tuple(out) if isinstance(index, tuple) or len(out) != 1 else out[0], advanced


def index_error(x, index, exc, where="getitem") -> IndexError:
    """The array library's indexing error, said in gpugrad's terms: the op, the tensor's shape,
    the index, and what to do."""
    msg = " ".join(str(exc).split())
    if "out of bounds" in msg:
        hint = "each integer index along an axis of size n must lie in [-n, n)"
    elif "too many indices" in msg:
        hint = f"the tensor has {x.ndim} axes; index at most that many (None and ... add none)"
    elif "only integers" in msg:
        hint = ("valid entries: integers, slices, None, ..., booleans, and integer or boolean "
                "arrays, lists or Tensors")
    elif "boolean" in msg:
        hint = "a boolean mask must have the sizes of the axes it indexes"
    elif "broadcast" in msg:
        hint = "the index arrays must broadcast together (NumPy's rule)"
    else:
        hint = ("valid entries: integers, slices, None, ..., booleans, and integer or boolean "
                "arrays, lists or Tensors")
    return IndexError(f"{where}: {msg} (tensor of shape {x.shape}, index {_describe(index)}); {hint}")


def getitem(x, index):
    """``x[index]``: every index form NumPy accepts (see the notes above), with NumPy's result
    shape; the VJP scatters the gradient back, adding where an integer index repeats a position
    (PyTorch's ``index_put_(accumulate=True)``), and is itself differentiable (second order).

    Raises IndexError naming the shape and the index for an index out of range, of a wrong type
    (floats, strings), a ragged list, a mask of the wrong shape, or arrays that do not broadcast.
    """
    raw, advanced = prepare_index(x, index)
    try:
        return getitem_op(x, index=raw, accumulate=advanced)
    except (IndexError, ValueError, TypeError) as exc:
        raise index_error(x, index, exc) from exc


def assign_index(x, index, value):
    """``x[index] = value`` on ``x``'s array (the caller checks the grad rules), with the index
    forms and errors of :func:`getitem`; ``value`` (a Tensor, array or number) is moved to ``x``'s
    device and cast to its dtype, as NumPy's assignment casts."""
    raw, _ = prepare_index(x, index, "setitem")
    if isinstance(value, Tensor):
        value = value._data if value._device == x._device else get_backend(x.device).asarray(value.numpy())
    try:
        x._data[raw] = value
    except (IndexError, ValueError, TypeError) as exc:
        raise index_error(x, index, exc, "setitem") from exc


def _check_joinable(name, tensors, axis, same_shape):
    if not tensors:
        raise ValueError(f"{name}: needs at least one tensor")
    first = tensors[0]
    for t in tensors[1:]:
        if t.ndim != first.ndim or any(
                a != b for i, (a, b) in enumerate(zip(t.shape, first.shape)) if same_shape or i != axis):
            what = "the same shape" if same_shape else f"the same shape except along axis {axis}"
            raise ValueError(f"{name}: all tensors need {what}; got shapes "
                             f"{[tuple(u.shape) for u in tensors]}")


@accepts_torch_names()
def concatenate(tensors, axis: int = 0):
    """Join tensors along an existing axis."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("concatenate: needs at least one tensor")
    if tensors[0].ndim == 0:
        raise ValueError(f"concatenate: 0-d tensors cannot be concatenated (shape {tensors[0].shape}); "
                         f"use stack, or reshape them to (1,) first")
    axis = check_axis(axis, tensors[0].ndim, "concatenate")
    _check_joinable("concatenate", tensors, axis, same_shape=False)
    return concatenate_op(*tensors, axis=axis)


@accepts_torch_names()
def stack(tensors, axis: int = 0):
    """Join tensors of equal shape along a new axis."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: needs at least one tensor")
    _check_joinable("stack", tensors, None, same_shape=True)
    return stack_op(*tensors, axis=check_axis(axis, tensors[0].ndim + 1, "stack"))
