"""gg.save / gg.load: exact round trips of nested state, atomic writes (an interrupted save
leaves the previous checkpoint loadable and no temporary file), and clear errors for missing,
truncated, corrupted and foreign files."""
from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

import gpugrad as gg
from gpugrad import serialization
from gpugrad.serialization import CheckpointError


def sample_state(device):
    gg.manual_seed(0)
    model = gg.nn.MLP([4, 5, 3], device=device)
    return {"model": model.state_dict(), "epoch": 7, "lr": 0.1, "tiny": 1e-300, "inf": float("inf"),
            "name": "run-α", "flags": [True, False, None], "shape": (2, 3),
            "ints": {0: np.int64(3), 5: np.arange(4, dtype=np.int32)},
            "big": 2 ** 100, "f64": gg.tensor([1.0 / 3], dtype="float64", device=device),
            "bools": np.array([True, False]), "empty": {}}


def test_round_trip_exact(device, tmp_path):
    state = sample_state(device)
    path = tmp_path / "ckpt.npz"
    gg.save(state, path)
    back = gg.load(path)
    assert back["epoch"] == 7 and back["lr"] == 0.1 and back["tiny"] == 1e-300
    assert back["inf"] == float("inf") and back["name"] == "run-α" and back["big"] == 2 ** 100
    assert back["flags"] == [True, False, None] and back["shape"] == (2, 3) and back["empty"] == {}
    assert back["ints"][0] == 3 and back["ints"][0].dtype == np.int64
    assert back["ints"][5].dtype == np.int32 and list(back["ints"][5]) == [0, 1, 2, 3]
    assert back["f64"].dtype == np.float64 and back["f64"].device == device
    for k, v in state["model"].items():
        assert back["model"][k].device == device
        assert back["model"][k].dtype == v.dtype
        assert np.array_equal(back["model"][k].numpy(), v.numpy())
    assert list(back["model"]) == list(state["model"])


def test_load_to_device(device, tmp_path):
    gg.save({"w": gg.ones(2, device=device)}, tmp_path / "a.npz")
    assert gg.load(tmp_path / "a.npz", device="cpu")["w"].device == "cpu"


def test_requires_grad_preserved(tmp_path):
    gg.save({"p": gg.nn.Parameter(gg.ones(2)), "t": gg.ones(2)}, tmp_path / "a.npz")
    back = gg.load(tmp_path / "a.npz")
    assert back["p"].requires_grad and not back["t"].requires_grad


def test_unsupported_objects_are_refused(tmp_path):
    with pytest.raises(TypeError, match="state_dict"):
        gg.save(gg.nn.Linear(2, 2), tmp_path / "m.npz")
    with pytest.raises(TypeError, match="dict keys must be str or int"):
        gg.save({(1, 2): 3}, tmp_path / "m.npz")
    with pytest.raises(TypeError, match="dtype object"):
        gg.save({"a": np.array([object()])}, tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []


def _leftovers(d):
    return [f for f in os.listdir(d) if f.endswith(".tmp")]


@pytest.mark.parametrize("where", ["replace", "write"])
def test_interrupted_save_keeps_previous_checkpoint(tmp_path, monkeypatch, where):
    path = tmp_path / "ckpt.npz"
    gg.save({"epoch": 1, "w": gg.ones(3)}, path)
    def crash_midway(point, _path):
        if point == "member:a0":                              # part of the archive is written...
            raise KeyboardInterrupt("killed mid-write")       # ...then the process is interrupted

    def crash_at_rename(src, dst):
        raise OSError("disk vanished")

    if where == "write":
        monkeypatch.setattr(serialization, "_write_hook", crash_midway)
        exc = KeyboardInterrupt
    else:
        monkeypatch.setattr(serialization.os, "replace", crash_at_rename)
        exc = OSError
    with pytest.raises(exc):
        gg.save({"epoch": 2, "w": gg.zeros(3)}, path)
    monkeypatch.undo()
    back = gg.load(path)
    assert back["epoch"] == 1 and np.all(back["w"].numpy() == 1)
    assert _leftovers(tmp_path) == []
    assert sorted(os.listdir(tmp_path)) == ["ckpt.npz"]


def test_save_into_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        gg.save({"a": 1}, tmp_path / "nope" / "c.npz")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        gg.load(tmp_path / "absent.npz")


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.99])
def test_truncated_file(tmp_path, keep):
    path = tmp_path / "c.npz"
    gg.save(sample_state("cpu"), path)
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])
    with pytest.raises(CheckpointError, match=str(path).replace("\\", "\\\\")) as e:
        gg.load(path)
    assert "truncated" in str(e.value) or "corrupted" in str(e.value)


def test_corrupted_array_bytes(tmp_path):
    path = tmp_path / "c.npz"
    gg.save({"w": gg.tensor(np.arange(1000, dtype=np.float32))}, path)
    data = bytearray(path.read_bytes())
    i = data.find(b"\x00\x00\x80\x3f")                      # the float 1.0 inside entry a0
    data[i:i + 4] = b"\xde\xad\xbe\xef"                     # flip bytes: the CRC no longer matches
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupted"):
        gg.load(path)


@pytest.mark.parametrize("kind", ["text", "pickle", "npy", "foreign_npz", "empty"])
def test_foreign_files(tmp_path, kind):
    path = tmp_path / "f.npz"
    if kind == "text":
        path.write_text("hello, I am not a checkpoint\n")
    elif kind == "pickle":
        path.write_bytes(pickle.dumps({"a": 1}))
    elif kind == "npy":
        np.save(open(path, "wb"), np.arange(3))
    elif kind == "foreign_npz":
        np.savez(open(path, "wb"), x=np.arange(3), y=np.arange(3))
    else:
        path.write_bytes(b"")
    with pytest.raises(CheckpointError) as e:
        gg.load(path)
    msg = str(e.value)
    assert str(path) in msg and "gpugrad checkpoint" in msg and "\n" not in msg
    if kind == "foreign_npz":
        assert "holds: x, y" in msg


def test_never_unpickles(tmp_path):
    """An .npz whose entry is a pickled object array is refused, not executed."""
    path = tmp_path / "evil.npz"
    np.savez(open(path, "wb"), __gpugrad__=np.frombuffer(b'{"format": "gpugrad-checkpoint", '
                                                          b'"version": 1, "tree": {"$": "ndarray", '
                                                          b'"a": "a0"}}', dtype=np.uint8),
             a0=np.array([{"x": 1}], dtype=object))
    with pytest.raises(CheckpointError, match="never objects: no pickle"):
        gg.load(path)


def test_numpy_float_scalars_round_trip(tmp_path):
    # np.float64 is a subclass of float: it must not be written as its repr 'np.float64(0.25)'.
    gg.save({"loss": np.float64(0.25), "lr": np.float32(0.5), "n": np.int64(3)}, tmp_path / "s.npz")
    back = gg.load(tmp_path / "s.npz")
    assert back == {"loss": 0.25, "lr": 0.5, "n": 3}


def test_checkpoint_gets_the_usual_file_mode(tmp_path):
    old = os.umask(0o022)
    try:
        gg.save({"a": 1}, tmp_path / "m.npz")
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "m.npz").st_mode & 0o777 == 0o644
