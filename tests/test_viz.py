"""gg.viz: the seed figure H = σ(XW + B) drawn in the chain rule's notation (the DOT text asserted
whole), names from names= in either direction, Tensor.name or the caller's variables, and the
broadcast sum spelled out on the bias edge of a plain XW + B."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

import gpugrad as gg
from gpugrad.nn.functional import bias_sigmoid

SEED_DOT = """digraph gpugrad {
  rankdir="BT";
  node [fontname="Helvetica"];
  edge [fontname="Helvetica", fontsize=11, fontcolor="#7b241c"];
  out [shape=box, style="rounded,filled", fillcolor="#d6eaf8", label="H\\n(4, 2)"];
  n1_op -> out [label="dH"];
  n0_op [shape=ellipse, style=filled, fillcolor="#fdebd0", label="matmul"];
  n0_v [shape=box, style=rounded, label="XW\\n(4, 2)"];
  n0_op -> n0_v;
  l0 [shape=box, style="rounded,filled", fillcolor="#d5f5e3", label="X\\n(4, 3) float32"];
  l0 -> n0_op [label="dZ Wᵀ"];
  l1 [shape=box, style="rounded,filled", fillcolor="#d5f5e3", label="W\\n(3, 2) float32"];
  l1 -> n0_op [label="Xᵀ dZ"];
  n1_op [shape=ellipse, style=filled, fillcolor="#fdebd0", label="bias_sigmoid"];
  n0_v -> n1_op [label="dZ = dH ⊙ H(1-H)"];
  l2 [shape=box, style="rounded,filled", fillcolor="#d5f5e3", label="B\\n(2,) float32"];
  l2 -> n1_op [label="Σrows dZ"];
}"""


def _seed():
    X = gg.randn(4, 3, requires_grad=True)
    W = gg.randn(3, 2, requires_grad=True)
    B = gg.zeros(2, requires_grad=True)
    return X, W, B, bias_sigmoid(X @ W, B)


@pytest.mark.parametrize("how", ["str->tensor", "tensor->str", "Tensor.name", "caller's variables"])
def test_seed_figure_dot_text(how):
    X, W, B, H = _seed()
    if how == "str->tensor":
        dot = gg.viz.to_dot(H, names={"X": X, "W": W, "B": B, "H": H})
    elif how == "tensor->str":
        dot = gg.viz.to_dot(H, names={X: "X", W: "W", B: "B", H: "H"})
    elif how == "Tensor.name":
        X.name, W.name, B.name, H.name = "X", "W", "B", "H"
        dot = gg.viz.to_dot(H)
    else:
        dot = gg.viz.to_dot(H)        # X, W, B, H are this function's local variables
    assert dot == SEED_DOT


def test_unnamed_leaves_get_distinct_names_and_bad_names_are_refused():
    def build():
        a, b = gg.randn(2, 2, requires_grad=True), gg.randn(2, 2, requires_grad=True)
        return a @ b
    dot = gg.viz.to_dot(build())
    assert 'label="t0\\n(2, 2) float32"' in dot and 'label="t1\\n(2, 2) float32"' in dot
    assert 'label="dout t1ᵀ"' in dot and 'label="t0ᵀ dout"' in dot and "leaf" not in dot
    with pytest.raises(TypeError, match="names= maps a Tensor to its name"):
        gg.viz.to_dot(build(), names={"X": "Y"})


def test_plain_bias_add_shows_the_row_sum():
    X, W, B = gg.randn(5, 3, requires_grad=True), gg.randn(3, 4, requires_grad=True), gg.zeros(4, requires_grad=True)
    Z = X @ W + B
    dot = gg.viz.to_dot(Z)
    assert 'label="Σrows dZ"' in dot and 'label="dZ"' in dot
    assert 'label="d(XW) Wᵀ"' in dot and 'label="Xᵀ d(XW)"' in dot


def test_every_edge_label_uses_one_notation():
    x = gg.randn(3, 3, requires_grad=True)
    y = ((x.exp() * x).tanh() / (x + 2)).sum()
    dot = gg.viz.to_dot(y)
    labels = [ln.split('label="')[1].split('"')[0] for ln in dot.splitlines() if " -> " in ln and "label=" in ln]
    assert labels and all(lab.startswith(("d", "-d", "broadcast d", "Σ")) for lab in labels), labels
    assert "∂/∂in" not in dot and "g·" not in dot


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' not installed")
def test_render_png_of_the_seed_figure(tmp_path):
    X, W, B, H = _seed()
    out = gg.viz.render(H, str(tmp_path / "h.png"))
    assert open(out, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image
    assert min(matplotlib.image.imread(out).shape[:2]) > 200
