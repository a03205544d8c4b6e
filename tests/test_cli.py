"""`gpugrad train` end to end: outputs (accuracy lines, loadable checkpoint, a real PNG, the
summary), determinism, resume == uninterrupted (bit-identical weights), and every bad-input
path giving one line on stderr with exit status 2."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import gpugrad as gg
from gpugrad.commands.cli import main
from gpugrad.commands.train import TrainConfig, train

SMALL = ["--epochs", "2", "--hidden", "16", "--batch-size", "128", "--lr", "0.01", "--quiet"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_train_end_to_end(device, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *SMALL, "--device", device, "--out", str(out)]) == 0
    stdout = capsys.readouterr().out.splitlines()
    epochs = [ln for ln in stdout if ln.startswith("epoch ")]
    assert len(epochs) == 2 and all("train acc" in ln and "val acc" in ln for ln in epochs)
    assert stdout[-1].startswith("done: 2 epochs, test acc ")
    acc = float(epochs[-1].split("val acc")[1].split("%")[0])
    assert acc > 50                                    # 2 short epochs already learn the digits

    ckpt = gg.load(out / "checkpoint.npz")
    assert ckpt["epoch"] == 2 and ckpt["config"]["hidden"] == [16]
    model = gg.nn.MLP([64, 16, 10])
    model.load_state_dict(ckpt["model"])
    assert len(ckpt["history"]["val_acc"]) == 2 and "test_acc" not in ckpt["history"]   # test: the end only
    assert ckpt["history"]["val_acc"][-1] == pytest.approx(acc / 100, abs=1e-4)

    png = out / "curves.png"
    assert png.read_bytes()[:8] == PNG_SIGNATURE
    import matplotlib.image
    img = matplotlib.image.imread(png)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    files = sorted(f for f in os.listdir(out) if not f.startswith("events.out.tfevents."))
    assert files == [".gpugrad-run.lock", "best.npz", "checkpoint.npz", "curves.png", "metrics.csv"]   # (+ events)


def test_python_dash_m_and_data_file(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((120, 3))
    y = (x[:, 0] + x[:, 1] > 0).astype(int) * 3 + 1          # labels 1 and 4
    csv = tmp_path / "mine.csv"
    np.savetxt(csv, np.column_stack([x, y]), delimiter=",", header="a,b,c,label", comments="")
    r = subprocess.run([sys.executable, "-m", "gpugrad", "train", "--data", str(csv), "--epochs", "3",
                        "--hidden", "8", "--lr", "0.01", "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "on mine.csv: 87 train / 9 val / 24 test samples" in r.stdout
    assert r.stdout.strip().splitlines()[-1].startswith("done: 3 epochs")
    assert r.stderr == ""                              # not a TTY: no progress bar


def _weights(path):
    return {k: v.numpy() for k, v in gg.load(path)["model"].items()}


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_resume_equals_uninterrupted(tmp_path, capsys, optimizer):
    args = ["--epochs", "4", "--hidden", "32,16", "--batch-size", "100", "--dropout", "0.2",
            "--optimizer", optimizer, "--weight-decay", "0.01", "--seed", "5", "--quiet"]
    assert main(["train", *args, "--out", str(tmp_path / "straight")]) == 0

    def stop_after_two(epoch, metrics):
        if epoch == 2:
            raise KeyboardInterrupt

    cfg = TrainConfig(epochs=4, hidden=(32, 16), batch_size=100, dropout=0.2, optimizer=optimizer,
                      weight_decay=0.01, seed=5, quiet=True, out=str(tmp_path / "cut"))
    with pytest.raises(KeyboardInterrupt):
        train(cfg, log=lambda s: None, on_epoch_end=stop_after_two)
    assert gg.load(tmp_path / "cut" / "checkpoint.npz")["epoch"] == 2
    assert (tmp_path / "cut" / "curves.png").exists()         # curves written even when interrupted
    capsys.readouterr()
    assert main(["train", "--resume", str(tmp_path / "cut" / "checkpoint.npz"), "--quiet"]) == 0
    assert "resuming from" in capsys.readouterr().out

    a, b = _weights(tmp_path / "straight" / "checkpoint.npz"), _weights(tmp_path / "cut" / "checkpoint.npz")
    assert list(a) == list(b)
    for k in a:
        assert np.array_equal(a[k], b[k]), k                     # bit-identical
    ha = gg.load(tmp_path / "straight" / "checkpoint.npz")["history"]
    hb = gg.load(tmp_path / "cut" / "checkpoint.npz")["history"]
    assert ha["loss"] == hb["loss"] and ha["val_acc"] == hb["val_acc"]


def test_same_seed_same_numbers_and_seed_matters(tmp_path, capsys):
    for name, seed in [("a", "1"), ("b", "1"), ("c", "2")]:
        assert main(["train", *SMALL, "--seed", seed, "--out", str(tmp_path / name)]) == 0
    a, b, c = (_weights(tmp_path / n / "checkpoint.npz") for n in "abc")
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not all(np.array_equal(a[k], c[k]) for k in a)


def test_finished_run_resumes_to_nothing(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["train", *SMALL, "--out", str(out)]) == 0
    before = _weights(out / "checkpoint.npz")
    assert main(["train", "--resume", str(out / "checkpoint.npz"), "--quiet"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("done: 2 epochs")
    after = _weights(out / "checkpoint.npz")
    assert all(np.array_equal(before[k], after[k]) for k in before)


def _bad_inputs(tmp_path):
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("".join(f"{i},2,{i % 2}\n" for i in range(12)) + "3,oops,1\n")
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip archive")
    no_y = tmp_path / "no_y.npz"
    np.savez(no_y, x=np.zeros((4, 2)))
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, w=np.zeros(3))
    gg.save({"something": 1}, tmp_path / "other.npz")
    scalar_x = tmp_path / "scalar_x.npz"
    np.savez(scalar_x, x=np.array(1.0), y=np.array([0, 1]))
    no_features = tmp_path / "no_features.npz"
    np.savez(no_features, x=np.zeros((10, 0)), y=np.array([0, 1] * 5))
    cases = [
        (["train", "--seed", "-1"], "--seed: expected a non-negative integer, got '-1'"),
        (["train", "--data", str(scalar_x)], "scalar_x.npz: x must be 2-D (samples, features)"),
        (["train", "--data", str(no_features)], "no_features.npz: x has no feature columns"),
        (["train", "--epochs", "0"], "--epochs: expected a positive integer, got '0'"),
        (["train", "--hidden", "12,x"], "--hidden: expected comma-separated layer sizes"),
        (["train", "--hidden", "0"], "layer sizes must be positive"),
        (["train", "--lr", "-1"], "--lr: expected a positive number"),
        (["train", "--dropout", "1"], "--dropout"),
        (["train", "--activation", "gelu"], "invalid choice: 'gelu'"),
        (["train", "--optimizer", "lbfgs"], "invalid choice: 'lbfgs'"),
        (["train", "--bogus"], "unrecognized arguments: --bogus"),
        (["fly"], "invalid choice: 'fly'"),
        (["train", "--data", str(tmp_path / "missing.csv")], "missing.csv: no such file"),
        (["train", "--data", str(bad_csv)], "bad.csv row 13, column '2': value 'oops' is not a number"),
        (["train", "--data", str(no_y)], "missing array(s) y"),
        (["train", "--resume", str(tmp_path / "none.npz")], "no such checkpoint"),
        (["train", "--resume", str(foreign)], "not a gpugrad checkpoint"),
        (["train", "--resume", str(bad_csv)], "bad.csv is not a checkpoint (those are checkpoint.npz files"),
        (["train", "--resume", str(garbage)], "not a readable gpugrad checkpoint"),
        (["train", "--resume", str(tmp_path)], "holds no checkpoint.npz; give a run folder or its checkpoint"),
        (["train", "--data", str(tmp_path)], "is a folder; give a data file"),
        (["train", "--resume", str(tmp_path / "other.npz")], "not a `gpugrad train` checkpoint"),
        ([], "usage"),
    ]
    return cases


def test_bad_arguments_one_line_exit_2(tmp_path, capsys):
    for argv, message in _bad_inputs(tmp_path):
        with pytest.raises(SystemExit) as e:
            code = main(argv + ["--quiet"] if argv and argv[0] == "train" else argv)
            raise SystemExit(code)
        assert e.value.code == 2, argv
        err = capsys.readouterr().err
        if argv:
            assert err.count("\n") == 1, (argv, err)
            assert message in err and "Traceback" not in err, (argv, err)
            assert err.startswith("gpugrad"), err


def test_resume_with_conflicting_settings(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["train", *SMALL, "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(out / "checkpoint.npz"), "--hidden", "32", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "was trained with --hidden 16 but --hidden 32 was given" in err and err.count("\n") == 1


def test_explicit_cuda_without_gpu(capsys, tmp_path):
    from gpugrad.commands.train import resolve_device
    try:
        resolve_device("cuda")
        pytest.skip("a CUDA device is available here")
    except ValueError:
        pass
    assert main(["train", *SMALL, "--device", "cuda", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--device cuda: no usable GPU here" in err and err.count("\n") == 1


def test_bad_data_file_subprocess_has_no_traceback(tmp_path):
    bad = tmp_path / "labels.csv"
    bad.write_text("a,b,label\n" + "1,2,0\n" * 11 + "3,x,1\n")
    r = subprocess.run([sys.executable, "-m", "gpugrad", "train", "--data", str(bad)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert "labels.csv row 13, column 'b': value 'x' is not a number" in r.stderr and "--na-values" in r.stderr


# -- the training step as a CUDA graph ----------------------------------------------------------------
def _history(cfg):
    result = train(cfg, log=lambda s: None)
    return result.history, {k: v.numpy() for k, v in result.model.state_dict().items()}


def test_graphed_training_gives_the_eager_numbers(device, tmp_path):
    """--graph on: the step through gg.cuda.graphed (eager on the CPU, captured on a GPU), rebuilt
    each epoch; the last batch of each epoch is ragged (1437 = 44 x 32 + 29) and runs eagerly."""
    base = dict(epochs=2, hidden=(16,), batch_size=32, optimizer="sgd", schedule="cosine", seed=3,
                quiet=True, device=device)
    h_eager, w_eager = _history(TrainConfig(**base, graph="off", out=str(tmp_path / "eager")))
    h_graph, w_graph = _history(TrainConfig(**base, graph="on", out=str(tmp_path / "graph")))
    tol = dict(rtol=0, atol=0) if device == "cpu" else dict(rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h_graph["loss"], h_eager["loss"], **tol)
    assert h_graph["lr"] == h_eager["lr"] and h_graph["lr"][0] != h_graph["lr"][1]
    for k in w_eager:
        np.testing.assert_allclose(w_graph[k], w_eager[k], **tol)


def test_graph_policy():
    from gpugrad.commands.train import TrainError, use_graph
    assert use_graph(TrainConfig(), "cuda") and use_graph(TrainConfig(graph="auto"), "cuda:0")
    assert not use_graph(TrainConfig(dropout=0.1), "cuda")        # a graph would freeze the mask
    assert not use_graph(TrainConfig(), "cpu")
    assert use_graph(TrainConfig(graph="on", dropout=0.1), "cpu")
    assert not use_graph(TrainConfig(graph="off"), "cuda")
    with pytest.raises(TrainError, match="--graph"):
        TrainConfig(graph="sometimes")


def test_failed_capture_falls_back_to_eager_once(tmp_path, monkeypatch):
    import gpugrad.cuda as gg_cuda

    made = []

    class CaptureFails:
        """gg.cuda.graphed's interface; its second call fails as a capture does, step unapplied."""

        def __init__(self, step, *inputs):
            self.step, self.static_inputs, self.calls = step, inputs, 0
            made.append(self)

        def __call__(self, *inputs):
            self.calls += 1
            if self.calls == 2:
                raise RuntimeError("graphed: capturing the step failed (cudaErrorStreamCaptureInvalidated)")
            return self.step(*inputs)

    monkeypatch.setattr(gg_cuda, "graphed", CaptureFails)
    base = dict(epochs=2, hidden=(16,), batch_size=64, optimizer="adam", seed=1, quiet=True)
    logs = []
    graphed = train(TrainConfig(**base, graph="on", out=str(tmp_path / "g")), log=logs.append)
    eager = train(TrainConfig(**base, graph="off", out=str(tmp_path / "e")), log=lambda s: None)
    assert graphed.history["loss"] == eager.history["loss"]
    assert sum("CUDA graph capture failed, training on eagerly" in line for line in logs) == 1
    assert len(made) == 1 and made[0].calls == 2        # not tried again in the second epoch
    assert main(["train", *SMALL, "--graph", "off", "--out", str(tmp_path / "cli")]) == 0


def test_the_train_flags_are_the_run_fields_less_the_two_the_cli_does_not_expose():
    # One list of a run's fields (train.RUN_FIELDS): the CLI reads them all from its arguments, so a
    # field added there without a flag (or a flag misspelt) shows up here, not as a silent default.
    from gpugrad.commands.cli import build_parser
    from gpugrad.commands.train import RUN_FIELDS
    args = build_parser().parse_args(["train"])
    assert {k for k in RUN_FIELDS if not hasattr(args, k)} == {"momentum", "test_fraction"}
    assert {"label", "task", "loss", "scale", "val_fraction", "patience", "header", "delimiter"} <= set(RUN_FIELDS)
