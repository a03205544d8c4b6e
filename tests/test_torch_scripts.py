"""tests/torch_scripts/: PyTorch training scripts as people write them, run with only their imports
swapped (``import torch`` -> gpugrad). Where PyTorch is installed each script also runs on PyTorch
from the same initial weights (copied through the state_dict), and the losses must agree step by
step to float32 tolerance (issue 12's proof)."""
from __future__ import annotations

import builtins
import importlib
import math
import pathlib
import re

import numpy as np
import pytest

import gpugrad as gg

SCRIPTS = pathlib.Path(__file__).parent / "torch_scripts"
NAMES = ["classify", "regression", "norms", "deep_mlp", "buffers", "tabular", "utilities"]
# float32 arithmetic in a different order (BLAS, reductions) drifts a little each step.
LOSS_TOL = dict(rtol=2e-4, atol=2e-5)


def _import_as_gpugrad(name, globals=None, locals=None, fromlist=(), level=0):
    """``__import__`` that answers ``torch`` and ``torch.x.y`` with ``gpugrad`` and ``gpugrad.x.y``."""
    if level == 0 and (name == "torch" or name.startswith("torch.")):
        module = importlib.import_module("gpugrad" + name[len("torch"):])
        return module if fromlist else importlib.import_module("gpugrad")
    return builtins.__import__(name, globals, locals, fromlist, level)


def load_script(name: str, backend: str) -> dict:
    """Execute a script's definitions (not its __main__ block) with ``torch`` or with gpugrad."""
    path = SCRIPTS / f"{name}.py"
    code = compile(path.read_text(), str(path), "exec")
    ns = {"__name__": f"torch_scripts.{name}", "__file__": str(path)}
    if backend == "gpugrad":
        ns["__builtins__"] = {**builtins.__dict__, "__import__": _import_as_gpugrad}
    exec(code, ns)
    return ns


def _train_kwargs(name, tmp_path, backend):
    if name in ("deep_mlp", "tabular"):
        d = tmp_path / backend
        d.mkdir()
        return {"workdir": str(d)}
    return {}


@pytest.mark.parametrize("name", NAMES)
def test_script_source_is_plain_pytorch(name):
    """The scripts import torch and nothing of gpugrad: the swap is the test's, not the script's."""
    src = (SCRIPTS / f"{name}.py").read_text()
    assert re.search(r"^import torch$", src, re.M)
    assert not re.search(r"^\s*(import|from)\s+gpugrad", src, re.M)


@pytest.mark.parametrize("name", NAMES)
def test_script_trains_on_gpugrad(name, tmp_path):
    ns = load_script(name, "gpugrad")
    model = ns["build_model"]()
    assert isinstance(model, gg.nn.Module)
    losses, info = ns["train"](model, **_train_kwargs(name, tmp_path, "gg"))
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0], f"{name}: loss did not go down ({losses[0]} -> {losses[-1]})"


@pytest.mark.parametrize("name", NAMES)
def test_script_matches_pytorch_step_by_step(name, tmp_path):
    torch = pytest.importorskip("torch", reason="the comparison runs the script on PyTorch too")
    ns_t, ns_g = load_script(name, "torch"), load_script(name, "gpugrad")
    model_t, model_g = ns_t["build_model"](), ns_g["build_model"]()
    state = {k: v.detach().cpu().numpy() for k, v in model_t.state_dict().items()}
    missing, unexpected = model_g.load_state_dict(state)
    assert list(model_g.state_dict()) == list(state) and not missing and not unexpected
    torch.use_deterministic_algorithms(True)
    losses_t, info_t = ns_t["train"](model_t, **_train_kwargs(name, tmp_path, "torch"))
    losses_g, info_g = ns_g["train"](model_g, **_train_kwargs(name, tmp_path, "gg"))
    assert len(losses_g) == len(losses_t)
    np.testing.assert_allclose(losses_g, losses_t, **LOSS_TOL, err_msg=f"{name}: losses diverge")
    assert info_g.keys() == info_t.keys()
    for key, vt in info_t.items():
        vg = info_g[key]
        if isinstance(vt, list) and vt and isinstance(vt[0], str) or isinstance(vt, str):
            assert vg == vt, key
        else:
            np.testing.assert_allclose(vg, vt, rtol=1e-3, atol=1e-4, err_msg=f"{name}: {key}")
    # and the trained weights end up the same
    for k, v in model_t.state_dict().items():
        np.testing.assert_allclose(np.asarray(model_g.state_dict()[k].numpy(), np.float64),
                                   v.detach().numpy().astype(np.float64), rtol=2e-3, atol=2e-4,
                                   err_msg=f"{name}: {k}")
