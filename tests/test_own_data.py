"""`gpugrad train/predict/eval` on tables made the ways users make them (pandas' to_csv with and
without its index, spreadsheet exports with ';', a decimal comma and a byte-order mark, numeric
headers, missing cells, string features and labels), one test per misbehaviour of issue 24's list
(each fails on the code before it), then the schema's matching at predict time."""
from __future__ import annotations

import csv

import numpy as np
import pytest

import gpugrad as gg
from gpugrad.commands.cli import main

pd = pytest.importorskip("pandas")

FAST = ["--epochs", "12", "--hidden", "16", "--lr", "0.02", "--batch-size", "16", "--quiet"]


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _frame(n=200, seed=0, numeric_label=False):
    """Four numeric features, a string label (or 0/1/2) decided by two of them."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"height": rng.normal(170, 10, n), "weight": rng.normal(70, 15, n),
                       "age": rng.integers(18, 90, n).astype(float), "score": rng.normal(0, 1, n)})
    z = (df.height - 170) / 10 + (df.weight - 70) / 15
    df["kind"] = np.where(z > 0.3, "tall", np.where(z < -0.3, "short", "mid"))
    if numeric_label:   # numbers: the code before issue 24 reads them, so its tests fail for their reason
        df["kind"] = df["kind"].map({"short": 0, "mid": 1, "tall": 2})
    return df


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("own")
    df = _frame(numeric_label=True)
    df.to_csv(d / "people.csv", index=False)
    assert main(["train", "--data", str(d / "people.csv"), *FAST, "--out", str(d / "run")]) == 0
    return d, df


# -- issue 24's list, one test each ----------------------------------------------------------------------
def test_reordered_columns_give_the_same_predictions(tmp_path):
    df = _frame(numeric_label=True)
    df.to_csv(tmp_path / "people.csv", index=False)
    assert main(["train", "--data", str(tmp_path / "people.csv"), *FAST, "--out", str(tmp_path / "run")]) == 0
    d = tmp_path
    feats = df.drop(columns="kind")
    feats.to_csv(tmp_path / "same.csv", index=False)
    feats[["score", "age", "weight", "height"]].to_csv(tmp_path / "shuffled.csv", index=False)
    for name in ("same", "shuffled"):
        assert main(["predict", str(d / "run"), "--data", str(tmp_path / f"{name}.csv"),
                     "--out", str(tmp_path / f"p_{name}.csv")]) == 0
    a, b = _rows(tmp_path / "p_same.csv"), _rows(tmp_path / "p_shuffled.csv")
    assert a == b and len(a) == len(df)


def test_pandas_index_column_is_dropped_with_a_note(tmp_path, capsys):
    df = _frame(numeric_label=True)
    df.to_csv(tmp_path / "with_index.csv")                 # pandas' default: the index first, unnamed
    assert main(["train", "--data", str(tmp_path / "with_index.csv"), *FAST, "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "dropped the first column 'Unnamed: 0'" in out and "it is a row index" in out
    ckpt = gg.load(tmp_path / "r" / "checkpoint.npz")
    assert ckpt["n_features"] == 4 and [f["name"] for f in ckpt["schema"]["features"]] == \
        ["height", "weight", "age", "score"]
    # an index that is a named column of 0..n-1 (to_csv(index_label="id")) or written without a header
    df.to_csv(tmp_path / "named.csv", index_label="id")
    table = gg.data.tables.read_table(tmp_path / "named.csv", progress=False)
    assert table.index_column == "id" and table.names == ["height", "weight", "age", "score"]
    df.to_csv(tmp_path / "bare.csv", header=False)
    table = gg.data.tables.read_table(tmp_path / "bare.csv", progress=False)
    assert table.index_column == "1" and len(table.names) == 4 and len(table) == len(df)


def test_numeric_header_is_not_a_data_row(tmp_path, capsys):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((120, 8))
    df = pd.DataFrame(np.column_stack([x, (x[:, 0] > 0).astype(int)]))   # columns 0..8: a numeric header
    df.to_csv(tmp_path / "numeric_header.csv", index=False)
    assert open(tmp_path / "numeric_header.csv").readline().strip() == "0,1,2,3,4,5,6,7,8"
    assert main(["train", "--data", str(tmp_path / "numeric_header.csv"), *FAST, "--out", str(tmp_path / "r")]) == 0
    ckpt = gg.load(tmp_path / "r" / "checkpoint.npz")
    assert ckpt["classes"].tolist() == [0, 1] and ckpt["data_source"]["rows"] == 120   # no phantom class 8
    assert ckpt["schema"]["header"] is True
    # --no-header says the opposite (then the first row is data: a third class "8"... refused as text)
    table = gg.data.tables.read_table(tmp_path / "numeric_header.csv", header=False, progress=False)
    assert len(table) == 121


def test_float_target_regresses_and_beats_nothing(tmp_path, capsys):
    from sklearn.datasets import load_diabetes
    df = load_diabetes(as_frame=True, scaled=False).frame        # target: float 25.0 .. 346.0
    df.to_csv(tmp_path / "diabetes.csv", index=False)
    assert main(["train", "--data", str(tmp_path / "diabetes.csv"), "--epochs", "60", "--hidden", "32",
                 "--lr", "0.003", "--quiet", "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "task: regression of 'target'" in out
    epoch_lines = [ln for ln in out.splitlines() if ln.startswith("epoch ")]
    assert all("train RMSE" in ln and "R^2" in ln and "val RMSE" in ln for ln in epoch_lines)
    done = out.strip().splitlines()[-1]
    r2 = float(done.split("R^2 ")[1].split(" ")[0])
    assert done.startswith("done: ") and "test RMSE" in done and r2 > 0.3, done
    ckpt = gg.load(tmp_path / "r" / "best.npz")
    assert ckpt["schema"]["label"]["task"] == "regress" and ckpt["n_features"] == 10
    assert "classes" not in ckpt


def test_integer_target_with_many_values_asks_for_the_task(tmp_path, capsys):
    from sklearn.datasets import load_diabetes
    df = load_diabetes(as_frame=True, scaled=False).frame
    df["target"] = df["target"].astype(int)                   # 214 distinct whole numbers in 442 rows
    df.to_csv(tmp_path / "int_target.csv", index=False)
    assert main(["train", "--data", str(tmp_path / "int_target.csv"), *FAST, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "214 distinct whole numbers in 442 rows" in err and "--task regress" in err
    assert main(["train", "--data", str(tmp_path / "int_target.csv"), *FAST, "--task", "regress",
                 "--out", str(tmp_path / "r")]) == 0


def test_features_are_standardised_on_the_training_split(tmp_path):
    from sklearn.datasets import load_breast_cancer
    df = load_breast_cancer(as_frame=True).frame
    df.to_csv(tmp_path / "bc.csv", index=False)
    cfg = dict(data=str(tmp_path / "bc.csv"), epochs=2, hidden=(8,), quiet=True)
    from gpugrad.commands.train import TrainConfig, prepare_data
    p = prepare_data(TrainConfig(**cfg))
    assert np.allclose(p.x_tr.mean(axis=0), 0, atol=1e-4) and np.allclose(p.x_tr.std(axis=0), 1, atol=1e-3)
    assert np.abs(p.x_te.mean(axis=0)).max() > 1e-3            # the test split's own stats were not used
    feats = p.schema["features"]
    assert feats[0]["name"] == "mean radius" and feats[0]["std"] > 0
    raw = prepare_data(TrainConfig(**cfg, scale=False))
    assert "mean" not in raw.schema["features"][0] and raw.x_tr[:, 3].max() > 100   # --no-scale: area raw


def test_string_labels_and_string_features(tmp_path, capsys):
    rng = np.random.default_rng(2)
    n = 240
    colour = rng.choice(["red", "green", "blue"], n)
    size = rng.normal(0, 1, n)
    animal = np.where((colour == "red") | (size > 1), "cat", "dog")
    pd.DataFrame({"colour": colour, "size": size, "animal": animal}).to_csv(tmp_path / "pets.csv", index=False)
    assert main(["train", "--data", str(tmp_path / "pets.csv"), *FAST, "--out", str(tmp_path / "r")]) == 0
    assert "labels mapped to classes: cat -> 0, dog -> 1" in capsys.readouterr().out
    ckpt = gg.load(tmp_path / "r" / "best.npz")
    assert ckpt["schema"]["features"][0] == {"name": "colour", "kind": "categorical",
                                             "categories": ["blue", "green", "red"], "missing": False}
    assert ckpt["n_features"] == 4                              # one-hot colour (3) + size
    assert main(["predict", str(tmp_path / "r"), "--data", str(tmp_path / "pets.csv"),
                 "--out", str(tmp_path / "p.csv")]) == 0
    rows = _rows(tmp_path / "p.csv")
    assert list(rows[0]) == ["prediction", "p_cat", "p_dog", "label"]
    assert {r["prediction"] for r in rows} <= {"cat", "dog"}
    assert np.mean([r["prediction"] == r["label"] for r in rows]) > 0.8


def test_semicolon_spreadsheet_with_bom_decimal_comma_and_missing_cells(tmp_path, capsys):
    df = _frame(160)
    df.loc[[3, 50, 77], "weight"] = np.nan
    text = df.to_csv(sep=";", decimal=",", index=False)
    (tmp_path / "excel.csv").write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert text.splitlines()[1].count(",") >= 3                # decimal commas in the data
    assert main(["train", "--data", str(tmp_path / "excel.csv"), *FAST, "--out", str(tmp_path / "r")]) == 0
    schema = gg.load(tmp_path / "r" / "best.npz")["schema"]
    assert schema["delimiter"] == ";" and [f["name"] for f in schema["features"]][0] == "height"   # BOM gone
    weight = schema["features"][1]
    assert weight["indicator"] is True and 50 < weight["median"] < 90    # imputed, with a missing column
    from gpugrad.data.schema import encoded_names
    assert encoded_names(schema)[:3] == ["height", "weight", "weight (missing)"]


def test_errors_name_file_row_column_value_and_the_fix(tmp_path):
    from gpugrad.data import DataError
    from gpugrad.data.tables import read_table
    df = _frame(30)
    df["age"] = df["age"].astype(object)
    df.loc[7, "age"] = "?"                                     # file row 9 (row 1 is the header)
    df.to_csv(tmp_path / "q.csv", index=False)
    with pytest.raises(DataError) as e:
        read_table(tmp_path / "q.csv", progress=False)
    msg = str(e.value)
    assert msg.startswith(f"{tmp_path / 'q.csv'} row 9, column 'age': value '?' is not a number")
    assert "--na-values '?'" in msg and "\n" not in msg
    t = read_table(tmp_path / "q.csv", na_values=["?"], progress=False)
    assert np.isnan(t.numeric[7, t.numeric_names.index("age")])


def test_best_epoch_is_chosen_on_validation_and_kept(run):
    d, _ = run
    last, best = gg.load(d / "run" / "checkpoint.npz"), gg.load(d / "run" / "best.npz")
    h = last["history"]
    assert "test_acc" not in h and len(h["val_acc"]) == 12
    keys = [(-a, l) for a, l in zip(h["val_acc"], h["val_loss"])]
    assert best["epoch"] == min(range(12), key=lambda i: keys[i]) + 1 == last["best_epoch"]
    assert last["epoch"] == 12


# -- the rest of the issue ---------------------------------------------------------------------------------
def test_predict_refuses_missing_extra_and_retyped_columns_in_one_line(run, tmp_path, capsys):
    d, df = run
    cases = {
        "missing": (df.drop(columns=["kind", "age"]), "column 'age' is missing"),
        "extra": (df.assign(shoe=1.0), "column 'shoe' was not among the run's features"),
        "retyped": (df.assign(age=["old"] * len(df)), "row 2, column 'age': value 'old' is not a number"),
    }
    for name, (frame, said) in cases.items():
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
        assert main(["predict", str(d / "run"), "--data", str(tmp_path / f"{name}.csv"),
                     "--out", str(tmp_path / f"{name}-p.csv")]) == 2, name
        err = capsys.readouterr().err
        assert said in err and err.count("\n") == 1, err
    df.drop(columns="kind").to_csv(tmp_path / "noheader.csv", index=False, header=False)
    assert main(["predict", str(d / "run"), "--data", str(tmp_path / "noheader.csv")]) == 2
    assert "no header row, but the run was trained on a file with one" in capsys.readouterr().err
    # --ignore leaves an extra column out
    df.assign(shoe=1.0).to_csv(tmp_path / "extra2.csv", index=False)
    assert main(["predict", str(d / "run"), "--data", str(tmp_path / "extra2.csv"), "--ignore", "shoe",
                 "--out", str(tmp_path / "x.csv")]) == 0


def test_unknown_category_is_missing_with_a_warning(tmp_path, capsys):
    rng = np.random.default_rng(3)
    n = 200
    colour = rng.choice(["red", "blue"], n).astype(object)
    colour[:10] = None                                        # a "missing" category exists
    y = np.where(colour == "red", "a", "b")
    pd.DataFrame({"colour": colour, "v": rng.normal(size=n), "y": y}).to_csv(tmp_path / "c.csv", index=False)
    assert main(["train", "--data", str(tmp_path / "c.csv"), *FAST, "--out", str(tmp_path / "r")]) == 0
    capsys.readouterr()
    pd.DataFrame({"v": [0.1, 0.2, 0.3], "colour": ["purple", np.nan, "purple"]}).to_csv(tmp_path / "new.csv",
                                                                                   index=False)
    assert main(["predict", str(tmp_path / "r"), "--data", str(tmp_path / "new.csv"),
                 "--out", str(tmp_path / "p.csv")]) == 0
    err = capsys.readouterr().err
    # the first row and how many rows in all (a new user's 20 rows of an unseen category named one)
    assert "row 2, column 'colour': category 'purple' was not in the training data (2 row(s)); read as missing" in err
    rows = _rows(tmp_path / "p.csv")
    assert rows[0]["p_a"] == rows[1]["p_a"] or abs(float(rows[0]["p_a"]) - float(rows[1]["p_a"])) < 0.2


def test_regression_predict_and_eval(tmp_path, capsys):
    rng = np.random.default_rng(4)
    x = rng.uniform(-2, 2, (400, 3))
    price = 1000 + 300 * x[:, 0] - 200 * x[:, 1] ** 2 + rng.normal(0, 20, 400)
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "price": price}).to_csv(tmp_path / "h.csv", index=False)
    assert main(["train", "--data", str(tmp_path / "h.csv"), "--epochs", "40", "--hidden", "32", "--lr", "0.01",
                 "--loss", "huber", "--quiet", "--out", str(tmp_path / "r")]) == 0
    capsys.readouterr()
    pd.DataFrame({"c": x[:5, 2], "b": x[:5, 1], "a": x[:5, 0]}).to_csv(tmp_path / "new.csv", index=False)
    assert main(["predict", str(tmp_path / "r"), "--data", str(tmp_path / "new.csv"),
                 "--out", str(tmp_path / "p.csv")]) == 0
    rows = _rows(tmp_path / "p.csv")
    assert list(rows[0]) == ["prediction"] and len(rows) == 5
    pred = np.array([float(r["prediction"]) for r in rows])
    assert np.abs(pred - price[:5]).max() < 250                 # in dollars, not standardised units
    assert main(["eval", str(tmp_path / "r"), "--data", str(tmp_path / "h.csv")]) == 0
    out = capsys.readouterr().out
    r2 = float(out.split("R^2 ")[1].split()[0])
    assert "RMSE" in out and "MAE" in out and r2 > 0.8
    png = tmp_path / "r" / "regression-h.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_regression_metrics_match_sklearn():
    sk = pytest.importorskip("sklearn.metrics")
    from gpugrad.commands.train import regression_metrics
    rng = np.random.default_rng(5)
    t, p = rng.normal(size=50), rng.normal(size=50)
    m = regression_metrics(t, p)
    assert m["rmse"] == pytest.approx(np.sqrt(sk.mean_squared_error(t, p)))
    assert m["mae"] == pytest.approx(sk.mean_absolute_error(t, p))
    assert m["r2"] == pytest.approx(sk.r2_score(t, p))


def test_patience_stops_early(tmp_path, capsys):
    df = _frame(120)
    df.to_csv(tmp_path / "d.csv", index=False)
    assert main(["train", "--data", str(tmp_path / "d.csv"), "--epochs", "200", "--hidden", "16", "--lr", "0.05",
                 "--patience", "3", "--quiet", "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    ckpt = gg.load(tmp_path / "r" / "checkpoint.npz")
    assert "early stop" in out and ckpt["epoch"] < 200
    assert ckpt["epoch"] - ckpt["best_epoch"] == 3


def test_label_by_name_or_position_and_delimiter_override(tmp_path):
    from gpugrad.data.tables import read_table
    df = _frame(40)[["kind", "height", "weight"]]
    df.to_csv(tmp_path / "t.tsv", sep="\t", index=False)
    by_name = read_table(tmp_path / "t.tsv", label="kind", progress=False)
    by_pos = read_table(tmp_path / "t.tsv", label="1", progress=False)
    assert by_name.delimiter == "\t" and by_name.label_name == by_pos.label_name == "kind"
    assert by_name.names == ["height", "weight"]
    df.to_csv(tmp_path / "pipe.csv", sep="|", index=False)
    t = read_table(tmp_path / "pipe.csv", delimiter="|", label="-1", progress=False)
    assert t.label_name == "weight"


def test_quoted_fields_with_delimiters_inside(tmp_path):
    from gpugrad.data.tables import read_table
    (tmp_path / "q.csv").write_text('name,x,y\n"Smith, J",1.5,a\n"Doe, ""Jo""",2.5,b\n"Roe, K",3.5,a\n')
    t = read_table(tmp_path / "q.csv", progress=False)
    assert t.text["name"].tolist() == ["Smith, J", 'Doe, "Jo"', "Roe, K"] and t.numeric[:, 0].tolist() == [1.5, 2.5, 3.5]


def test_parquet_trains_like_the_csv(tmp_path):
    pytest.importorskip("pyarrow")
    from gpugrad.commands.train import TrainConfig, prepare_data
    df = _frame()
    df.to_csv(tmp_path / "d.csv", index=False)
    df.to_parquet(tmp_path / "d.parquet")
    a = prepare_data(TrainConfig(data=str(tmp_path / "d.csv")))
    b = prepare_data(TrainConfig(data=str(tmp_path / "d.parquet")))
    assert a.classes == b.classes and np.allclose(a.x_tr, b.x_tr, atol=1e-6)
    assert main(["train", "--data", str(tmp_path / "d.parquet"), *FAST, "--out", str(tmp_path / "r")]) == 0
    assert main(["predict", str(tmp_path / "r"), "--data", str(tmp_path / "d.csv"),
                 "--out", str(tmp_path / "p.csv")]) == 0     # a Parquet run predicts a CSV by name
    df.set_index(np.arange(len(df)) + 5).to_parquet(tmp_path / "idx.parquet")  # index stored as a column
    assert prepare_data(TrainConfig(data=str(tmp_path / "idx.parquet"))).x_tr.shape[1] == 4


def test_progress_line_while_reading(tmp_path):
    from gpugrad.data.tables import read_table
    _frame(300).to_csv(tmp_path / "d.csv", index=False)
    seen = []
    read_table(tmp_path / "d.csv", progress=lambda done, rows, final=False: seen.append((done, rows, final)))
    assert seen[-1][2] and seen[-1][1] == 300 and seen[-1][0] == (tmp_path / "d.csv").stat().st_size
    import io
    from gpugrad.data.tables import _progress_printer
    buf = io.StringIO()
    report = _progress_printer("big.csv", 1000, buf)
    report(1000, 5, final=True)
    assert buf.getvalue().startswith("reading big.csv: 100.0% of") and "5 rows" in buf.getvalue()


def test_train_help_groups_the_new_options(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    for flag in ("--label", "--header", "--no-header", "--delimiter", "--na-values", "--ignore", "--task",
                 "--loss", "--no-scale", "--val-fraction", "--patience"):
        assert flag in out, flag
    assert "your data (.csv/.tsv/.parquet):" in out and "task and model selection:" in out


def test_a_run_without_a_schema_still_predicts_by_position(tmp_path):
    """Checkpoints from before schemas (no column names) read a CSV's D columns by position, with the
    label last when there are D + 1, as they did."""
    df = _frame(120, numeric_label=True)
    df.to_csv(tmp_path / "d.csv", index=False)
    assert main(["train", "--data", str(tmp_path / "d.csv"), *FAST, "--no-scale", "--out", str(tmp_path / "r")]) == 0
    assert main(["predict", str(tmp_path / "r"), "--data", str(tmp_path / "d.csv"), "--out", str(tmp_path / "a.csv")]) == 0
    for name in ("best.npz", "checkpoint.npz"):
        ckpt = gg.load(tmp_path / "r" / name)
        del ckpt["schema"]
        gg.save(ckpt, tmp_path / "r" / name)
    df.drop(columns="kind").to_csv(tmp_path / "x.csv", index=False, header=False)
    for data, out in (("d.csv", "b.csv"), ("x.csv", "c.csv")):
        assert main(["predict", str(tmp_path / "r"), "--data", str(tmp_path / data), "--out", str(tmp_path / out)]) == 0
    a, b, c = (_rows(tmp_path / n) for n in ("a.csv", "b.csv", "c.csv"))
    assert [r["prediction"] for r in a] == [r["prediction"] for r in b] == [r["prediction"] for r in c]
