"""Drawing the computational graph as Graphviz DOT, in the notation of the chain-rule figures.

Every variable has a name, and every edge is labelled with the gradient it carries on backward,
written with those names: for H = σ(XW + B) (``bias_sigmoid(X @ W, B)``) the edges read

    H  -> bias_sigmoid:  dZ = dH ⊙ H(1-H)      (Z = XW + B, the pre-activation)
    B  <- bias_sigmoid:  Σrows dZ              (B was broadcast over the rows: its gradient sums them)
    X  <- matmul:        dZ Wᵀ
    W  <- matmul:        Xᵀ dZ

One notation throughout: ``dV`` is the gradient of the loss with respect to V, juxtaposition is a
matrix product, ``⊙`` an elementwise one, ``ᵀ`` a transpose and ``Σrows`` / ``Σcols`` / ``Σ``
the sum that undoes a broadcast.

Names, first found wins: ``names=`` (either ``{"X": X}`` or ``{X: "X"}``), ``Tensor.name``, the
caller's local variables (``gg.viz.render(H, "h.png")`` with ``X``, ``W``, ``B``, ``H`` in scope
names them), then ``t0``, ``t1`` ... Intermediate results are named by their expression (``XW``)
when it is short, else ``v1``, ``v2`` ...
"""
from __future__ import annotations

import inspect
import re
import shutil
import subprocess

from .tensor import Tensor

_SHORT = 14  # longest expression used as an intermediate's name before falling back to v1, v2, ...


def _esc(s: str) -> str:
    """A DOT label: backslashes and quotes escaped, newlines as DOT's \\n."""
    return str(s).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _atom(name: str) -> str:
    """``name`` usable as an operand: a name with a space or a sign outside brackets gets parentheses."""
    depth = 0
    for ch in name:
        depth += ch in "([" 
        depth -= ch in ")]"
        if depth == 0 and ch == " ":
            return f"({name})"
    return f"({name})" if name.startswith("-") else name


def _t(name: str) -> str:
    """The transpose of an operand: Wᵀ, or W for Wᵀ."""
    return name[:-1] if name.endswith("ᵀ") else _atom(name) + "ᵀ"


def _grad_name(name: str, expression: bool = False) -> str:
    """dX for the variable X; d(XW) for the expression XW."""
    return "d" + name if not expression and re.fullmatch(r"[A-Za-z_]\w*", name) else f"d({name})"


def _normalize_names(names, arrays: dict) -> dict:
    """{id(tensor): name} from {"X": X} or {X: "X"} (both directions may be mixed); ``arrays``
    gets {id(array): name}, to name inputs that the graph holds as plain arrays (constants)."""
    out = {}
    for k, v in (names or {}).items():
        if isinstance(k, Tensor) and isinstance(v, str):
            out[id(k)] = v
            arrays[id(k._data)] = v
        elif isinstance(k, str) and isinstance(v, Tensor):
            out[id(v)] = k
            arrays[id(v._data)] = k
        else:
            raise TypeError(f"viz: names= maps a Tensor to its name ({{'X': X}} or {{X: 'X'}}); got "
                            f"{type(k).__name__} -> {type(v).__name__}")
    return out


def _caller_names(frame, arrays: dict) -> dict:
    """{id(tensor): variable name} for the Tensors bound to exactly one local name of ``frame``;
    ``arrays`` gets {id(array): name} for them where it has no entry yet."""
    found: dict[int, list] = {}
    tensors = {}
    for var, value in (frame.f_locals.items() if frame is not None else ()):
        if isinstance(value, Tensor) and not var.startswith("_"):
            found.setdefault(id(value), []).append(var)
            tensors[id(value)] = value
    out = {k: v[0] for k, v in found.items() if len(v) == 1}
    for k, t in tensors.items():
        if t.name or k in out:
            arrays.setdefault(id(t._data), t.name or out[k])
    return out


def _reduced_axes(in_shape, out_shape) -> tuple:
    """The axes of ``out_shape`` that broadcasting ``in_shape`` created or stretched."""
    lead = len(out_shape) - len(in_shape)
    return tuple(i for i in range(len(out_shape))
                 if i < lead or (in_shape[i - lead] == 1 and out_shape[i] != 1))


def _unbroadcast(label: str, in_shape, out_shape) -> str:
    axes = _reduced_axes(tuple(in_shape), tuple(out_shape))
    if not axes:
        return label
    if len(out_shape) == 2 and axes == (0,):
        return f"Σrows {_atom(label)}"
    if len(out_shape) == 2 and axes == (1,):
        return f"Σcols {_atom(label)}"
    if len(axes) == len(out_shape):
        return f"Σ {_atom(label)}"
    return f"Σaxes{axes} {_atom(label)}"


# -- the notation of each op: (its result's name, the gradient it sends to each input) ----------------------
def _expr(op: str, a: list, params: dict) -> str:
    """The expression an op's result stands for, in its inputs' names."""
    if op in ("matmul", "batched_matmul"):
        x = _t(a[0]) if params.get("trans_a") else _atom(a[0])
        y = _t(a[1]) if params.get("trans_b") else _atom(a[1])
        return f"{x}{y}" if len(x) + len(y) <= 4 else f"{x} {y}"
    infix = {"add": "+", "sub": "-", "mul": "⊙", "div": "/"}
    if op in infix and len(a) == 2:
        return f"{_atom(a[0])} {infix[op]} {_atom(a[1])}"
    if op == "bias_sigmoid":
        return f"σ({a[0]} + {a[1]})"
    if op in ("linear", "linear_relu"):
        inner = f"{_atom(a[0])} {_t(a[1])} + {a[2]}" if len(a) > 2 else f"{_atom(a[0])} {_t(a[1])}"
        return f"relu({inner})" if op == "linear_relu" else inner
    if op == "neg":
        return f"-{_atom(a[0])}"
    sym = {"sigmoid": "σ", "sum": "Σ", "power": None}.get(op, op)
    if op == "power":
        return f"{_atom(a[0])}^p"
    return f"{sym}({', '.join(a)})"


def _edge_labels(op: str, a: list, out: str, g: str, params: dict, derivs) -> list:
    """For each input, the gradient the op sends it on backward (before undoing broadcasting)."""
    if op in ("matmul", "batched_matmul"):
        ta, tb = bool(params.get("trans_a")), bool(params.get("trans_b"))
        A = _t(a[0]) if ta else _atom(a[0])          # op(A) and op(B) as they enter the product
        B = _t(a[1]) if tb else _atom(a[1])
        return [f"{B} {_t(g)}" if ta else f"{g} {_t(B)}",
                f"{_t(g)} {A}" if tb else f"{_t(A)} {g}"]
    if op == "bias_sigmoid":
        return [f"dZ = {g} ⊙ {_atom(out)}(1-{_atom(out)})", "Σrows dZ"]
    if op in ("linear", "linear_relu"):
        dz = f"({g} ⊙ [{_atom(out)}>0])" if op == "linear_relu" else g
        return [f"{dz} {_atom(a[1])}", f"{_t(dz)} {_atom(a[0])}", f"Σrows {dz}"][:len(a)]
    table = {
        "add": lambda: [g, g],
        "sub": lambda: [g, f"-{g}"],
        "mul": lambda: [f"{g} ⊙ {_atom(a[1])}", f"{g} ⊙ {_atom(a[0])}"],
        "div": lambda: [f"{g} / {_atom(a[1])}", f"-{g} ⊙ {_atom(a[0])} / {_atom(a[1])}²"],
        "neg": lambda: [f"-{g}"],
        "relu": lambda: [f"{g} ⊙ [{_atom(a[0])}>0]"],
        "sigmoid": lambda: [f"{g} ⊙ {_atom(out)}(1-{_atom(out)})"],
        "tanh": lambda: [f"{g} ⊙ (1-{_atom(out)}²)"],
        "exp": lambda: [f"{g} ⊙ {_atom(out)}"],
        "log": lambda: [f"{g} / {_atom(a[0])}"],
        "sum": lambda: [f"broadcast {g}"],
        "mean": lambda: [f"broadcast {g} / n"],
    }
    if op in table:
        return table[op]()
    # Any other op: the upstream gradient times its local derivative from the op table, whose
    # formulas are written in x, y: those become the inputs' names.
    derivs = derivs if isinstance(derivs, (tuple, list)) else [derivs] * len(a)
    labels = []
    for i in range(len(a)):
        d = derivs[i] if i < len(derivs) else None
        if d is None:
            labels.append(None)
            continue
        d = re.sub(r"\bx\b", _atom(a[0]), d)
        d = re.sub(r"\by\b", _atom(a[1]), d) if len(a) > 1 else d
        labels.append(f"{g} ⊙ {_atom(d)}")
    return labels


# -- the graph -------------------------------------------------------------------------------------------
def _topological(root):
    """The op nodes under ``root``, inputs before the ops that use them (iterative)."""
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        for p in node.parents:
            if p is not None and not isinstance(p, Tensor) and id(p) not in seen:
                stack.append((p, False))
    return order


def to_dot(tensor: Tensor, names: dict | None = None, _frame=None) -> str:
    """The graph that produced ``tensor`` as Graphviz DOT source (see the module docstring).

    One box per variable (name and shape), one ellipse per op; each edge into an op is labelled
    with the gradient it sends back to that input, in the variables' names (dZ Wᵀ, Xᵀ dZ, Σrows dZ).
    ``names``: ``{"X": X, ...}`` or ``{X: "X", ...}``. Raises TypeError for another kind of mapping.
    """
    frame = _frame if _frame is not None else inspect.currentframe().f_back
    arrays: dict[int, str] = {}
    given = _normalize_names(names, arrays)
    local = _caller_names(frame, arrays)
    del frame
    lines = ["digraph gpugrad {", '  rankdir="BT";', '  node [fontname="Helvetica"];',
             '  edge [fontname="Helvetica", fontsize=11, fontcolor="#7b241c"];']
    root = tensor._node
    leaf_names: dict[int, str] = {}
    leaf_ids: dict[int, str] = {}
    unnamed = [0]

    def leaf_name(t: Tensor) -> str:
        if id(t) not in leaf_names:
            name = given.get(id(t)) or t.name or local.get(id(t))
            if not name:
                name, unnamed[0] = f"t{unnamed[0]}", unnamed[0] + 1
            leaf_names[id(t)] = name
            leaf_ids[id(t)] = f"l{len(leaf_ids)}"     # DOT ids in order of appearance: stable text
        return leaf_names[id(t)]

    out_name = given.get(id(tensor)) or tensor.name or local.get(id(tensor)) or "out"
    out_label = _esc(f"{out_name}\n{tuple(tensor.shape)}")
    if root is None:
        lines.append(f'  out [shape=box, style="rounded,filled", fillcolor="#d6eaf8", label="{out_label}"];')
        lines.append("}")
        return "\n".join(lines)

    order = _topological(root)
    ids = {id(n): f"n{i}" for i, n in enumerate(order)}
    node_name: dict[int, str] = {}
    fallback = set()           # intermediates named v1, v2 ... (their expression was too long)
    k = 0
    for n in order:                                  # names, inputs first
        if n is root:
            node_name[id(n)] = out_name
            continue
        expr = _expr(n.op.name, [_input_name(p, v, node_name, leaf_name, arrays) for p, v in _inputs(n)],
                     n.params or {})
        if len(expr) > _SHORT:
            k += 1
            expr = f"v{k}"
            fallback.add(id(n))
        node_name[id(n)] = expr

    consumers: dict[int, list] = {}
    for n in order:
        for i, (p, _) in enumerate(_inputs(n)):
            if p is not None and not isinstance(p, Tensor):
                consumers.setdefault(id(p), []).append((n, i))
    grad_name = {id(root): _grad_name(out_name)}
    for n in reversed(order):                        # gradient names, outputs first
        if n is root:
            continue
        uses = consumers.get(id(n), [])
        if len(uses) == 1 and uses[0][0].op.name == "bias_sigmoid" and uses[0][1] == 0:
            grad_name[id(n)] = "dZ"                  # the pre-activation's gradient, as in the figure
        else:
            grad_name[id(n)] = _grad_name(node_name[id(n)], expression=id(n) not in fallback)

    lines.append(f'  out [shape=box, style="rounded,filled", fillcolor="#d6eaf8", label="{out_label}"];')
    lines.append(f'  {ids[id(root)]}_op -> out [label="{_esc(grad_name[id(root)])}"];')
    for n in order:
        nid = ids[id(n)]
        lines.append(f'  {nid}_op [shape=ellipse, style=filled, fillcolor="#fdebd0", '
                     f'label="{_esc(n.op.name)}"];')
        if n is not root:
            lines.append(f'  {nid}_v [shape=box, style=rounded, label="{_esc(node_name[id(n)])}'
                         f'\\n{tuple(n.out_shape)}"];')
            lines.append(f"  {nid}_op -> {nid}_v;")
        inputs = _inputs(n)
        a = [_input_name(p, v, node_name, leaf_name, arrays) for p, v in inputs]
        labels = _edge_labels(n.op.name, a, node_name[id(n)], grad_name[id(n)], n.params or {},
                              n.op.derivs)
        for i, (p, v) in enumerate(inputs):
            label = labels[i] if i < len(labels) and labels[i] else "no gradient"
            if label != "no gradient" and n.op.name not in ("bias_sigmoid", "linear", "linear_relu", "sum",
                                                            "mean", "matmul", "batched_matmul"):
                label = _unbroadcast(label, _shape(p, v), n.out_shape)
            if p is None:
                cid = f"c{nid}_{i}"
                lines.append(f'  {cid} [shape=box, style=dashed, label="{_esc(a[i])} (constant)'
                             f'\\n{tuple(v.shape)}"];')
                lines.append(f'  {cid} -> {nid}_op [style=dashed, label="{_esc(label)}"];')
            elif isinstance(p, Tensor):
                leaf_name(p)
                pid = leaf_ids[id(p)]
                lines.append(f'  {pid} [shape=box, style="rounded,filled", fillcolor="#d5f5e3", '
                             f'label="{_esc(leaf_name(p))}\\n{tuple(p.shape)} {p.dtype}"];')
                lines.append(f'  {pid} -> {nid}_op [label="{_esc(label)}"];')
            else:
                lines.append(f'  {ids[id(p)]}_v -> {nid}_op [label="{_esc(label)}"];')
    lines.append("}")
    return "\n".join(dict.fromkeys(lines))  # a variable feeding several ops is declared once


def _inputs(node):
    """(parent, saved value) per input that is a tensor (constants without a shape are dropped)."""
    saved = node.saved if node.saved is not None else (None,) * len(node.parents)
    return [(p, v) for p, v in zip(node.parents, saved) if p is not None or hasattr(v, "shape")]


def _input_name(parent, value, node_name, leaf_name, arrays) -> str:
    if parent is None:   # a constant: the graph keeps its array, not its Tensor
        return arrays.get(id(value), "c")
    if isinstance(parent, Tensor):
        return leaf_name(parent)
    return node_name[id(parent)]


def _shape(parent, value):
    if parent is None:
        return tuple(value.shape)
    if isinstance(parent, Tensor):
        return tuple(parent.shape)
    return tuple(parent.out_shape)


def render(tensor: Tensor, path: str, names: dict | None = None) -> str:
    """Render the graph of ``tensor`` to ``path`` (format from its extension: .svg, .png, .pdf).

    Names as in :func:`to_dot` (the caller's variables included). Needs Graphviz's ``dot``
    program; raises RuntimeError naming it when it is missing.
    """
    dot = shutil.which("dot")
    if dot is None:
        raise RuntimeError("viz.render needs the Graphviz program 'dot', which was not found on PATH. "
                           "Install Graphviz (e.g. 'apt-get install graphviz' or 'brew install "
                           "graphviz'), or use gg.viz.to_dot() to get the DOT source.")
    fmt = path.rsplit(".", 1)[-1].lower() if "." in path else "svg"
    frame = inspect.currentframe().f_back
    try:
        src = to_dot(tensor, names, _frame=frame)
    finally:
        del frame
    subprocess.run([dot, f"-T{fmt}", "-o", path], input=src.encode(), check=True, capture_output=True)
    return path
