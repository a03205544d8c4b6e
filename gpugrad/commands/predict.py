"""Using a trained run: load its model, read new data, predict in the user's own label values.

``gpugrad predict`` and ``gpugrad eval`` (``evaluate.py``) are built on these functions::

    from gpugrad.commands.predict import load_run, read_inputs, predict_proba, predict_values
    run = load_run("runs/iris")                      # a run folder (its best.npz) or a checkpoint file
    x, y = read_inputs("new.csv", run)               # y: None when the file has no label column
    proba = predict_proba(run, x)                    # classify: (N, C) float64; run.classes[argmax]
    values = predict_values(run, x)                  # regress: (N, T) in the label's units

Inputs: a .csv/.parquet with the run's feature columns by name, in any order, with or without the
label column; or an .npz with ``x`` (N, D) and optionally ``y``, by position. The run's schema
(gpugrad.data.schema) turns them into model inputs exactly as in training; labels are the user's
original values, mapped with the label map stored in the checkpoint.
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass

import numpy as np

from ..data import DataError
from ..data.schema import check_schema, encode_features, encode_labels
from ..data.tables import TABLE_EXTENSIONS, read_table
from ..npz_reader import NpzError, NpzReader
from .. import nn
from .train import BEST, TrainError, checkpoint_path, read_checkpoint, resolve_device, table_of_arrays
from .runs import file_kind
from ..grad_mode import no_grad
from ..tensor import tensor


@dataclass
class Run:
    """A trained model and what is needed to use it."""

    model: object            # gpugrad.nn.MLP, in eval mode, on ``device``
    classes: np.ndarray      # classify: (C,) the original label value of each class index (int or str)
    n_features: int
    checkpoint: str          # path of the checkpoint file
    folder: str              # the run's folder (where eval writes its picture)
    device: str
    epoch: int
    task: str = "classify"
    schema: dict | None = None


def load_run(path: str, device: str = "auto", flag: str = "RUN", which: str = "best") -> Run:
    """The model of a run folder (its ``best.npz``, or ``checkpoint.npz`` with ``which="last"`` or
    where the run has no best.npz) or of a checkpoint file, on ``device``.

    Raises TrainError (one line) for a missing/foreign file or a device that is not here.
    Older checkpoints without a stored label map get the identity map 0..C-1.
    """
    if which == "best" and os.path.isdir(path) and os.path.isfile(os.path.join(path, BEST)):
        path = os.path.join(path, BEST)
    ckpt_file = path if path.lower().endswith(".npz") and os.path.isfile(path) else checkpoint_path(path, flag)
    ckpt = read_checkpoint(ckpt_file, flag)
    dev = resolve_device(device)
    config, state = ckpt["config"], ckpt["model"]
    weights = [v for k, v in state.items() if k.endswith("weight")]
    if not weights:
        raise TrainError(f"{flag}: {ckpt_file} holds no model weights")
    n_in, n_out = int(weights[0].shape[1]), int(weights[-1].shape[0])
    schema = ckpt.get("schema")
    if schema is not None:
        try:
            check_schema(schema)
        except DataError as exc:
            raise TrainError(f"{flag}: {ckpt_file}: {exc}") from None
    task = schema["label"]["task"] if schema is not None else "classify"
    if task == "classify":
        classes = (np.asarray(schema["label"]["classes"], dtype=object if any(
            isinstance(c, str) for c in schema["label"]["classes"]) else np.int64)
            if schema is not None else np.asarray(ckpt.get("classes", np.arange(n_out)), dtype=np.int64))
        if len(classes) != n_out:
            raise TrainError(f"{flag}: {ckpt_file}: its label map has {len(classes)} classes but the model has "
                             f"{n_out} outputs")
    else:
        classes = np.asarray([], dtype=np.int64)
    model = nn.MLP([n_in, *config["hidden"], n_out], activation=config["activation"],
                   dropout=config["dropout"], device=dev)
    try:
        model.load_state_dict(state)
    except (RuntimeError, ValueError, KeyError) as exc:
        raise TrainError(f"{flag}: {ckpt_file} does not fit the model its settings describe: {exc}") from None
    model.eval()
    return Run(model=model, classes=classes, n_features=n_in, checkpoint=ckpt_file,
               folder=os.path.dirname(os.path.abspath(ckpt_file)), device=dev, epoch=int(ckpt["epoch"]),
               task=task, schema=schema)


def read_inputs(path: str, run: Run, header=None, delimiter=None, na_values=(), ignore=(), warn=None):
    """Model inputs (N, D) float32 and labels, or None when the file has no label column:
    class indices (N,) for a classifier, values in the file's units (N, T) for a regressor.

    A .csv/.parquet is matched with the run's schema by column name (any order; a missing, extra or
    retyped column is a one-line DataError naming it; an unseen category is read as missing, with a
    warning to ``warn``). An .npz's ``x`` is taken by position. Raises DataError with one line
    naming the file.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise DataError(f"--data {path} is a folder; give a data file (.csv, .parquet or .npz)")
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file")
    if not os.path.isfile(path):   # a FIFO or device: reading could block, and it is no data file
        raise DataError(f"--data {path} is {file_kind(path)}, not a regular file; give a .csv, .parquet or "
                        f".npz file")
    ext = os.path.splitext(path)[1].lower()
    schema = run.schema
    if schema is None:   # a checkpoint from before schemas: the model's D columns by position
        schema = {"features": [{"name": f"x{j + 1}", "kind": "numeric", "median": 0.0, "indicator": False}
                               for j in range(run.n_features)], "header": False, "array_file": True,
                  "label": {"names": ["y"], "task": "classify", "classes": run.classes.tolist()}}
    label_names = schema["label"]["names"]
    if ext == ".npz":
        x, y = _read_npz(path)
        table = table_of_arrays(path, x, None)
        d = len(schema["features"])
        numeric = all(f["kind"] == "numeric" for f in schema["features"])
        if table.numeric.shape[1] != d or not numeric:
            raise DataError(f"{path}: x has {table.numeric.shape[1]} columns, but the model takes {d} features"
                            + ("" if numeric else " (not all numeric: give a .csv or .parquet with the run's "
                               "columns by name)") + " (x's columns are the run's features in its order: "
                            + ", ".join(f["name"] for f in schema["features"][:8]) + ")")
        table.names = table.numeric_names = [f["name"] for f in schema["features"]]
        table.kinds = {n: "numeric" for n in table.names}
        if y is not None:
            table.label, table.label_name = np.asarray(y, dtype=np.float64), "y"
    elif ext in TABLE_EXTENSIONS and run.schema is None:
        table = _legacy_table(path, schema, header, delimiter, na_values, ignore)
    elif ext in TABLE_EXTENSIONS:
        expected = {"names": [f["name"] for f in schema["features"]],
                    "kinds": {f["name"]: f["kind"] for f in schema["features"]},
                    "header": schema.get("header", True)}
        table = read_table(path, label=label_names, header=header, delimiter=delimiter, na_values=na_values,
                           ignore=ignore, label_required=False, expected=expected, progress=False)
        if table.label is not None and len(label_names) > 1 and table.label.ndim == 1:
            raise DataError(f"{path}: the run has the label columns {label_names}, this file only some of them; "
                            f"give all or none")
    else:
        raise DataError(f"{path}: unsupported file type {ext or '(none)'!r}; use .csv, .parquet or .npz "
                        f"(array x, optional y)")
    if warn is not None:
        for note in table.notes:
            warn(note)
    x = encode_features(table, schema, warn=warn)
    if table.label is None:
        return x, None
    if schema["label"]["task"] == "classify":
        y, _ = encode_labels(table, "classify", classes=list(schema["label"]["classes"]))
        return x, y
    y = table.label.reshape(len(table), -1)
    if np.isnan(y).any():
        i = int(np.flatnonzero(np.isnan(y).any(axis=1))[0])
        raise DataError(f"{table.where(i, str(table.label_name))}: the label is empty; fill it in or remove "
                        f"the row (or the whole label column, to predict)")
    return x, y


def _legacy_table(path, schema, header, delimiter, na_values, ignore):
    """A table for a run from before schemas (no column names kept): the model's D numeric columns
    by position, and the label last when the file has D + 1 columns, as those runs read them."""
    d = len(schema["features"])
    opts = dict(header=header, delimiter=delimiter, na_values=na_values, ignore=ignore, progress=False)
    table = read_table(path, label=["(none)"], label_required=False, **opts)
    if len(table.names) == d + 1:
        table = read_table(path, label="-1", **opts)
    if len(table.names) != d or table.numeric.shape[1] != d:
        raise DataError(f"{path}: {len(table.names)} feature columns, but the model takes {d} numeric features: "
                        f"give {d} columns (no label) or {d + 1} (the label last)")
    table.names = table.numeric_names = [f["name"] for f in schema["features"]]
    table.kinds = {n: "numeric" for n in table.names}
    return table


def _read_npz(path):
    # Through NpzReader, as --data: regular files only, sizes checked before allocation, no pickle.
    try:
        with NpzReader(path) as f:
            if "x" not in f.files:
                raise DataError(f"{path}: missing array x; the .npz must hold 'x' (samples, features) and "
                                f"optionally 'y' (labels); it holds: "
                                f"{', '.join(k[:40] for k in f.files[:8]) or 'nothing'}")
            return f.read("x"), (f.read("y") if "y" in f.files else None)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except NpzError as exc:
        raise DataError(f"{path}: cannot read the .npz: {exc}") from None


def predict_values(run: Run, x: np.ndarray, batch: int = 4096) -> np.ndarray:
    """A regressor's predictions (N, T) in the label's original units (float64)."""
    out = _outputs(run, x, batch)
    lab = run.schema["label"]
    return out * np.asarray(lab["std"], np.float64) + np.asarray(lab["mean"], np.float64)


def _outputs(run, x, batch):
    out = []
    with no_grad(), np.errstate(all="ignore"):
        for i in range(0, len(x), batch):
            out.append(run.model(tensor(x[i:i + batch], device=run.device)).numpy().astype(np.float64))
    return np.concatenate(out) if out else np.zeros((0, 1))


def predict_proba(run: Run, x: np.ndarray, batch: int = 4096) -> np.ndarray:
    """Class probabilities (N, C) in float64 (softmax of the model's logits), on the run's device."""
    out = []
    with no_grad():
        for i in range(0, len(x), batch):
            logits = run.model(tensor(x[i:i + batch], device=run.device)).numpy().astype(np.float64)
            logits -= logits.max(axis=1, keepdims=True)
            e = np.exp(logits)
            out.append(e / e.sum(axis=1, keepdims=True))
    return np.concatenate(out) if out else np.zeros((0, len(run.classes)))


def write_predictions(path: str, classes: np.ndarray, proba: np.ndarray, labels=None, force: bool = False) -> str:
    """CSV: ``prediction`` (an original label value), ``p_<label>`` per class, and ``label`` when known.

    Refuses (DataError) an existing ``path`` unless ``force``. Written to a temporary file and
    renamed, so an interrupted write leaves no half file.
    """
    pred = classes[proba.argmax(axis=1)]
    header = ["prediction"] + [f"p_{c}" for c in classes] + (["label"] if labels is not None else [])
    rows = ([pred[i]] + [f"{p:.6g}" for p in proba[i]] + ([labels[i]] if labels is not None else [])
            for i in range(len(pred)))
    return _write_csv(path, header, rows, force)


def write_values(path: str, names: list, values: np.ndarray, labels=None, force: bool = False) -> str:
    """A regressor's CSV: ``prediction`` (one output) or ``prediction_<label>`` per output, and the
    true ``label`` (``label_<name>``) when the file had it."""
    pn = ["prediction"] if len(names) == 1 else [f"prediction_{n}" for n in names]
    ln = (["label"] if len(names) == 1 else [f"label_{n}" for n in names]) if labels is not None else []
    rows = ([f"{v:.9g}" for v in values[i]] + ([f"{v:.9g}" for v in labels[i]] if labels is not None else [])
            for i in range(len(values)))
    return _write_csv(path, pn + ln, rows, force)


def _write_csv(path, header, rows, force):
    if os.path.exists(path) and not force:
        raise DataError(f"--out {path} already exists; pass --force to replace it, or choose another --out")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    os.replace(tmp, path)
    return path
