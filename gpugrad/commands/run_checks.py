"""Checks that keep a training run honest: its settings, the checkpoint it resumes from, and
divergence (a loss or weight that stopped being finite).

A checkpoint is untrusted input like any file: ``gg.load`` guarantees it is well-formed data,
and :func:`check_checkpoint` / :func:`check_states` guarantee that every field ``train()`` uses
has the type, range and finiteness that ``train()`` itself writes, before anything is used.
Every failure is a :class:`TrainError` of one line naming the file and the field.
"""
from __future__ import annotations

import math

import numpy as np

from ..backends import get_backend
from ..tensor import Tensor

__all__ = ["TrainError", "DivergedError", "MAX_EPOCHS", "check_run_settings", "check_checkpoint",
           "check_states", "check_finite_epoch"]

MAX_EPOCHS = 100_000   # the history of 10^5 epochs still fits gg.save's 32 MiB structure entry
_MAX_INT = 2 ** 62
CHECKPOINT_FORMAT = "gpugrad-train"
# The per-epoch metrics (train.history_keys): always these, plus train_/val_ metrics of the task.
HISTORY_KEYS = ("loss", "seconds", "lr")
_METRIC_RANGE = {"acc": (0.0, 1.0), "loss": (0.0, math.inf), "rmse": (0.0, math.inf),
                 "mae": (0.0, math.inf), "r2": (-math.inf, 1.0)}
_OPTIMIZER_STATE = {"sgd": {"momentum_buffer"}, "adam": {"step", "exp_avg", "exp_avg_sq"},
                    "adamw": {"step", "exp_avg", "exp_avg_sq"}}


class TrainError(ValueError):
    """A problem with the run's settings, device or checkpoint, said in one line."""


class DivergedError(TrainError):
    """The loss or a parameter became NaN or infinite: training stopped, last finite checkpoint kept."""


# -- run settings ------------------------------------------------------------------------------------
def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _is_num(v) -> bool:
    return (isinstance(v, (int, float, np.integer, np.floating))
            and not isinstance(v, (bool, np.bool_)) and math.isfinite(float(v)))


def _int_in(lo, hi):
    return lambda v: _is_int(v) and lo <= v <= hi, f"an integer in {lo}..{hi}"


def _num_in(lo, hi, lo_open=False, hi_open=False):
    def ok(v):
        if not _is_num(v):
            return False
        v = float(v)
        return (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)
    return ok, (f"a finite number in {'(' if lo_open else '['}{lo:g}, "
                f"{hi if hi != math.inf else 'inf'}{')' if hi_open else ']'}")


def _choice(*options):
    return lambda v: v in options and isinstance(v, str), "one of " + ", ".join(options)


def _hidden_ok(v):
    return (isinstance(v, (list, tuple)) and len(v) <= 1000
            and all(_is_int(h) and 1 <= h <= 10 ** 7 for h in v))


# name -> (predicate, what it expects); the run settings TrainConfig.run_settings() writes.
RUN_SETTINGS = {
    "data": (lambda v: v is None or (isinstance(v, str) and 0 < len(v) < 4096), "a file path or None"),
    "hidden": (_hidden_ok, "a list of layer sizes in 1..10^7"),
    "activation": _choice("relu", "sigmoid", "tanh"),
    "optimizer": _choice("sgd", "adam", "adamw"),
    "lr": _num_in(0, math.inf, lo_open=True),
    "epochs": _int_in(1, MAX_EPOCHS),
    "batch_size": _int_in(1, 2 ** 31),
    "seed": _int_in(0, 2 ** 63 - 1),
    "dropout": _num_in(0, 1, hi_open=True),
    "weight_decay": _num_in(0, math.inf),
    "momentum": _num_in(0, 1),
    "schedule": _choice("cosine", "step", "none"),
    "test_fraction": _num_in(0, 1, lo_open=True, hi_open=True),
    "clip": _num_in(0, math.inf),
    "label": (lambda v: v is None or (isinstance(v, list) and 0 < len(v) <= 1000
                                      and all(isinstance(s, str) and len(s) < 1000 for s in v)),
              "None or a list of column names"),
    "task": _choice("auto", "classify", "regress"),
    "loss": _choice("mse", "huber", "l1"),
    "scale": (lambda v: isinstance(v, bool), "true or false"),
    "val_fraction": _num_in(0, 1, hi_open=True),
    "patience": _int_in(0, MAX_EPOCHS),
    "header": (lambda v: v is None or isinstance(v, bool), "None, true or false"),
    "delimiter": (lambda v: v is None or (isinstance(v, str) and len(v) == 1), "None or one character"),
    "na_values": (lambda v: isinstance(v, list) and all(isinstance(s, str) for s in v), "a list of strings"),
    "ignore": (lambda v: isinstance(v, list) and all(isinstance(s, str) for s in v), "a list of strings"),
}
# Settings added after checkpoints were first written: an older checkpoint gets the value that
# reproduces how it was trained.
OPTIONAL_SETTINGS = {"clip": 0.0, "label": None, "task": "classify", "loss": "mse", "scale": False,
                     "val_fraction": 0.0, "patience": 0, "header": None, "delimiter": None,
                     "na_values": [], "ignore": []}


def check_run_settings(settings: dict, where: str) -> None:
    """Raise TrainError unless every run setting has its type and range (``where`` starts the
    message, e.g. "--resume: ckpt.npz: config" or "TrainConfig")."""
    for name, (ok, expected) in RUN_SETTINGS.items():
        if name in settings and not ok(settings[name]):
            raise TrainError(f"{where}: {name} must be {expected}, got {_show(settings[name])}")


def _show(v) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


# -- resuming ----------------------------------------------------------------------------------------
def check_checkpoint(ckpt, path: str, flag: str = "--resume") -> dict:
    """Validate a loaded `gpugrad train` checkpoint's own fields (type, range, finiteness).

    Fields this version does not use are ignored (as PyTorch ignores extra keys in a checkpoint
    dict). Returns the checkpoint. The model, optimizer and scheduler states are checked against
    the rebuilt objects by :func:`check_states`.
    """
    where = f"{flag}: {path}"
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise TrainError(f"{where} is a gpugrad file but not a `gpugrad train` checkpoint")
    for field, kind in (("config", dict), ("epoch", int), ("model", dict), ("optimizer", dict),
                        ("loader", dict), ("history", dict), ("data_fingerprint", str), ("device", str)):
        if field not in ckpt:
            raise TrainError(f"{where}: the checkpoint has no {field!r} field; it is damaged or was "
                             f"not written by `gpugrad train`")
        v = ckpt[field]
        if not isinstance(v, kind) or (kind is int and not _is_int(v)):
            raise TrainError(f"{where}: field {field!r} is a {type(v).__name__}, expected {kind.__name__}")
    if "scheduler" not in ckpt:
        raise TrainError(f"{where}: the checkpoint has no 'scheduler' field")

    config = ckpt["config"] = {**OPTIONAL_SETTINGS, **ckpt["config"]}
    unknown = sorted(str(k)[:40] for k in config if k not in RUN_SETTINGS)
    missing = [k for k in RUN_SETTINGS if k not in config]
    if unknown or missing:
        what = "; ".join(p for p in (f"unknown: {', '.join(unknown)}" if unknown else "",
                                     f"missing: {', '.join(missing)}" if missing else "") if p)
        raise TrainError(f"{where}: its config fields do not match this gpugrad's run settings ({what})")
    check_run_settings(config, f"{where}: config")

    epoch, epochs = ckpt["epoch"], config["epochs"]
    if not 1 <= epoch <= epochs:
        raise TrainError(f"{where}: epoch is {epoch}, outside 1..{epochs} (the run's --epochs)")
    history = ckpt["history"]
    metric = lambda k: str(k).split("_", 1)[1] if str(k).startswith(("train_", "val_")) else None  # noqa: E731
    odd = [str(k)[:40] for k in history if k not in HISTORY_KEYS and metric(k) not in _METRIC_RANGE]
    if odd or not set(HISTORY_KEYS) <= set(history):
        raise TrainError(f"{where}: history has fields {sorted(map(str, history))}, expected "
                         f"{list(HISTORY_KEYS)} and train_/val_ metrics ({', '.join(_METRIC_RANGE)})")
    for k in history:
        values = history[k]
        lo, hi = _METRIC_RANGE[metric(k)] if metric(k) else (0.0, math.inf)
        if not isinstance(values, list) or len(values) != epoch or \
                not all(_is_num(v) and lo <= float(v) <= hi for v in values):
            raise TrainError(f"{where}: history[{k!r}] must be {epoch} finite numbers in [{lo:g}, {hi:g}] "
                             f"(one per finished epoch)")
    loader = ckpt["loader"]
    if set(loader) != {"seed", "epoch"} or loader.get("seed") != config["seed"] or \
            not _is_int(loader.get("epoch")) or not 0 <= loader["epoch"] <= epoch:
        raise TrainError(f"{where}: its loader state {_show(loader)} does not match the run "
                         f"(seed {config['seed']}, epoch {epoch})")
    fp = ckpt["data_fingerprint"]
    if len(fp) != 16 or any(c not in "0123456789abcdef" for c in fp):
        raise TrainError(f"{where}: data_fingerprint {_show(fp)} is not a fingerprint")
    if ckpt["device"] not in ("cpu", "cuda"):
        raise TrainError(f"{where}: device {_show(ckpt['device'])} is not cpu or cuda")
    for name, t in ckpt["model"].items():
        if not isinstance(name, str):
            raise TrainError(f"{where}: a model weight is named by a {type(name).__name__}")
        _check_array(t, f"{where}: model weight {name[:60]!r}")
    _check_data_fields(ckpt, where)
    return ckpt


def _check_data_fields(ckpt: dict, where: str) -> None:
    """The fields about the data (absent from older checkpoints): data_source, classes, n_features."""
    source = ckpt.get("data_source")
    if source is not None:
        ok = (isinstance(source, dict)
              and isinstance(source.get("path"), str) and 0 < len(source["path"]) < 4096
              and isinstance(source.get("sha256"), str) and len(source["sha256"]) == 64
              and all(c in "0123456789abcdef" for c in source["sha256"])
              and _is_int(source.get("rows")) and source["rows"] >= 1
              and _is_int(source.get("columns")) and source["columns"] >= 1
              and isinstance(source.get("labels"), list)
              and all(_is_int(v) or isinstance(v, str) for v in source["labels"]))
        if not ok:
            raise TrainError(f"{where}: its data_source record is malformed (expected path, sha256, "
                             f"rows, columns, labels)")
    weights = [v for k, v in ckpt["model"].items() if k.endswith("weight")]
    if "classes" in ckpt:
        classes = ckpt["classes"]
        if not isinstance(classes, np.ndarray) or classes.dtype != np.int64 or classes.ndim != 1 \
                or len(classes) < 2 or not np.all(np.diff(classes) > 0):
            raise TrainError(f"{where}: its label map ('classes') must be at least 2 increasing int64 "
                             f"label values")
        if weights and getattr(weights[-1], "ndim", 0) == 2 and len(classes) != weights[-1].shape[0]:
            raise TrainError(f"{where}: its label map has {len(classes)} classes but the model has "
                             f"{weights[-1].shape[0]} outputs")
    if "n_features" in ckpt:
        n = ckpt["n_features"]
        if not _is_int(n) or n < 1 or (weights and getattr(weights[0], "ndim", 0) == 2
                                       and n != weights[0].shape[1]):
            raise TrainError(f"{where}: n_features {_show(n)} does not match the model's input size")


def _check_array(v, what: str, shape=None) -> None:
    if not isinstance(v, (Tensor, np.ndarray)):
        raise TrainError(f"{what} is a {type(v).__name__}, not an array")
    arr = v.numpy() if isinstance(v, Tensor) else v
    if arr.dtype.kind != "f":
        raise TrainError(f"{what} has dtype {arr.dtype}, expected a float array")
    if shape is not None and tuple(arr.shape) != tuple(shape):
        raise TrainError(f"{what} has shape {tuple(arr.shape)}, expected {tuple(shape)}")
    if not np.all(np.isfinite(arr)):
        raise TrainError(f"{what} holds NaN or Inf: the checkpoint is damaged or the run had diverged; "
                         f"resume from an earlier checkpoint or start again with a lower --lr")


def _same_kind(template, value) -> bool:
    """Whether ``value`` has the type and finiteness of ``template`` (a freshly built state)."""
    if isinstance(template, bool):
        return isinstance(value, bool)
    if _is_int(template):
        return _is_int(value) and abs(value) <= _MAX_INT
    if isinstance(template, float):
        return _is_num(value)
    if isinstance(template, str):
        return isinstance(value, str)
    if template is None:
        return value is None
    if isinstance(template, (list, tuple)):
        return (isinstance(value, (list, tuple)) and len(value) == len(template)
                and all(_same_kind(t, v) for t, v in zip(template, value)))
    if isinstance(template, dict):
        return (isinstance(value, dict) and set(value) == set(template)
                and all(_same_kind(template[k], value[k]) for k in template))
    return False


def check_states(ckpt: dict, model, opt, sched, optimizer: str, path: str) -> None:
    """Check the checkpoint's optimizer and scheduler states against the freshly built ``opt``
    and ``sched`` (same fields, same types, finite numbers, array state shaped like its
    parameter). The model's names and shapes are checked by ``model.load_state_dict``."""
    where = f"--resume: {path}"
    saved, fresh = ckpt["optimizer"], opt.state_dict()
    groups = saved.get("param_groups")
    if set(saved) != {"state", "param_groups"} or not isinstance(saved["state"], dict) or \
            not _same_kind(fresh["param_groups"], groups):
        raise TrainError(f"{where}: its optimizer state does not have the fields and types of a "
                         f"{type(opt).__name__} state (hyperparameters must be finite numbers)")
    params = [p for g in opt.param_groups for p in g["params"]]
    allowed = _OPTIMIZER_STATE[optimizer]
    for idx, state in saved["state"].items():
        if not _is_int(idx) or not 0 <= idx < len(params):
            raise TrainError(f"{where}: optimizer state for parameter {_show(idx)}, which this model "
                             f"does not have (it has {len(params)})")
        if not isinstance(state, dict) or not set(state) <= allowed:
            raise TrainError(f"{where}: optimizer state of parameter {idx} has fields "
                             f"{_show(sorted(map(str, state)) if isinstance(state, dict) else state)}; "
                             f"{optimizer} keeps {sorted(allowed)}")
        for k, v in state.items():
            if k == "step":
                if not _is_int(v) or not 0 <= v <= _MAX_INT:
                    raise TrainError(f"{where}: optimizer step of parameter {idx} is {_show(v)}, not a "
                                     f"count")
            else:
                _check_array(v, f"{where}: optimizer state {k!r} of parameter {idx}", params[idx].shape)
    if sched is None:
        if ckpt["scheduler"] is not None:
            raise TrainError(f"{where}: holds a scheduler state but the run has --schedule none")
        return
    fresh_s = sched.state_dict()
    saved_s = ckpt["scheduler"]
    if not _same_kind(fresh_s, saved_s):
        raise TrainError(f"{where}: its scheduler state does not have the fields and types of a "
                         f"{type(sched).__name__} state")
    epoch = ckpt["epoch"]
    if saved_s.get("last_epoch") != epoch:
        raise TrainError(f"{where}: its scheduler stopped at epoch {_show(saved_s.get('last_epoch'))} "
                         f"but the checkpoint is of epoch {epoch}")


# -- divergence --------------------------------------------------------------------------------------
def check_finite_epoch(epoch: int, loss: float, model, lr: float, checkpoint: str | None) -> None:
    """Raise DivergedError when the epoch's mean loss or any parameter is NaN or infinite.

    One reduction per parameter, once per epoch (on a GPU, one host sync per parameter).
    """
    bad = None
    if not math.isfinite(loss):
        bad = f"the training loss is {loss}"
    else:
        for name, p in model.named_parameters():
            if not bool(get_backend(p.device).xp.isfinite(p._data).all()):
                bad = f"parameter {name!r} holds NaN or Inf"
                break
    if bad is None:
        return
    kept = (f"the last finite checkpoint (epoch {epoch - 1}) is kept at {checkpoint}"
            if checkpoint else "no epoch had finished, so there is no checkpoint")
    raise DivergedError(f"training diverged in epoch {epoch}: {bad}; {kept}. Try a lower --lr (this run "
                        f"used {lr:g}) or gradient clipping (--clip)")
