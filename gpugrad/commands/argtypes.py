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
