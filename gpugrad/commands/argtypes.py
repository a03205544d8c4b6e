"""Argument types and the one-line-error parser shared by the command-line tools (train, bench)."""
from __future__ import annotations

import argparse

EXIT_USAGE = 2


class OneLineParser(argparse.ArgumentParser):
    """argparse, with its errors said in one line (``gpugrad train: error: ...``) and exit status 2."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _number(kind, s: str, ok, expected: str):
    try:
        v = kind(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {s!r}") from None
    if not ok(v):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {s!r}")
    return v


def positive_int(s: str) -> int:
    """An integer >= 1."""
    return _number(int, s, lambda v: v >= 1, "a positive integer")


def nonneg_int(s: str) -> int:
    """An integer >= 0 (seeds)."""
    return _number(int, s, lambda v: v >= 0, "a non-negative integer")


def positive_float(s: str) -> float:
    """A finite number > 0."""
    return _number(float, s, lambda v: 0 < v < float("inf"), "a positive number")


def nonneg_float(s: str) -> float:
    """A finite number >= 0."""
    return _number(float, s, lambda v: 0 <= v < float("inf"), "a number >= 0")


def fraction(s: str) -> float:
    """A number in [0, 1)."""
    return _number(float, s, lambda v: 0 <= v < 1, "a number in [0, 1)")


def delimiter(s: str) -> str:
    """One character; ``tab`` and ``\\t`` mean a tab."""
    s = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}.get(s.lower(), s)
    if len(s) != 1:
        raise argparse.ArgumentTypeError(f"expected one character (or tab), got {s!r}")
    return s


def column_list(s: str) -> list:
    """'a,b' -> ['a', 'b'] (column names or 1-based positions, -1 = last)."""
    parts = [p.strip() for p in s.split(",")]
    if not all(parts):
        raise argparse.ArgumentTypeError(f"expected column names separated by commas, got {s!r}")
    return parts


def add_table_options(p, training: bool = True) -> None:
    """The options of ``gpugrad train/predict/eval`` for a .csv/.parquet table, as one help group."""
    g = p.add_argument_group(
        "your data (.csv/.tsv/.parquet)",
        "A header row, the delimiter (, ; tab |), a decimal comma with ';', quotes, a UTF-8 byte-order mark "
        "and a leading row-index column (pandas' to_csv default) are detected; these options override."
        + ("" if training else " predict/eval match columns by name with the run's, and read the run's "
                               "label column when the file has it."))
    hdr = g.add_mutually_exclusive_group()
    hdr.add_argument("--header", dest="header", action="store_const", const=True, default=None,
                     help="the first row names the columns")
    hdr.add_argument("--no-header", dest="header", action="store_const", const=False,
                     help="the first row is data (columns are then named 1, 2, ...)")
    g.add_argument("--delimiter", type=delimiter, metavar="CHAR", help="the column separator (default: detected)")
    g.add_argument("--na-values", type=column_list, metavar="V1,V2", help="more cell values to read as "
                   "missing (besides empty cells, NA, N/A, NaN, null)")
    g.add_argument("--ignore", type=column_list, metavar="COLS", help="columns to leave out")
    if training:
        g.add_argument("--label", type=column_list, metavar="COLUMN",
                       help="the label column: a name, or a position (1 = first, -1 = last; default: the last "
                            "column); several, comma-separated, for multi-output regression")


def add_task_options(p) -> None:
    """Task, loss, scaling and model selection options of ``gpugrad train``."""
    g = p.add_argument_group("task and model selection")
    g.add_argument("--task", choices=("auto", "classify", "regress"),
                   help="auto (default): text or few whole-number labels classify, a float label regresses; "
                        "an integer label with many distinct values stops and asks")
    g.add_argument("--loss", choices=("mse", "huber", "l1"),
                   help="regression loss on the standardised target (default: mse)")
    g.add_argument("--no-scale", dest="scale", action="store_const", const=False, default=True,
                   help="do not standardise numeric features (default: standardised with the training "
                        "split's mean and std)")
    g.add_argument("--val-fraction", type=fraction, metavar="F",
                   help="part of the training data held out to choose the best epoch (default: 0.1; 0: the "
                        "last epoch is kept as best)")
    g.add_argument("--patience", type=nonneg_int, metavar="EPOCHS",
                   help="stop when the validation metric has not improved for EPOCHS epochs (default: 0, "
                        "never)")
