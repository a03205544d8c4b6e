"""Runs that survive faults: SIGTERM and SIGKILL at chosen points of the checkpoint write
(through serialization.set_write_hook), then a resume that must end bit-identical to an
uninterrupted run; stale temporary files removed on resume; divergence stopped with the last
finite checkpoint kept; every field of a train checkpoint validated before use."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import gpugrad as gg
from gpugrad import serialization
from gpugrad.commands.cli import main
from gpugrad.commands.run_checks import DivergedError, TrainError
from gpugrad.commands.run_signals import RunInterrupted
from gpugrad.commands.train import TrainConfig, train

POINTS = ["tmp-created", "member:a0", "written", "synced", "replaced"]
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(240, 6)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1)
    path = tmp_path_factory.mktemp("data") / "d.npz"
    np.savez(path, x=x, y=y)
    return str(path)


def args(data_file, out):
    return ["train", "--data", data_file, "--epochs", "3", "--hidden", "8", "--batch-size", "64",
            "--lr", "0.01", "--dropout", "0.1", "--quiet", "--out", str(out)]


@pytest.fixture(scope="module")
def reference(data_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref")
    assert main(args(data_file, out)) == 0
    return gg.load(out / "checkpoint.npz")


def assert_same_run(ckpt, ref):
    assert ckpt["epoch"] == ref["epoch"]
    for k, v in ref["model"].items():
        assert np.array_equal(ckpt["model"][k].numpy(), v.numpy()), k
    assert ckpt["history"]["loss"] == ref["history"]["loss"]


def temps(out):
    return sorted(f for f in os.listdir(out) if f.endswith(".tmp"))


@pytest.mark.parametrize("point", POINTS)
def test_sigterm_inside_the_checkpoint_write(data_file, reference, tmp_path, point, capsys):
    """SIGTERM mid-write: the write finishes, the run stops with the resume hint, curves and exit
    143, and the resumed run equals the uninterrupted one."""
    seen = []

    def hook(p, path):
        if p == point:
            seen.append(p)
            if len(seen) == 2:                      # inside epoch 2's checkpoint write
                os.kill(os.getpid(), signal.SIGTERM)

    serialization.set_write_hook(hook)
    try:
        code = main(args(data_file, tmp_path))
    finally:
        serialization.set_write_hook(None)
    err = capsys.readouterr().err
    assert code == 143
    assert f"continue with: gpugrad train --resume {tmp_path / 'checkpoint.npz'}" in err
    assert gg.load(tmp_path / "checkpoint.npz")["epoch"] == 2        # finished, not abandoned
    assert (tmp_path / "curves.png").exists() and temps(tmp_path) == []
    assert main(["train", "--resume", str(tmp_path / "checkpoint.npz"), "--quiet"]) == 0
    assert_same_run(gg.load(tmp_path / "checkpoint.npz"), reference)


def test_sigterm_between_checkpoints_abandons_the_epoch_cleanly(data_file, tmp_path):
    def stop(epoch, metrics):
        if epoch == 1:
            os.kill(os.getpid(), signal.SIGTERM)

    cfg = TrainConfig(data=data_file, epochs=3, hidden=(8,), batch_size=64, lr=0.01, quiet=True,
                      out=str(tmp_path))
    with pytest.raises(RunInterrupted) as e:
        train(cfg, log=lambda s: None, on_epoch_end=stop)
    assert e.value.exit_code == 143
    assert gg.load(tmp_path / "checkpoint.npz")["epoch"] == 1 and temps(tmp_path) == []
    # the guard is gone once train() returns: SIGTERM's handler is what it was before
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


_KILLER = textwrap.dedent("""
    import os, signal, sys
    from gpugrad import serialization
    from gpugrad.commands.cli import main
    point, nth = sys.argv[1], int(sys.argv[2])
    seen = []
    def hook(p, path):
        if p == point:
            seen.append(p)
            if len(seen) == nth:
                os.kill(os.getpid(), signal.SIGKILL)
    serialization.set_write_hook(hook)
    sys.exit(main(sys.argv[3:]))
""")


@pytest.mark.parametrize("point", POINTS)
def test_sigkill_inside_the_checkpoint_write(data_file, reference, tmp_path, point):
    """SIGKILL mid-write: the previous checkpoint (or, after the rename, the new one) is intact;
    the temporary file it leaves is removed on resume, which ends equal to the uninterrupted run."""
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", _KILLER, point, "2", *args(data_file, tmp_path)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    ckpt = gg.load(tmp_path / "checkpoint.npz")
    assert ckpt["epoch"] == (2 if point == "replaced" else 1)
    leftovers = temps(tmp_path)
    assert len(leftovers) == (0 if point == "replaced" else 1)
    assert main(["train", "--resume", str(tmp_path / "checkpoint.npz"), "--quiet"]) == 0
    assert temps(tmp_path) == []
    assert_same_run(gg.load(tmp_path / "checkpoint.npz"), reference)


# -- divergence ----------------------------------------------------------------------------------------
def test_divergence_stops_and_keeps_the_last_finite_checkpoint(data_file, tmp_path, capsys):
    # A learning rate of 1e6 diverges within the first epoch: one line, non-zero exit, no file,
    # and no NumPy overflow warnings before it (the run's own check reports the divergence).
    import warnings
    out = tmp_path / "run"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = main(["train", "--data", data_file, "--optimizer", "sgd", "--lr", "1e6", "--epochs", "3",
                     "--hidden", "8", "--quiet", "--out", str(out)])
    assert [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)] == []
    err = capsys.readouterr().err.strip()
    assert code != 0 and "\n" not in err
    assert "training diverged in epoch 1" in err and "--lr" in err and "--clip" in err
    assert not (out / "checkpoint.npz").exists()               # nothing non-finite was saved

    # Diverging later: the epoch-1 checkpoint stays, finite.
    out2 = tmp_path / "later"
    cfg = TrainConfig(data=data_file, epochs=3, hidden=(8,), batch_size=64, lr=0.01, optimizer="sgd",
                      schedule="none", quiet=True, out=str(out2))

    def poison(epoch, metrics):
        if epoch == 1:
            for g in holder["opt"].param_groups:
                g["lr"] = 1e30

    holder = {}
    import gpugrad.commands.train as tr
    real = tr.build_optimizer

    def capture(config, model):
        opt, sched = real(config, model)
        holder["opt"] = opt
        return opt, sched

    tr.build_optimizer = capture
    try:
        with pytest.raises(DivergedError, match=r"diverged in epoch 2: .*last finite checkpoint \(epoch 1\)"):
            train(cfg, log=lambda s: None, on_epoch_end=poison)
    finally:
        tr.build_optimizer = real
    kept = gg.load(out2 / "checkpoint.npz")
    assert kept["epoch"] == 1
    assert all(np.isfinite(v.numpy()).all() for v in kept["model"].values())
    assert len(kept["history"]["loss"]) == 1


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the overflow is the point
def test_clip_keeps_a_hot_run_finite(data_file, tmp_path):
    cfg = dict(data=data_file, epochs=2, hidden=(8,), batch_size=64, optimizer="sgd", lr=1e6,
               schedule="none", momentum=0.0, quiet=True)
    with pytest.raises(DivergedError):
        train(TrainConfig(**cfg, out=str(tmp_path / "a")), log=lambda s: None)
    r = train(TrainConfig(**cfg, clip=1e-6, out=str(tmp_path / "b")), log=lambda s: None)
    assert np.isfinite(r.history["loss"]).all()


@pytest.mark.parametrize("text,message", [
    ("1,2,0\n1e39,3,1\n2,2,0\n4,4,1\n", "row 2, column '1': value 1e\\+39 does not fit float32"),
    ("1,2,0\n3,3,1e19\n2,2,0\n4,4,1\n", "does not fit int64"),
    ("1,2,0\n3,3,-1e19\n2,2,0\n4,4,1\n", "does not fit int64"),
])
def test_inputs_checked_in_the_training_dtype(tmp_path, text, message):
    p = tmp_path / "d.csv"
    p.write_text(text)
    with pytest.raises(gg.data.DataError, match=message):
        gg.data.load_file(p)


def test_uint64_labels_beyond_int64_refused(tmp_path):
    p = tmp_path / "d.npz"
    np.savez(p, x=np.zeros((2, 2)), y=np.array([1, 2 ** 63 + 5], dtype=np.uint64))
    with pytest.raises(gg.data.DataError, match="does not fit int64"):
        gg.data.load_file(p)


# -- hostile train checkpoints ---------------------------------------------------------------------
def _edit(ckpt, edit):
    kind, *where = edit
    target = ckpt
    for k in where[:-2]:
        target = target[k]
    if kind == "del":
        del target[where[-2]]
    else:
        target[where[-2]] = where[-1]
    return ckpt


HOSTILE_FIELDS = [
    (("del", "history", None), "no 'history' field"),
    (("set", "config", {"lr": 0.01}), "config fields do not match"),
    (("set", "epoch", 10 ** 12), "outside 1..3"),
    (("set", "epoch", "2"), "field 'epoch' is a str"),
    (("set", "epoch", True), "field 'epoch' is a bool"),
    (("set", "config", "epochs", 10 ** 12), "epochs must be an integer in 1..100000"),
    (("set", "config", "lr", float("nan")), "lr must be a finite number"),
    (("set", "config", "hidden", [8, -1]), "hidden must be"),
    (("set", "config", "optimizer", "lbfgs"), "optimizer must be one of"),
    (("set", "config", "extra", 1), "unknown: extra"),
    (("del", "config", "seed", None), "missing: seed"),
    (("set", "history", "loss", [0.5]), "history['loss'] must be 2 finite numbers"),
    (("set", "history", "val_acc", [0.5, 7.0]), "history['val_acc']"),
    (("set", "history", "bogus", []), "history has fields"),
    (("set", "loader", {"seed": 99, "epoch": 2}), "loader state"),
    (("set", "data_fingerprint", "zz"), "not a fingerprint"),
    (("set", "device", "tpu"), "not cpu or cuda"),
    (("set", "model", "0.weight", "x"), "is a str, not an array"),
    (("nan", "model"), "holds NaN or Inf"),
    (("set", "optimizer", "param_groups", 0, "lr", "fast"), "optimizer state does not have"),
    (("set", "optimizer", "state", 0, "exp_avg", np.zeros((1, 1), np.float32)), "has shape (1, 1)"),
    (("set", "optimizer", "state", 0, "step", -3), "not a count"),
    (("set", "optimizer", "state", 0, "evil", 1), "has fields"),
    (("set", "optimizer", "state", 99, {}), "which this model does not have"),
    (("set", "scheduler", "last_epoch", 10 ** 9), "scheduler stopped at epoch"),
    (("set", "scheduler", "T_max", "3"), "scheduler state does not have"),
    (("set", "scheduler", "__class__", 1), "scheduler state does not have"),
]


@pytest.fixture(scope="module")
def good_checkpoint(data_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("good")
    cfg = TrainConfig(data=data_file, epochs=3, hidden=(8,), batch_size=64, quiet=True, out=str(out))

    def stop(epoch, metrics):
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(cfg, log=lambda s: None, on_epoch_end=stop)
    return out / "checkpoint.npz"


@pytest.mark.parametrize("edit,message", HOSTILE_FIELDS, ids=[m for _, m in HOSTILE_FIELDS])
def test_every_checkpoint_field_is_validated(good_checkpoint, tmp_path, capsys, edit, message):
    ckpt = gg.load(good_checkpoint)
    if edit[0] == "nan":
        first = next(iter(ckpt["model"]))
        ckpt["model"][first] = gg.tensor(np.full(ckpt["model"][first].shape, np.nan, np.float32))
    else:
        _edit(ckpt, edit)
    bad = tmp_path / "checkpoint.npz"
    gg.save(ckpt, bad)
    code = main(["train", "--resume", str(bad), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "Traceback" not in err, err
    assert message in err and str(bad) in err, err


def test_unedited_checkpoint_resumes(good_checkpoint, tmp_path):
    bad = tmp_path / "checkpoint.npz"
    gg.save(gg.load(good_checkpoint), bad)
    assert main(["train", "--resume", str(bad), "--quiet"]) == 0


def test_train_config_refuses_out_of_range_settings():
    with pytest.raises(TrainError, match="epochs must be an integer in 1..100000"):
        TrainConfig(epochs=10 ** 12)
    with pytest.raises(TrainError, match="lr must be"):
        TrainConfig(lr=float("inf"))


@pytest.mark.parametrize("optimizer,schedule,extra", [
    ("sgd", "none", {"momentum": 0.0}), ("sgd", "step", {}), ("adam", "cosine", {"clip": 1.0}),
    ("adamw", "step", {"weight_decay": 0.01})])
def test_valid_checkpoints_of_every_kind_pass_validation(data_file, tmp_path, optimizer, schedule, extra):
    """The checks refuse what train() would never write, and nothing it does write."""
    cfg = dict(data=data_file, epochs=3, hidden=(8, 4), batch_size=64, optimizer=optimizer,
               schedule=schedule, quiet=True, **extra)
    straight = train(TrainConfig(**cfg, out=str(tmp_path / "a")), log=lambda s: None)

    def stop(epoch, metrics):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(TrainConfig(**cfg, out=str(tmp_path / "b")), log=lambda s: None, on_epoch_end=stop)
    assert main(["train", "--resume", str(tmp_path / "b" / "checkpoint.npz"), "--quiet"]) == 0
    resumed = gg.load(tmp_path / "b" / "checkpoint.npz")
    for k, v in straight.model.state_dict().items():
        assert np.array_equal(resumed["model"][k].numpy(), v.numpy()), k


def test_checkpoint_without_the_newer_clip_setting_resumes(good_checkpoint, tmp_path):
    ckpt = gg.load(good_checkpoint)
    del ckpt["config"]["clip"]                     # as written before --clip existed
    old = tmp_path / "checkpoint.npz"
    gg.save(ckpt, old)
    assert main(["train", "--resume", str(old), "--quiet"]) == 0
