"""`gpugrad predict` and `gpugrad eval`: the label map round trip (train on labels {-1, 7, 1000},
predict in those labels, with or without a label column), probabilities that are the model's
softmax, eval's accuracy / precision / recall against scikit-learn, a real confusion-matrix PNG,
output paths checked before the work, and the bad-input table (one line, exit status 2)."""
from __future__ import annotations

import csv

import numpy as np
import pytest

import gpugrad as gg
from gpugrad.commands.cli import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LABELS = (-1, 7, 1000)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run trained on a CSV whose labels are -1, 7, 1000; plus the data as x and original y."""
    d = tmp_path_factory.mktemp("pe")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((150, 3)).astype(np.float32)
    y = np.asarray(LABELS)[np.digitize(x[:, 0] + x[:, 1], [-0.5, 0.5])]
    data = d / "train.csv"
    np.savetxt(data, np.column_stack([x, y]), delimiter=",", fmt=["%.9g"] * 3 + ["%d"])
    assert main(["train", "--data", str(data), "--epochs", "15", "--hidden", "16", "--lr", "0.02",
                 "--batch-size", "16", "--quiet", "--out", str(d / "run")]) == 0
    return d, x, y


def _read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _model_proba(run_dir, x, name="best.npz"):
    ckpt = gg.load(run_dir / name)
    model = gg.nn.MLP([3, 16, 3])
    model.load_state_dict(ckpt["model"])
    model.eval()
    feats = ckpt["schema"]["features"]          # standardised with the training split's statistics
    xs = ((x - [f["mean"] for f in feats]) / [f["std"] for f in feats]).astype(np.float32)
    with gg.no_grad():
        logits = model(gg.tensor(xs)).numpy().astype(np.float64)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_predict_maps_back_to_the_original_labels(trained, tmp_path, capsys):
    d, x, y = trained
    nolab = tmp_path / "new.csv"
    np.savetxt(nolab, x[:20], delimiter=",", fmt="%.9g")
    out = tmp_path / "preds.csv"
    assert main(["predict", str(d / "run"), "--data", str(nolab), "--out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    rows = _read(out)
    assert list(rows[0]) == ["prediction", "p_-1", "p_7", "p_1000"] and len(rows) == 20
    proba = np.array([[float(r[f"p_{c}"]) for c in LABELS] for r in rows])
    np.testing.assert_allclose(proba, _model_proba(d / "run", x[:20]), rtol=1e-5)
    pred = np.array([int(r["prediction"]) for r in rows])
    assert np.array_equal(pred, np.asarray(LABELS)[proba.argmax(axis=1)])
    assert set(pred) <= set(LABELS) and (pred == y[:20]).mean() > 0.7     # learned, in user labels

    # the same samples with their label column, as an .npz, and through the checkpoint file
    lab = tmp_path / "lab.npz"
    np.savez(lab, x=x[:20], y=y[:20])
    assert main(["predict", str(d / "run" / "best.npz"), "--data", str(lab), "--out",
                 str(tmp_path / "p2.csv")]) == 0
    assert "accuracy" in capsys.readouterr().out
    rows2 = _read(tmp_path / "p2.csv")
    assert [r["prediction"] for r in rows2] == [r["prediction"] for r in rows]
    assert [int(r["label"]) for r in rows2] == y[:20].tolist()


def test_predict_default_out_is_in_the_run_folder(trained, capsys):
    d, x, y = trained
    assert main(["predict", str(d / "run"), "--data", str(d / "train.csv")]) == 0
    rows = _read(d / "run" / "predictions-train.csv")
    assert len(rows) == 150 and [int(r["label"]) for r in rows] == y.tolist()


def test_eval_metrics_match_sklearn_and_png(trained, capsys):
    sk = pytest.importorskip("sklearn.metrics", reason="scikit-learn gives the reference metrics")
    d, x, y = trained
    assert main(["eval", str(d / "run"), "--data", str(d / "train.csv")]) == 0
    out = capsys.readouterr().out
    pred = np.asarray(LABELS)[_model_proba(d / "run", x).argmax(axis=1)]
    assert f"accuracy {100 * sk.accuracy_score(y, pred):.2f}%" in out
    prec, rec, _, support = sk.precision_recall_fscore_support(y, pred, labels=list(LABELS), zero_division=0)
    for i, c in enumerate(LABELS):
        line = next(ln for ln in out.splitlines() if ln.split() and ln.split()[0] == str(c))
        assert line.split() == [str(c), f"{100 * prec[i]:.2f}%", f"{100 * rec[i]:.1f}%", str(support[i])]
    png = d / "run" / "confusion-train.png"
    assert png.read_bytes()[:8] == PNG_SIGNATURE
    import matplotlib.image
    img = matplotlib.image.imread(png)
    assert img.ndim == 3 and min(img.shape[:2]) > 200


def test_confusion_matrix_and_report_units():
    from gpugrad.commands.evaluate import class_report, confusion_matrix
    cm = confusion_matrix(np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 2, 0]), 4)
    assert cm.tolist() == [[1, 1, 0, 0], [0, 1, 0, 0], [1, 0, 2, 0], [0, 0, 0, 0]]
    r = class_report(cm)
    assert r["accuracy"] == pytest.approx(4 / 6)
    np.testing.assert_allclose(r["precision"], [0.5, 0.5, 1.0, 0.0])   # class 3 never predicted: 0
    np.testing.assert_allclose(r["recall"], [0.5, 1.0, 2 / 3, 0.0])


def test_output_paths_are_checked_before_the_work(trained, tmp_path, capsys, monkeypatch):
    d, x, y = trained
    import gpugrad.commands.predict as P
    monkeypatch.setattr(P, "predict_proba", lambda *a, **k: pytest.fail("predicted before checking --out"))
    afile = tmp_path / "afile"
    afile.write_text("")
    for cmd, out, said in [("predict", tmp_path, "is a folder; give a file path"),
                           ("predict", afile / "p.csv", "is a file, not a folder"),
                           ("eval", afile / "c.png", "is a file, not a folder")]:
        assert main([cmd, str(d / "run"), "--data", str(d / "train.csv"), "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"gpugrad {cmd}: error: --out") and said in err and err.count("\n") == 1


def test_outputs_that_would_destroy_an_input_or_the_run_are_refused(trained, tmp_path, capsys):
    import os
    d, x, y = trained
    run = d / "run"
    data = tmp_path / "data.csv"
    data.write_bytes((d / "train.csv").read_bytes())
    link = tmp_path / "link.csv"
    os.symlink(data, link)
    guarded = {p: p.read_bytes() for p in (data, run / "checkpoint.npz", run / "best.npz", run / "metrics.csv",
                                           run / "curves.png")}
    cases = [("predict", data, "is the same file as --data"),
             ("predict", link, "is the same file as --data"),          # through a link
             ("eval", data, "is the same file as --data"),
             ("predict", run / "best.npz", "the same file as the checkpoint"),
            ("predict", run / "checkpoint.npz", "is a file of the run"),
             ("predict", run / "metrics.csv", "is a file of the run"),
             ("eval", run / "curves.png", "is a file of the run"),
             ("eval", run / "predictions-train.csv", "is a file of the run")]   # predict's, not eval's
    (run / "predictions-train.csv").write_text("prediction\n")
    if hasattr(os, "mkfifo"):
        fifo, fifo_data = tmp_path / "out.csv", tmp_path / "in.csv"
        os.mkfifo(fifo)
        os.mkfifo(fifo_data)
        cases.append(("predict", fifo, "is a FIFO (named pipe), not a regular file"))
    for cmd, out, said in cases:
        assert main([cmd, str(run), "--data", str(data), "--out", str(out)]) == 2, (cmd, out)
        err = capsys.readouterr().err
        assert err.startswith(f"gpugrad {cmd}: error: --out") and said in err and err.count("\n") == 1, err
    assert {p: p.read_bytes() for p in guarded} == guarded
    if hasattr(os, "mkfifo"):
        assert os.path.exists(fifo) and not os.path.isfile(fifo)      # still the FIFO
        for cmd in ("predict", "eval"):
            assert main([cmd, str(run), "--data", str(fifo_data)]) == 2
            err = capsys.readouterr().err
            assert "is a FIFO (named pipe), not a regular file" in err and "no such file" not in err, err
    # The command's own outputs may be rewritten: the default names, and its files named explicitly.
    assert main(["predict", str(run), "--data", str(data), "--out", str(run / "predictions-mine.csv")]) == 0
    # ... but not silently: an existing predictions file is refused without --force
    assert main(["predict", str(run), "--data", str(data), "--out", str(run / "predictions-mine.csv")]) == 2
    assert "already exists; pass --force" in capsys.readouterr().err
    assert main(["predict", str(run), "--data", str(data), "--out", str(run / "predictions-mine.csv"),
                 "--force"]) == 0


def _bad_inputs(d, tmp):
    wrong_cols = tmp / "wrong.csv"
    wrong_cols.write_text("1,2,3,4,5\n")
    unknown = tmp / "unknown.csv"
    unknown.write_text("0,0,0,5\n0,0,0,7\n")
    nan = tmp / "nan.csv"
    nan.write_text("0,inf,0\n")
    no_x = tmp / "no_x.npz"
    np.savez(no_x, y=np.zeros(3))
    txt = tmp / "data.txt"
    txt.write_text("1,2,3\n")
    foreign = tmp / "foreign.npz"
    np.savez(foreign, w=np.zeros(3))
    run, data = str(d / "run"), str(d / "train.csv")
    rows = []
    for cmd in ("predict", "eval"):
        rows += [
            ([cmd, run, "--data", str(tmp / "missing.csv")], "missing.csv: no such file"),
            ([cmd, run, "--data", str(tmp)], "is a folder; give a data file"),
            ([cmd, run, "--data", str(wrong_cols)], "column '5' was not among the run's features"),
            ([cmd, run, "--data", str(unknown)], "label 5 was not among the run's classes"),
            ([cmd, run, "--data", str(nan)], "does not fit float32"),
            ([cmd, run, "--data", str(no_x)], "missing array x"),
            ([cmd, run, "--data", str(txt)], "unsupported file type '.txt'"),
            ([cmd, str(tmp / "nothing"), "--data", data], "no such checkpoint"),
            ([cmd, str(tmp), "--data", data], "holds no checkpoint.npz"),
            ([cmd, str(foreign), "--data", data], "not a gpugrad checkpoint"),
            ([cmd, str(wrong_cols), "--data", data], "is not a checkpoint"),
            ([cmd, run], "the following arguments are required: --data"),
            ([cmd, run, "--data", data, "--bogus"], f"unrecognized arguments: --bogus (see gpugrad {cmd} --help)"),
        ]
    nolab = tmp / "nolab.csv"
    nolab.write_text("0,0,0\n")
    rows.append((["eval", run, "--data", str(nolab)], "no label column"))
    return rows


def test_bad_inputs_one_line_exit_2(trained, tmp_path, capsys):
    d, _, _ = trained
    for argv, message in _bad_inputs(d, tmp_path):
        with pytest.raises(SystemExit) as e:
            raise SystemExit(main(argv))
        assert e.value.code == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err and "Traceback" not in err, (argv, err)
        assert err.startswith(f"gpugrad {argv[0]}: error: "), err


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"gpugrad {gg.__version__}"
