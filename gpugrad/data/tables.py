"""A user's own table as ``gpugrad train/predict/eval`` read it: .csv (and .tsv) through pandas,
.parquet through pyarrow.

Why pandas' C parser for CSV (not pyarrow's CSV reader): it is the reference users compare with
(the scale target is "no slower than pandas' own read_csv"), it reads in chunks (``chunksize``),
so memory stays bounded by the output arrays plus one chunk, it keeps empty lines as rows
(``skip_blank_lines=False``), so a record's position is its row in the file and every error can
name that row, and it takes a decimal comma (``decimal=","``), which ``;``-separated spreadsheet
exports use. pyarrow's CSV reader is faster on many cores but reads whole blocks without row
numbers. Neither reader unpickles anything; Parquet is read column by column through pyarrow
(``iter_batches``), never through pandas metadata, and columns of extension types are refused.

What is detected (each overridable):

* the delimiter among ``,`` ``;`` tab ``|`` (``--delimiter``), and a decimal comma with ``;``;
* a header row (``--header`` / ``--no-header``): a first row with a name over a column of numbers,
  a first row of text only, or the column numbers ``0,1,...`` that ``DataFrame.to_csv`` writes for
  a frame without names, are a header;
* a row-index first column (pandas' ``to_csv()`` default): an unnamed first column, or one whose
  values are exactly 0..n-1; it is dropped with a one-line note;
* UTF-8 with or without a byte-order mark (Excel's "CSV UTF-8").

Column kinds: numeric (float32 features, NaN where a cell is missing), boolean (true/false text,
or a Parquet bool column) and categorical (any other text). Every problem is a
:class:`~gpugrad.data.datasets.DataError` of one line naming the file, the 1-based row as the file
counts it (the header is row 1), the column by name, the value, and the option that fixes it.
"""
from __future__ import annotations

import csv
import io
import os
import re
import time
from dataclasses import dataclass, field

import numpy as np

from ..npz_reader import DEFAULT_MAX_BYTES, NpzError, open_regular
from .errors import DataError

__all__ = ["Table", "read_table", "TABLE_EXTENSIONS", "sniff"]

TABLE_EXTENSIONS = (".csv", ".tsv", ".parquet", ".pq")
DELIMITERS = (",", ";", "\t", "|")
CHUNK_ROWS = 32_768          # rows per chunk: a chunk's DataFrame is the only copy beyond the output
SAMPLE_BYTES = 256 * 1024    # what the sniffer looks at
SAMPLE_ROWS = 1000           # rows read to decide each column's kind
PROGRESS_BYTES = 32 * 2 ** 20   # files from this size get a progress line
_TRUE, _FALSE = {"true", "yes"}, {"false", "no"}
_INDEX_NAMES = ("", "Unnamed: 0", "index", "__index_level_0__")
_COMMA_DECIMAL = re.compile(r"^\s*[+-]?\d+,\d+(?:[eE][+-]?\d+)?\s*$")


@dataclass
class Table:
    """The columns of a file, split by kind.

    ``numeric``: (N, len(numeric_names)) float32, NaN for a missing cell. ``text``: name -> (N,)
    object array of str or None (categorical and boolean columns, booleans as "true"/"false").
    ``label``: the label column(s) raw, (N,) float64 (NaN: missing) or object, or None when the
    file has no label column. ``rows``: (N,) int64, each record's 1-based row in the file.
    ``names``: the feature columns in file order; ``kinds``: name -> numeric|boolean|categorical.
    """

    path: str
    names: list
    kinds: dict
    numeric_names: list
    numeric: np.ndarray
    text: dict
    label_name: str | None
    label: np.ndarray | None
    label_is_float: bool
    rows: np.ndarray
    header: bool
    delimiter: str | None = None
    index_column: str | None = None
    notes: list = field(default_factory=list)

    def __len__(self):
        return len(self.rows)

    def where(self, i: int, column: str) -> str:
        """``"FILE row R, column 'C'"`` for record ``i``."""
        return f"{self.path} row {int(self.rows[i])}, column {column!r}"


# -- sniffing ------------------------------------------------------------------------------------
def _number(s: str, decimal: str = ".") -> bool:
    s = s.strip()
    if not s:
        return False
    if decimal == ",":
        s = s.replace(",", ".")
    try:
        float(s)
        return True
    except ValueError:
        return False


def _sample_text(path: str) -> str:
    try:
        with open_regular(path) as f:
            raw = f.read(SAMPLE_BYTES)
    except NpzError as exc:
        raise DataError(f"{path}: cannot read it: {exc}") from None
    text = raw.decode("utf-8-sig", errors="ignore" if len(raw) == SAMPLE_BYTES else "strict")
    if len(raw) == SAMPLE_BYTES:   # the cut may split a row (or a character): drop the partial row
        text = text[:text.rfind("\n") + 1] or text
    return text


def _one_line(exc, limit: int = 200) -> str:
    """An exception's text as one printable line (a library's message may hold newlines or bytes)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text[:limit]


def sniff(path: str, delimiter: str | None = None, header: bool | None = None):
    try:
        return _sniff(path, delimiter, header)
    except csv.Error as exc:
        raise DataError(f"{path}: cannot split its first rows into columns ({_one_line(exc)}); is it a CSV "
                        f"file? (--delimiter)") from None


def _sniff(path, delimiter, header):
    """(delimiter, decimal, header, first_row) of a CSV from its first 256 KiB.

    A delimiter is a candidate when at least 90% of the sampled rows split into the same number
    (> 1) of fields; among candidates, the one whose fields are most often numbers wins (so
    ``1,5;2,0`` is ``;`` with a decimal comma), then the one with more fields.
    """
    try:
        text = _sample_text(path)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start}); "
                        f"save the file as UTF-8 (Excel: CSV UTF-8)") from None
    lines = [ln for ln in text.splitlines() if ln.strip()][:200]
    if not lines:
        raise DataError(f"{path}: the file has no data rows")
    if delimiter is None:
        best = None
        for cand in DELIMITERS:
            rows = list(csv.reader(lines, delimiter=cand))
            widths = [len(r) for r in rows]
            width = max(set(widths), key=widths.count)
            if width < 2 or widths.count(width) < 0.9 * len(widths):
                continue
            cells = [c for r in rows[1:] or rows for c in r]
            dec = "," if cand != "," and any(_COMMA_DECIMAL.match(c) for c in cells) else "."
            numeric = sum(_number(c, dec) for c in cells) / max(1, len(cells))
            score = (numeric, width)
            if best is None or score > best[0]:
                best = (score, cand, dec)
        if best is None:
            raise DataError(f"{path}: cannot tell how the columns are separated (tried , ; tab |; every row "
                            f"needs at least one feature and a label); give --delimiter")
        delimiter, decimal = best[1], best[2]
    else:
        rows = list(csv.reader(lines, delimiter=delimiter))
        cells = [c for r in rows[1:] for c in r]
        decimal = "," if delimiter != "," and any(_COMMA_DECIMAL.match(c) for c in cells) else "."
    rows = list(csv.reader(lines[:SAMPLE_ROWS], delimiter=delimiter))
    first = rows[0]
    if header is None:
        header = _looks_like_header(first, rows[1:], decimal)
    return delimiter, decimal, header, first


def _estimate_rows(path: str) -> int:
    """Rows of a CSV from its size and the mean line length of its first 256 KiB, plus 2%."""
    size = os.path.getsize(path)
    with open_regular(path) as f:
        head = f.read(SAMPLE_BYTES)
    lines = max(1, head.count(b"\n"))
    return int(size / (len(head) / lines) * 1.02) + 16


def _looks_like_header(first, rest, decimal) -> bool:
    if not rest:
        return not all(_number(c, decimal) for c in first)
    for j, name in enumerate(first):
        col = [r[j] for r in rest if j < len(r) and r[j].strip()]
        if not col:
            continue
        mostly_numbers = sum(_number(c, decimal) for c in col) >= 0.9 * len(col)
        if mostly_numbers and (not name.strip() and j == 0 or name.strip() and not _number(name, decimal)):
            return True   # a name (or the empty name of an index) over a column of numbers
    cells = first[1:] if first and not first[0].strip() else first
    if cells and all(re.fullmatch(r"\s*\d+\s*", c) for c in cells):
        ints = [int(c) for c in cells]
        start = ints[0]
        if start in (0, 1) and ints == list(range(start, start + len(ints))):
            # DataFrame.to_csv of a frame without column names writes 0,1,...: a header unless
            # the next row is the same run of integers (then it is data counting up).
            nxt = rest[0][len(first) - len(cells):]
            return [c.strip() for c in nxt] != [c.strip() for c in cells]
    return all(c.strip() and not _number(c, decimal) for c in first)


# -- reading -------------------------------------------------------------------------------------------
def _progress_printer(path: str, total: int, stream=None):
    import sys
    stream = stream or sys.stderr
    tty = getattr(stream, "isatty", lambda: False)()
    state = {"last": 0.0, "t0": time.perf_counter()}

    def report(done: int, rows: int, final: bool = False):
        now = time.perf_counter()
        if not final and now - state["last"] < (0.5 if tty else 5.0):
            return
        state["last"] = now
        pct = 100.0 * done / max(1, total)
        line = (f"reading {os.path.basename(path)}: {pct:5.1f}% of {total / 2 ** 20:,.0f} MiB, {rows:,} rows, "
                f"{now - state['t0']:.1f} s")
        if tty:
            stream.write("\r" + line + ("\n" if final else ""))
        else:
            stream.write(line + "\n")
        stream.flush()
    return report


def read_table(path, *, label=None, header: bool | None = None, delimiter: str | None = None,
               na_values=(), ignore=(), label_required: bool = True, expected=None,
               max_bytes: int | None = None, progress=None) -> Table:
    """Read ``path`` (.csv/.tsv/.txt or .parquet/.pq) into a :class:`Table`.

    ``label``: a column name, or a position (1 = the first column, -1 = the last; as a string or
    int), or a list of them; None means the last column. With ``label_required=False`` a label
    that is not in the file gives ``table.label = None`` (predict on unlabelled data).
    ``expected``: for predict/eval, {"names": [...], "kinds": {...}} of the run's features: a
    column's kind is then the run's (so "3" in a categorical column stays text).
    ``progress``: None (a line on stderr for files of 32 MiB or more), False, or a callable
    ``(bytes_done, rows, final=False)``.
    """
    path = os.fspath(path)
    if not os.path.lexists(path):
        raise DataError(f"{path}: no such file")
    if os.path.isdir(path):
        raise DataError(f"{path} is a folder; give a data file (.csv, .parquet or .npz)")
    limit = DEFAULT_MAX_BYTES if max_bytes is None else int(max_bytes)
    try:
        size = os.stat(path).st_size
    except OSError as exc:
        raise DataError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if size > limit:
        raise DataError(f"{path}: the file is {size:,} bytes, over the load limit of {limit:,} "
                        f"(set GPUGRAD_MAX_LOAD_BYTES to raise it)")
    if progress is None:
        progress = _progress_printer(path, size) if size >= PROGRESS_BYTES else False
    ext = os.path.splitext(path)[1].lower()
    reader = _ParquetReader if ext in (".parquet", ".pq") else _CsvReader
    return reader(path, header, delimiter, list(na_values), progress).read(
        label, list(ignore), label_required, expected)


def _pandas():
    try:
        import pandas as pd
    except ImportError:
        raise DataError("reading CSV files needs pandas: pip install 'gpugrad[tables]'") from None
    return pd


class _Reader:
    """What both formats share: choosing the columns, then filling the output chunk by chunk."""

    def __init__(self, path, header, delimiter, na_values, progress):
        self.path, self.header, self.delimiter = path, header, delimiter
        self.na_values, self.progress = na_values, progress
        self.notes = []

    # the columns ------------------------------------------------------------------------------
    def _choose(self, names, sample_kinds, label, ignore, label_required, expected, index_like):
        """Decide the index column, the label column(s), the features and their kinds."""
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise DataError(f"{self.path}: more than one column is named {dup[0]!r}; give each column its "
                            f"own name (columns are matched by name)")
        index = None
        first = names[0]
        if len(names) > 2 and (first in _INDEX_NAMES or (index_like and not self._named(first, label))) \
                and not self._named(first, label) and (expected is None or first not in expected["names"]):
            index = first
        labels = self._labels(names, label, index, label_required, expected)
        for name in ignore:
            if name not in names:
                raise DataError(f"{self.path}: --ignore {name}: no such column (the columns: {_few(names)})")
        features = [n for n in names if n != index and n not in labels and n not in ignore]
        if expected is not None:
            missing = [n for n in expected["names"] if n not in features]
            extra = [n for n in features if n not in expected["names"]]
            if missing:
                raise DataError(f"{self.path}: column {missing[0]!r} is missing (the run was trained with "
                                f"{_few(expected['names'])}); add it"
                                + (" (a file without a header is read only when the run's had none either)"
                                   if not self.header else ""))
            if extra:
                raise DataError(f"{self.path}: column {extra[0]!r} was not among the run's features "
                                f"({_few(expected['names'])}); remove it or leave it out with --ignore "
                                f"{extra[0]}")
            kinds = {n: expected["kinds"][n] for n in features}
        else:
            kinds = {n: sample_kinds[n] for n in features}
        if not features:
            raise DataError(f"{self.path}: no feature columns are left (columns: {_few(names)}, label "
                            f"{_few(labels)}); every row needs at least one feature and a label")
        return index, labels, features, kinds

    def _named(self, name, label):
        wanted = label if isinstance(label, (list, tuple)) else [label]
        return any(str(w) == name for w in wanted if w is not None)

    def _labels(self, names, label, index, label_required, expected):
        wanted = label if isinstance(label, (list, tuple)) else [label]
        cols = [n for n in names if n != index]
        out = []
        for w in wanted:
            if w is None:
                if expected is not None:   # predict/eval: the run's label, if the file has it
                    continue
                out.append(cols[-1])
                continue
            w = str(w)
            if w in names:
                out.append(w)
                continue
            if re.fullmatch(r"-?\d+", w) and int(w) != 0 and abs(int(w)) <= len(cols) and expected is None:
                k = int(w)
                out.append(cols[k - 1 if k > 0 else k])
                continue
            if not label_required:
                continue
            raise DataError(f"{self.path}: --label {w}: no such column (the columns: {_few(names)}); give a "
                            f"column name, or a position (1 = first, -1 = last)")
        return out

    def _kind_of(self, values, decimal=".") -> str:
        """numeric | boolean | categorical from a sample of a column's text cells (vectorised: the
        sample is 1000 rows of every column, a fixed cost of the read)."""
        pd = _pandas()
        s = pd.Series(values, dtype=object).dropna().astype(str).str.strip()
        s = s[s != ""]
        if not len(s):
            return "numeric"
        low = s.str.lower()
        if low.isin(_TRUE | _FALSE).all():
            return "boolean"
        vals = s.str.replace(",", ".", regex=False) if decimal == "," else s
        numbers = pd.to_numeric(vals, errors="coerce").notna() | low.isin(self._na_set())
        n = int(numbers.sum())
        if n >= 0.9 * len(s) and n > 0:
            return "numeric"   # a stray text cell among numbers is an error that names it, not a category
        return "categorical"

    def _na_set(self):
        return {"na", "n/a", "nan", "null", "none", "-nan", "#n/a", "<na>"} | {v.lower() for v in self.na_values}

    # the output ------------------------------------------------------------------------------------
    def _start(self, features, kinds, labels):
        self.features, self.kinds, self.labels = features, kinds, labels
        self.numeric_names = [n for n in features if kinds[n] == "numeric"]
        self.out, self.text, self.label_parts, self.row_parts = None, {n: [] for n in features
                                                                      if kinds[n] != "numeric"}, [], []
        self.label_float = False
        self.n = 0

    def _finish(self, index):
        if self.n == 0:
            raise DataError(f"{self.path}: the file has no data rows")
        numeric = self.out[:self.n]   # a view: the estimate's slack (~2%) is the only waste
        self.out = None
        text = {k: np.concatenate(v) for k, v in self.text.items()}
        label = None
        if self.labels:
            label = np.concatenate(self.label_parts)
        rows = np.concatenate(self.row_parts)
        if index is not None:
            self.notes.append(f"note: dropped the first column {index or '(unnamed)'!r} of {self.path}: it "
                              f"is a row index (pass --label or rename it to keep it)")
        return Table(path=self.path, names=self.features, kinds=self.kinds, numeric_names=self.numeric_names,
                     numeric=numeric, text=text, label_name=(self.labels[0] if len(self.labels) == 1 else
                                                             (list(self.labels) or None)),
                     label=label, label_is_float=self.label_float, rows=rows, header=self.header,
                     delimiter=self.delimiter, index_column=index, notes=self.notes)

    def _numbers(self, values: np.ndarray, rows, column: str) -> np.ndarray:
        """float64 values of one column's chunk (NaN: missing), refusing text with its row."""
        if values.dtype.kind in "biuf":
            out = values.astype(np.float64, copy=False)
        elif values.dtype.kind == "b":
            out = values.astype(np.float64)
        else:
            pd = _pandas()
            out = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(np.float64)
            bad = np.flatnonzero(np.isnan(out) & ~pd.isna(pd.Series(values)).to_numpy())
            if len(bad):
                i = bad[0]
                raise DataError(f"{self.path} row {int(rows[i])}, column {column!r}: value {str(values[i])[:40]!r} "
                                f"is not a number, but the column holds numbers; fix the cell, or read such "
                                f"values as missing with --na-values {str(values[i]).strip()[:20]!r}")
        bad = np.flatnonzero(np.abs(out) > np.finfo(np.float32).max)   # inf too; NaN compares False
        if len(bad):
            i = bad[0]
            shown = f"{float(out[i]):g}" if values.dtype.kind in "biuf" else repr(str(values[i])[:40])
            raise DataError(f"{self.path} row {int(rows[i])}, column {column!r}: value {shown} does not "
                            f"fit float32 (magnitudes up to 3.4e38, no infinities); rescale the column or fix "
                            f"the cell")
        return out

    def _texts(self, values: np.ndarray, kind: str, rows, column: str) -> np.ndarray:
        pd = _pandas()
        s = pd.Series(values, dtype=object)
        missing = pd.isna(s).to_numpy() | (s.astype(str).str.strip() == "").to_numpy()
        out = np.where(missing, None, s.astype(str).str.strip().to_numpy(object)).astype(object)
        if kind == "boolean":
            low = np.array([None if v is None else v.lower() for v in out], dtype=object)
            ok = np.array([v is None or v in _TRUE or v in _FALSE for v in low])
            if not ok.all():
                i = np.flatnonzero(~ok)[0]
                raise DataError(f"{self.path} row {int(rows[i])}, column {column!r}: value {out[i]!r} is not "
                                f"true or false, but the run's column is boolean; fix the cell")
            out = np.array([None if v is None else ("true" if v in _TRUE else "false") for v in low],
                           dtype=object)
        return out

    def _reserve(self, need: int) -> None:
        if self.out is None or need > len(self.out):
            cap = max(need, int(getattr(self, "est_rows", 0)) if self.out is None else 2 * len(self.out))
            grown = np.empty((cap, len(self.numeric_names)), dtype=np.float32)
            if self.out is not None:
                grown[:self.n] = self.out[:self.n]
            self.out = grown

    def _add(self, numeric_block, texts: dict, label, rows):
        # Chunks are copied into one array sized from the row estimate (no list of chunks and a
        # final concatenate: that would hold the array twice); grown by doubling if the estimate
        # was short.
        need = self.n + len(rows)
        if numeric_block is not None:   # None: the rows were written into self.out already
            self._reserve(need)
            self.out[self.n:need] = numeric_block
        for k, v in texts.items():
            self.text[k].append(v)
        if label is not None:
            self.label_parts.append(label)
        self.row_parts.append(rows)
        self.n += len(rows)


class _CsvReader(_Reader):
    def read(self, label, ignore, label_required, expected):
        pd = _pandas()
        if expected is not None and self.header is None and not expected.get("header", True):
            self.header = False   # the run's file had no header: neither has this one, unless --header
        delimiter, decimal, header, first = sniff(self.path, self.delimiter, self.header)
        self.est_rows = _estimate_rows(self.path)
        self.delimiter, self.header, self.decimal = delimiter, header, decimal
        names = [c.strip() for c in first] if header else [str(j + 1) for j in range(len(first))]
        dup = sorted({n for n in names if names.count(n) > 1 and n})
        if dup:   # pandas would rename the second 'a' to 'a.1': columns are matched by name, so refuse
            raise DataError(f"{self.path}: more than one column is named {dup[0]!r}; give each column its "
                            f"own name (columns are matched by name)")
        if expected is not None and expected.get("header", True) and not header:
            raise DataError(f"{self.path}: the file has no header row, but the run was trained on a file with "
                            f"one ({_few(expected['names'])}); add the header row (or pass --header if its "
                            f"first row is one)")
        common = dict(sep=delimiter, decimal=decimal, header=0 if header else None, index_col=False,
                      skip_blank_lines=False, encoding="utf-8", na_values=self.na_values or None,
                      keep_default_na=True, quotechar='"', engine="c")
        if not header:
            common["names"] = names
        # The sample decides each column's kind; the full pass then reads text columns as text.
        try:
            with open_regular(self.path) as f:
                sample = pd.read_csv(f, nrows=SAMPLE_ROWS, dtype=str, keep_default_na=False,
                                     **{k: v for k, v in common.items() if k not in ("na_values",
                                                                                     "keep_default_na")})
        except Exception as exc:   # noqa: BLE001: any parser failure becomes one line
            raise self._parser_error(exc) from None
        if header:
            names = [str(c).strip() for c in sample.columns]
            sample.columns = names
        sample_kinds = {n: self._kind_of(sample[n].tolist(), decimal) for n in names}
        index_like = self._index_like(sample[names[0]].tolist()) if len(names) > 2 else False
        index, labels, features, kinds = self._choose(names, sample_kinds, label, ignore, label_required,
                                                      expected, index_like)
        self._start(features, kinds, labels)
        label_text = {n: sample_kinds[n] != "numeric" for n in labels}
        dtypes = {n: str for n in names if (n in kinds and kinds[n] != "numeric") or label_text.get(n)}
        usecols = features + labels + ([index] if index is not None else [])
        try:
            with open_regular(self.path) as f:
                total = os.fstat(f.fileno()).st_size
                # usecols only when columns are left out: pandas parses faster without it
                chunks = pd.read_csv(f, chunksize=CHUNK_ROWS, dtype=dtypes or None,
                                     usecols=(None if len(usecols) == len(names) else
                                              (lambda c: str(c).strip() in usecols)), **common)
                for chunk in chunks:
                    if header:
                        chunk.columns = [str(c).strip() for c in chunk.columns]
                    self._chunk(chunk, index, label_text)
                    if self.progress:
                        self.progress(f.tell(), self.n)
                if self.progress:
                    self.progress(total, self.n, final=True)
        except DataError:
            raise
        except Exception as exc:   # noqa: BLE001
            raise self._parser_error(exc) from None
        return self._finish(index)

    def _index_like(self, cells) -> bool:
        cells = [c.strip() for c in cells if c.strip()]
        return len(cells) > 1 and all(re.fullmatch(r"\d+", c) for c in cells) and \
            [int(c) for c in cells] == list(range(len(cells)))

    def _chunk(self, chunk, index, label_text):
        pd = _pandas()
        rows = chunk.index.to_numpy(np.int64) + (2 if self.header else 1)
        block = self._block(chunk, rows)
        # Empty lines are kept as rows (so that row numbers are the file's) and dropped here: a row
        # is empty when all its cells are; the numeric block (all NaN) narrows the search cheaply.
        maybe = np.isnan(block).all(axis=1) if block.shape[1] else np.ones(len(rows), dtype=bool)
        if maybe.any():
            empty = np.zeros(len(rows), dtype=bool)
            empty[maybe] = chunk[maybe].isna().to_numpy().all(axis=1)
            if empty.any():
                chunk, rows, block = chunk[~empty], rows[~empty], block[~empty]
        if len(rows) == 0:
            return
        if index is not None and index not in _INDEX_NAMES:
            vals = pd.to_numeric(chunk[index], errors="coerce").to_numpy(np.float64)
            expect = np.arange(self.n, self.n + len(rows), dtype=np.float64)
            if not np.array_equal(vals, expect):
                i = int(np.flatnonzero(vals != expect)[0])
                raise DataError(f"{self.path} row {int(rows[i])}, column {index!r}: value {chunk[index].iloc[i]!r} "
                                f"breaks the row index 0..n-1 the first rows suggested; pass --label with the "
                                f"label column and name this column in the header to keep it as a feature")
        texts = {n: self._texts(chunk[n].to_numpy(object), self.kinds[n], rows, n) for n in self.text}
        label = None
        if self.labels:
            parts = []
            for n in self.labels:
                v = chunk[n].to_numpy()
                if label_text[n]:
                    parts.append(self._texts(v.astype(object), "categorical", rows, n))
                else:
                    if v.dtype.kind == "f" and not np.isnan(v).all():
                        self.label_float = True
                    parts.append(self._numbers(v, rows, n))
            label = parts[0] if len(parts) == 1 else np.column_stack(parts)
        self._add(block, texts, label, rows)

    def _block(self, chunk, rows) -> np.ndarray:
        """(rows, numeric columns) float32 of a chunk: one cast of pandas' float block; only columns
        pandas read as text go through _numbers (which names a non-number's row)."""
        num = chunk[self.numeric_names]
        odd = [n for n in self.numeric_names if num[n].dtype.kind not in "biuf"]
        if odd:
            num = num.copy()
            for n in odd:
                num[n] = self._numbers(num[n].to_numpy(), rows, n)
        with np.errstate(over="ignore", invalid="ignore"):
            block = np.ascontiguousarray(num.to_numpy(dtype=np.float32))
        bad = np.isinf(block)
        if bad.any():   # inf in the file, or a magnitude float32 cannot hold (1e39)
            i, j = np.argwhere(bad)[0]
            self._numbers(num.iloc[i:i + 1, j].to_numpy(np.float64), rows[i:i + 1], self.numeric_names[j])
        return block

    def _parser_error(self, exc) -> DataError:
        msg = _one_line(exc)
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", msg)
        if m:
            return DataError(f"{self.path} row {m.group(2)}: {m.group(3)} fields where the first row has "
                             f"{m.group(1)}; fix the row (a quote missing around a value with a "
                             f"{self.delimiter!r}?) or give the right --delimiter")
        if isinstance(exc, UnicodeDecodeError):
            return DataError(f"{self.path}: not UTF-8 text (byte {exc.object[exc.start]:#04x}); save the file "
                             f"as UTF-8 (Excel: CSV UTF-8)")
        if isinstance(exc, NpzError):
            return DataError(f"{self.path}: cannot read it: {exc}")
        return DataError(f"{self.path}: cannot read the CSV ({msg})")


class _ParquetReader(_Reader):
    def read(self, label, ignore, label_required, expected):
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise DataError(f"{self.path}: reading Parquet needs pyarrow: pip install 'gpugrad[tables]'") from None
        self.header = True
        try:
            f = open_regular(self.path)
        except NpzError as exc:
            raise DataError(f"{self.path}: cannot read it: {exc}") from None
        with f:
            size = os.fstat(f.fileno()).st_size
            try:
                pf = pq.ParquetFile(f)
                schema = pf.schema_arrow
                meta = pf.metadata
            except Exception as exc:   # noqa: BLE001
                raise DataError(f"{self.path}: cannot read the Parquet file ({_one_line(exc)})") from None
            limit = DEFAULT_MAX_BYTES
            declared = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
            if declared > limit:
                raise DataError(f"{self.path}: its data is {declared:,} bytes uncompressed, over the load limit "
                                f"of {limit:,} (set GPUGRAD_MAX_LOAD_BYTES to raise it)")
            names = [str(n) for n in schema.names]
            if meta.num_rows < 0 or meta.num_rows * max(1, len(names)) * 4 > limit:
                raise DataError(f"{self.path}: it declares {meta.num_rows:,} rows of {len(names)} columns, over the "
                                f"load limit of {limit:,} bytes as float32 (set GPUGRAD_MAX_LOAD_BYTES to raise it)")
            sample_kinds = {}
            for fld in schema:
                t = fld.type
                if isinstance(t, pa.ExtensionType) or pa.types.is_dictionary(t) and not \
                        pa.types.is_string(t.value_type):
                    kind = None
                elif pa.types.is_boolean(t):
                    kind = "boolean"
                elif pa.types.is_integer(t) or pa.types.is_floating(t):
                    kind = "numeric"
                elif pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_dictionary(t):
                    kind = "categorical"
                else:
                    kind = None
                sample_kinds[str(fld.name)] = kind or f"unsupported ({t})"
            index_like = False
            index, labels, features, kinds = self._choose(names, sample_kinds, label, ignore, label_required,
                                                          expected, index_like)
            for n in features + labels:
                if sample_kinds[n].startswith("unsupported"):
                    raise DataError(f"{self.path}: column {n!r} has the Parquet type {schema.field(n).type}; "
                                    f"convert it to numbers or text, or leave it out with --ignore {n}")
                if expected is not None and sample_kinds[n] != kinds[n] and \
                        not (kinds[n] == "categorical" and sample_kinds[n] == "boolean"):
                    raise DataError(f"{self.path}: column {n!r} holds {sample_kinds[n]} values, but the run "
                                    f"was trained on {kinds[n]} ones; convert the column back")
            self._start(features, kinds, labels)
            self.est_rows = meta.num_rows
            label_text = {n: sample_kinds[n] != "numeric" for n in labels}
            columns = features + labels
            try:
                pool = pa.default_memory_pool()
                for rg in range(meta.num_row_groups):
                    self._row_group(pf, rg, meta.row_group(rg).num_rows, label_text, pool)
                    if self.progress:
                        self.progress(int(size * self.n / max(1, meta.num_rows)), self.n)
                if self.progress:
                    self.progress(size, self.n, final=True)
            except DataError:
                raise
            except Exception as exc:   # noqa: BLE001
                raise DataError(f"{self.path}: cannot read the Parquet file ({_one_line(exc)})") from None
        if index is not None:
            self.notes.append(f"note: dropped the column {index!r} of {self.path}: it is pandas' row index")
        return self._finish(None)

    def _row_group(self, pf, rg, n_rows, label_text, pool):
        """One row group, column by column: a numeric column goes straight into the output array,
        so the decoded Parquet data held at any time is one column of one row group (pyarrow's
        pool is asked to give freed memory back after each)."""
        rows = np.arange(self.n, self.n + n_rows, dtype=np.int64) + 1
        start = self.n
        self._reserve(self.n + n_rows)
        for j, name in enumerate(self.numeric_names):
            col = pf.read_row_group(rg, columns=[name]).column(0)
            self.out[start:start + n_rows, j] = self._numbers(col.to_numpy(zero_copy_only=False), rows, name)
            del col
            pool.release_unused()
        others = list(self.text) + list(self.labels)
        cols = {}
        if others:
            t = pf.read_row_group(rg, columns=others)
            cols = {n: t.column(n) for n in others}
        texts = {}
        for n in self.text:
            v = cols[n].to_numpy(zero_copy_only=False).astype(object)
            if self.kinds[n] == "boolean":
                v = np.array([None if x is None else str(x) for x in v], dtype=object)
            texts[n] = self._texts(v, self.kinds[n], rows, n)
        label = None
        if self.labels:
            parts = []
            for n in self.labels:
                v = cols[n].to_numpy(zero_copy_only=False)
                if label_text[n]:
                    parts.append(self._texts(v.astype(object), "categorical", rows, n))
                else:
                    if v.dtype.kind == "f":
                        self.label_float = True
                    parts.append(self._numbers(v, rows, n))
            label = parts[0] if len(parts) == 1 else np.column_stack(parts)
        del cols
        pool.release_unused()
        self._add(None, texts, label, rows)


def _few(names, limit: int = 8) -> str:
    names = list(names)
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" ... ({len(names) - limit} more)" if len(names) > limit else "")
