"""The schema a run keeps with its model: the feature columns by name, order and kind, the
preprocessing fitted on the training split only, and the label map or the target's scale.

A schema is plain JSON-able data (dicts, lists, strings, numbers), stored in the checkpoint by
``gg.save``::

    {"format": "gpugrad-schema", "version": 1, "header": True, "scale": True,
     "features": [{"name": "age", "kind": "numeric", "median": 41.0, "mean": 40.2, "std": 12.1,
                   "indicator": True},
                  {"name": "colour", "kind": "categorical", "categories": ["blue", "red"],
                   "missing": False},
                  {"name": "member", "kind": "boolean", "median": 1.0, "indicator": False}],
     "label": {"names": ["species"], "task": "classify", "classes": ["cat", "dog"]}}

How each column becomes model inputs (scikit-learn's conventions):

* numeric: missing cells get the training median (``SimpleImputer(strategy="median")``), a 0/1
  "missing" indicator column follows where the training split had any missing cell
  (``add_indicator=True``), then ``(v - mean) / std`` with the training mean and population std
  (``StandardScaler``; a constant column keeps std 1). ``--no-scale`` skips the last step.
* boolean: 1 for true, 0 for false, missing as numeric; never scaled.
* categorical: one-hot over the training categories (sorted), plus a "missing" category when
  the training split had empty cells. A category the run never saw counts as missing, with a
  warning: the "missing" column where there is one, all zeros otherwise (``OneHotEncoder(
  handle_unknown="ignore")``).

Regression targets are standardised with the training mean and std; predictions are mapped back
to the original units.
"""
from __future__ import annotations

import numpy as np

from .errors import DataError

__all__ = ["fit_schema", "encode_features", "encoded_names", "choose_task", "encode_labels",
           "MAX_CATEGORIES"]

FORMAT = "gpugrad-schema"
MAX_CATEGORIES = 1000   # a text column with more distinct values is an identifier or free text
MANY_CLASSES = 20       # an integer target with more distinct values than this, and ...
MANY_CLASSES_FRACTION = 0.05   # ... more than this fraction of the rows, is ambiguous: ask


# -- the task -----------------------------------------------------------------------------------------
def choose_task(table, task: str = "auto") -> str:
    """"classify" or "regress" for ``table``'s label. ``auto``: text or boolean labels classify; a
    float column (the file writes decimals) regresses, unless every value is whole and there are at
    most 10 of them (0.0/1.0 from a frame with a float label); an integer column classifies
    unless it has more than 20 distinct values that are more than 5% of the rows, where it stops
    and asks for --task."""
    if task in ("classify", "regress"):
        if task == "regress" and table.label.dtype == object:
            first = next((v for v in np.ravel(table.label) if v is not None), None)
            raise DataError(f"{table.path}: --task regress needs a numeric label, but column "
                            f"{table.label_name!r} holds text (e.g. {first!r}); use --task classify or "
                            f"another --label")
        return task
    y = table.label
    if y.dtype == object:
        return "classify"
    if y.ndim == 2:
        return "regress"
    finite = y[np.isfinite(y)]
    whole = bool(np.all(finite == np.round(finite)))
    k = len(np.unique(finite))
    if table.label_is_float and not (whole and k <= 10):
        return "regress"
    if not whole:
        return "regress"
    if k > MANY_CLASSES and k > MANY_CLASSES_FRACTION * len(y):
        raise DataError(f"{table.path}: the label column {table.label_name!r} holds {k} distinct whole numbers "
                        f"in {len(y)} rows: is that {k} classes or a quantity? Pass --task regress (predict "
                        f"the value) or --task classify")
    return "classify"


def encode_labels(table, task: str, classes=None):
    """(y, classes): class indices (N,) int64 and the sorted original classes for classify;
    float32 (N,) or (N, T) values and None for regress. ``classes`` given (predict/eval): map to
    those, refusing a label the run never saw."""
    y = table.label
    _check_no_missing(table, y)
    if task == "regress":
        return y.astype(np.float32), None
    if y.ndim == 2:
        raise DataError(f"{table.path}: several --label columns are for --task regress only")
    if y.dtype != object:
        whole = np.all(y == np.round(y))
        if whole and not np.all(np.abs(y) < 2.0 ** 63):
            i = int(np.flatnonzero(np.abs(y) >= 2.0 ** 63)[0])
            raise DataError(f"{table.where(i, table.label_name)}: label {y[i]:g} does not fit int64; use class "
                            f"numbers such as 0..C-1 (or --task regress for a quantity)")
        if whole:
            values = y.astype(np.int64)
        else:
            values = np.array([repr(float(v)) for v in y], dtype=object)
    else:
        values = y
    if classes is None:
        uniq = np.unique(values) if values.dtype != object else np.array(sorted(set(values.tolist())),
                                                                          dtype=object)
        if len(uniq) < 2:
            raise DataError(f"{table.path}: the label column {table.label_name!r} has only one value "
                            f"({uniq[0]!r} in all {len(y)} rows); a classifier needs at least 2 classes "
                            f"(another --label?)")
        classes = uniq.tolist()
    lookup = {c: i for i, c in enumerate(classes)}
    alt = {str(c): i for i, c in enumerate(classes)}   # "7" in a text file is class 7 of an int run
    idx = np.empty(len(values), dtype=np.int64)
    for i, v in enumerate(values.tolist()):
        j = lookup.get(v, alt.get(str(v)))
        if j is None:
            raise DataError(f"{table.where(i, table.label_name)}: label {v!r} was not among the run's classes "
                            f"({', '.join(map(str, classes[:12]))}{' ...' if len(classes) > 12 else ''}); "
                            f"remove those rows, or train a run that has them")
        idx[i] = j
    return idx, list(classes)


def _check_no_missing(table, y):
    miss = (np.array([v is None for v in np.ravel(y)]) if y.dtype == object
            else np.isnan(y).reshape(len(y), -1).any(axis=1))
    if miss.any():
        i = int(np.flatnonzero(miss.reshape(len(y), -1).any(axis=1))[0])
        raise DataError(f"{table.where(i, table.label_name)}: the label is empty; fill it in or remove the row "
                        f"({int(miss.sum())} row(s) have no label)")


# -- the features -----------------------------------------------------------------------------------------
def fit_schema(table, train_rows: np.ndarray, *, scale: bool = True, task: str, label_info: dict) -> dict:
    """The schema of ``table`` with every statistic taken from the records ``train_rows`` only."""
    feats = []
    num_index = {n: j for j, n in enumerate(table.numeric_names)}
    for name in table.names:
        kind = table.kinds[name]
        if kind == "numeric":
            v = table.numeric[train_rows, num_index[name]].astype(np.float64)
            feats.append(_numeric_entry(name, v, scale))
        elif kind == "boolean":
            v = _bool_values(table.text[name][train_rows])
            entry = _numeric_entry(name, v, False)
            entry["kind"] = "boolean"
            feats.append(entry)
        else:
            col = table.text[name][train_rows]
            present = [c for c in col.tolist() if c is not None]
            cats = sorted(set(present))
            if len(cats) > MAX_CATEGORIES:
                raise DataError(f"{table.path}: column {name!r} has {len(cats):,} distinct text values in "
                                f"{len(col):,} training rows: an identifier or free text, not a category; "
                                f"leave it out with --ignore {name}")
            feats.append({"name": name, "kind": "categorical", "categories": cats,
                          "missing": len(present) < len(col)})
    return {"format": FORMAT, "version": 1, "header": bool(table.header), "scale": bool(scale),
            "delimiter": table.delimiter, "index_column": table.index_column, "features": feats,
            "label": {"names": ([table.label_name] if isinstance(table.label_name, str)
                                else list(table.label_name or [])), "task": task, **label_info}}


def _numeric_entry(name, v, scale):
    miss = np.isnan(v)
    med = float(np.median(v[~miss])) if (~miss).any() else 0.0
    filled = np.where(miss, med, v)
    mean, std = float(filled.mean()) if len(filled) else 0.0, float(filled.std()) if len(filled) else 1.0
    if not np.isfinite(std) or std < 1e-12 * max(1.0, abs(mean)):
        std = 1.0   # a constant column: centred, not blown up
    entry = {"name": name, "kind": "numeric", "median": med, "indicator": bool(miss.any())}
    if scale:
        entry.update(mean=mean, std=std)
    return entry


def _bool_values(col) -> np.ndarray:
    return np.array([np.nan if c is None else (1.0 if c == "true" else 0.0) for c in col.tolist()])


def encoded_names(schema: dict) -> list:
    """The model's input columns in order, e.g. ``["age", "age (missing)", "colour=red"]``."""
    out = []
    for f in schema["features"]:
        if f["kind"] == "categorical":
            out += [f"{f['name']}={c}" for c in f["categories"]] + ([f"{f['name']}=(missing)"]
                                                                    if f["missing"] else [])
        else:
            out += [f["name"]] + ([f"{f['name']} (missing)"] if f["indicator"] else [])
    return out


def encode_features(table, schema: dict, warn=None) -> np.ndarray:
    """(N, D) float32 model inputs of ``table`` by ``schema``.

    When every feature is numeric without indicators, the table's own numeric block is
    standardised in place and returned (no copy: the memory bound of 200,000 x 50 files).
    ``warn(line)`` gets one line per column with categories the run never saw.
    """
    feats = schema["features"]
    num_index = {n: j for j, n in enumerate(table.numeric_names)}
    width = sum(len(f["categories"]) + f["missing"] if f["kind"] == "categorical" else 1 + f["indicator"]
                for f in feats)
    plain = all(f["kind"] == "numeric" and not f["indicator"] for f in feats) and \
        [f["name"] for f in feats] == list(table.numeric_names)
    n = len(table)
    x = table.numeric if plain else np.empty((n, width), dtype=np.float32)
    col = 0
    for f in feats:
        name = f["name"]
        if f["kind"] in ("numeric", "boolean"):
            v = (table.numeric[:, num_index[name]] if f["kind"] == "numeric"
                 else _bool_values(table.text[name]).astype(np.float32))
            miss = np.isnan(v)
            if plain:
                target = v   # a view into x
            else:
                x[:, col] = v
                target = x[:, col]
            if miss.any():
                target[miss] = f["median"]
            if "mean" in f:
                target -= np.float32(f["mean"])
                target /= np.float32(f["std"])
            col += 1
            if f["indicator"]:
                x[:, col] = miss
                col += 1
        else:
            cats = f["categories"]
            lookup = {c: i for i, c in enumerate(cats)}
            block = x[:, col:col + len(cats) + f["missing"]]
            block[:] = 0
            values = table.text[name].tolist()
            unknown, unknown_rows = {}, 0
            for i, v in enumerate(values):
                j = lookup.get(v) if v is not None else None
                if j is None:
                    if v is not None:
                        unknown.setdefault(v, i)
                        unknown_rows += 1
                    if f["missing"]:
                        block[i, len(cats)] = 1
                else:
                    block[i, j] = 1
            if unknown and warn is not None:
                v, i = next(iter(unknown.items()))
                warn(f"warning: {table.where(i, name)}: category {v!r} was not in the training data"
                     + (f" ({len(unknown)} new categories in all" if len(unknown) > 1 else " (")
                     + f"{', ' if len(unknown) > 1 else ''}{unknown_rows} row(s))"
                     + "; read as missing (retrain with these rows to learn them)")
            col += len(cats) + f["missing"]
    if plain:
        table.numeric = None   # x is that block now, standardised: the table no longer holds it
    return x


def check_schema(schema) -> dict:
    """Raise DataError unless ``schema`` (from a checkpoint: untrusted) has the fields and types
    :func:`encode_features` uses."""
    def bad(what):
        raise DataError(f"the run's schema is malformed ({what}); the checkpoint is damaged or not from "
                        f"this gpugrad")
    if not isinstance(schema, dict) or schema.get("format") != FORMAT:
        bad("format")
    feats = schema.get("features")
    if not isinstance(feats, list) or not feats:
        bad("features")
    for f in feats:
        if not isinstance(f, dict) or not isinstance(f.get("name"), str):
            bad("a feature without a name")
        kind = f.get("kind")
        if kind in ("numeric", "boolean"):
            nums = [f.get("median")] + ([f["mean"], f["std"]] if "mean" in f else [])
            if not all(isinstance(v, (int, float)) and np.isfinite(v) for v in nums) or \
                    not isinstance(f.get("indicator"), bool) or ("std" in f and not f["std"] > 0):
                bad(f"feature {f['name'][:40]!r}")
        elif kind == "categorical":
            if not isinstance(f.get("categories"), list) or not all(isinstance(c, str) for c in f["categories"]) \
                    or not isinstance(f.get("missing"), bool):
                bad(f"feature {f['name'][:40]!r}")
        else:
            bad(f"feature kind {kind!r}")
    label = schema.get("label")
    if not isinstance(label, dict) or label.get("task") not in ("classify", "regress") or \
            not isinstance(label.get("names"), list):
        bad("label")
    if label["task"] == "regress":
        for k in ("mean", "std"):
            v = label.get(k)
            if not isinstance(v, list) or not all(isinstance(a, (int, float)) and np.isfinite(a) for a in v):
                bad(f"label {k}")
    elif not isinstance(label.get("classes"), list) or len(label["classes"]) < 2:
        bad("label classes")
    return schema
