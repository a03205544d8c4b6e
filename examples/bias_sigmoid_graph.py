"""H = sigma(X W + B) with the fused bias+sigmoid op: values, gradients and the drawn graph.

With Z = X W + B (B broadcast over the rows) and an upstream gradient G = dL/dH, the chain rule
by hand gives

    dZ = G * H * (1 - H)        (sigma' = sigma (1 - sigma), elementwise)
    dW = X^T dZ
    dB = column sums of dZ      (B was copied to every row, so its gradient sums over rows)
    dX = dZ W^T

The example checks gpugrad's H, dX, dW, dB against those formulas in float64, then draws the
graph with exactly those labels: each edge carries the gradient it sends back, in the
variables' own names (dZ = dH ⊙ H(1-H) into XW, Σrows dZ to B, dZ Wᵀ to X, Xᵀ dZ to W). It
writes Graphviz DOT and, when Graphviz's ``dot`` is installed, SVG and PNG.

Run: python examples/bias_sigmoid_graph.py [--out DIR]     (default: a new temporary directory)
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile

import numpy as np

import gpugrad as gg
from gpugrad.nn.functional import bias_sigmoid

N, D, K = 4, 3, 2          # X is (N, D), W is (D, K), B is (K,)
RTOL, ATOL = 1e-12, 1e-14


def forward_backward(seed: int = 0):
    """Leaves X, W, B; output H; after ``H.backward(G)``. Returns (tensors, G)."""
    rng = np.random.default_rng(seed)
    X = gg.tensor(rng.standard_normal((N, D)), dtype=gg.float64, requires_grad=True)
    W = gg.tensor(rng.standard_normal((D, K)), dtype=gg.float64, requires_grad=True)
    B = gg.tensor(rng.standard_normal(K), dtype=gg.float64, requires_grad=True)
    X.name, W.name, B.name = "X", "W", "B"
    H = bias_sigmoid(X @ W, B)
    H.name = "H"
    G = rng.standard_normal((N, K))
    H.backward(G)
    return (X, W, B, H), G


def hand_formulas(X, W, B, G):
    """H and (dX, dW, dB) by the formulas in the module docstring, in plain NumPy."""
    Z = X @ W + B
    H = 1 / (1 + np.exp(-Z))
    dZ = G * H * (1 - H)
    return H, dZ @ W.T, X.T @ dZ, dZ.sum(axis=0)


def write_graph(H, names: dict, out_dir: str) -> dict:
    """Write ``graph.dot`` (always), ``graph.svg`` and ``graph.png`` (when ``dot`` exists)."""
    os.makedirs(out_dir, exist_ok=True)
    paths = {"dot": os.path.join(out_dir, "graph.dot")}
    src = gg.viz.to_dot(H, names=names)
    with open(paths["dot"], "w", encoding="utf-8") as f:
        f.write(src + "\n")
    if shutil.which("dot") is not None:
        for fmt in ("svg", "png"):
            paths[fmt] = gg.viz.render(H, os.path.join(out_dir, f"graph.{fmt}"), names=names)
    return paths


# The chain rule of the module docstring, as the drawn edges must read it.
CHAIN_RULE_LABELS = ("dZ = dH ⊙ H(1-H)", "Σrows dZ", "dZ Wᵀ", "Xᵀ dZ")


def check_dot(src: str) -> None:
    """The DOT names both ops, the leaves X, W, B, the product XW, and the chain-rule labels."""
    for needle in ('label="bias_sigmoid"', 'label="matmul"', *(f'label="{s}"' for s in CHAIN_RULE_LABELS),
                   'label="X\\n(4, 3) float64"', 'label="W\\n(3, 2) float64"', 'label="B\\n(2,) float64"',
                   'label="XW\\n(4, 2)"', 'label="H\\n(4, 2)"', 'label="dH"'):
        assert needle in src, f"DOT source lacks {needle!r}:\n{src}"


def main(out_dir: str | None = None) -> dict:
    (X, W, B, H), G = forward_backward()
    H_hand, dX, dW, dB = hand_formulas(X.numpy(), W.numpy(), B.numpy(), G)
    np.testing.assert_allclose(H.numpy(), H_hand, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(X.grad.numpy(), dX, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(W.grad.numpy(), dW, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(B.grad.numpy(), dB, rtol=RTOL, atol=ATOL)
    print("H = sigma(XW + B): H, dX = dZ W^T, dW = X^T dZ, dB = colsum(dZ) match the hand formulas")
    print(f"  dB = {np.array2string(B.grad.numpy(), precision=6)}")

    # The graph of a fresh forward: backward above freed the saved arrays, not the structure,
    # but a new graph keeps the example independent of that.
    (X2, W2, B2, H2), _ = forward_backward()
    if out_dir is None:
        out_dir = tempfile.mkdtemp(prefix="gpugrad-bias-sigmoid-")
    paths = write_graph(H2, {"X": X2, "W": W2, "B": B2, "H": H2}, out_dir)
    with open(paths["dot"], encoding="utf-8") as f:
        check_dot(f.read())
    if "svg" in paths:
        with open(paths["svg"], encoding="utf-8") as f:
            svg = f.read()
        assert "<svg" in svg and "bias_sigmoid" in svg and "matmul" in svg, "SVG lacks the ops"
        assert all(s.replace("ᵀ", "") in svg.replace("ᵀ", "") for s in ("Σrows dZ", "Xᵀ dZ")), "SVG lacks labels"
    if "png" in paths:
        with open(paths["png"], "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n", "graph.png is not a PNG"
    for kind, p in paths.items():
        print(f"  wrote {kind}: {p}")
    if "svg" not in paths:
        print("  (Graphviz 'dot' not found: SVG and PNG skipped; apt-get install graphviz)")
    return {"H": H.numpy().copy(), "dX": X.grad.numpy().copy(), "dW": W.grad.numpy().copy(),
            "dB": B.grad.numpy().copy(), "paths": paths}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="directory for graph.dot / graph.svg / graph.png")
    main(parser.parse_args().out)
