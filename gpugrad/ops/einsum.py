"""``einsum``: Einstein summation over any number of operands, its forward beside its VJP.

The op itself takes explicit subscripts (one letter per axis, ``->`` always given, no ``...``);
``einsum(equation, *operands)`` below spells out PyTorch's/NumPy's equations (implicit output,
ellipsis, broadcasting of the ellipsis axes) into that form first.

VJP (operand i with subscripts s_i, output subscripts o): the gradient is the einsum of the
upstream gradient g (subscripts o) with every other operand, to s_i. Two cases need a constant
operand so that einsum can write them: a letter that appears in s_i only (summed over in forward):
a ones vector, which broadcasts g along it; a letter repeated in s_i (a diagonal, ``ii->i``): the
repeat gets a fresh letter and an identity matrix ties the two, which puts g on the diagonal.
The VJP is einsum again, so gradients of gradients need no further formula.
"""
from __future__ import annotations

import string

import numpy as np

from ..backends import get_backend
from ..op import defop
from ..tensor import Tensor
from .shape import broadcast_to

_LETTERS = string.ascii_letters


def _einsum_fwd(backend, *xs, subscripts):
    return backend.xp.einsum(subscripts, *xs, optimize=len(xs) > 2)


def _vjp_plan(subscripts, shapes, i):
    """(equation, constants) for operand i's gradient: constants are ("ones", n) or ("eye", n),
    appended after g and the other operands in the equation."""
    ins, out = subscripts.split("->")
    ins = ins.split(",")
    sizes = {c: n for s, shape in zip(ins, shapes) for c, n in zip(s, shape)}
    target = ins[i]
    used = set(out) | {c for j, s in enumerate(ins) if j != i for c in s}
    free = [c for c in _LETTERS if c not in sizes]
    terms, consts = [out] + [s for j, s in enumerate(ins) if j != i], []
    seen, result = set(), []
    for c in target:
        if c in seen:                   # a repeated letter: a fresh one, tied to c by an identity
            fresh = free.pop()
            terms.append(c + fresh)
            consts.append(("eye", sizes[c]))
            result.append(fresh)
            continue
        seen.add(c)
        if c not in used:               # summed over in operand i only: broadcast g along it
            terms.append(c)
            consts.append(("ones", sizes[c]))
            used.add(c)
        result.append(c)
    return ",".join(terms) + "->" + "".join(result), consts


def _einsum_vjp(ns, g, ans, needs, *xs, subscripts):
    graph = isinstance(g, Tensor)
    xp = ns.backend.xp if not graph else get_backend(g.device).xp
    shapes = [x.shape for x in xs]
    grads = []
    for i, need in enumerate(needs):
        if not need:
            grads.append(None)
            continue
        eq, consts = _vjp_plan(subscripts, shapes, i)
        dtype = g.dtype
        arrays = [xp.ones(n, dtype=dtype) if kind == "ones" else xp.eye(n, dtype=dtype) for kind, n in consts]
        others = [x for j, x in enumerate(xs) if j != i]
        if graph:
            consts_t = [Tensor._wrap(a, g.device) for a in arrays]
            grads.append(einsum_op(g, *others, *consts_t, subscripts=eq))
        else:
            grads.append(xp.einsum(eq, g, *others, *arrays, optimize=True))
    return grads


_MAX_OPERANDS = 64
# every operand's gradient reads all the others (einsum is multilinear), so all are kept
einsum_op = defop("einsum", _einsum_fwd, save=range(_MAX_OPERANDS), derivs="einsum of g with the other operands")
einsum_op.defvjp_joint(_einsum_vjp)


def _parse(equation: str, shapes):
    """PyTorch's/NumPy's equation -> (explicit subscripts, the broadcast shape of the '...' axes, and
    for each operand the number of its '...' axes)."""
    eq = equation.replace(" ", "")
    if "->" in eq:
        lhs, rhs = eq.split("->")
    else:
        lhs, rhs = eq, None
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"einsum: the equation {equation!r} has {len(terms)} operand(s) but {len(shapes)} "
                         f"tensor(s) were given")
    letters = set(c for c in eq if c.isalpha())
    free = [c for c in _LETTERS if c not in letters]
    ell_dims = []
    for t, shape in zip(terms, shapes):
        bad = set(t.replace("...", "")) - set(_LETTERS)
        if bad or t.count("...") > 1:
            raise ValueError(f"einsum: invalid subscripts {t!r} in {equation!r} (letters a-z, A-Z and one '...')")
        named = len(t.replace("...", ""))
        if ("..." in t and named > len(shape)) or ("..." not in t and named != len(shape)):
            raise ValueError(f"einsum: subscripts {t!r} do not match an operand of shape {tuple(shape)} "
                             f"in {equation!r}")
        ell_dims.append(len(shape) - named if "..." in t else 0)
    n_ell = max(ell_dims, default=0)
    ell = "".join(free[:n_ell])
    try:
        ell_shape = tuple(np.broadcast_shapes(*[tuple(s[t.index("..."):t.index("...") + k]) if "..." in t else ()
                                                for t, s, k in zip(terms, shapes, ell_dims)]))
    except ValueError:
        raise ValueError(f"einsum: the '...' dimensions of shapes {[tuple(s) for s in shapes]} do not broadcast "
                         f"in {equation!r}") from None
    explicit = [t.replace("...", ell[n_ell - k:]) for t, k in zip(terms, ell_dims)]
    if rhs is None:   # implicit output: the ellipsis, then the letters seen once, alphabetically
        counts = {}
        for t in explicit:
            for c in t:
                counts[c] = counts.get(c, 0) + 1
        rhs_explicit = ell + "".join(sorted(c for c, k in counts.items() if k == 1 and c not in ell))
    else:
        if set(rhs.replace("...", "")) - set(_LETTERS) or rhs.count("...") > 1:
            raise ValueError(f"einsum: invalid output subscripts {rhs!r} in {equation!r}")
        rhs_explicit = rhs.replace("...", ell)
        inputs = set("".join(explicit))
        missing = [c for c in rhs_explicit if c not in inputs]
        if missing or len(set(rhs_explicit)) != len(rhs_explicit):
            raise ValueError(f"einsum: output subscripts {rhs!r} of {equation!r} must be distinct letters that "
                             f"appear in the inputs")
    return ",".join(explicit) + "->" + rhs_explicit, ell_shape, ell_dims, terms, explicit


def einsum(equation: str, *operands):
    """Einstein summation, as ``torch.einsum`` / ``numpy.einsum``: ``einsum("ij,jk->ik", a, b)``,
    ``einsum("bij,bjk->bik", x, y)``, ``einsum("ii", a)`` (trace), implicit outputs and ``...``
    (broadcast as in PyTorch); operands may also come as one list. Differentiable in every operand
    at every order.

    Raises TypeError for mixed dtypes (PyTorch does too: convert with ``.to(dtype)``) and ValueError
    for a malformed equation or sizes that disagree for one letter.
    """
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not operands:
        raise ValueError("einsum: needs at least one operand")
    for t in operands:
        if not isinstance(t, Tensor):
            raise TypeError(f"einsum: operands must be tensors, got {type(t).__name__}")
    dtypes = {t.dtype for t in operands}
    if len(dtypes) > 1:
        raise TypeError(f"einsum: operands have different dtypes {[str(t.dtype) for t in operands]} (PyTorch "
                        f"raises too); convert them to one, e.g. b.to(a.dtype)")
    if len(operands) > _MAX_OPERANDS:
        raise ValueError(f"einsum: at most {_MAX_OPERANDS} operands, got {len(operands)}")
    subs, ell_shape, ell_dims, terms, explicit = _parse(equation, [t.shape for t in operands])
    fixed = []
    for t, term, k in zip(operands, terms, ell_dims):
        if k:   # this operand's '...' axes broadcast to the common shape (broadcast_to's VJP sums back)
            p = term.index("...")
            want = tuple(t.shape[:p]) + ell_shape[len(ell_shape) - k:] + tuple(t.shape[p + k:])
            if want != tuple(t.shape):
                t = broadcast_to(t, want)
        fixed.append(t)
    sizes = {}
    for t, term in zip(fixed, explicit):
        for c, n in zip(term, t.shape):
            if sizes.get(c, 1) not in (1, n) and n != 1:
                raise ValueError(f"einsum: subscript {c!r} has size {sizes[c]} in one operand and {n} in another "
                                 f"(equation {equation!r}, shapes {[tuple(o.shape) for o in operands]})")
            sizes[c] = max(sizes.get(c, n), n) if n != 1 else sizes.get(c, 1)
    # a size-1 axis meets a larger one: broadcast it (as PyTorch), so the op sees one size per letter
    fixed = [broadcast_to(t, want) if (want := tuple(sizes[c] for c in term)) != tuple(t.shape) else t
             for t, term in zip(fixed, explicit)]
    return einsum_op(*fixed, subscripts=subs)
