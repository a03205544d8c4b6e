"""Drawing the computational graph as Graphviz DOT, each edge labelled with its local derivative."""
from __future__ import annotations

import shutil
import subprocess

from .tensor import Tensor


def _esc(s: str) -> str:
    """A DOT label: backslashes and quotes escaped, newlines as DOT's \\n."""
    return str(s).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def to_dot(tensor: Tensor, names: dict | None = None) -> str:
    """The graph that produced ``tensor`` as Graphviz DOT source.

    One box per variable (leaves named by ``Tensor.name`` or ``names={tensor: "W"}``, with shape),
    one ellipse per op; each edge from an input to its op is labelled with the local derivative
    it carries on backward (e.g. ``∂/∂x: exp(x)``), as in the chain-rule figures for
    H = sigmoid(XW + B).
    """
    names = {id(k): v for k, v in (names or {}).items()}
    lines = ["digraph gpugrad {", '  rankdir="LR";', '  node [fontname="Helvetica"];']
    ids: dict[int, str] = {}

    def var_id(obj) -> str:
        if id(obj) not in ids:
            ids[id(obj)] = f"n{len(ids)}"
        return ids[id(obj)]

    def leaf_label(t: Tensor) -> str:
        name = names.get(id(t)) or t.name or "leaf"
        return f"{name}\n{tuple(t.shape)} {t.dtype}"

    root = tensor._node if tensor._node is not None else tensor
    out_name = names.get(id(tensor)) or tensor.name or "output"
    out_label = _esc(f"{out_name}\n{tuple(tensor.shape)}")
    lines.append(f'  out [shape=box, style="rounded,filled", fillcolor="#d6eaf8", label="{out_label}"];')
    if isinstance(root, Tensor):
        lines.append("}")
        return "\n".join(lines)
    lines.append(f"  {var_id(root)}_op -> out;")
    stack, seen = [root], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        nid = var_id(node)
        lines.append(f'  {nid}_op [shape=ellipse, style=filled, fillcolor="#fdebd0", '
                     f'label="{_esc(node.op.name)}"];')
        derivs = node.op.derivs
        inputs = node.saved if node.saved is not None else (None,) * len(node.parents)
        for i, (parent, value) in enumerate(zip(node.parents, inputs)):
            if parent is None and not hasattr(value, "shape"):
                continue  # a Python scalar constant (or, after backward, not known any more)
            d = derivs[i] if isinstance(derivs, (tuple, list)) and i < len(derivs) else (
                derivs if isinstance(derivs, str) else None)
            label = f"∂/∂in{i}: {d}" if d else "no gradient"
            if parent is None:
                cid = f"c{nid}_{i}"
                lines.append(f'  {cid} [shape=box, style=dashed, label="const\\n{tuple(value.shape)}"];')
                lines.append(f'  {cid} -> {nid}_op [style=dashed, label="{_esc(label)}"];')
            elif isinstance(parent, Tensor):
                pid = var_id(parent)
                lines.append(f'  {pid} [shape=box, style="rounded,filled", fillcolor="#d5f5e3", '
                             f'label="{_esc(leaf_label(parent))}"];')
                lines.append(f'  {pid} -> {nid}_op [label="{_esc(label)}"];')
            else:
                pid = var_id(parent)
                vid = f"{pid}_v"
                lines.append(f'  {vid} [shape=box, style=rounded, label="{_esc(parent.op.name)} out'
                             f'\\n{tuple(parent.out_shape)}"];')
                lines.append(f"  {pid}_op -> {vid};")
                lines.append(f'  {vid} -> {nid}_op [label="{_esc(label)}"];')
                stack.append(parent)
    lines.append("}")
    return "\n".join(dict.fromkeys(lines))  # a variable feeding several ops is declared once


def render(tensor: Tensor, path: str, names: dict | None = None) -> str:
    """Render the graph of ``tensor`` to ``path`` (format from its extension: .svg, .png, .pdf).

    Needs Graphviz's ``dot`` program; raises RuntimeError naming it when it is missing.
    """
    dot = shutil.which("dot")
    if dot is None:
        raise RuntimeError("viz.render needs the Graphviz program 'dot', which was not found on PATH. "
                           "Install Graphviz (e.g. 'apt-get install graphviz' or 'brew install "
                           "graphviz'), or use gg.viz.to_dot() to get the DOT source.")
    fmt = path.rsplit(".", 1)[-1].lower() if "." in path else "svg"
    subprocess.run([dot, f"-T{fmt}", "-o", path], input=to_dot(tensor, names).encode(), check=True,
                   capture_output=True)
    return path
