"""The backward engine: walks the recorded graph from outputs to inputs, applying each op's VJP.

* Iterative (no recursion), so a chain of 100,000 ops backpropagates.
* A node runs once all its consumers have sent their gradient (dependency counts), and its
  gradient is dropped from ``pending`` as soon as it is consumed.
* Gradients are summed back to each input's shape (``sum_to``) here, once for every op.
* Saved arrays are released after their VJP unless ``retain_graph``.
* With ``create_graph`` the VJPs run on Tensors (recorded), else on raw arrays.
"""
from __future__ import annotations

import sys

import numpy as np

from . import anomaly, cpu_graph
from .backends import get_backend
from .op import _SCALARS, Meta, Node
from .grad_mode import enable_grad, no_grad
from .tensor import Tensor
from .ops import copy as _copy
from .ops.tensor_namespace import tensor_namespace
from .vjp_namespace import raw_namespace

# Callbacks queued during a backward pass, run once when it ends (PyTorch's queue_callback);
# DistributedDataParallel waits for its gradient all-reduces there.
_callbacks: list = []


def queue_callback(fn) -> None:
    """Run ``fn()`` once, when the backward pass now running ends (dropped if it raises)."""
    _callbacks.append(fn)


# One entry per walk now running (innermost last): True for backward(), which writes .grad, False
# for grad(), which only returns gradients. Hooks that act on .grad (DDP's) ask in_backward().
_walks: list = []


def in_backward() -> bool:
    """True while the innermost backward walk now running is ``backward()`` (it accumulates into
    ``.grad``); False inside ``gg.grad()`` or outside any walk. DistributedDataParallel syncs only
    then, as PyTorch's reducer ignores ``torch.autograd.grad``."""
    return bool(_walks) and _walks[-1]


def _run_with_callbacks(accumulating, roots, retain_graph, create_graph, targets):
    _walks.append(accumulating)
    try:
        if targets is None and not create_graph and not anomaly.state.enabled:
            out = _run_plain(roots, retain_graph)
        else:
            out = _run(roots, retain_graph, create_graph, targets)
    except BaseException:
        _callbacks.clear()
        raise
    finally:
        _walks.pop()
    while _callbacks:
        _callbacks.pop(0)()
    return out


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False) -> None:
    """Accumulate the gradients of ``tensors`` (weighted by ``grad_tensors``) into the leaves' ``.grad``.

    ``retain_graph`` defaults to ``create_graph``: a graph of gradients refers back to the first graph.
    """
    if isinstance(tensors, Tensor):
        tensors = [tensors]
    if isinstance(grad_tensors, Tensor):
        grad_tensors = [grad_tensors]
    roots = _root_grads("backward", tensors, grad_tensors, create_graph)
    retain = create_graph if retain_graph is None else bool(retain_graph)
    _run_with_callbacks(True, roots, retain, create_graph, targets=None)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=False) -> tuple:
    """The gradients of ``outputs`` with respect to ``inputs``, returned (``.grad`` is not touched).

    Returns a tuple with one Tensor per input. With ``create_graph=True`` the results are
    themselves differentiable (gradients of gradients, Hessian-vector products).
    """
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    targets = {}
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor):
            raise TypeError(f"grad: inputs[{i}] is a {type(t).__name__}, not a Tensor")
        edge = t._edge()
        if edge is None:
            raise RuntimeError(f"grad: inputs[{i}] (shape {t.shape}) does not require grad; create it "
                               f"with requires_grad=True")
        targets.setdefault(id(edge), (edge, []))[1].append(i)
    roots = _root_grads("grad", outputs, grad_outputs, create_graph)
    retain = create_graph if retain_graph is None else bool(retain_graph)
    captured = _run_with_callbacks(False, roots, retain, create_graph, targets=targets)
    result = []
    for i, t in enumerate(inputs):
        g = captured.get(id(t._edge()))
        if g is None and not allow_unused:
            raise RuntimeError(f"grad: inputs[{i}] (shape {t.shape}) was not used to compute the "
                               f"outputs; pass allow_unused=True to get None for it")
        result.append(g)
    return tuple(result)


def _root_grads(api, tensors, grad_tensors, create_graph):
    if grad_tensors is not None and len(grad_tensors) != len(tensors):
        raise ValueError(f"{api}: got {len(tensors)} outputs but {len(grad_tensors)} gradients")
    roots = []
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"{api}: outputs[{i}] is a {type(t).__name__}, not a Tensor")
        if not t._requires_grad:
            raise RuntimeError(f"{api}: the output (shape {t.shape}) does not require grad and has "
                               f"no graph: no input of the computation had requires_grad=True, or it "
                               f"ran under gg.no_grad()")
        g = None if grad_tensors is None else grad_tensors[i]
        xp = get_backend(t._device).xp
        if g is None:
            if t.size != 1:
                raise RuntimeError(f"{api}: the gradient can only be implied for a scalar output; this "
                                   f"output has shape {t.shape}. Pass grad= of the same shape, e.g. "
                                   f"gg.ones_like(y)")
            g = xp.ones(t._data.shape, dtype=t.dtype)
        else:
            if isinstance(g, Tensor):
                if g._device != t._device:
                    raise RuntimeError(f"{api}: grad is on {g._device} but the output is on {t._device}")
                g = g._data
            g = xp.asarray(g, dtype=t.dtype)
            if tuple(g.shape) != t.shape:
                raise ValueError(f"{api}: grad has shape {tuple(g.shape)} but the output has shape "
                                 f"{t.shape}; they must match")
        if create_graph:
            g = Tensor._wrap(g, t._device)
        roots.append((t._edge(), g))
    return roots


def _needed(roots, targets) -> set:
    """Ids of the graph nodes from which some target is reachable (the rest is skipped)."""
    needed, done, visiting = set(), set(), set()
    stack = [(edge, False) for edge, _ in roots]
    while stack:
        n, finished = stack.pop()
        k = id(n)
        if finished:
            if k in targets or (not isinstance(n, Tensor)
                                and any(p is not None and id(p) in needed for p in n.parents)):
                needed.add(k)
            done.add(k)
            continue
        if k in visiting:
            continue
        visiting.add(k)
        stack.append((n, True))
        if not isinstance(n, Tensor):
            stack.extend((p, False) for p in n.parents if p is not None and id(p) not in done)
    return needed


def _run(roots, retain_graph, create_graph, targets):
    """The chain rule, node by node: each node's upstream gradient g (summed over its consumers)
    goes through its VJP, and each parent receives its share, fitted to the parent's shape.

    Nodes run in reverse topological order: a node is ready once every consumer has sent its
    gradient (``deps`` counts them down). With ``targets`` (``gg.grad``) only the nodes from which
    a target is reachable run, and the targets' gradients are captured instead of accumulated.
    """
    needed = _needed(roots, targets) if targets is not None else None
    deps = _count_consumers(roots, needed)
    pending, handed = _seed_gradients(roots)
    ready = list({id(edge): edge for edge, _ in roots if deps[id(edge)] == 0}.values())
    captured = {} if targets is not None else None
    check = anomaly.state.enabled
    with enable_grad() if create_graph else no_grad():
        while ready:
            n = ready.pop()
            g = pending.pop(id(n), None)
            if isinstance(n, Tensor):                      # a leaf: the end of a path
                if g is not None:
                    _deliver_to_leaf(n, g, captured, handed, create_graph)
                continue
            if g is None:                                  # nothing reached it: parents get nothing
                grads = metas = (None,) * len(n.parents)
            else:
                if n.hooks or n.retained is not None or captured is not None:
                    g = _observe(n, g, captured, targets, handed, create_graph)
                metas = n.saved  # arrays or Meta: the shapes and dtypes each gradient must have
                grads = _apply_vjp(n, g, needed, create_graph)
                if not retain_graph:
                    _release(n)
            _send_to_parents(n, grads, metas, pending, deps, ready, needed, create_graph, check)
    return captured


def _run_plain(roots, retain_graph):
    """``_run`` for the common call: ``backward()`` on raw arrays (no ``create_graph``, no
    ``gg.grad`` targets, no anomaly mode). The same walk, with the VJP application and the sends
    to the parents written inline: the engine's fixed cost per op is what small tensors pay, and
    here it is one loop iteration instead of five function calls. Errors, hooks and retain_grad
    go through the same helpers as ``_run``."""
    deps = _count_consumers(roots, None)
    pending, handed = _seed_gradients(roots)
    ready = list({id(edge): edge for edge, _ in roots if deps[id(edge)] == 0}.values())
    last_backend = ns = None   # the raw VJP namespace of the last node's backend
    with no_grad():
        while ready:
            n = ready.pop()
            g = pending.pop(id(n), None)
            if type(n) is not Node:                        # a leaf Tensor: the end of a path
                if g is None:
                    continue
                if n.grad is None and n._hooks is None and g.base is None and id(g) not in handed:
                    handed.add(id(g))                      # the common case of _deliver_to_leaf, inline:
                    n.grad = Tensor._wrap(g, n._device)    # the engine's own fresh array becomes .grad
                else:
                    _deliver_to_leaf(n, g, None, handed, False)
                continue
            parents = n.parents
            if g is None:                                  # nothing reached it: parents get nothing
                for p in parents:
                    if p is not None:
                        deps[id(p)] -= 1
                        if deps[id(p)] == 0:
                            ready.append(p)
                continue
            if n.hooks or n.retained is not None:
                g = _observe(n, g, None, None, handed, False)
            op, metas = n.op, n.saved
            if n.freed or n.versions:
                _check_saved(n)                            # raises when the saved arrays are gone or stale
            backend = n.device.backend or get_backend(n.device)
            if backend is not last_backend:
                last_backend, ns = backend, raw_namespace(backend)
            vjp_ns = ns
            if op.vjp_writes_g and _owned(g, handed):      # the VJP may write its result into g
                vjp_ns = raw_namespace(backend, owns_g=True)
            try:
                if op.joint_vjp is None:
                    grads = [None if p is None else vjp(vjp_ns, g, n.ans, *metas, **n.params)
                             for vjp, p in zip(op.vjps, parents)]
                else:
                    grads = op.joint_vjp(vjp_ns, g, n.ans, [p is not None for p in parents], *metas,
                                         **n.params)
            except Exception as exc:
                said = backend.translate_error(exc, f"backward of {op.name}", n.device)
                if said is None:
                    raise
                raise said from exc
            if not retain_graph:                           # _release(n), inline
                n.saved = n.ans = None
                n.freed = True
            for p, gp, meta in zip(parents, grads, metas):   # _send_to_parents, inline
                if p is None:
                    continue
                kp = id(p)
                if gp is not None:
                    if isinstance(gp, np.generic) or gp.shape != meta.shape or (
                            gp.dtype is not meta.dtype and gp.dtype != meta.dtype):
                        gp = _fit(gp, meta, False, n.device)
                    old = pending.get(kp)
                    if old is not None:
                        gp = old + gp
                        if isinstance(gp, np.generic):   # NumPy turns a sum of 0-d arrays into a scalar
                            gp = np.asarray(gp)
                    pending[kp] = gp
                deps[kp] -= 1
                if deps[kp] == 0:
                    ready.append(p)
            g = grads = gp = old = None   # drop this node's references: the next VJP may then own its g
    return None


# The array types a VJP may write into: NumPy's, and the CPU step capture's traced view of it (a
# captured step then records the same in-place VJPs as the eager one; gpugrad/cpu_graph.py).
_PLAIN_ARRAYS = (np.ndarray, cpu_graph.TracedArray)

# sys.getrefcount(g) inside _owned when _run_plain's local is g's only other holder: that local,
# _owned's parameter, and getrefcount's own argument.
_OWNED_REFS = 3


def _owned(g, handed) -> bool:
    """True when the engine holds the only reference to the gradient array ``g``, so a VJP may
    write into it: a plain writeable array that owns its memory (not a view), never handed to the
    user or a hook, and referenced by nothing else: not another pending gradient (add's VJP sends
    the same array to both inputs), a Tensor, or a saved array. Counting references is what NumPy
    itself does to reuse temporaries (``a + b + c``)."""
    return (type(g) in _PLAIN_ARRAYS and g.base is None and id(g) not in handed and g.flags.writeable
            and sys.getrefcount(g) <= _OWNED_REFS)


def _count_consumers(roots, needed) -> dict:
    """For each node reachable from the roots: how many consumers will send it a gradient."""
    deps: dict[int, int] = {}
    stack = []
    for edge, _ in roots:
        if id(edge) not in deps:
            deps[id(edge)] = 0
            stack.append(edge)
    while stack:
        n = stack.pop()
        if isinstance(n, Tensor):
            continue
        for p in n.parents:
            if p is None or (needed is not None and id(p) not in needed):
                continue
            k = id(p)
            if k in deps:
                deps[k] += 1
            else:
                deps[k] = 1
                stack.append(p)
    return deps


def _seed_gradients(roots):
    """The outputs' gradients as the first pending ones; ``handed`` holds the ids of arrays the
    user owns or was given, which the engine must copy before handing out or writing into."""
    pending: dict[int, object] = {}
    handed: set[int] = set()
    for edge, g in roots:
        k = id(edge)
        pending[k] = pending[k] + g if k in pending else g
        handed.add(id(g))
    return pending, handed


def _deliver_to_leaf(leaf, g, captured, handed, create_graph) -> None:
    """A leaf's gradient after its hooks: captured for ``gg.grad``, else added into ``.grad``."""
    if leaf._hooks:
        g = _run_hooks(leaf._hooks, g, leaf._device, create_graph, handed)
    if captured is not None:
        captured[id(leaf)] = _hand_out(g, handed, leaf._device, create_graph)
    else:
        _accumulate(leaf, g, handed, create_graph)


def _observe(n, g, captured, targets, handed, create_graph):
    """What users see of an inner node's gradient: its hooks (which may replace it), then
    ``gg.grad``'s capture or ``retain_grad()``'s ``.grad``. Returns the gradient to go on with."""
    if n.hooks:
        g = _run_hooks(n.hooks, g, n.device, create_graph, handed)
    if captured is not None:
        if id(n) in targets:
            captured[id(n)] = _hand_out(g, handed, n.device, create_graph)
    elif n.retained is not None:
        t = n.retained()
        if t is not None:
            _accumulate(t, g, handed, create_graph)
    return g


def _release(n) -> None:
    """Drop what the node saved for backward (``retain_graph=False``); a second walk then says so."""
    n.saved = n.ans = None
    n.freed = True


def _send_to_parents(n, grads, metas, pending, deps, ready, needed, create_graph, check) -> None:
    """Each parent's gradient, fitted to its shape and dtype (broadcasting undone once, here),
    summed into what it has pending; a parent whose last consumer has sent becomes ready."""
    for p, gp, meta in zip(n.parents, grads, metas):
        if p is None or (needed is not None and id(p) not in needed):
            continue
        kp = id(p)
        if gp is not None:
            if create_graph or isinstance(gp, np.generic) or gp.shape != meta.shape \
                    or gp.dtype != meta.dtype:
                gp = _fit(gp, meta, create_graph, n.device)
            if check:
                anomaly.check_finite(gp._data if create_graph else gp,
                                     "the VJP (gradient)", n.op.name, n.site)
            old = pending.get(kp)
            if old is not None:
                gp = old + gp
                if isinstance(gp, np.generic):  # NumPy turns a sum of 0-d arrays into a scalar
                    gp = np.asarray(gp)
            pending[kp] = gp
        deps[kp] -= 1
        if deps[kp] == 0:
            ready.append(p)


def _apply_vjp(n, g, needed, create_graph):
    """The node's VJPs applied to ``g``: one gradient per input (None where none is needed).

    Errors the backend recognises as its own (CuPy's out of memory) are re-said in the user's
    terms by the backend."""
    try:
        return _vjps(n, g, needed, create_graph)
    except Exception as exc:
        said = get_backend(n.device).translate_error(exc, f"backward of {n.op.name}", n.device)
        if said is None:
            raise
        raise said from exc


def _check_saved(n) -> None:
    """Raise when the node's saved arrays were freed by an earlier backward, or one of them (an
    input, or the output its VJP reads) was written in place after the op read it."""
    if n.freed:
        raise RuntimeError(f"backward: trying to backward through the graph a second time (op "
                           f"'{n.op.name}'): its saved arrays were freed after the first backward. "
                           f"Pass retain_graph=True to the first backward() or gg.grad() call.")
    if n.versions:
        for i, vc, v in n.versions:
            if vc[0] != v:
                what = (f"input {i} of op '{n.op.name}' (shape {tuple(n.saved[i].shape)})" if i is not None
                        else f"the output of op '{n.op.name}' (shape {tuple(n.out_shape)}), which its "
                             f"gradient reads,")
                raise RuntimeError(f"backward: {what} was modified in place after the op used it "
                                   f"(version {vc[0]}, expected {v}); its gradient would be wrong. "
                                   f"Recompute the forward after in-place updates.")


def _vjps(n, g, needed, create_graph):
    _check_saved(n)
    op = n.op
    if needed is None:
        needs = [p is not None for p in n.parents]
    else:
        needs = [p is not None and id(p) in needed for p in n.parents]
    if create_graph:
        ns = tensor_namespace()
        inputs = [_as_graph_input(v, p, n.device) for v, p in zip(n.saved, n.parents)]
        ans = None
        if n.ans is not None:
            ans = Tensor._wrap(n.ans, n.device, True)
            ans._node = n
    else:
        ns = raw_namespace(n.device.backend or get_backend(n.device))
        inputs, ans = n.saved, n.ans
    if op.joint_vjp is not None:
        return op.joint_vjp(ns, g, ans, needs, *inputs, **n.params)
    return [vjp(ns, g, ans, *inputs, **n.params) if need else None
            for vjp, need in zip(op.vjps, needs)]


def _as_graph_input(value, parent, device):
    """A saved array as a Tensor connected to the graph that produced it (for create_graph)."""
    if value is None or isinstance(value, (Meta, *_SCALARS)):
        return value
    if isinstance(parent, Tensor):
        return parent
    t = Tensor._wrap(value, device, parent is not None)
    t._node = parent
    return t


def _fit(gp, meta, create_graph, device):
    """A VJP result brought to its input's shape (summing out broadcasting) and dtype."""
    if not create_graph and isinstance(gp, np.generic):
        gp = np.asarray(gp)
    if create_graph and not isinstance(gp, Tensor):
        gp = Tensor._wrap(get_backend(device).xp.asarray(gp), device)
    if gp.shape != tuple(meta.shape):
        gp = (tensor_namespace() if create_graph else raw_namespace(get_backend(device))).sum_to(
            gp, meta.shape)
    if gp.dtype != meta.dtype:
        gp = gp.astype(meta.dtype)
    return gp


def _run_hooks(hooks, g, device, create_graph, handed):
    """Apply gradient hooks in order; a returned Tensor replaces the gradient.

    The user may keep the hook's argument or still hold the Tensor a hook returned, so both are
    marked as handed out: the engine copies them before giving them out as a ``.grad`` (which
    later accumulation writes into), never aliasing what the user holds.
    """
    if not hooks:
        return g
    for fn in list(hooks):
        arg = g if create_graph else Tensor._wrap(g, device)
        handed.add(id(g))
        out = fn(arg)
        if out is not None:
            if not isinstance(out, Tensor) or tuple(out.shape) != tuple(g.shape):
                raise RuntimeError(f"hook {fn!r} must return None or a Tensor of shape "
                                   f"{tuple(g.shape)}; got {out!r:.80}")
            g = out if create_graph else out._data
            handed.add(id(g))
    return g


def _hand_out(g, handed, device, create_graph):
    """``g`` as a Tensor the user may keep: copied if it aliases another handed-out gradient."""
    if create_graph:
        if id(g) in handed:
            g = _copy(g)
        handed.add(id(g))
        return g
    if id(g) in handed or g.base is not None:  # shared with another gradient, or a view
        g = g.copy()
    handed.add(id(g))
    return Tensor._wrap(g, device)


def _accumulate(t, g, handed, create_graph):
    """Add ``g`` into ``t.grad`` (in place when a plain gradient is already there)."""
    if t.grad is None:
        t.grad = _hand_out(g, handed, t._device, create_graph)
    elif create_graph or t.grad._requires_grad:
        t.grad = t.grad + (g if create_graph else Tensor._wrap(g, t._device))
    else:
        t.grad._data += g
