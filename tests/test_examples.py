"""Run every worked example in examples/ as a test: each ``main()`` asserts its own numbers."""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NAMES = ["chain_rule_scalar", "vector_chain_rule", "bias_sigmoid_graph", "two_layer_relu"]


def _load(name):
    spec = importlib.util.spec_from_file_location(f"examples_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_example_is_listed():
    assert sorted(p.stem for p in EXAMPLES.glob("*.py")) == sorted(NAMES)


@pytest.mark.parametrize("name", ["chain_rule_scalar", "vector_chain_rule", "two_layer_relu"])
def test_example_main(name):
    assert _load(name).main()


def test_chain_rule_scalar_values():
    out = _load("chain_rule_scalar").main()
    x = 1.0
    assert out["exp_sin_square"][x] == pytest.approx(2 * x * np.cos(x * x) * np.exp(np.sin(x * x)),
                                                     rel=1e-12)


def test_two_layer_relu_trains():
    out = _load("two_layer_relu").main()
    assert out["final_loss"] < out["initial_loss"] / 100
    assert 0 in out["checked_steps"] and len(out["checked_steps"]) >= 3


def test_bias_sigmoid_graph_dot(tmp_path, monkeypatch):
    # The DOT part needs no Graphviz: hide `dot` so this test is the same everywhere.
    mod = _load("bias_sigmoid_graph")
    monkeypatch.setattr(mod.shutil, "which", lambda _name: None)
    out = mod.main(str(tmp_path))
    assert set(out["paths"]) == {"dot"}
    assert (tmp_path / "graph.dot").read_text(encoding="utf-8").startswith("digraph")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed")
def test_bias_sigmoid_graph_svg(tmp_path):
    out = _load("bias_sigmoid_graph").main(str(tmp_path))
    svg = Path(out["paths"]["svg"]).read_text(encoding="utf-8")
    assert "<svg" in svg and "bias_sigmoid" in svg


@pytest.mark.parametrize("name", NAMES)
def test_example_runs_as_script(name, tmp_path):
    args = [sys.executable, str(EXAMPLES / f"{name}.py")]
    if name == "bias_sigmoid_graph":
        args += ["--out", str(tmp_path)]
    env = dict(os.environ, PYTHONPATH=str(EXAMPLES.parent) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
