"""Datasets for ``gpugrad train``: the bundled 8x8 digits, or a user's .npz / .csv / .parquet file
(tables through gpugrad.data.tables), and a seeded (stratified when possible) train/test split.

Every loader returns float32 features ``x`` of shape (N, D) and int64 labels ``y`` in 0..C-1.
Bad files raise ``DataError`` with one line naming the file and the problem.
"""
from __future__ import annotations

import os

import numpy as np

from ..npz_reader import DEFAULT_MAX_BYTES, NpzError, NpzReader


from .errors import DataError  # noqa: F401  (re-exported: gpugrad.data.DataError)
from .schema import encode_features, encode_labels, fit_schema
from .tables import TABLE_EXTENSIONS, read_table


def load_digits():
    """scikit-learn's bundled 8x8 handwritten digits (1797 samples, 64 features in [0, 1], 10 classes).

    Needs no network: the data ships inside scikit-learn.
    """
    try:
        from sklearn.datasets import load_digits as sk_load_digits
    except ImportError:
        raise DataError("the default dataset (8x8 digits) needs scikit-learn: pip install scikit-learn "
                        "(or pass --data FILE)") from None
    d = sk_load_digits()
    x = (d.data / 16.0).astype(np.float32)  # pixel intensities are 0..16
    return x, d.target.astype(np.int64)


def load_file(path, max_bytes: int | None = None):
    """Features and labels from ``path``: an .npz with arrays ``x`` (N, D) and ``y`` (N,), or a
    .csv/.parquet table (gpugrad.data.tables: header, delimiter and a row-index column detected;
    the label the last column), for classification.

    Labels are mapped to 0..C-1 in sorted order. Table features are encoded by
    gpugrad.data.schema without scaling (missing cells get the median, text columns one-hot);
    ``gpugrad train`` fits that encoding on its training split only. Features must be finite
    after the cast to float32 (1e39 overflows float32).
    Returns ``(x, y, classes)`` with ``classes`` the original label values.

    The file is untrusted: only a regular file is read (never a FIFO or device, which could
    block), an .npz member's declared size is checked against its stored size and ``max_bytes``
    (default ``gpugrad.npz_reader.DEFAULT_MAX_BYTES``) before allocation, nothing is unpickled,
    and a table larger than ``max_bytes`` is refused. Every problem raises ``DataError`` (one line
    naming the file).
    """
    path = os.fspath(path)
    if not os.path.lexists(path):
        raise DataError(f"{path}: no such file")
    limit = DEFAULT_MAX_BYTES if max_bytes is None else int(max_bytes)
    ext = os.path.splitext(path)[1].lower()
    if ext == ".npz":
        x, y = _read_npz(path, limit)
        return _check(path, x, y)
    if ext not in TABLE_EXTENSIONS:
        raise DataError(f"{path}: unsupported file type {ext or '(none)'!r}; use .npz (arrays x and y), "
                        f".csv or .parquet (the label the last column)")
    table = read_table(path, max_bytes=limit, progress=False)
    y, classes = encode_labels(table, "classify")
    schema = fit_schema(table, np.arange(len(table)), scale=False, task="classify",
                        label_info={"classes": classes})
    return encode_features(table, schema), y, np.asarray(classes)


def _read_npz(path, limit=None):
    try:
        with NpzReader(path, max_bytes=limit) as f:   # limit None: DEFAULT_MAX_BYTES
            missing = [k for k in ("x", "y") if k not in f.files]
            if missing:
                raise DataError(f"{path}: missing array(s) {', '.join(missing)}; the .npz must hold "
                                f"'x' (samples, features) and 'y' (labels); it holds: "
                                f"{', '.join(k[:40] for k in f.files[:8]) or 'nothing'}")
            return f.read("x"), f.read("y")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except NpzError as exc:
        raise DataError(f"{path}: cannot read the .npz: {exc}") from None


def _check(path, x, y):
    x, y = np.asarray(x), np.asarray(y)
    if x.dtype.kind not in "biuf":
        raise DataError(f"{path}: x must be numeric, got dtype {x.dtype}")
    if y.dtype.kind not in "biuf":
        raise DataError(f"{path}: y must hold integer class labels, got dtype {y.dtype}")
    if x.ndim == 0:
        raise DataError(f"{path}: x must be 2-D (samples, features), got a single value")
    if x.ndim == 1:
        x = x.reshape(-1, 1)
    if x.ndim > 2:
        x = x.reshape(len(x), -1)
    if x.shape[1] == 0:
        raise DataError(f"{path}: x has no feature columns (shape {x.shape})")
    if y.ndim != 1:
        raise DataError(f"{path}: y must be 1-D (one label per sample), got shape {y.shape}")
    if len(x) == 0:
        raise DataError(f"{path}: the dataset is empty")
    if len(x) != len(y):
        raise DataError(f"{path}: x has {len(x)} samples but y has {len(y)}")
    # Checked after the cast to the training dtype: 1e39 is finite in float64 but inf in float32.
    with np.errstate(over="ignore", invalid="ignore"):
        x = x.astype(np.float32)
    if not np.all(np.isfinite(x)):
        bad = np.flatnonzero(~np.isfinite(x).all(axis=1))[0]
        raise DataError(f"{path}: x contains NaN or infinite values after the cast to float32 (first "
                        f"in sample {bad}; float32 holds magnitudes up to 3.4e38): fix or rescale them")
    if y.dtype.kind == "f" and not (np.all(np.isfinite(y)) and np.all(y == np.round(y))):
        bad = y[~(np.isfinite(y) & (y == np.round(y)))][:1]
        raise DataError(f"{path}: the labels are not integer-like (e.g. {bad}); "
                        f"the label column must hold class numbers")
    check_labels_fit_int64(path, y)
    classes, y_idx = np.unique(y.astype(np.int64), return_inverse=True)
    if len(classes) < 2:
        raise DataError(f"{path}: need at least 2 classes, found {len(classes)}")
    return x, y_idx.astype(np.int64), classes


def check_labels_fit_int64(path, y: np.ndarray) -> None:
    """Raise DataError when an integer-like label does not fit int64, the label dtype (1e19 would
    otherwise wrap to INT64_MIN in ``astype``)."""
    lo, hi = np.iinfo(np.int64).min, np.iinfo(np.int64).max
    if y.dtype.kind == "f" and not np.all((y >= -2.0 ** 63) & (y < 2.0 ** 63)):
        raise DataError(f"{path}: a label ({y[(y < -2.0 ** 63) | (y >= 2.0 ** 63)][0]:g}) does not fit "
                        f"int64 ({lo}..{hi}); use class numbers such as 0..C-1")
    if y.dtype == np.uint64 and y.size and int(y.max()) > hi:
        raise DataError(f"{path}: a label ({int(y.max())}) does not fit int64 (at most {hi}); use class "
                        f"numbers such as 0..C-1")


def train_test_split(x, y, test_fraction: float = 0.2, seed: int = 0):
    """A seeded split into (x_train, y_train, x_test, y_test).

    Stratified (each class split in the same proportion) when every class has at least 2
    samples; otherwise a plain random split.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"train_test_split: test_fraction must be in (0, 1), got {test_fraction}")
    n = len(y)
    if n < 2:
        raise ValueError(f"train_test_split: need at least 2 samples, got {n}")
    rng = np.random.default_rng([int(seed), 0x5EED])
    classes, counts = np.unique(y, return_counts=True)
    if counts.min() >= 2:
        test = []
        for c in classes:
            idx = rng.permutation(np.flatnonzero(y == c))
            k = min(max(1, int(round(len(idx) * test_fraction))), len(idx) - 1)
            test.append(idx[:k])
        test = np.sort(np.concatenate(test))
    else:
        k = min(max(1, int(round(n * test_fraction))), n - 1)
        test = np.sort(rng.permutation(n)[:k])
    mask = np.zeros(n, dtype=bool)
    mask[test] = True
    return x[~mask], y[~mask], x[mask], y[mask]
