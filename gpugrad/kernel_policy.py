"""Which implementation runs each kernel op on CUDA devices: the hand-written Numba kernel or the vendor's.

Per op, readable and changeable at run time:

    gg.get_kernels()                        # {'matmul': 'numba', 'relu': 'numba', 'bias_sigmoid': 'numba'}
    gg.set_kernels(matmul="cublas")         # cuBLAS via CuPy, TF32 off
    gg.set_kernels(matmul="cublas-tf32")    # cuBLAS with TF32 tensor cores (only when asked)
    with gg.use_kernels(relu="cupy"): ...   # for benchmarking both in one process

The environment variable ``GPUGRAD_KERNELS="matmul=cublas,relu=numba"`` sets the starting policy.
A policy covers an op's forward and its VJP. On the CPU every op runs in NumPy whatever the policy.
"""
from __future__ import annotations

import os

CHOICES = {
    "matmul": ("numba", "cublas", "cublas-tf32"),
    "relu": ("numba", "cupy"),
    "bias_sigmoid": ("numba", "cupy"),
}
DEFAULTS = {"matmul": "numba", "relu": "numba", "bias_sigmoid": "numba"}
ENV_VAR = "GPUGRAD_KERNELS"

_policy: dict[str, str] = dict(DEFAULTS)


def _validate(changes: dict) -> dict:
    for op, impl in changes.items():
        if op not in CHOICES:
            raise ValueError(f"set_kernels: unknown op {op!r}; ops with a choice: {sorted(CHOICES)}")
        if impl not in CHOICES[op]:
            raise ValueError(f"set_kernels: {op}={impl!r} is not one of {CHOICES[op]}")
    return changes


def parse_env(value: str) -> dict:
    """``"matmul=cublas,relu=numba"`` as a dict, validated."""
    out = {}
    for item in filter(None, (s.strip() for s in value.split(","))):
        op, sep, impl = item.partition("=")
        if not sep:
            raise ValueError(f"{ENV_VAR}: expected entries like 'matmul=cublas', got {item!r}")
        out[op.strip()] = impl.strip()
    return _validate(out)


def get_kernels() -> dict:
    """The current implementation of each kernel op (a copy)."""
    return dict(_policy)


def set_kernels(**changes) -> dict:
    """Choose implementations per op, e.g. ``set_kernels(matmul="cublas")``; returns the previous policy."""
    previous = dict(_policy)
    _policy.update(_validate(changes))
    return previous


def current(op: str) -> str:
    """The implementation chosen for ``op`` (hot path: one dict lookup)."""
    return _policy[op]


class use_kernels:
    """Context manager: a policy for the duration of a block, e.g. ``with use_kernels(matmul="cublas"):``."""

    def __init__(self, **changes):
        self._changes = _validate(changes)

    def __enter__(self):
        self._previous = set_kernels(**self._changes)
        return self

    def __exit__(self, *exc):
        _policy.clear()
        _policy.update(self._previous)
        return False


if os.environ.get(ENV_VAR):
    _policy.update(parse_env(os.environ[ENV_VAR]))
