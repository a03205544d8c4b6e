"""Run folders of ``gpugrad train``: never losing a run, the label map, and the data's fingerprint.

* A folder that already holds a run (its ``checkpoint.npz``) is refused as ``--out`` unless the
  run is resumed (``--resume``) or ``--force`` is given; ``--force`` renames the old files with a
  timestamp (``checkpoint.npz`` -> ``checkpoint-20261129-184500.npz``; TensorBoard event files
  into ``events-20261129-184500/``) and never deletes them.
* The default ``--out`` is a new timestamped folder under ``runs/``.
* Labels of a data file are mapped to classes 0..C-1 in sorted order (``gpugrad.data.load_file``);
  the original values are stored in the checkpoint (``"classes"``) so predictions map back.
* The data is recognised by content: :func:`data_source` describes a file by a SHA-256 of its
  parsed arrays (and their shapes) plus its absolute path, so a moved or renamed copy resumes
  and a different file is refused with what differs (rows, columns, labels).
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import time

import numpy as np

CHECKPOINT = "checkpoint.npz"
# What a run writes into its folder; --force sets all of these aside together.
RUN_FILES = (CHECKPOINT, "best.npz", "curves.png", "metrics.csv")
RUNS_ROOT = "runs"
EVENTS_PREFIX = "events.out.tfevents."   # TensorBoard's event files (tensorboardX's SummaryWriter)
LOCK = ".gpugrad-run.lock"   # held (flock) by the training run that owns the folder


class RunFolderError(ValueError):
    """An output folder that cannot be used as given, said in one line."""


def timestamped_out(root: str = RUNS_ROOT, now: float | None = None) -> str:
    """A new folder name under ``root``, e.g. ``runs/20261129-184500`` (``-2``, ``-3`` ... when taken)."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    path = os.path.join(root, stamp)
    k = 2
    while os.path.exists(path):
        path = os.path.join(root, f"{stamp}-{k}")
        k += 1
    return path


def check_writable_dir(path: str, what: str) -> None:
    """Raise RunFolderError unless ``path`` is a writable directory or can be created as one.

    Called before the work starts, so that a bad path costs nothing; nothing is left behind (a
    failed run must not leave empty folders). The test is a real write of a temporary file in
    ``path`` or its nearest existing parent: permission bits say nothing for root, or on
    read-only mounts.
    """
    import tempfile
    path = os.path.abspath(path)
    if os.path.exists(path) and not os.path.isdir(path):
        raise RunFolderError(f"{what} {path} is a file, not a folder; give a folder path")
    probe = path
    while not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if not os.path.isdir(probe):
        raise RunFolderError(f"{what} {path}: {probe} is a file, so the folder cannot be made there")
    try:
        fd, tmp = tempfile.mkstemp(dir=probe, prefix=".gpugrad-write-test-")
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise RunFolderError(f"{what} {path}: cannot write in {probe} ({exc.strerror or exc}); choose "
                             f"another folder") from None


def check_writable_file(path: str, what: str) -> None:
    """Raise RunFolderError unless a file can be written at ``path`` (its folder is created if needed)."""
    if os.path.isdir(path):
        raise RunFolderError(f"{what} {path} is a folder; give a file path")
    check_writable_dir(os.path.dirname(os.path.abspath(path)), f"{what} {path}: its folder")


def file_kind(path: str) -> str:
    """What a non-regular file is, in words."""
    import stat
    mode = os.stat(path).st_mode
    return ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file")


def check_output_file(path: str, what: str, inputs=(), run_folder: str | None = None,
                      own: tuple = ("", "")) -> None:
    """Refuse an output path whose write would destroy something: check_writable_file's checks,
    then an existing non-regular file (a FIFO would block or be replaced), the same file as one of
    ``inputs`` (os.path.samefile: also through links), or a file in ``run_folder`` other than this
    command's own outputs, whose names start with ``own[0]`` and end with ``own[1]`` (the run's
    checkpoints, metrics, curves and event files are its history). RunFolderError, one line.
    """
    check_writable_file(path, what)
    if os.path.exists(path) and not os.path.isfile(path):
        raise RunFolderError(f"{what} {path} is {file_kind(path)}, not a regular file; give a file path "
                             f"(it would be replaced)")
    if os.path.exists(path):
        for name, inp in inputs:
            if inp is not None and os.path.exists(inp) and os.path.samefile(path, inp):
                raise RunFolderError(f"{what} {path} is the same file as {name} {inp}; writing it would "
                                     f"destroy the input: choose another {what}")
    if run_folder is None:
        return
    folder = os.path.dirname(os.path.abspath(path))
    if not (os.path.isdir(folder) and os.path.samefile(folder, run_folder)):
        return
    base = os.path.basename(path)
    mine = base.startswith(own[0]) and base.endswith(own[1])
    if not mine and (os.path.lexists(path) or is_run_file(base)):
        raise RunFolderError(f"{what} {path} is a file of the run in {run_folder}; writing it would "
                             f"destroy part of the run: choose another name ({own[0]}*{own[1]} there, "
                             f"or another folder)")


def is_run_file(name: str) -> bool:
    """Whether ``name`` is one of the files ``gpugrad train`` keeps in a run folder (current or
    set aside by --force)."""
    if name.startswith(EVENTS_PREFIX) or name == LOCK:
        return True
    for run_name in RUN_FILES:
        stem, ext = os.path.splitext(run_name)
        if name == run_name or (name.startswith(stem + "-") and name.endswith(ext)):
            return True
    return False


def check_out(out: str, force: bool, resuming: str | None = None) -> None:
    """Refuse an ``out`` that holds another run unless ``force``; see the module docstring.

    ``resuming``: the checkpoint being resumed; writing over that one is the point of resuming.
    """
    check_writable_dir(out, "--out")
    ckpt = os.path.join(out, CHECKPOINT)
    if not os.path.exists(ckpt) or force:
        return
    if resuming and os.path.abspath(resuming) == os.path.abspath(ckpt):
        return
    raise RunFolderError(f"--out {out} already holds a run ({ckpt}); continue it with "
                         f"--resume {ckpt}, or start a new run there with --force (the old files are "
                         f"kept, renamed with a timestamp), or choose another --out")


@contextlib.contextmanager
def lock_run_folder(out: str):
    """Hold an exclusive lock on the run folder ``out`` (created if needed) while the block runs.

    ``fcntl.flock`` on ``out/.gpugrad-run.lock``: a second ``gpugrad train`` into the same folder
    is refused at once (RunFolderError naming the folder) instead of both writing one run. The OS
    drops the lock when the process ends however it ends (SIGKILL included), so a crashed run
    never leaves the folder locked; the lock file itself stays (an empty hidden file). Where
    fcntl does not exist (Windows) there is no lock.
    """
    try:
        import fcntl
    except ImportError:
        yield
        return
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, LOCK)
    f = open(path, "a")
    try:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunFolderError(f"--out {out} is in use: another gpugrad train is writing a run there "
                                 f"(it holds {path}); wait for it to end, or choose another --out") from None
        yield
    finally:
        f.close()   # closing the file releases the lock


def set_aside(out: str, now: float | None = None) -> list[str]:
    """Rename the run files in ``out`` with a timestamp and move its TensorBoard event files into
    ``events-<timestamp>/`` (for ``--force``); returns the new paths."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    moved = []
    for name in RUN_FILES:
        src = os.path.join(out, name)
        if not os.path.exists(src):
            continue
        stem, ext = os.path.splitext(name)
        dst = os.path.join(out, f"{stem}-{stamp}{ext}")
        k = 2
        while os.path.exists(dst):
            dst = os.path.join(out, f"{stem}-{stamp}-{k}{ext}")
            k += 1
        os.replace(src, dst)
        moved.append(dst)
    # TensorBoard reads every events file in a folder as one run, so the old run's go into a
    # subfolder of their own (shown by TensorBoard as a separate run), not just renamed.
    events = sorted(f for f in os.listdir(out) if f.startswith(EVENTS_PREFIX)
                    and os.path.isfile(os.path.join(out, f)))
    if events:
        folder = os.path.join(out, f"events-{stamp}")
        k = 2
        while os.path.exists(folder):
            folder = os.path.join(out, f"events-{stamp}-{k}")
            k += 1
        os.makedirs(folder)
        for name in events:
            os.replace(os.path.join(out, name), os.path.join(folder, name))
            moved.append(os.path.join(folder, name))
    return moved


# -- labels ----------------------------------------------------------------------------------------
def is_identity(classes) -> bool:
    """True when the original labels already are 0..C-1 (nothing to map)."""
    classes = np.asarray(classes)
    return bool(np.array_equal(classes, np.arange(len(classes))))


def describe_label_map(classes, limit: int = 12) -> str:
    """``"1 -> 0, 1000 -> 1"`` (the first ``limit`` pairs, then how many more)."""
    pairs = [f"{c} -> {i}" for i, c in enumerate(np.asarray(classes).tolist())]
    more = f", ... ({len(pairs) - limit} more)" if len(pairs) > limit else ""
    return ", ".join(pairs[:limit]) + more


# -- the data's identity -------------------------------------------------------------------------------
def data_source(path: str, x: np.ndarray, y: np.ndarray, labels=()) -> dict:
    """What the checkpoint keeps about a data file: absolute path, SHA-256 of the encoded arrays
    (float32 model inputs, labels as class indices or standardised values, each with its shape, and
    the label values), rows, columns, label values (ints or strings; none for regression)."""
    h = hashlib.sha256()
    y = np.ascontiguousarray(y)
    for a in (np.ascontiguousarray(x, dtype=np.float32), y.astype(np.int64 if y.dtype.kind in "iu" else np.float32)):
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    labels = [v if isinstance(v, str) else int(v) for v in labels]
    h.update(repr(labels).encode())
    return {"path": os.path.abspath(path), "sha256": h.hexdigest(), "rows": int(x.shape[0]),
            "columns": int(x.shape[1]), "labels": labels}


def differences(saved: dict, now: dict) -> str:
    """What differs between two :func:`data_source` records, in words (rows, columns, labels)."""
    out = []
    if saved["rows"] != now["rows"]:
        out.append(f"{now['rows']} rows instead of {saved['rows']}")
    if saved["columns"] != now["columns"]:
        out.append(f"{now['columns']} feature columns instead of {saved['columns']}")
    if list(saved["labels"]) != list(now["labels"]):
        new = sorted(set(now["labels"]) - set(saved["labels"]))
        gone = sorted(set(saved["labels"]) - set(now["labels"]))
        out.append("labels differ (" + "; ".join(
            ([f"new: {_few(new)}"] if new else []) + ([f"missing: {_few(gone)}"] if gone else [])) + ")")
    if not out:
        out.append("same rows, columns and labels, but different values")
    return ", ".join(out)


def _few(values, limit: int = 6) -> str:
    return ", ".join(map(str, values[:limit])) + (" ..." if len(values) > limit else "")


# -- the split --------------------------------------------------------------------------------------
MIN_TEST = 10  # below this many test samples the test accuracy moves in steps of 10% or more


def split_warnings(y_train: np.ndarray, y_test: np.ndarray, classes) -> list[str]:
    """Warnings (one line each, with counts) for a split that leaves the test set or a class
    nearly empty: fewer than MIN_TEST test samples, a class with no test sample, a class with
    fewer than 2 training samples."""
    classes = np.asarray(classes)
    n_tr = np.bincount(y_train, minlength=len(classes))
    n_te = np.bincount(y_test, minlength=len(classes))
    warnings = []
    if len(y_test) < MIN_TEST:
        warnings.append(f"warning: the test set has only {len(y_test)} sample(s) (train: {len(y_train)}); "
                        f"its accuracy is coarse (steps of {100 / max(1, len(y_test)):.0f}%); more data "
                        f"makes it meaningful")
    thin = [f"{classes[c]} ({n_tr[c]} train / {n_te[c]} test)" for c in range(len(classes))
            if n_tr[c] < 2 or n_te[c] == 0]
    if thin:
        warnings.append(f"warning: {len(thin)} class(es) nearly empty after the split: {_few(thin)}")
    return warnings
