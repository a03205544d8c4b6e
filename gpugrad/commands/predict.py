"""Using a trained run: load its model, read new data, predict in the user's own label values.

``gpugrad predict`` and ``gpugrad eval`` (``evaluate.py``) are built on these functions::

    from gpugrad.predict import load_run, read_inputs, predict_proba
    run = load_run("runs/digits")                    # a run folder or its checkpoint.npz
    x, y = read_inputs("new.csv", run)               # y: None when the file has no label column
    proba = predict_proba(run, x)                    # (N, C) float64; run.classes[argmax] = labels

Inputs: a .csv with the run's D feature columns (no label) or D + 1 (label last, as for
``gpugrad train``), or an .npz with ``x`` (N, D) and optionally ``y`` (N,). Labels are the
user's original values; they are mapped with the label map stored in the checkpoint.
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass

import numpy as np

from ..data import DataError
from ..data.datasets import _read_csv   # the train command's CSV reader, with its one-line errors
from ..data.datasets import check_labels_fit_int64
from ..npz_reader import NpzError, NpzReader
from .. import nn
from .train import TrainError, checkpoint_path, read_checkpoint, resolve_device
from .runs import file_kind
from ..grad_mode import no_grad
from ..tensor import tensor


@dataclass
class Run:
    """A trained model and what is needed to use it."""

    model: object            # gpugrad.nn.MLP, in eval mode, on ``device``
    classes: np.ndarray      # (C,) int64: the original label value of each class index
    n_features: int
    checkpoint: str          # path of the checkpoint file
    folder: str              # the run's folder (where eval writes its picture)
    device: str
    epoch: int


def load_run(path: str, device: str = "auto", flag: str = "RUN") -> Run:
    """The model of a run folder or checkpoint file on ``device`` ("auto", "cpu", "cuda").

    Raises TrainError (one line) for a missing/foreign file or a device that is not here.
    Older checkpoints without a stored label map get the identity map 0..C-1.
    """
    ckpt_file = checkpoint_path(path, flag)
    ckpt = read_checkpoint(ckpt_file, flag)
    dev = resolve_device(device)
    config, state = ckpt["config"], ckpt["model"]
    weights = [v for k, v in state.items() if k.endswith("weight")]
    if not weights:
        raise TrainError(f"{flag}: {ckpt_file} holds no model weights")
    n_in, n_out = int(weights[0].shape[1]), int(weights[-1].shape[0])
    classes = np.asarray(ckpt.get("classes", np.arange(n_out)), dtype=np.int64)
    model = nn.MLP([n_in, *config["hidden"], n_out], activation=config["activation"],
                   dropout=config["dropout"], device=dev)
    try:
        model.load_state_dict(state)
    except (RuntimeError, ValueError, KeyError) as exc:
        raise TrainError(f"{flag}: {ckpt_file} does not fit the model its settings describe: {exc}") from None
    model.eval()
    return Run(model=model, classes=classes, n_features=n_in, checkpoint=ckpt_file,
               folder=os.path.dirname(os.path.abspath(ckpt_file)), device=dev, epoch=int(ckpt["epoch"]))


def read_inputs(path: str, run: Run):
    """Features (N, D) float32 and labels (N,) as class indices, or None when the file has none.

    Raises DataError with one line naming the file: missing, a folder, unreadable, the wrong
    number of columns for this model, non-finite values, labels the run never saw.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise DataError(f"--data {path} is a folder; give a data file (.csv or .npz)")
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file")
    if not os.path.isfile(path):   # a FIFO or device: reading could block, and it is no data file
        raise DataError(f"--data {path} is {file_kind(path)}, not a regular file; give a .csv or .npz file")
    ext = os.path.splitext(path)[1].lower()
    d = run.n_features
    if ext == ".csv":
        x, last = _read_csv(path)          # (all but the last column, the last column)
        if x.shape[1] == d:
            y = last
        elif x.shape[1] + 1 == d:
            x, y = np.column_stack([x, last]), None
        else:
            raise DataError(f"{path}: {x.shape[1] + 1} columns, but the model takes {d} features: give "
                            f"{d} columns (no label) or {d + 1} (the label last)")
    elif ext == ".npz":
        x, y = _read_npz(path)
    else:
        raise DataError(f"{path}: unsupported file type {ext or '(none)'!r}; use .csv or .npz (array x, "
                        f"optional y)")
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise DataError(f"{path}: x must be numeric, got dtype {x.dtype}")
    if x.ndim == 1 and d == 1:
        x = x.reshape(-1, 1)
    if x.ndim != 2 or x.shape[1] != d:
        raise DataError(f"{path}: x has shape {x.shape}, but the model takes {d} features per sample "
                        f"(shape (N, {d}))")
    if len(x) == 0:
        raise DataError(f"{path}: the dataset is empty")
    with np.errstate(over="ignore", invalid="ignore"):
        x = x.astype(np.float32)   # checked in the model's dtype: 1e39 is inf in float32
    if not np.all(np.isfinite(x)):
        raise DataError(f"{path}: x contains NaN or infinite values after the cast to float32")
    return x, (None if y is None else _to_classes(path, np.asarray(y), len(x), run))


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


def _to_classes(path, y, n, run: Run) -> np.ndarray:
    if y.ndim != 1 or len(y) != n:
        raise DataError(f"{path}: y must hold one label per sample ({n}), got shape {y.shape}")
    if y.dtype.kind not in "biuf" or (y.dtype.kind == "f" and not (np.all(np.isfinite(y))
                                                                    and np.all(y == np.round(y)))):
        raise DataError(f"{path}: the labels are not integer-like; the label column must hold class numbers")
    check_labels_fit_int64(path, y)
    y = y.astype(np.int64)
    idx = np.searchsorted(run.classes, y).clip(0, len(run.classes) - 1)
    unknown = np.unique(y[run.classes[idx] != y])
    if len(unknown):
        shown = ", ".join(map(str, unknown[:6])) + (" ..." if len(unknown) > 6 else "")
        raise DataError(f"{path}: label(s) {shown} were not in the run's training data (its labels: "
                        f"{', '.join(map(str, run.classes[:12]))}{' ...' if len(run.classes) > 12 else ''})")
    return idx


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


def write_predictions(path: str, classes: np.ndarray, proba: np.ndarray, labels=None) -> str:
    """CSV: ``prediction`` (an original label value), ``p_<label>`` per class, and ``label`` when known.

    Written to a temporary file and renamed, so an interrupted write leaves no half file.
    """
    pred = classes[proba.argmax(axis=1)]
    header = ["prediction"] + [f"p_{c}" for c in classes] + (["label"] if labels is not None else [])
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for i in range(len(pred)):
            row = [int(pred[i])] + [f"{p:.6g}" for p in proba[i]]
            if labels is not None:
                row.append(int(labels[i]))
            w.writerow(row)
    os.replace(tmp, path)
    return path
