"""``detect_anomaly``: find the first op whose forward or VJP produces NaN or Inf."""
from __future__ import annotations

import traceback


class AnomalyError(RuntimeError):
    """Raised under ``detect_anomaly`` when an op's forward or VJP produces NaN or Inf."""


class _State:
    enabled = False


state = _State()


class detect_anomaly:
    """Context manager: every op checks its outputs and its gradients for NaN/Inf.

    The first op that produces one raises :class:`AnomalyError` naming the op and the line
    of user code that created it. Slow (one extra pass per op): use it to debug, not to train.
    """

    def __enter__(self):
        self._prev = state.enabled
        state.enabled = True
        return self

    def __exit__(self, *exc):
        state.enabled = self._prev
        return False


def creation_site() -> str:
    """The innermost stack frame outside gpugrad, as 'file:line in func: code'."""
    for frame in reversed(traceback.extract_stack()[:-1]):
        if "/gpugrad/" not in frame.filename.replace("\\", "/"):
            return f"{frame.filename}:{frame.lineno} in {frame.name}: {frame.line}"
    return "<unknown>"


def check_finite(array, what: str, op_name: str, site: str | None) -> None:
    """Raise AnomalyError when a floating array (NumPy or CuPy) holds NaN or Inf."""
    if getattr(array, "dtype", None) is None or array.dtype.kind != "f":
        return
    if not bool((abs(array) < float("inf")).all()):  # False for NaN and for +-Inf
        where = f" The op was created at {site}." if site else ""
        raise AnomalyError(f"detect_anomaly: {what} of op '{op_name}' produced NaN or Inf "
                           f"(shape {tuple(array.shape)}, dtype {array.dtype}).{where}")
