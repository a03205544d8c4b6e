"""``detect_anomaly``: find the first op whose forward or VJP produces NaN or Inf."""
from __future__ import annotations

import linecache
import sys
import threading


class AnomalyError(RuntimeError):
    """Raised under ``detect_anomaly`` when an op's forward or VJP produces NaN or Inf."""


class _State(threading.local):
    """Anomaly mode of the current thread (as in PyTorch, where it is thread-local).

    ``depth`` counts the open ``detect_anomaly`` blocks of this thread, so blocks may be left
    in any order (A in, B in, A out, B out) and the mode ends when the last one does;
    ``enabled`` mirrors ``depth > 0`` as a plain attribute because every op reads it.
    """

    depth = 0
    enabled = False


state = _State()


class detect_anomaly:
    """Context manager: every op checks its outputs and its gradients for NaN/Inf.

    The first op that produces one raises :class:`AnomalyError` naming the op and the line
    of user code that created it. Slow (one extra pass per op): use it to debug, not to train.

    The mode belongs to the thread that enters the block (other threads' ops are not checked
    and not slowed down), and lasts while any block of that thread is open; enter and leave a
    block in the same thread.
    """

    def __enter__(self):
        state.depth += 1
        state.enabled = True
        return self

    def __exit__(self, *exc):
        state.depth = max(0, state.depth - 1)
        state.enabled = state.depth > 0
        return False


def _is_library_frame(frame) -> bool:
    """True for frames of gpugrad's own modules, told by module name, not by path: a user's
    script in any folder named gpugrad (a clone of this repository is one) is still user code."""
    module = frame.f_globals.get("__name__", "")
    return module == "gpugrad" or module.startswith("gpugrad.")


def creation_site() -> str:
    """The innermost stack frame outside gpugrad's modules, as 'file:line in func: code'."""
    frame = sys._getframe(1)
    while frame is not None:
        if not _is_library_frame(frame):
            code = frame.f_code
            line = linecache.getline(code.co_filename, frame.f_lineno).strip()
            return f"{code.co_filename}:{frame.f_lineno} in {code.co_name}: {line}"
        frame = frame.f_back
    return "<unknown>"


def check_finite(array, what: str, op_name: str, site: str | None) -> None:
    """Raise AnomalyError when a floating array (NumPy or CuPy) holds NaN or Inf."""
    if getattr(array, "dtype", None) is None or array.dtype.kind != "f":
        return
    if not bool((abs(array) < float("inf")).all()):  # False for NaN and for +-Inf
        where = f" The op was created at {site}." if site else ""
        raise AnomalyError(f"detect_anomaly: {what} of op '{op_name}' produced NaN or Inf "
                           f"(shape {tuple(array.shape)}, dtype {array.dtype}).{where}")
