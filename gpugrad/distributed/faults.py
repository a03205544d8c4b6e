"""Ending the whole job when one rank fails, instead of leaving the others in a collective forever.

An MPI collective waits for every rank. If one rank raises and simply exits, the others wait
forever; ``python -m mpi4py`` avoids this by calling MPI_Abort on an uncaught exception, and so do
we, for scripts run as ``python script.py`` too.
"""
from __future__ import annotations

import sys
import time
import traceback

_installed = False


def report(exc: BaseException, rank: int, size: int, prefix: str = "gpugrad.distributed",
           with_traceback: bool = True) -> None:
    """Print ``exc`` on stderr, saying which rank it came from.

    The one-line summary goes first: an abort tears the job down while mpiexec may still be
    forwarding this rank's output, and what is cut is then the traceback's tail, not the summary.
    """
    print(f"{prefix}: rank {rank} of {size} failed: {type(exc).__name__}: {exc}; aborting all ranks",
          file=sys.stderr)
    sys.stderr.flush()
    if with_traceback:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    sys.stderr.flush()
    sys.stdout.flush()


def install_excepthook(backend) -> None:
    """Make an uncaught exception abort every rank (exit status 1; 130 for Ctrl-C)."""
    global _installed
    if _installed or backend.size == 1:
        return
    _installed = True
    previous = sys.excepthook

    def hook(etype, value, tb):
        try:
            report(value, backend.rank, backend.size, with_traceback=False)
            previous(etype, value, tb)
            sys.stderr.flush()
        finally:
            time.sleep(0.5)   # let mpiexec forward what was just printed before the job is torn down
            backend.abort(130 if issubclass(etype, KeyboardInterrupt) else 1)

    sys.excepthook = hook
