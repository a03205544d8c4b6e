"""Runs are never lost: an --out holding a run is refused (--resume or --force), --force keeps
the old files, the default --out is a new timestamped folder; the label map is printed and
stored; resume finds its data by content (moved, renamed, another working directory); a
finished run can be extended; thin splits are warned about; metrics.csv per epoch."""
from __future__ import annotations

import csv
import os
import shutil

import numpy as np
import pytest

import gpugrad as gg
from gpugrad.commands.cli import main
from gpugrad.commands.train import TrainConfig, train

FAST = ["--hidden", "8", "--batch-size", "64", "--lr", "0.01", "--quiet"]


def _csv(path, n=90, labels=(-1, 1000, 7), seed=0):
    """A small 3-feature CSV whose label column holds ``labels`` (not 0..C-1)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3))
    k = np.digitize(x[:, 0] + x[:, 1], [-0.5, 0.5])
    y = np.asarray(labels)[k]
    np.savetxt(path, np.column_stack([x, y]), delimiter=",", header="a,b,c,label", comments="",
               fmt=["%.6f"] * 3 + ["%d"])
    return path


def _weights(path):
    return {k: v.numpy() for k, v in gg.load(path)["model"].items()}


def _err(capsys):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


# -- never overwritten ----------------------------------------------------------------------------------
def test_out_holding_a_run_is_refused_and_force_keeps_it(tmp_path, capsys):
    out = tmp_path / "ow"
    assert main(["train", *FAST, "--epochs", "3", "--out", str(out)]) == 0
    first = (out / "checkpoint.npz").read_bytes()
    capsys.readouterr()

    assert main(["train", *FAST, "--epochs", "1", "--out", str(out)]) == 2
    err = _err(capsys)
    assert "already holds a run" in err and f"--resume {out / 'checkpoint.npz'}" in err and "--force" in err
    assert (out / "checkpoint.npz").read_bytes() == first          # untouched

    old_events = out / "events.out.tfevents.1795981105.vm"     # as tensorboardX names them
    old_events.write_bytes(b"the old run's scalars")
    assert main(["train", *FAST, "--epochs", "1", "--out", str(out), "--force"]) == 0
    stdout = capsys.readouterr().out
    # TensorBoard reads every events file of a folder: the old run's must not mix into the new one's.
    assert not old_events.exists()
    set_aside = [f for f in os.listdir(out) if f.startswith("events-") and os.path.isdir(out / f)]
    assert len(set_aside) == 1 and f"as {out / set_aside[0] / old_events.name}" in stdout
    assert (out / set_aside[0] / old_events.name).read_bytes() == b"the old run's scalars"
    kept = [f for f in os.listdir(out) if f.startswith("checkpoint-") and f.endswith(".npz")]
    assert len(kept) == 1 and f"kept the previous run's file as {out / kept[0]}" in stdout
    assert (out / kept[0]).read_bytes() == first                    # the old run, byte for byte
    assert gg.load(out / "checkpoint.npz")["epoch"] == 1             # the new run
    assert any(f.startswith("curves-") for f in os.listdir(out))    # its picture kept too


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fcntl.flock run locks are POSIX-only")
def test_a_folder_in_use_by_another_run_is_refused(tmp_path, capsys):
    import subprocess
    import sys
    from gpugrad.commands.runs import lock_run_folder
    out = tmp_path / "busy"
    with lock_run_folder(str(out)):   # another run holds the folder (flock: per open file, so in-process too)
        for extra in ([], ["--force"]):
            assert main(["train", *FAST, "--epochs", "1", "--out", str(out), *extra]) == 2
            err = _err(capsys)
            assert f"--out {out} is in use: another gpugrad train is writing a run there" in err, err
        assert not (out / "checkpoint.npz").exists()
    assert main(["train", *FAST, "--epochs", "1", "--out", str(out)]) == 0   # released: usable
    assert main(["train", *FAST, "--epochs", "1", "--out", str(out), "--force"]) == 0   # and released again
    # A holder killed by SIGKILL leaves no lock behind (the OS drops it with the process).
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from gpugrad.commands.runs import "
                               "lock_run_folder as L; c = L(sys.argv[1]); c.__enter__(); print('held', "
                               "flush=True); time.sleep(60)", str(out)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    assert main(["train", *FAST, "--epochs", "1", "--out", str(out), "--force"]) == 2
    holder.kill()
    holder.wait()
    assert main(["train", *FAST, "--epochs", "1", "--out", str(out), "--force"]) == 0


def test_default_out_is_a_new_timestamped_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        assert main(["train", *FAST, "--epochs", "1"]) == 0
    made = sorted(os.listdir(tmp_path / "runs"))
    assert len(made) == 2 and made[0] != made[1]                    # two runs, two folders
    lines = capsys.readouterr().out.strip().splitlines()
    starts = [ln for ln in lines if ln.startswith("run folder: ")]
    assert [s.split(": ", 1)[1] for s in starts] == [os.path.join("runs", m) for m in made]
    assert lines[-1].endswith(f"run folder {os.path.join('runs', made[1])}")   # printed at the end too


def test_out_that_is_a_file_is_refused_before_work(tmp_path, capsys):
    f = tmp_path / "afile"
    f.write_text("x")
    assert main(["train", *FAST, "--out", str(f / "sub")]) == 2
    assert "is a file, so the folder cannot be made there" in _err(capsys)
    assert main(["train", *FAST, "--out", str(f)]) == 2
    assert "is a file, not a folder" in _err(capsys)


def test_a_failed_run_leaves_no_folder_behind(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", *FAST, "--data", "missing.csv"]) == 2
    assert not (tmp_path / "runs").exists()
    assert main(["train", *FAST, "--data", "missing.csv", "--out", "deep/er/run"]) == 2
    assert not (tmp_path / "deep").exists()


# -- labels ------------------------------------------------------------------------------------------------
def test_label_map_printed_and_stored(tmp_path, capsys):
    data = _csv(tmp_path / "l.csv")
    assert main(["train", *FAST, "--epochs", "1", "--data", str(data), "--out", str(tmp_path / "r")]) == 0
    assert "labels mapped to classes: -1 -> 0, 7 -> 1, 1000 -> 2" in capsys.readouterr().out
    ckpt = gg.load(tmp_path / "r" / "checkpoint.npz")
    assert ckpt["classes"].tolist() == [-1, 7, 1000] and ckpt["n_features"] == 3
    assert ckpt["data_source"]["path"] == str(data.resolve())

    assert main(["train", *FAST, "--epochs", "1", "--out", str(tmp_path / "d")]) == 0
    assert "labels mapped" not in capsys.readouterr().out           # the digits: identity, not printed


# -- resume by content -----------------------------------------------------------------------------------
def _cut_run(data, out, epochs=4, stop=2):
    def stop_after(epoch, metrics):
        if epoch == stop:
            raise KeyboardInterrupt
    cfg = TrainConfig(data=str(data), epochs=epochs, hidden=(8,), batch_size=16, lr=0.01, seed=2,
                      quiet=True, out=str(out))
    with pytest.raises(KeyboardInterrupt):
        train(cfg, log=lambda s: None, on_epoch_end=stop_after)


def test_resume_after_the_data_moved_is_bit_identical(tmp_path, monkeypatch, capsys):
    data = _csv(tmp_path / "orig.csv")
    straight = TrainConfig(data=str(data), epochs=4, hidden=(8,), batch_size=16, lr=0.01, seed=2,
                           quiet=True, out=str(tmp_path / "straight"))
    train(straight, log=lambda s: None)

    monkeypatch.chdir(tmp_path)
    _cut_run("orig.csv", tmp_path / "cut")                            # a relative path, as typed
    (tmp_path / "elsewhere").mkdir()
    moved = tmp_path / "elsewhere" / "renamed.csv"
    shutil.move(data, moved)
    monkeypatch.chdir(tmp_path / "elsewhere")

    assert main(["train", "--resume", str(tmp_path / "cut"), "--quiet"]) == 2  # the file is gone
    err = _err(capsys)
    assert "is not there any more" in err and "pass --data FILE" in err

    assert main(["train", "--resume", str(tmp_path / "cut"), "--data", "renamed.csv", "--quiet"]) == 0
    a, b = _weights(tmp_path / "straight" / "checkpoint.npz"), _weights(tmp_path / "cut" / "checkpoint.npz")
    assert all(np.array_equal(a[k], b[k]) for k in a)                 # bit-identical
    assert gg.load(tmp_path / "cut" / "checkpoint.npz")["data_source"]["path"] == str(moved)


def test_resume_from_another_working_directory_needs_no_data_flag(tmp_path, monkeypatch, capsys):
    _csv(tmp_path / "d.csv")
    monkeypatch.chdir(tmp_path)
    _cut_run("d.csv", tmp_path / "cut", epochs=3, stop=1)
    monkeypatch.chdir(tmp_path / "cut")
    assert main(["train", "--resume", ".", "--quiet"]) == 0            # found by its absolute path
    assert gg.load(tmp_path / "cut" / "checkpoint.npz")["epoch"] == 3


@pytest.mark.parametrize("change, said", [
    (dict(n=80), "80 rows instead of 90"),
    (dict(labels=(-1, 1000, 8)), "labels differ (new: 8; missing: 7)"),
    (dict(seed=1), "same rows, columns and labels, but different values"),
])
def test_resume_with_different_data_says_what_differs(tmp_path, capsys, change, said):
    data = _csv(tmp_path / "a.csv")
    _cut_run(data, tmp_path / "cut")
    other = _csv(tmp_path / "b.csv", **change)
    assert main(["train", "--resume", str(tmp_path / "cut"), "--data", str(other), "--quiet"]) == 2
    err = _err(capsys)
    assert f"was trained on {data}, but {other} holds different data" in err and said in err


def test_resume_with_other_columns_is_refused(tmp_path, capsys):
    data = _csv(tmp_path / "a.csv")
    _cut_run(data, tmp_path / "cut")
    wide = tmp_path / "wide.csv"
    np.savetxt(wide, np.column_stack([np.zeros((90, 4)), np.arange(90) % 2]), delimiter=",")
    assert main(["train", "--resume", str(tmp_path / "cut"), "--data", str(wide), "--quiet"]) == 2
    assert "4 feature columns instead of 3" in _err(capsys)


# -- extending a run ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("schedule", ["cosine", "step"])
def test_extend_a_finished_run_replans_the_schedule(tmp_path, capsys, schedule):
    base = [*FAST, "--schedule", schedule, "--seed", "1"]
    assert main(["train", *base, "--epochs", "4", "--out", str(tmp_path / "short")]) == 0
    assert main(["train", *base, "--epochs", "7", "--out", str(tmp_path / "long")]) == 0
    assert main(["train", "--resume", str(tmp_path / "short"), "--epochs", "7", "--quiet"]) == 0
    ext = gg.load(tmp_path / "short" / "checkpoint.npz")
    ref = gg.load(tmp_path / "long" / "checkpoint.npz")
    assert ext["epoch"] == 7 and ext["config"]["epochs"] == 7 and len(ext["history"]["loss"]) == 7
    # the added epochs run at the rates of a run planned for 7 epochs from the start
    assert ext["history"]["lr"][4:] == ref["history"]["lr"][4:]
    assert ext["history"]["lr"][:4] != ref["history"]["lr"][:4]
    capsys.readouterr()
    assert main(["train", "--resume", str(tmp_path / "short"), "--epochs", "3", "--quiet"]) == 2
    assert "would shorten it" in _err(capsys)


# -- thin splits -------------------------------------------------------------------------------------------
def test_tiny_split_is_warned_with_counts(tmp_path, capsys):
    tiny = tmp_path / "tiny.csv"
    tiny.write_text("0,0,1\n1,1,2\n0,1,1\n")
    assert main(["train", *FAST, "--epochs", "1", "--val-fraction", "0", "--data", str(tiny), "--out", str(tmp_path / "t")]) == 0
    out = capsys.readouterr().out
    assert "warning: the test set has only 1 sample(s) (train: 2)" in out
    assert "warning: 2 class(es) nearly empty after the split: 1 (1 train / 1 test), 2 (1 train / 0 test)" in out \
        or "warning: 2 class(es) nearly empty after the split: 1 (2 train / 0 test), 2 (0 train / 1 test)" in out


def test_split_warnings_unit():
    from gpugrad.commands.runs import split_warnings
    assert split_warnings(np.array([0, 1] * 40), np.array([0, 1] * 10), [0, 1]) == []
    w = split_warnings(np.array([0] * 40 + [1]), np.array([0] * 20), [5, 9])
    assert w == ["warning: 1 class(es) nearly empty after the split: 9 (1 train / 0 test)"]


# -- metrics per epoch ------------------------------------------------------------------------------------
def test_metrics_csv_per_epoch(tmp_path, capsys):
    out = tmp_path / "m"
    assert main(["train", *FAST, "--epochs", "3", "--out", str(out)]) == 0
    hist = gg.load(out / "checkpoint.npz")["history"]
    with open(out / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    for k in ("loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"):
        assert [float(r[k]) for r in rows] == hist[k], k          # exact: written with repr
    # resumed and extended: every epoch once
    assert main(["train", "--resume", str(out), "--epochs", "4", "--quiet"]) == 0
    with open(out / "metrics.csv", newline="") as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == [1, 2, 3, 4]


def test_tensorboard_events_when_tensorboardx_is_installed(tmp_path, capsys):
    pytest.importorskip("tensorboardX", reason="tensorboardX not installed: TensorBoard events are skipped")
    out = tmp_path / "tb"
    assert main(["train", *FAST, "--epochs", "2", "--out", str(out)]) == 0
    events = [f for f in os.listdir(out) if f.startswith("events.out.tfevents.")]
    assert len(events) == 1
    data = (out / events[0]).read_bytes()
    assert b"val_acc" in data and b"loss" in data
