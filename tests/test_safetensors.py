"""gg.safetensors: a PyTorch model's state_dict written by safetensors.torch loads into the same
gpugrad model and gives the same outputs, and the reverse; dtypes, 0-d tensors and metadata round
trip; bad input gets one-line errors."""
from __future__ import annotations

import sys

import numpy as np
import pytest

import gpugrad as gg

pytest.importorskip("safetensors", reason="gg.safetensors needs the safetensors package")

SIZES = [(7, 16), (16, 16), (16, 3)]


def _gg_mlp():
    layers = []
    for i, (a, b) in enumerate(SIZES):
        layers.append(gg.nn.Linear(a, b))
        if i < len(SIZES) - 1:
            layers.append(gg.nn.ReLU() if i == 0 else gg.nn.Tanh())
    return gg.nn.Sequential(*layers)


def _torch_mlp(torch):
    layers = []
    for i, (a, b) in enumerate(SIZES):
        layers.append(torch.nn.Linear(a, b))
        if i < len(SIZES) - 1:
            layers.append(torch.nn.ReLU() if i == 0 else torch.nn.Tanh())
    return torch.nn.Sequential(*layers)


X = np.random.default_rng(0).standard_normal((9, 7)).astype(np.float32)


def test_pytorch_weights_load_into_the_same_gpugrad_model(device, tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file
    torch.manual_seed(0)
    tm = _torch_mlp(torch)
    save_file(tm.state_dict(), tmp_path / "m.safetensors")
    gm = _gg_mlp().to(device) if hasattr(gg.nn.Module, "to") else _gg_mlp()
    sd = gg.safetensors.load_file(tmp_path / "m.safetensors", device=device)
    assert set(sd) == set(gm.state_dict()) and all(t.device == device for t in sd.values())
    gm.load_state_dict(sd)
    want = tm(torch.from_numpy(X)).detach().numpy()
    got = gm(gg.tensor(X, device=device)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert not np.allclose(want, 0)


def test_gpugrad_weights_load_into_the_same_pytorch_model(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file
    gg.manual_seed(1)
    gm = _gg_mlp()
    gg.safetensors.save_file(gm.state_dict(), tmp_path / "m.safetensors", metadata={"format": "pt"})
    tm = _torch_mlp(torch)
    result = tm.load_state_dict(load_file(tmp_path / "m.safetensors"), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    want = gm(gg.tensor(X)).numpy()
    got = tm(torch.from_numpy(X)).detach().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_dtypes_shapes_and_metadata_round_trip(tmp_path):
    from safetensors import safe_open
    values = {"h": np.arange(6, dtype=np.float16).reshape(2, 3), "d": np.float64(2.5) * np.ones((1, 4)),
              "i": np.arange(3, dtype=np.int64), "b": np.array([True, False]), "s": np.array(3.0, np.float32)}
    tensors = {k: gg.tensor(v, dtype=v.dtype) for k, v in values.items()}
    gg.safetensors.save_file(tensors, tmp_path / "t.safetensors", metadata={"epoch": "3"})
    back = gg.safetensors.load_file(tmp_path / "t.safetensors")
    for k, v in values.items():
        assert back[k].dtype == v.dtype and back[k].shape == v.shape, k
        np.testing.assert_array_equal(back[k].numpy(), v)
    with safe_open(tmp_path / "t.safetensors", framework="numpy") as f:
        assert f.metadata() == {"epoch": "3"}
    assert gg.safetensors.load(gg.safetensors.save(tensors))["s"].shape == ()
    # loaded tensors own their memory: writing one leaves the file's other readers alone
    back["i"]._data[0] = 9
    assert gg.safetensors.load_file(tmp_path / "t.safetensors")["i"].numpy()[0] == 0


def test_errors(tmp_path, monkeypatch):
    with pytest.raises(TypeError, match=r"'epoch' is a int; a safetensors file holds only tensors"):
        gg.safetensors.save_file({"w": gg.ones(2), "epoch": 3}, tmp_path / "x.safetensors")
    assert not (tmp_path / "x.safetensors").exists()
    with pytest.raises(FileNotFoundError, match="no such file"):
        gg.safetensors.load_file(tmp_path / "missing.safetensors")
    (tmp_path / "bad.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(ValueError, match="cannot read .*bad.safetensors"):
        gg.safetensors.load_file(tmp_path / "bad.safetensors")
    with pytest.raises(FileNotFoundError, match="directory .* does not exist"):
        gg.safetensors.save_file({"w": gg.ones(2)}, tmp_path / "nodir" / "x.safetensors")
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    with pytest.raises(ImportError, match=r"pip install safetensors"):
        gg.safetensors.save_file({"w": gg.ones(2)}, tmp_path / "x.safetensors")
