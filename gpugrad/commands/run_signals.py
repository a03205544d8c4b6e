"""SIGINT and SIGTERM during a training run: both take the Ctrl-C path.

Batch schedulers (Slurm, Kubernetes, systemd) stop a job with SIGTERM, whose default action
kills Python on the spot: no resume hint, no curves, and an epoch that had finished but was
still being checkpointed is lost. Inside :class:`InterruptGuard` both signals raise
:class:`RunInterrupted` (a KeyboardInterrupt, so every ``except KeyboardInterrupt`` and
``finally`` runs as for Ctrl-C); inside ``guard.critical()`` (the checkpoint write) the raise
waits until the block ends, so the checkpoint is finished rather than abandoned. The exit status
is 128 + the signal number (130 for SIGINT, 143 for SIGTERM), as a shell reports a process
killed by that signal.

Signal handlers can only be installed from the main thread; elsewhere the guard does nothing
(a run in a worker thread is stopped by its owner, not by signals).
"""
from __future__ import annotations

import contextlib
import signal
import threading

__all__ = ["RunInterrupted", "InterruptGuard"]


class RunInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived during a run. ``exit_code`` is 128 + the signal number."""

    def __init__(self, signum: int):
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = int(signum)
        self.exit_code = 128 + self.signum


class InterruptGuard:
    """Context manager: SIGINT/SIGTERM raise :class:`RunInterrupted`, deferred inside ``critical()``.

    A signal whose handler was SIG_IGN when the guard was entered (e.g. SIGINT of a background
    job started with ``nohup`` or ``&``) stays ignored.
    """

    SIGNALS = tuple(s for s in (getattr(signal, "SIGINT", None), getattr(signal, "SIGTERM", None))
                    if s is not None)

    def __init__(self):
        self._previous: dict = {}
        self._depth = 0
        self._pending = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                old = signal.getsignal(sig)
                if old is signal.SIG_IGN or old is None:  # None: installed outside Python
                    continue
                self._previous[sig] = old
                signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, old in self._previous.items():
            signal.signal(sig, old)
        self._previous.clear()
        return False

    def _handle(self, signum, frame):
        if self._depth > 0:
            if self._pending is None:
                self._pending = signum
            return
        raise RunInterrupted(signum)

    @contextlib.contextmanager
    def critical(self):
        """A block that a signal does not cut short: the interruption is raised when it ends."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0 and self._pending is not None:
                signum, self._pending = self._pending, None
                raise RunInterrupted(signum)
