"""The training loop behind ``gpugrad train``: an MLP classifier or regressor, one checkpoint per
epoch (``checkpoint.npz``, the last) plus the best epoch by the validation split (``best.npz``),
early stopping, exact resume.

Kept apart from argument parsing (``cli.py``) so tests and scripts can call :func:`train` directly::

    from gpugrad.train import TrainConfig, train
    result = train(TrainConfig(hidden=(64,), epochs=3, out="/tmp/run"))

Reproducibility: the model is initialised from ``seed``; the batch order of epoch e and the
dropout masks of epoch e are drawn from generators seeded with (seed, e) alone. So the same
seed on the same device gives the same numbers, and a run stopped after any epoch and resumed
from its checkpoint ends with exactly the weights of an uninterrupted run (bit-identical on CPU).
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass

import numpy as np

from .. import nn, optim
from ..creation import generator_scope
from ..data import DataError, load_digits, train_test_split
from ..data.datasets import _read_npz
from ..data.schema import check_schema, choose_task, encode_features, encode_labels, fit_schema
from ..data.tables import TABLE_EXTENSIONS, Table, read_table
from ..grad_mode import no_grad
from ..nn.functional import cross_entropy, huber_loss, l1_loss, mse_loss
from . import runs
from .run_checks import TrainError, check_checkpoint, check_finite_epoch, check_run_settings, check_states
from .run_log import METRICS, TensorBoardLog, write_metrics_csv
from .run_signals import InterruptGuard
from ..serialization import load, remove_stale_temps, save
from ..tensor import Tensor, tensor
from ..creation import as_tensor
from .. import cuda  # cuda.graphed / cuda.is_available looked up per call: tests replace them

CHECKPOINT = "checkpoint.npz"
BEST = "best.npz"
CURVES = "curves.png"
_FORMAT = "gpugrad-train"

DEFAULT_LR = {"sgd": 0.05, "adam": 1e-3, "adamw": 1e-3}

# The settings that define a run: resuming with any of them changed would not continue it.
RUN_FIELDS = ("data", "hidden", "activation", "optimizer", "lr", "epochs", "batch_size", "seed",
              "dropout", "weight_decay", "momentum", "schedule", "test_fraction", "clip",
              "label", "task", "loss", "scale", "val_fraction", "patience", "header", "delimiter",
              "na_values", "ignore")
LOSSES = {"mse": mse_loss, "huber": huber_loss, "l1": l1_loss}


@dataclass
class TrainConfig:
    """Everything ``gpugrad train`` can set. ``lr=None`` picks the optimizer's default."""

    data: str | None = None             # None: scikit-learn's 8x8 digits
    hidden: tuple = (256, 256)
    activation: str = "relu"
    optimizer: str = "adam"
    lr: float | None = None
    epochs: int = 30
    batch_size: int = 32
    seed: int = 0
    dropout: float = 0.0
    weight_decay: float = 0.0
    momentum: float = 0.9               # SGD only
    schedule: str = "cosine"            # cosine | step | none (stepped once per epoch)
    test_fraction: float = 0.2
    clip: float = 0.0                   # max global gradient norm per step (0: no clipping)
    device: str = "auto"
    graph: str = "auto"                 # auto | on | off: the step as a CUDA graph (see _StepRunner)
    out: str | None = None              # None: a new timestamped folder under runs/ (runs.timestamped_out)
    quiet: bool = False
    threads: int | None = 1             # BLAS threads on CPU (None: leave as is)
    force: bool = False                 # --out may hold a run: set it aside (runs.set_aside), never delete
    # your own table (gpugrad.data.tables / gpugrad.data.schema)
    label: list | None = None           # column names or 1-based positions (-1 = last); None: the last
    task: str = "auto"                  # auto | classify | regress (schema.choose_task)
    loss: str = "mse"                   # regression: mse | huber | l1, on the standardised target
    scale: bool = True                  # standardise numeric features (training-split mean and std)
    val_fraction: float = 0.1           # of the training part: chooses the best epoch (0: the last)
    patience: int = 0                   # stop after this many epochs without a better val metric (0: never)
    header: bool | None = None          # None: detected
    delimiter: str | None = None        # None: detected among , ; tab |
    na_values: list = ()                # extra cell values read as missing
    ignore: list = ()                   # columns left out

    def __post_init__(self):
        self.hidden = tuple(int(h) for h in self.hidden)
        if isinstance(self.label, (str, int)):
            self.label = [str(self.label)]
        self.label = None if self.label is None else [str(v) for v in self.label]
        self.na_values = [str(v) for v in self.na_values]
        self.ignore = [str(v) for v in self.ignore]
        if self.graph not in ("auto", "on", "off"):
            raise TrainError(f"--graph must be auto, on or off, got {self.graph!r}")
        if self.lr is None:
            self.lr = DEFAULT_LR.get(self.optimizer, 1e-3)
        check_run_settings(self.run_settings(), "run settings")

    def run_settings(self) -> dict:
        d = {k: getattr(self, k) for k in RUN_FIELDS}
        d["hidden"] = list(self.hidden)
        for k in ("label", "na_values", "ignore"):
            d[k] = None if d[k] is None else list(d[k])
        return d


@dataclass
class TrainResult:
    model: nn.Module
    history: dict
    epochs_run: int
    train_acc: float                    # classification: accuracies; regression: R^2
    test_acc: float
    seconds: float
    checkpoint: str
    curves: str | None
    device: str
    summary: str = ""
    task: str = "classify"
    best_epoch: int = 0
    test_metrics: dict | None = None


# -- setup ---------------------------------------------------------------------------------------
def resolve_device(name: str) -> str:
    """"cpu", or "cuda" when asked for (or "auto") and ``gpugrad.cuda.is_available()`` says so."""
    if name not in ("auto", "cpu", "cuda"):
        raise TrainError(f"--device must be auto, cpu or cuda, got {name!r}")
    if name == "cpu":
        return "cpu"
    available = cuda.is_available()  # never raises: no CuPy or no driver means False
    if name == "cuda" and not available:
        raise TrainError("--device cuda: no usable GPU here (no CuPy, no CUDA driver, or a test "
                         "kernel did not run); use --device cpu or auto")
    return "cuda" if available else "cpu"


@dataclass
class Prepared:
    """A run's data, split and encoded: train / val (may be empty) / test, with the schema that
    turns a file into model inputs and the task."""

    x_tr: np.ndarray
    y_tr: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_te: np.ndarray
    y_te: np.ndarray
    task: str
    classes: list | None          # classify: the original label values, sorted
    schema: dict
    source: dict | None
    desc: str
    notes: list

    @property
    def n_out(self) -> int:
        return len(self.classes) if self.task == "classify" else int(self.y_tr.shape[1])

    def original(self, y_std: np.ndarray) -> np.ndarray:
        """Regression targets (or predictions) from standardised back to the file's units."""
        lab = self.schema["label"]
        return y_std * np.asarray(lab["std"], np.float64) + np.asarray(lab["mean"], np.float64)


def load_dataset(config: TrainConfig):
    """(x_train, y_train, x_test, y_test, n_classes, description) for the config's data (the
    validation part is folded back into train; for scripts that want one split)."""
    p = prepare_data(config)
    x_tr, y_tr = np.concatenate([p.x_tr, p.x_val]), np.concatenate([p.y_tr, p.y_val])
    return x_tr, y_tr, p.x_te, p.y_te, p.n_out, p.desc


def table_of_arrays(path: str, x, y) -> Table:
    """A Table of an .npz's ``x`` (N, D) and ``y`` (N,) (or the digits): numeric columns x1..xD."""
    x, y = np.asarray(x), (None if y is None else np.asarray(y))
    if x.dtype.kind not in "biuf":
        raise DataError(f"{path}: x must be numeric, got dtype {x.dtype}")
    if x.ndim == 0:
        raise DataError(f"{path}: x must be 2-D (samples, features), got a single value")
    x = x.reshape(len(x), -1) if x.ndim != 2 else x
    if x.shape[1] == 0:
        raise DataError(f"{path}: x has no feature columns (shape {x.shape})")
    if len(x) == 0:
        raise DataError(f"{path}: the dataset is empty (x has shape {x.shape})")
    if y is not None:
        if y.dtype.kind not in "biuf":
            raise DataError(f"{path}: y must hold numbers (class labels or target values), got dtype {y.dtype}")
        if y.ndim not in (1, 2) or len(y) != len(x):
            raise DataError(f"{path}: x has {len(x)} samples but y has shape {y.shape} (one label per sample)")
    with np.errstate(over="ignore", invalid="ignore"):
        x32 = np.ascontiguousarray(x, dtype=np.float32)
    bad = ~np.isfinite(x32)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise DataError(f"{path} sample {i + 1}, column x{j + 1}: value {x[i, j]!r} is NaN or does not fit "
                        f"float32 (magnitudes up to 3.4e38); fix or rescale it")
    names = [f"x{j + 1}" for j in range(x.shape[1])]
    yf = None if y is None else y.astype(np.float64)
    if y is not None and y.dtype.kind in "iu" and y.size and (np.abs(y.astype(np.float64)) >= 2.0 ** 53).any():
        raise DataError(f"{path}: a label ({y.flat[np.argmax(np.abs(y))]}) does not fit int64 exactly; use "
                        f"class numbers such as 0..C-1")
    return Table(path=path, names=names, kinds={n: "numeric" for n in names}, numeric_names=names,
                 numeric=x32, text={}, label_name="y" if y is not None else None, label=yf,
                 label_is_float=y is not None and y.dtype.kind == "f", rows=np.arange(1, len(x) + 1),
                 header=False, delimiter=None)


def read_data_table(config: TrainConfig, path: str | None, log=None) -> Table:
    """The Table of ``--data`` (the digits when None), read with the config's table options."""
    if path is None:
        x, y = load_digits()
        return table_of_arrays("digits", x, y)
    if os.path.isdir(path):
        raise DataError(f"--data {path} is a folder; give a data file (.csv or .parquet with a header, or "
                        f".npz with arrays x and y)")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".npz":
        if not os.path.lexists(path):
            raise DataError(f"{path}: no such file")
        return table_of_arrays(path, *_read_npz(path))
    if ext not in TABLE_EXTENSIONS:
        raise DataError(f"{path}: unsupported file type {ext or '(none)'!r}; use .csv (a header row, the label "
                        f"last or named by --label), .parquet, or .npz (arrays x and y)")
    return read_table(path, label=config.label, header=config.header, delimiter=config.delimiter,
                      na_values=config.na_values, ignore=config.ignore,
                      progress=False if config.quiet else None)


def prepare_data(config: TrainConfig, log=None) -> Prepared:
    """Read, split (test, then validation from the rest), fit the schema on the training part
    only, and encode. The full encoded array is dropped once split (memory: ~2x the array)."""
    table = read_data_table(config, config.data, log)
    task = choose_task(table, config.task)
    if config.task == "auto" and task == "regress":
        table.notes.append(f"task: regression of {table.label_name!r} (a float target; --task classify to "
                           f"treat its values as classes)")
    y, classes = encode_labels(table, task)
    n = len(table)
    strat = y if task == "classify" else np.zeros(n, dtype=np.int64)
    if n < 3:
        raise DataError(f"{table.path}: {n} data row(s); a run needs at least 3 (train, test and more)")
    idx = np.arange(n)
    idx_tr, _, idx_te, _ = train_test_split(idx, strat, config.test_fraction, config.seed)
    if config.val_fraction > 0:
        if len(idx_tr) < 2:
            raise DataError(f"{table.path}: too few rows ({n}) for a validation split; pass --val-fraction 0")
        idx_tr, _, idx_val, _ = train_test_split(idx_tr, strat[idx_tr], config.val_fraction, config.seed)
    else:
        idx_val = idx[:0]
    if task == "regress":
        y2 = y.reshape(n, -1).astype(np.float64)
        mean, std = y2[idx_tr].mean(axis=0), y2[idx_tr].std(axis=0)
        std = np.where(std > 0, std, 1.0)
        label_info = {"mean": mean.tolist(), "std": std.tolist()}
        y = ((y2 - mean) / std).astype(np.float32)
    else:
        label_info = {"classes": classes}
    schema = fit_schema(table, idx_tr, scale=config.scale, task=task, label_info=label_info)
    if config.data is None or config.data.lower().endswith(".npz"):
        schema["array_file"] = True   # .npz inputs: matched by position (x's columns), not by name
    x = encode_features(table, schema, warn=log)
    source = None if config.data is None else runs.data_source(config.data, x, y, classes or [])
    notes = list(table.notes)
    del table
    parts = [x[i] for i in (idx_tr, idx_val, idx_te)], [y[i] for i in (idx_tr, idx_val, idx_te)]
    del x
    desc = "digits (8x8, sklearn)" if config.data is None else os.path.basename(config.data)
    return Prepared(parts[0][0], parts[1][0], parts[0][1], parts[1][1], parts[0][2], parts[1][2], task,
                    classes, schema, source, desc, notes)


def load_data(path: str | None):
    """(x, y in 0..C-1, classes (original label values), source, description) for ``--data path``,
    unscaled and unsplit (kept for scripts; ``gpugrad train`` uses :func:`prepare_data`)."""
    config = TrainConfig(data=path, scale=False, task="classify", quiet=True)
    table = read_data_table(config, path)
    y, classes = encode_labels(table, "classify")
    schema = fit_schema(table, np.arange(len(table)), scale=False, task="classify",
                        label_info={"classes": classes})
    x = encode_features(table, schema)
    return (x, y, np.asarray(classes), None if path is None else runs.data_source(path, x, y, classes),
            "digits (8x8, sklearn)" if path is None else os.path.basename(path))


def fingerprint(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(str(a.shape).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def build_model(config: TrainConfig, n_in: int, n_classes: int, device) -> nn.MLP:
    # The run's own generators: the user's gg.manual_seed state is neither used nor changed,
    # and runs in other threads draw from theirs.
    with generator_scope(config.seed):
        return nn.MLP([n_in, *config.hidden, n_classes], activation=config.activation,
                      dropout=config.dropout, device=device)


def build_optimizer(config: TrainConfig, model: nn.Module):
    params = list(model.parameters())
    if config.optimizer == "sgd":
        opt = optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    elif config.optimizer == "adam":
        opt = optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    elif config.optimizer == "adamw":
        opt = optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    else:
        raise TrainError(f"--optimizer must be sgd, adam or adamw, got {config.optimizer!r}")
    if config.schedule == "cosine":
        sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.epochs)
    elif config.schedule == "step":
        sched = optim.lr_scheduler.StepLR(opt, step_size=max(1, config.epochs // 3), gamma=0.1)
    elif config.schedule == "none":
        sched = None
    else:
        raise TrainError(f"--schedule must be cosine, step or none, got {config.schedule!r}")
    return opt, sched


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of gpugrad's generator (dropout masks) during ``epoch``: a function of (seed, epoch)."""
    return int(np.random.SeedSequence([int(seed), int(epoch), 0xD20]).generate_state(1)[0])


def checkpoint_path(path: str, flag: str = "--resume") -> str:
    """A run folder means its checkpoint.npz; anything else must be an existing .npz file."""
    if os.path.isdir(path):
        inner = os.path.join(path, CHECKPOINT)
        if not os.path.isfile(inner):
            raise TrainError(f"{flag}: the folder {path} holds no {CHECKPOINT}; give a run folder or "
                             f"its checkpoint file")
        return inner
    if not os.path.exists(path):
        raise TrainError(f"{flag}: no such checkpoint: {path}")
    if not path.lower().endswith(".npz"):
        raise TrainError(f"{flag}: {path} is not a checkpoint (those are {CHECKPOINT} files in a run "
                         f"folder); give a run folder or its {CHECKPOINT}")
    return path


def read_checkpoint(path: str, flag: str = "--resume") -> dict:
    """Load a training checkpoint (on cpu) from a run folder or a checkpoint file, with one-line
    errors (naming ``flag``) for anything unusable: the file through gg.load's checks, then every
    field through run_checks.check_checkpoint."""
    path = checkpoint_path(path, flag)
    try:
        ckpt = load(path, device="cpu")
    except FileNotFoundError:
        raise TrainError(f"{flag}: no such checkpoint: {path}") from None
    return check_checkpoint(ckpt, path, flag)   # every field: type, range, finiteness


def config_for_resume(ckpt: dict, given: dict, path: str) -> TrainConfig:
    """The config of a resumed run: the checkpoint's run settings, plus the non-run settings
    (device, out, quiet, threads) from ``given``. A run setting in ``given`` that differs from
    the checkpoint's is an error: the result would not be a continuation of that run."""
    saved = dict(ckpt["config"])
    saved["hidden"] = tuple(saved["hidden"])
    path = checkpoint_path(path)
    given = dict(given)
    source = ckpt.get("data_source")
    if given.get("data") is not None and saved["data"] is not None:
        # The data is found by content (checked in train once loaded): any path to the same data.
        saved["data"] = given.pop("data")
    elif saved["data"] is not None and source is not None:
        saved["data"] = source["path"]
    epochs = given.pop("epochs", None)
    if epochs is not None and epochs < saved["epochs"]:
        raise TrainError(f"--resume: {path} was planned for --epochs {saved['epochs']}; --epochs {epochs} "
                         f"would shorten it (a run can be extended, not shortened); drop --epochs, or "
                         f"give more than {saved['epochs']}")
    if epochs is not None:
        saved["epochs"] = epochs   # an extension: the schedule is re-planned over the new total
    if given.get("data") is not None and saved["data"] is None:
        raise TrainError(f"--resume: {path} was trained on the bundled digits, not on a file; drop --data "
                         f"to continue that run")
    for k, v in given.items():
        if k in RUN_FIELDS and v is not None:
            mine = tuple(v) if k == "hidden" else v
            if mine != saved[k]:
                flag = "--" + k.replace("_", "-")
                raise TrainError(f"--resume: {path} was trained with {flag} {_show(saved[k])} but "
                                 f"{flag} {_show(mine)} was given; drop {flag} to continue that run")
    rest = {k: v for k, v in given.items() if k not in RUN_FIELDS and v is not None}
    if "out" not in rest:
        rest["out"] = os.path.dirname(os.path.abspath(path))
    return TrainConfig(**saved, **rest)


def _show(v) -> str:
    if isinstance(v, (tuple, list)):
        return ",".join(str(x) for x in v)
    return str(v)


# -- the loop ----------------------------------------------------------------------------------------
def evaluate(model, x: Tensor, y: np.ndarray, batch: int = 4096) -> float:
    """Classification accuracy of ``model`` on (x, y), in eval mode, without recording a graph."""
    was_training = model.training
    model.eval()
    correct = 0
    with no_grad(), np.errstate(all="ignore"):   # huge logits still have an argmax
        for i in range(0, x.shape[0], batch):
            pred = model(x[i:i + batch]).argmax(axis=1).numpy()
            correct += int((pred == y[i:i + batch]).sum())
    model.train(was_training)
    return correct / max(1, len(y))


def _blas_threads(n):
    if n is None:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    # The MLP's matrices are small: BLAS threads cost more than they gain, and on a shared
    # machine OpenBLAS's spinning threads slow a step down by 10-100x.
    return threadpool_limits(limits=int(n), user_api="blas")


def _progress(total: int, desc: str, quiet: bool):
    disable = quiet or not sys.stderr.isatty()
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, unit="batch", leave=False, disable=disable, file=sys.stderr,
                dynamic_ncols=True)


def train(config: TrainConfig, resume: str | None = None, log=print, on_epoch_end=None) -> TrainResult:
    """Train an MLP classifier as ``config`` says, writing ``checkpoint.npz`` after every epoch
    and ``curves.png`` at the end into ``config.out``.

    ``resume``: a checkpoint path; training continues after its last completed epoch (the
    caller builds ``config`` with :func:`config_for_resume`). ``on_epoch_end(epoch, metrics)``
    runs after each epoch's checkpoint is written.
    """
    from ..distributed.train_support import guard
    with guard(config=config), _blas_threads(config.threads if config.device != "cuda" else None), \
            contextlib.ExitStack() as held:
        return _train(config, resume, log, on_epoch_end, held)


def _train(config, resume, log, on_epoch_end, held):
    from ..distributed import train_support
    dist = train_support.setup(config, log)   # under mpiexec -n N: data-parallel (see that module)
    log = dist.log(log)
    device = dist.check_device(resolve_device(config.device))
    resume = checkpoint_path(resume) if resume else None
    ckpt = read_checkpoint(resume) if resume else None
    if config.out is None:
        config.out = dist.from_main(runs.timestamped_out)   # one folder for all ranks
    runs.check_out(config.out, config.force, resuming=resume)   # before any work
    data = _load_for(config, ckpt, resume, log)
    task = data.task
    if task == "regress" and getattr(dist, "size", 1) > 1:
        raise TrainError("regression is not data-parallel yet: run it as one process (without mpiexec)")
    data_id = fingerprint(data.x_tr, data.y_tr, data.x_val, data.y_val, data.x_te, data.y_te)
    if ckpt is not None and ckpt.get("data_fingerprint") != data_id:
        raise TrainError(f"--resume: {resume} was trained on different data (the dataset or its split "
                         f"changed since); resume with the same --data file")

    model = build_model(config, data.x_tr.shape[1], data.n_out, device)
    opt, sched = build_optimizer(config, model)
    loader = dist.loader(data.x_tr, data.y_tr, config.batch_size, config.seed, device)
    history = {k: [] for k in history_keys(task, len(data.y_val) > 0)}
    start = 0
    if ckpt is not None:
        check_states(ckpt, model, opt, sched, config.optimizer, resume)
        try:
            model.load_state_dict(ckpt["model"])
            opt.load_state_dict(ckpt["optimizer"])
            if sched is not None:
                sched.load_state_dict(ckpt["scheduler"])
        except (RuntimeError, ValueError, KeyError) as exc:
            raise TrainError(f"--resume: {resume} does not fit this model: {exc}") from None
        if set(ckpt["history"]) != set(history):
            raise TrainError(f"--resume: {resume} keeps the metrics {sorted(ckpt['history'])}, this run "
                             f"{sorted(history)}: it was trained by another gpugrad version; start a new run")
        history = {k: list(v) for k, v in ckpt["history"].items()}
        start = int(ckpt["epoch"])
        if sched is not None:
            _replan(sched, config)

    # One run per folder: rank 0 holds the folder's lock until the run ends (released on any exit).
    refused = dist.from_main(lambda: _lock_folder(held, config.out))
    if refused is not None:
        raise runs.RunFolderError(refused)
    runs.check_out(config.out, config.force, resuming=resume)   # again: a run may have ended there since
    if ckpt is None or os.path.abspath(config.out) != os.path.dirname(os.path.abspath(resume)):
        if config.force and dist.is_main:
            for moved in runs.set_aside(config.out):
                log(f"--force: kept the previous run's file as {moved}")

    # as_tensor: on the cpu the arrays are shared, not copied (the memory bound of large tables)
    xt = {k: as_tensor(getattr(data, "x_" + k), device=device) for k in ("tr", "val", "te")}
    os.makedirs(config.out, exist_ok=True)
    ckpt_path = os.path.join(config.out, CHECKPOINT)
    best_path = os.path.join(config.out, BEST)
    if dist.is_main:   # interrupted saves (SIGKILL, power loss) leave temporary files: clear this run's
        for name in (CHECKPOINT, BEST, CURVES):
            remove_stale_temps(os.path.join(config.out, name))
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(config.out, METRICS + ".tmp"))   # run_log.write_metrics_csv's
    n_params = sum(p.size for p in model.parameters())
    log(f"run folder: {config.out}")
    for note in data.notes:
        log(note)
    classes = data.classes
    if task == "classify" and not runs.is_identity(classes):
        log(f"labels mapped to classes: {runs.describe_label_map(classes)} (stored in the checkpoint; "
            f"predict and eval map back)")
    if start == 0:
        if task == "classify":
            for w in runs.split_warnings(data.y_tr, data.y_te, classes):
                log(w)
        what = "classifier" if task == "classify" else f"regressor ({config.loss} loss)"
        log(f"training MLP {data.x_tr.shape[1]}-{'-'.join(map(str, config.hidden))}{'-' if config.hidden else ''}"
            f"{data.n_out} {what} ({config.activation}, {n_params:,} parameters) on {data.desc}: "
            f"{len(data.y_tr)} train / {len(data.y_val)} val / {len(data.y_te)} test samples, {config.optimizer} "
            f"lr {config.lr:g}, batch {config.batch_size}, {config.epochs} epochs, device {device}")
    else:
        log(f"resuming from {resume} after epoch {start}/{config.epochs} on device {device}")

    loss_fn = cross_entropy if task == "classify" else LOSSES[config.loss]
    run_step = dist.step_runner(_StepRunner(model, opt, use_graph(config, device), log, config.clip, loss_fn),
                                loader)
    board = TensorBoardLog(config.out) if dist.is_main else None
    t_run = time.perf_counter()
    best_epoch, waited = _best_so_far(history, task)
    stopped = False
    guard = InterruptGuard()
    try:
        with guard:
            for epoch in range(start, config.epochs):
                if config.patience and waited >= config.patience and "val_loss" in history:
                    stopped = True
                    break
                metrics = _one_epoch(model, opt, loader, epoch, config, run_step)
                # Before anything is saved: a diverged epoch must not overwrite the last finite one.
                check_finite_epoch(epoch + 1, metrics["loss"], model, metrics["lr"],
                                   ckpt_path if os.path.exists(ckpt_path) else None)
                if sched is not None:
                    sched.step()
                metrics.update(_epoch_metrics(model, data, xt, history))
                with guard.critical():
                    for k in history:
                        history[k].append(metrics[k])
                    best_epoch, waited = _best_so_far(history, task)
                    if dist.is_main:   # rank 0 alone writes the run's files
                        state = {"format": _FORMAT, "config": config.run_settings(), "epoch": epoch + 1,
                                 "model": model.state_dict(), "optimizer": opt.state_dict(),
                                 "scheduler": sched.state_dict() if sched is not None else None,
                                 "loader": loader.state_dict(), "history": history,
                                 "data_fingerprint": data_id, "data_source": data.source,
                                 "n_features": int(data.x_tr.shape[1]), "device": device,
                                 "task": task, "schema": data.schema, "best_epoch": best_epoch}
                        if task == "classify" and all(isinstance(c, int) for c in classes):
                            state["classes"] = np.asarray(classes, dtype=np.int64)
                        save(state, ckpt_path)
                        if best_epoch == epoch + 1:
                            copy_atomically(ckpt_path, best_path)
                        write_metrics_csv(history, config.out)
                        board.epoch(epoch + 1, metrics)
                    log(f"epoch {epoch + 1:>{len(str(config.epochs))}}/{config.epochs}  loss "
                        f"{metrics['loss']:.4f}  {_describe(metrics, task)}  {metrics['seconds']:.2f} s  "
                        f"{metrics['samples_per_s']:,.0f} samples/s" + ("  *" if best_epoch == epoch + 1
                                                                         and "val_loss" in history else ""))
                if on_epoch_end is not None:
                    on_epoch_end(epoch + 1, metrics)
    finally:
        if board is not None:
            board.close()
        curves = (write_curves(history, os.path.join(config.out, CURVES))
                  if history["loss"] and dist.is_main else None)
    elapsed = time.perf_counter() - t_run

    done = len(history["loss"])
    if stopped:
        log(f"early stop: no better validation {'accuracy' if task == 'classify' else 'RMSE'} for "
            f"{config.patience} epochs (--patience); the best epoch is {best_epoch}")
    # The reported figure: the best epoch's model (by validation) on the test split, touched only here.
    if done and best_epoch and best_epoch != done and os.path.exists(best_path):
        model.load_state_dict(load(best_path, device="cpu")["model"])
    test = _metrics(model, data, xt["te"], data.y_te)
    train_m = _metrics(model, data, xt["tr"], data.y_tr)
    chosen = (f"the best epoch {best_epoch} by validation" if "val_loss" in history and done
              else f"the last epoch ({done})")
    if task == "classify":
        train_acc, test_acc = train_m["acc"], test["acc"]
        figure = f"test acc {100 * test['acc']:.2f}% ({chosen}), train acc {100 * train_m['acc']:.2f}%"
    else:
        train_acc, test_acc = train_m["r2"], test["r2"]
        figure = (f"test RMSE {test['rmse']:.4g}, MAE {test['mae']:.4g}, R^2 {test['r2']:.4f} ({chosen}), "
                  f"train R^2 {train_m['r2']:.4f}")
    summary = (f"done: {done} epochs, {figure}, {sum(history['seconds'][start:]):.1f} s training"
               f" ({elapsed:.1f} s with evaluation and checkpoints); checkpoints {ckpt_path} (last)"
               + (f" and {best_path} (best)" if os.path.exists(best_path) else "")
               + (f", curves {curves}" if curves else "") + f"; run folder {config.out}")
    log(summary)
    return TrainResult(model=model, history=history, epochs_run=done - start, train_acc=train_acc,
                       test_acc=test_acc, seconds=elapsed, checkpoint=ckpt_path, curves=curves,
                       device=device, summary=summary, task=task, best_epoch=best_epoch, test_metrics=test)


def copy_atomically(src: str, dst: str) -> str:
    """``dst`` becomes a copy of ``src`` (the best epoch's checkpoint is the last one at that moment):
    through a temporary file in dst's folder, fsynced and renamed, so ``dst`` is always whole; the
    temporary name is one serialization.remove_stale_temps clears after a crash."""
    import shutil

    def write(out):
        with open(src, "rb") as inp:
            shutil.copyfileobj(inp, out, 1 << 20)
        out.flush()
        os.fsync(out.fileno())
    return _write_atomically(dst, write)


def _write_atomically(path: str, write) -> str:
    """``write(f)`` into a temporary file in ``path``'s folder, then renamed over ``path`` (mode
    0644), so ``path`` is never half written. The temporary name matches
    serialization.remove_stale_temps's pattern, so a run killed mid-write has it removed when it
    resumes. Returns ``path``."""
    directory, name = os.path.split(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def history_keys(task: str, validation: bool) -> list:
    """The per-epoch metrics a run keeps: the loss, train (and val) metrics, seconds and lr."""
    metrics = ["acc"] if task == "classify" else ["rmse", "mae", "r2"]
    keys = ["loss"] + [f"train_{m}" for m in metrics]
    if validation:
        keys += ["val_loss"] + [f"val_{m}" for m in metrics]
    return keys + ["seconds", "lr"]


def _best_so_far(history: dict, task: str):
    """(best epoch, 1-based, or 0 before any; epochs since it). By validation accuracy (ties: lower
    val loss) or RMSE; without a validation split the last epoch is the best."""
    n = len(history["loss"])
    if n == 0:
        return 0, 0
    if "val_loss" not in history:
        return n, 0
    if task == "classify":
        keys = [(-a, l) for a, l in zip(history["val_acc"], history["val_loss"])]
    else:
        keys = list(zip(history["val_rmse"], history["val_loss"]))
    best = min(range(n), key=lambda i: keys[i]) + 1
    return best, n - best


def _describe(m: dict, task: str) -> str:
    if task == "classify":
        return f"train acc {100 * m['train_acc']:6.2f}%" + (f"  val acc {100 * m['val_acc']:6.2f}%"
                                                             if "val_acc" in m else "")
    out = f"train RMSE {m['train_rmse']:.4g} MAE {m['train_mae']:.4g} R^2 {m['train_r2']:.4f}"
    if "val_rmse" in m:
        out += f"  val RMSE {m['val_rmse']:.4g} MAE {m['val_mae']:.4g} R^2 {m['val_r2']:.4f}"
    return out


def _epoch_metrics(model, data: Prepared, xt: dict, history: dict) -> dict:
    out = {}
    tr = _metrics(model, data, xt["tr"], data.y_tr)
    out.update({f"train_{k}": v for k, v in tr.items() if k != "loss"})
    if "val_loss" in history:
        out.update({f"val_{k}": v for k, v in _metrics(model, data, xt["val"], data.y_val).items()})
    return out


def _metrics(model, data: Prepared, x: Tensor, y: np.ndarray) -> dict:
    """classify: acc and loss (mean cross-entropy); regress: rmse, mae, r2 in the file's units and the
    loss (mean squared error of the standardised target). Eval mode, no graph."""
    if len(y) == 0:
        return {"acc": 0.0, "loss": 0.0} if data.task == "classify" else \
            {"rmse": 0.0, "mae": 0.0, "r2": 0.0, "loss": 0.0}
    out = predict_outputs(model, x)
    if data.task == "classify":
        z = out - out.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        loss = float(-logp[np.arange(len(y)), y].mean())
        return {"acc": float((out.argmax(axis=1) == y).mean()),
                "loss": loss if np.isfinite(loss) else 1e30}
    m = regression_metrics(data.original(y), data.original(out))
    m["loss"] = float(np.mean((out - y) ** 2))
    return m


def predict_outputs(model, x: Tensor, batch: int = 4096) -> np.ndarray:
    """The model's outputs (N, K) in float64, in eval mode without a graph."""
    was_training = model.training
    model.eval()
    parts = []
    with no_grad(), np.errstate(all="ignore"):
        for i in range(0, x.shape[0], batch):
            parts.append(model(x[i:i + batch]).numpy().astype(np.float64))
    model.train(was_training)
    return np.concatenate(parts) if parts else np.zeros((0, 1))


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """RMSE, MAE and R^2 (scikit-learn's ``r2_score``: 1 - SS_res / SS_tot, averaged uniformly over
    outputs; an output with constant truth counts 1 if predicted exactly, else 0), as floats."""
    t = np.asarray(y_true, np.float64).reshape(len(y_true), -1)
    p = np.asarray(y_pred, np.float64).reshape(len(y_pred), -1)
    err = p - t
    ss_res = (err ** 2).sum(axis=0)
    ss_tot = ((t - t.mean(axis=0)) ** 2).sum(axis=0)
    r2 = np.where(ss_tot > 0, 1 - ss_res / np.where(ss_tot > 0, ss_tot, 1), np.where(ss_res == 0, 1.0, 0.0))
    big = 1e30   # a diverged model's metrics stay finite numbers (checkpoints hold finite ones)
    return {"rmse": float(min(big, np.sqrt(np.mean(err ** 2)))), "mae": float(min(big, np.mean(np.abs(err)))),
            "r2": float(max(-big, np.mean(r2)))}


def _lock_folder(held: contextlib.ExitStack, out: str):
    """Take ``out``'s run lock into ``held``; None, or the refusal as one line (shared by the ranks)."""
    try:
        held.enter_context(runs.lock_run_folder(out))
    except runs.RunFolderError as exc:
        return str(exc)
    return None


def _load_for(config: TrainConfig, ckpt: dict | None, resume: str | None, log=None) -> Prepared:
    """prepare_data for this run; when resuming, the file must hold the run's data (by content)."""
    source = ckpt.get("data_source") if ckpt is not None else None
    try:
        loaded = prepare_data(config, log)
    except DataError as exc:
        if source is None or os.path.exists(config.data):
            raise
        raise TrainError(f"--resume: the run's data file {config.data} is not there any more ({exc}); "
                         f"pass --data FILE at its new place (any name: the data is recognised by "
                         f"its content)") from None
    now = loaded.source
    if source is not None and now is not None and now["sha256"] != source["sha256"]:
        raise TrainError(f"--resume: {resume} was trained on {source['path']}, but {config.data} holds "
                         f"different data: {runs.differences(source, now)}; give the run's data file")
    return loaded


def _replan(sched, config: TrainConfig) -> None:
    """Fit a restored schedule to ``config.epochs``. Unchanged for a plain resume; for an
    extended run (``--resume RUN --epochs N`` with a larger N) the schedule is re-planned over
    the new total: the remaining epochs get the rates a run planned for N epochs has there."""
    if isinstance(sched, optim.lr_scheduler.CosineAnnealingLR):
        kwargs = dict(T_max=int(config.epochs), eta_min=sched.eta_min)
        same = sched.T_max == kwargs["T_max"]
    elif isinstance(sched, optim.lr_scheduler.StepLR):
        kwargs = dict(step_size=max(1, config.epochs // 3), gamma=sched.gamma)
        same = sched.step_size == kwargs["step_size"]
    else:
        return
    if same:
        return
    # The schedules are chained (PyTorch's): replaying the new plan from epoch 0 reaches exactly
    # (bit for bit) the rates of a run planned for N epochs from the start.
    for g in sched.optimizer.param_groups:
        g["lr"] = g["initial_lr"]
    fresh = type(sched)(sched.optimizer, **kwargs)
    for _ in range(sched.last_epoch):
        fresh.step()
    sched.load_state_dict(fresh.state_dict())


def use_graph(config: TrainConfig, device: str) -> bool:
    """Whether the training step runs as a CUDA graph: "auto" means on a GPU without dropout (a
    captured graph replays the same dropout mask every step); "on" asks for it wherever (on the
    CPU gg.cuda.graphed replays the step's NumPy calls, with the eager results bit for bit, or
    runs it eagerly after a warning when it cannot; gpugrad/cpu_graph.py)."""
    if config.graph == "off":
        return False
    if config.graph == "on":
        return True
    return device.startswith("cuda") and config.dropout == 0


class _StepRunner:
    """The run's training steps: eager, or through gg.cuda.graphed.

    The graph is built anew each epoch (``new_epoch``), because the learning-rate schedule moves
    between epochs and a graph keeps the values it was captured with. Batches of another shape
    than the first (a ragged last batch) run eagerly. If capturing fails, the failure is reported
    once and this batch and all later ones run eagerly: training never stops over a missing
    speed-up.
    """

    def __init__(self, model, opt, graphed: bool, log, clip: float = 0.0, loss_fn=cross_entropy):
        self.model, self.opt, self.graphed, self.log = model, opt, graphed, log
        self.loss_fn = loss_fn
        self.clip = float(clip)
        self._graph = None

    def new_epoch(self):
        """Drop the last epoch's graph (and its memory); the next step captures a new one."""
        self._graph = None

    def step(self, xb, yb):
        opt, model = self.opt, self.model
        opt.zero_grad()
        loss = self.loss_fn(model(xb), yb)
        loss.backward()
        if self.clip > 0:
            optim.clip_grad_norm_(model.parameters(), self.clip)  # on the device: no host sync
        opt.step()
        return loss

    def __call__(self, xb, yb):
        if not self.graphed:
            return self.step(xb, yb)
        if self._graph is None:
            self._graph = cuda.graphed(self.step, xb, yb)
        if (xb.shape, yb.shape) != tuple(t.shape for t in self._graph.static_inputs):
            return self.step(xb, yb)
        try:
            return self._graph(xb, yb)
        except RuntimeError as exc:
            if "graphed: capturing the step failed" not in str(exc):
                raise
            self.log(f"CUDA graph capture failed, training on eagerly (--graph off skips the "
                     f"attempt): {exc}")
            self.graphed, self._graph = False, None
            return self.step(xb, yb)


def _one_epoch(model, opt, loader, epoch, config, run_step):
    loader.set_epoch(epoch)
    # Overflow in a diverging step is reported by the run's own check (check_finite_epoch) in one
    # line; NumPy's RuntimeWarnings before it would only bury that line.
    with generator_scope(epoch_seed(config.seed, epoch)), np.errstate(all="ignore"):
        return _epoch_steps(model, opt, loader, epoch, config, run_step)


def _epoch_steps(model, opt, loader, epoch, config, run_step):
    model.train()
    bar = _progress(len(loader), f"epoch {epoch + 1}/{config.epochs}", config.quiet)
    total, seen = None, 0
    lr = opt.param_groups[0]["lr"]
    run_step.new_epoch()
    t0 = time.perf_counter()
    for i, (xb, yb) in enumerate(loader):
        loss = run_step(xb, yb)
        n = xb.shape[0]
        seen += n
        # The epoch's loss sum stays on the device; .item() (a wait for the GPU) only when the
        # progress bar shows it and once at the end of the epoch.
        weighted = loss.detach().astype("float64") * n
        total = weighted if total is None else total + weighted
        if bar is not None:
            bar.update(1)
            if not bar.disable and (i % 5 == 0 or i == len(loader) - 1):
                bar.set_postfix(loss=f"{loss.item():.4f}",
                                samples_s=f"{seen / (time.perf_counter() - t0):,.0f}")
    from ..distributed.train_support import epoch_totals
    total, seen = epoch_totals(total, seen)   # summed over the ranks of a data-parallel run
    mean_loss = total / seen if seen else 0.0
    seconds = time.perf_counter() - t0
    if bar is not None:
        bar.close()
    return {"loss": mean_loss, "seconds": seconds, "lr": lr,
            "samples_per_s": seen / max(seconds, 1e-9)}


_PLOT_LOCK = threading.Lock()


def write_curves(history: dict, path: str) -> str:
    """Loss and accuracy per epoch as a PNG, written atomically.

    Thread-safe: matplotlib's object API only (a Figure with its own FigureCanvasAgg, never
    pyplot's global figure manager or ``matplotlib.use``), and one lock around rendering, since
    matplotlib's text and font caches are not thread-safe (its FAQ says as much).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    epochs = np.arange(1, len(history["loss"]) + 1)
    with _PLOT_LOCK:
        fig = Figure(figsize=(9, 3.6), dpi=100)
        FigureCanvasAgg(fig)
        ax1, ax2 = fig.subplots(1, 2)
        ax1.plot(epochs, history["loss"], marker="o", ms=3)
        ax1.set(xlabel="epoch", ylabel="training loss", title="loss", yscale="log")
        metric, scale, title = (("acc", 100, "accuracy (%)") if "train_acc" in history
                                else ("rmse", 1, "RMSE (the label's units)"))
        for part in ("train", "val"):
            if f"{part}_{metric}" in history:
                ax2.plot(epochs, scale * np.asarray(history[f"{part}_{metric}"]), marker="o", ms=3, label=part)
        ax2.set(xlabel="epoch", ylabel=title, title=title.split(" (")[0])
        ax2.legend()
        for ax in (ax1, ax2):
            ax.grid(alpha=0.3)
        fig.tight_layout()
        _write_atomically(path, lambda f: fig.savefig(f, format="png"))
    return path
