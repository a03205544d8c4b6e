"""The op table mechanism: ``Op`` (a forward and its VJPs side by side), graph ``Node``s, and ``apply``.

An op's forward takes the backend and raw arrays. Its VJP is written once, against a namespace
``ns`` and values that are raw arrays on the fast path, or Tensors when ``create_graph=True``
(so gradients of gradients are recorded); see ``vjp_namespace``.

Writing an op::

    exp = defop("exp", lambda backend, x: backend.xp.exp(x), save_ans=True, derivs=("exp(x)",))
    exp.defvjp(lambda ns, g, ans, x: g * ans)

``save`` lists the inputs the VJP reads; the others reach it as ``Meta`` (shape and dtype only),
so the graph keeps no array it does not need.
"""
from __future__ import annotations

import numpy as np

from . import anomaly
from .backends import get_backend
from .dtypes import get_default_dtype, promote_to_floating
from .grad_mode import state as _grad_state
from .tensor import Tensor

_F64 = np.dtype(np.float64)
_new_object = object.__new__
_SCALARS = (int, float, bool, np.generic)


class Meta:
    """Shape and dtype of an input whose array the graph did not keep."""

    __slots__ = ("shape", "dtype")

    def __init__(self, shape, dtype):
        self.shape = shape
        self.dtype = dtype

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return int(np.prod(self.shape, dtype=np.int64))


class Node:
    """One recorded op application: what backward needs to apply its VJP.

    ``parents[i]`` is the Node that produced input i, the leaf Tensor itself, or None when
    input i needs no gradient. ``saved[i]`` is input i's array when the VJP reads it, else its
    ``Meta`` (shape and dtype: what the engine needs to fit the gradient), or the Python scalar
    it was; ``ans`` is the output array when the VJP reads it. Both are dropped after backward
    unless ``retain_graph=True`` (``freed`` then says so). ``op``, ``params`` (the op's keyword
    parameters), ``versions`` (the saved arrays' version counters and the versions they had),
    ``out_shape`` and ``device`` complete it. ``apply`` is the one place that builds nodes.
    """

    # Set for every node, in slots; the rarely set ones (hooks, retained, site) are class
    # defaults that land in __dict__ only when set, so recording an op stays cheap.
    __slots__ = ("op", "parents", "saved", "ans", "params", "versions", "freed", "out_shape", "device",
                 "__dict__", "__weakref__")
    hooks = None       # gradient hooks registered on the output (Tensor.register_hook)
    retained = None    # weakref to the output Tensor after retain_grad()
    site = None        # where the op was created, under detect_anomaly

    @property
    def name(self) -> str:
        return self.op.name

    def __repr__(self) -> str:
        return f"<Node {self.op.name}>"


class Op:
    """A differentiable (or not) operation: forward on raw arrays, VJPs beside it."""

    __slots__ = ("name", "forward", "vjps", "joint_vjp", "save", "save_if", "save_ans", "derivs",
                 "differentiable", "exact_dtype", "same_kind", "vjp_writes_g")

    def __init__(self, name, forward, save=(), save_ans=False, derivs=None, differentiable=True,
                 exact_dtype=False, same_kind=False, vjp_reads=None, vjp_writes_g=False):
        self.name = name
        self.vjp_writes_g = vjp_writes_g
        self.exact_dtype = exact_dtype
        self.same_kind = same_kind
        self.forward = forward
        self.save = frozenset(save)
        # save_if[i]: the inputs whose VJP reads saved input i; input i is kept only when one of
        # them wants a gradient (None: every input in ``save`` is kept).
        self.save_if = None
        if vjp_reads is not None:
            if not set().union(*vjp_reads) <= self.save:
                raise ValueError(f"defop {name}: vjp_reads names inputs not in save={sorted(self.save)}")
            self.save_if = {i: tuple(j for j, reads in enumerate(vjp_reads) if i in reads) for i in self.save}
        self.save_ans = save_ans
        self.derivs = derivs
        self.differentiable = differentiable
        self.vjps = None
        self.joint_vjp = None

    def defvjp(self, *vjps):
        """One VJP per input: ``vjp(ns, g, ans, *inputs, **params)``; None for non-differentiable inputs."""
        self.vjps = vjps
        return self

    def defvjp_joint(self, vjp):
        """One VJP for all inputs: ``vjp(ns, g, ans, needs, *inputs, **params)`` returns a tuple of grads.

        ``needs[i]`` says whether input i wants a gradient, so fused VJPs skip what nobody reads.
        """
        self.joint_vjp = vjp
        return self

    def __call__(self, *args, **params):
        return apply(self, args, params)

    def as_method(self):
        """A plain function calling this op, for binding as a Tensor method (``Tensor.__mul__``).

        A function (unlike a callable object) binds to instances at no cost per call.
        """
        op = self

        def method(*args, **params):
            return apply(op, args, params)

        method.__name__ = method.__qualname__ = self.name
        return method

    def __repr__(self) -> str:
        return f"<Op {self.name}>"


def defop(name, forward, save=(), save_ans=False, derivs=None, differentiable=True,
          exact_dtype=False, same_kind=False, vjp_reads=None, vjp_writes_g=False) -> Op:
    """Define an op: ``forward(backend, *arrays, **params) -> array``. See the module docstring.

    ``exact_dtype``: the op's output dtype is deliberate (a cast), exempt from the rule that
    never lets float64 appear from non-float64 inputs.
    ``same_kind``: a binary arithmetic op whose integer/bool array operand meeting a floating one
    is cast to the floating dtype first (``dtypes.promote_to_floating``, PyTorch's rule).
    ``vjp_reads``: for each input, the inputs its VJP reads (``mul``: ``((1,), (0,))``). An input
    in ``save`` is then kept only when the VJP of an input that wants a gradient reads it, as
    PyTorch saves ``other`` for ``self``'s gradient only: ``x * 2`` keeps nothing of x, and x may
    be written in place afterwards. Without it every input in ``save`` is kept.
    ``vjp_writes_g``: the VJP only reads the upstream gradient g through namespace functions that a
    backend may run in place (``IN_PLACE_VJPS``: relu_vjp), so when the engine holds the only
    reference to g it hands the VJP a namespace that writes into g (no new array per step).
    """
    return Op(name, forward, save, save_ans, derivs, differentiable, exact_dtype, same_kind, vjp_reads,
              vjp_writes_g)


def _read_by_a_gradient(args, readers) -> bool:
    """Whether one of the inputs ``readers`` (indices into ``args``) wants a gradient."""
    for j in readers:
        a = args[j]
        if isinstance(a, Tensor) and a._requires_grad:
            return True
    return False


def _device_error(op_name, tensors):
    listing = ", ".join(f"{t.device} (shape {tuple(t.shape)})" for t in tensors)
    return RuntimeError(f"{op_name}: tensors are on different devices: {listing}. "
                        f"Move them to one device first, e.g. with .to('cpu') or .to('cuda').")


def _storage_root(array):
    """The array that owns ``array``'s memory (NumPy and CuPy views point at it through ``.base``)."""
    while getattr(array, "base", None) is not None:
        array = array.base
    return array


def _share_version_counter(result, out, args) -> None:
    """A view (or the very array) of an input shares that input's version counter.

    Views from reshape, transpose, basic slicing, broadcast_to ... alias their input's storage,
    so an in-place write through either must invalidate graphs that saved the other.
    """
    root = _storage_root(out)
    for a in args:
        if isinstance(a, Tensor) and (a._data is out or _storage_root(a._data) is root):
            result._vc = a._version_counter()
            return


def apply(op: Op, args, params):
    """Run ``op`` on Tensors and Python scalars, recording a graph Node when a gradient is needed.

    This is the hot path of every op: keep it lean (it sets per-op overhead).
    """
    device = None
    arrays = []
    needs_grad = False
    has_f64 = False
    first_dtype = None      # dtypes of the array operands: all the same object, or mixed (rare)
    mixed = False
    for a in args:
        if isinstance(a, Tensor):
            if device is None:
                device = a._device
            elif a._device is not device and a._device != device:
                raise _device_error(op.name, [t for t in args if isinstance(t, Tensor)])
            d = a._data
            if a._requires_grad:
                needs_grad = True
            dt = d.dtype
            if dt is _F64:
                has_f64 = True
            if first_dtype is None:
                first_dtype = dt
            elif dt is not first_dtype:
                mixed = True
            arrays.append(d)
        elif a is None or isinstance(a, _SCALARS):
            arrays.append(a)
        else:
            raise TypeError(f"{op.name}: unsupported operand of type {type(a).__name__}; "
                            f"wrap arrays with gg.tensor(...) on the right device first")
    if device is None:
        raise TypeError(f"{op.name}: needs at least one Tensor argument")
    if mixed and op.same_kind:
        arrays = promote_to_floating(arrays)
    try:
        out = op.forward(device.backend or get_backend(device), *arrays, **params)
    except ValueError as exc:  # NumPy/CuPy broadcasting errors, re-said in the user's terms
        shapes = [str(tuple(a.shape)) for a in args if isinstance(a, Tensor)]
        if len(shapes) < 2:  # one input: nothing to broadcast, so not a broadcasting error
            raise ValueError(f"{op.name} (input shape {shapes[0]}): {exc}") from exc
        raise ValueError(f"{op.name}: cannot combine tensors of shapes {', '.join(shapes)}: {exc}") from None
    except Exception as exc:  # the backend re-says its own errors (CuPy's out of memory): nothing was modified
        said = (device.backend or get_backend(device)).translate_error(exc, op.name, device)
        if said is None:
            raise
        raise said from exc
    if isinstance(out, np.generic):  # NumPy returns scalars from 0-d operations
        out = np.asarray(out)
    # Integer or scalar inputs can yield float64 by NumPy's rules (int / int, int * 0.5):
    # give the user the default float dtype instead, never a silent float64.
    if out.dtype is _F64 and not has_f64 and not op.exact_dtype and get_default_dtype() is not _F64:
        out = out.astype(get_default_dtype())
    result = _new_object(Tensor)     # Tensor._wrap inlined (the hot path); out is an array here
    result._data = out
    result._device = device
    result._requires_grad = False
    result.grad = None
    result._node = None
    result._vc = None
    if out.base is not None:
        _share_version_counter(result, out, args)
    else:
        for a in arrays:
            if a is out:  # the op returned its input (a no-op reshape, sum_to, cast)
                _share_version_counter(result, out, args)
                break

    if needs_grad and op.differentiable and _grad_state.enabled:
        save, save_if = op.save, op.save_if
        parents = []
        saved = []
        versions = None
        for i, a in enumerate(args):
            if isinstance(a, Tensor):
                node = a._node
                parents.append(node if node is not None else (a if a._requires_grad else None))
                d = a._data
                if i in save and (save_if is None or _read_by_a_gradient(args, save_if[i])):
                    saved.append(d)
                    vc = a._vc
                    if vc is None:
                        vc = a._vc = [0]
                    versions = ((i, vc, vc[0]),) if versions is None else versions + ((i, vc, vc[0]),)
                else:
                    meta = _new_object(Meta)     # Meta(d.shape, d.dtype), inline (the hot path)
                    meta.shape = d.shape
                    meta.dtype = d.dtype
                    saved.append(meta)
            else:
                parents.append(None)
                saved.append(a)
        if op.save_ans:  # the VJP reads the output: an in-place write to it must be caught too
            vc = result._version_counter()
            versions = ((None, vc, vc[0]),) if versions is None else versions + ((None, vc, vc[0]),)
        node = _new_object(Node)         # every slot set here (no __init__: the hot path)
        node.op = op
        node.device = device
        node.parents = tuple(parents)
        node.saved = tuple(saved)
        node.ans = out if op.save_ans else None
        node.params = params
        node.versions = versions
        node.out_shape = out.shape
        node.freed = False
        result._node = node
        result._requires_grad = True
        if anomaly.state.enabled:
            node.site = anomaly.creation_site()
    if anomaly.state.enabled:
        anomaly.check_finite(out, "the forward", op.name, anomaly.creation_site())
    return result
