"""gg.save / gg.load with PyTorch's habits: map_location (device or dict), weights_only accepted,
and nested containers holding model, optimizer and scheduler state, 0-d tensors included."""
from __future__ import annotations

import numpy as np
import pytest

import gpugrad as gg


def test_nested_training_state_round_trips(tmp_path):
    model = gg.nn.Sequential(gg.nn.Linear(3, 4), gg.nn.ReLU(), gg.nn.Linear(4, 2))
    opt = gg.optim.Adam(model.parameters(), lr=0.01, amsgrad=True)
    sched = gg.optim.lr_scheduler.MultiStepLR(opt, milestones=[1, 3, 3], gamma=0.5)
    model(gg.ones(5, 3)).sum().backward()
    opt.step(), sched.step()
    obj = {"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
           "epoch": 1, "best": float("inf"), "note": "x", "flags": (True, None), "loss": gg.tensor(0.25),
           "history": [[1, 2.5], {"k": gg.zeros(0, 3)}]}
    gg.save(obj, tmp_path / "ckpt.pt")
    back = gg.load(tmp_path / "ckpt.pt", weights_only=True)
    assert back["epoch"] == 1 and back["best"] == float("inf") and back["flags"] == (True, None)
    assert back["loss"].shape == () and back["loss"].item() == 0.25          # 0-d stays 0-d
    assert back["history"][1]["k"].shape == (0, 3)
    for k, v in obj["model"].items():
        np.testing.assert_array_equal(back["model"][k].numpy(), v.numpy())
    opt2 = gg.optim.Adam(gg.nn.Sequential(gg.nn.Linear(3, 4), gg.nn.ReLU(), gg.nn.Linear(4, 2)).parameters())
    opt2.load_state_dict(back["optimizer"])
    sched2 = gg.optim.lr_scheduler.MultiStepLR(opt2, milestones=[9], gamma=0.1)
    sched2.load_state_dict(back["scheduler"])
    for _ in range(3):
        sched.step(), sched2.step()
        assert sched2.get_last_lr() == sched.get_last_lr()
    assert gg.load(tmp_path / "ckpt.pt", weights_only=False)["note"] == "x"


def test_map_location(tmp_path):
    gg.save({"w": gg.ones(2)}, tmp_path / "a.npz")
    assert gg.load(tmp_path / "a.npz", map_location="cpu")["w"].device == "cpu"
    assert gg.load(tmp_path / "a.npz", map_location={"cuda:0": "cpu"})["w"].device == "cpu"
    assert gg.load(tmp_path / "a.npz", map_location=gg.Device("cpu"))["w"].device == "cpu"
    with pytest.raises(ValueError, match="device or map_location, not both"):
        gg.load(tmp_path / "a.npz", device="cpu", map_location="cpu")
    # PyTorch's callable form (issue 25): tests/test_torch_defaults_io.py has the rest
    assert gg.load(tmp_path / "a.npz", map_location=lambda storage, loc: storage)["w"].device == "cpu"


def test_map_location_dict_moves_a_saved_device(tmp_path):
    # A checkpoint that says its tensor was on cuda:0 (rewritten here, no GPU needed) loads onto
    # the cpu through the dict.
    import json
    gg.save({"w": gg.ones(2)}, tmp_path / "a.npz")
    with np.load(tmp_path / "a.npz") as f:
        meta, a0 = json.loads(f["__gpugrad__"].tobytes().decode()), f["a0"]
    meta["tree"]["v"][0]["device"] = "cuda:0"
    np.savez(tmp_path / "b.npz", a0=a0, __gpugrad__=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    t = gg.load(tmp_path / "b.npz", map_location={"cuda:0": "cpu"})["w"]
    assert t.device == "cpu" and t.tolist() == [1.0, 1.0]
