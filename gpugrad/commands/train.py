"""The training loop behind ``gpugrad train``: an MLP classifier, one checkpoint per epoch, exact resume.

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
from ..data import DataError, load_digits, load_file, train_test_split
from ..grad_mode import no_grad
from ..nn.functional import cross_entropy
from . import runs
from .run_checks import TrainError, check_checkpoint, check_finite_epoch, check_run_settings, check_states
from .run_log import METRICS, TensorBoardLog, write_metrics_csv
from .run_signals import InterruptGuard
from ..serialization import load, remove_stale_temps, save
from ..tensor import Tensor, tensor
from .. import cuda  # cuda.graphed / cuda.is_available looked up per call: tests replace them

CHECKPOINT = "checkpoint.npz"
CURVES = "curves.png"
_FORMAT = "gpugrad-train"

DEFAULT_LR = {"sgd": 0.05, "adam": 1e-3, "adamw": 1e-3}

# The settings that define a run: resuming with any of them changed would not continue it.
RUN_FIELDS = ("data", "hidden", "activation", "optimizer", "lr", "epochs", "batch_size", "seed",
              "dropout", "weight_decay", "momentum", "schedule", "test_fraction", "clip")


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

    def __post_init__(self):
        self.hidden = tuple(int(h) for h in self.hidden)
        if self.graph not in ("auto", "on", "off"):
            raise TrainError(f"--graph must be auto, on or off, got {self.graph!r}")
        if self.lr is None:
            self.lr = DEFAULT_LR.get(self.optimizer, 1e-3)
        check_run_settings(self.run_settings(), "run settings")

    def run_settings(self) -> dict:
        d = {k: getattr(self, k) for k in RUN_FIELDS}
        d["hidden"] = list(self.hidden)
        return d


@dataclass
class TrainResult:
    model: nn.Module
    history: dict
    epochs_run: int
    train_acc: float
    test_acc: float
    seconds: float
    checkpoint: str
    curves: str | None
    device: str
    summary: str = ""


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


def load_dataset(config: TrainConfig):
    """(x_train, y_train, x_test, y_test, n_classes, description) for the config's data."""
    x, y, classes, _, desc = load_data(config.data)
    x_tr, y_tr, x_te, y_te = train_test_split(x, y, config.test_fraction, config.seed)
    return x_tr, y_tr, x_te, y_te, len(classes), desc


def load_data(path: str | None):
    """(x, y in 0..C-1, classes (original label values), source, description) for ``--data path``.

    ``source`` is :func:`gpugrad.runs.data_source` of a file (None for the bundled digits).
    """
    if path is None:
        x, y = load_digits()
        return x, y, np.arange(10), None, "digits (8x8, sklearn)"
    if os.path.isdir(path):
        raise DataError(f"--data {path} is a folder; give a data file (.npz with arrays x and y, or "
                        f".csv with the label in the last column)")
    x, y, classes = load_file(path)
    return x, y, classes, runs.data_source(path, x, classes[y]), os.path.basename(path)


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
    x, y, classes, source, desc = _load_for(config, ckpt, resume)
    x_tr, y_tr, x_te, y_te = train_test_split(x, y, config.test_fraction, config.seed)
    n_classes = len(classes)
    data_id = fingerprint(x_tr, y_tr, x_te, y_te)
    if ckpt is not None and ckpt.get("data_fingerprint") != data_id:
        raise TrainError(f"--resume: {resume} was trained on different data (the dataset or its split "
                         f"changed since); resume with the same --data file")

    model = build_model(config, x_tr.shape[1], n_classes, device)
    opt, sched = build_optimizer(config, model)
    loader = dist.loader(x_tr, y_tr, config.batch_size, config.seed, device)
    history = {"loss": [], "train_acc": [], "test_acc": [], "seconds": [], "lr": []}
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

    xt_tr, xt_te = tensor(x_tr, device=device), tensor(x_te, device=device)
    os.makedirs(config.out, exist_ok=True)
    ckpt_path = os.path.join(config.out, CHECKPOINT)
    if dist.is_main:   # interrupted saves (SIGKILL, power loss) leave temporary files: clear this run's
        remove_stale_temps(ckpt_path)
        remove_stale_temps(os.path.join(config.out, CURVES))
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(config.out, METRICS + ".tmp"))   # run_log.write_metrics_csv's
    n_params = sum(p.size for p in model.parameters())
    log(f"run folder: {config.out}")
    if not runs.is_identity(classes):
        log(f"labels mapped to classes: {runs.describe_label_map(classes)} (stored in the checkpoint; "
            f"predict and eval map back)")
    if start == 0:
        for w in runs.split_warnings(y_tr, y_te, classes):
            log(w)
        log(f"training MLP {x_tr.shape[1]}-{'-'.join(map(str, config.hidden))}{'-' if config.hidden else ''}"
            f"{n_classes} ({config.activation}, {n_params:,} parameters) on {desc}: {len(y_tr)} train / "
            f"{len(y_te)} test samples, {config.optimizer} lr {config.lr:g}, batch {config.batch_size}, "
            f"{config.epochs} epochs, device {device}")
    else:
        log(f"resuming from {resume} after epoch {start}/{config.epochs} on device {device}")

    run_step = dist.step_runner(_StepRunner(model, opt, use_graph(config, device), log, config.clip),
                                loader)
    board = TensorBoardLog(config.out) if dist.is_main else None
    t_run = time.perf_counter()
    # SIGTERM (a batch scheduler's stop) takes the Ctrl-C path; neither cuts a checkpoint short.
    guard = InterruptGuard()
    try:
        with guard:
            for epoch in range(start, config.epochs):
                metrics = _one_epoch(model, opt, loader, epoch, config, run_step)
                # Before anything is saved: a diverged epoch must not overwrite the last finite one.
                check_finite_epoch(epoch + 1, metrics["loss"], model, metrics["lr"],
                                   ckpt_path if os.path.exists(ckpt_path) else None)
                if sched is not None:
                    sched.step()
                metrics["train_acc"] = evaluate(model, xt_tr, y_tr)
                metrics["test_acc"] = evaluate(model, xt_te, y_te)
                with guard.critical():
                    for k in history:
                        history[k].append(metrics[k])
                    if dist.is_main:   # rank 0 alone writes the run's files
                        save({"format": _FORMAT, "config": config.run_settings(), "epoch": epoch + 1,
                              "model": model.state_dict(), "optimizer": opt.state_dict(),
                              "scheduler": sched.state_dict() if sched is not None else None,
                              "loader": loader.state_dict(), "history": history,
                              "data_fingerprint": data_id, "data_source": source,
                              "classes": np.asarray(classes, dtype=np.int64),
                              "n_features": int(x_tr.shape[1]), "device": device}, ckpt_path)
                        write_metrics_csv(history, config.out)
                        board.epoch(epoch + 1, metrics)
                    log(f"epoch {epoch + 1:>{len(str(config.epochs))}}/{config.epochs}  loss "
                        f"{metrics['loss']:.4f}  train acc {100 * metrics['train_acc']:6.2f}%  test acc "
                        f"{100 * metrics['test_acc']:6.2f}%  {metrics['seconds']:.2f} s  "
                        f"{metrics['samples_per_s']:,.0f} samples/s")
                if on_epoch_end is not None:
                    on_epoch_end(epoch + 1, metrics)
    finally:
        if board is not None:
            board.close()
        curves = (write_curves(history, os.path.join(config.out, CURVES))
                  if history["loss"] and dist.is_main else None)
    elapsed = time.perf_counter() - t_run

    done = len(history["loss"])
    train_acc = history["train_acc"][-1] if done else evaluate(model, xt_tr, y_tr)
    test_acc = history["test_acc"][-1] if done else evaluate(model, xt_te, y_te)
    best = int(np.argmax(history["test_acc"])) if done else 0
    summary = (f"done: {done} epochs, test acc {100 * test_acc:.2f}%"
               + (f" (best {100 * history['test_acc'][best]:.2f}% at epoch {best + 1})" if done else "")
               + f", train acc {100 * train_acc:.2f}%, {sum(history['seconds'][start:]):.1f} s training"
               f" ({elapsed:.1f} s with evaluation and checkpoints); checkpoint {ckpt_path}"
               + (f", curves {curves}" if curves else "") + f"; run folder {config.out}")
    log(summary)
    return TrainResult(model=model, history=history, epochs_run=done - start, train_acc=train_acc,
                       test_acc=test_acc, seconds=elapsed, checkpoint=ckpt_path, curves=curves,
                       device=device, summary=summary)


def _lock_folder(held: contextlib.ExitStack, out: str):
    """Take ``out``'s run lock into ``held``; None, or the refusal as one line (shared by the ranks)."""
    try:
        held.enter_context(runs.lock_run_folder(out))
    except runs.RunFolderError as exc:
        return str(exc)
    return None


def _load_for(config: TrainConfig, ckpt: dict | None, resume: str | None):
    """load_data for this run; when resuming, the file must hold the run's data (by content)."""
    source = ckpt.get("data_source") if ckpt is not None else None
    try:
        loaded = load_data(config.data)
    except DataError as exc:
        if source is None or os.path.exists(config.data):
            raise
        raise TrainError(f"--resume: the run's data file {config.data} is not there any more ({exc}); "
                         f"pass --data FILE at its new place (any name: the data is recognised by "
                         f"its content)") from None
    now = loaded[3]
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

    def __init__(self, model, opt, graphed: bool, log, clip: float = 0.0):
        self.model, self.opt, self.graphed, self.log = model, opt, graphed, log
        self.clip = float(clip)
        self._graph = None

    def new_epoch(self):
        """Drop the last epoch's graph (and its memory); the next step captures a new one."""
        self._graph = None

    def step(self, xb, yb):
        opt, model = self.opt, self.model
        opt.zero_grad()
        loss = cross_entropy(model(xb), yb)
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
    directory, name = os.path.split(os.path.abspath(path))
    with _PLOT_LOCK:
        fig = Figure(figsize=(9, 3.6), dpi=100)
        FigureCanvasAgg(fig)
        ax1, ax2 = fig.subplots(1, 2)
        ax1.plot(epochs, history["loss"], marker="o", ms=3)
        ax1.set(xlabel="epoch", ylabel="training loss (cross-entropy)", title="loss", yscale="log")
        ax2.plot(epochs, 100 * np.asarray(history["train_acc"]), marker="o", ms=3, label="train")
        ax2.plot(epochs, 100 * np.asarray(history["test_acc"]), marker="o", ms=3, label="test")
        ax2.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
        ax2.legend()
        for ax in (ax1, ax2):
            ax.grid(alpha=0.3)
        fig.tight_layout()
        # The temporary name matches serialization.remove_stale_temps's pattern, so a run killed
        # mid-write has it removed when it resumes.
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                fig.savefig(f, format="png")
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    return path
