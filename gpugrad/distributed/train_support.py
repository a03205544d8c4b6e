"""What ``gpugrad train`` does differently under ``mpiexec -n N`` (N > 1); nothing otherwise.

``train.py`` calls :func:`setup` once and asks the returned context for its loader, its step
runner, whether to write files, and the epoch's totals. Semantics:

* ``--batch-size`` stays the global batch: each rank takes batch/N of it (a batch not divisible
  by N is an error), the ranks' parts of each batch being the one-process batch split in N
  (``gg.data.ShardedLoader``). Each rank's loss is its part's summed loss times N / (global batch
  size), so the all-reduce average is exactly the one-process mean gradient, ragged last batch
  included.
* Rank 0 alone prints, plots and writes checkpoints (gg.save is atomic). Every rank loads the
  same checkpoint on ``--resume``, so a run may resume with another N.
* The epoch's loss and sample count are summed over ranks.
* A failure ends the job (``guard``): when every rank failed (a bad setting, mpiexec forwarding
  SIGTERM) rank 0 reports it once, as one process would, with the same exit status; when only
  some did, each prints its error with its rank and the job is aborted. Never a hang.
"""
from __future__ import annotations

import contextlib
import os
import sys

import numpy as np

from .. import distributed as dist
from .launch import launched_world_size
from ..data import DataError, DataLoader, ShardedLoader
from ..commands.run_checks import TrainError
from ..nn.parallel import DistributedDataParallel
from ..nn.functional import cross_entropy
from ..commands.runs import RunFolderError
from ..serialization import CheckpointError
from .faults import report


class _Single:
    """One process: every hook is the identity."""

    active, rank, size, is_main = False, 0, 1, True

    def log(self, log):
        return log

    def loader(self, x, y, batch_size, seed, device):
        return DataLoader(x, y, batch_size, shuffle=True, seed=seed, device=device)

    def step_runner(self, runner, loader):
        return runner

    def check_device(self, device):
        return device

    def from_main(self, make):
        """``make()`` as rank 0 computed it (e.g. the timestamped run folder every rank must share)."""
        return make()


class _Distributed(_Single):
    def __init__(self, backend):
        self.backend = backend
        self.active = True
        self.rank, self.size = backend.rank, backend.size
        self.is_main = self.rank == 0

    def log(self, log):
        return log if self.is_main else (lambda *a, **k: None)

    def check_batch(self, batch_size):
        if batch_size % self.size:
            raise TrainError(f"--batch-size {batch_size} is the global batch and must divide by the "
                             f"{self.size} ranks (e.g. {batch_size - batch_size % self.size or self.size})")

    def loader(self, x, y, batch_size, seed, device):
        self.check_batch(batch_size)
        return ShardedLoader(x, y, batch_size, self.size, self.rank, shuffle=True, seed=seed, device=device)

    def from_main(self, make):
        return self.backend.all_gather_object(make() if self.is_main else None)[0]

    def check_device(self, device):
        devices = self.backend.all_gather_object(device)
        if len(set(devices)) > 1:
            raise TrainError(f"the ranks resolved different devices {devices}: give every rank its own "
                             f"GPU (CUDA_VISIBLE_DEVICES per rank) or use --device cpu")
        return device

    def step_runner(self, runner, loader):
        runner.ddp = DistributedDataParallel(runner.model)
        runner.size, runner.loader = self.size, loader
        # A captured graph cannot contain the mpi backend's host staging; NCCL calls can be captured.
        if self.backend.name != "nccl":
            runner.graphed = False
        runner.step = _ddp_step.__get__(runner)
        return runner


def _ddp_step(self, xb, yb):
    """One data-parallel step: this rank's part of the global batch, gradients averaged by DDP."""
    self.opt.zero_grad()
    loss_sum = cross_entropy(self.ddp(xb), yb, reduction="sum")
    # sum over my part * N / global batch: the ranks' average is the global batch's mean gradient.
    (loss_sum * (self.size / self.loader.global_batch)).backward()
    self.opt.step()
    return loss_sum / max(1, xb.shape[0])   # this part's mean loss (the epoch totals weight it)


def setup(config, log=print):
    """The run's distributed context: a plain one-process context unless launched by mpiexec with
    N > 1 processes (or gg.distributed.init() was called in such a job)."""
    if not dist.is_initialized() and launched_world_size() <= 1:
        return _Single()
    if not dist.is_initialized() and config.device != "cpu" and "CUDA_VISIBLE_DEVICES" not in os.environ:
        # One GPU per rank: each rank sees only its local-rank GPU (before CUDA is first used).
        local = os.environ.get("MPI_LOCALRANKID") or os.environ.get("OMPI_COMM_WORLD_LOCAL_RANK")
        if local is not None:
            os.environ["CUDA_VISIBLE_DEVICES"] = local
    backend = dist.init(device="cpu" if config.device == "cpu" else None)
    if backend.size == 1:
        return _Single()
    ctx = _Distributed(backend)
    ctx.check_batch(config.batch_size)   # before the line below announces the split
    if ctx.is_main:
        log(f"data-parallel over {ctx.size} ranks ({backend.name} backend): each rank takes "
            f"{config.batch_size}/{ctx.size} of every batch of {config.batch_size}")
    return ctx


def epoch_totals(total, seen: int):
    """(sum of the epoch's loss over all ranks as a float, samples seen by all ranks)."""
    local = 0.0 if total is None else float(total.item())
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return local, seen
    both = dist.all_reduce(np.array([local, float(seen)]))
    return float(both[0]), int(round(both[1]))


# How long a failing rank waits for the others to fail too before it aborts the job: ranks that
# fail on the same bad setting arrive within milliseconds (they have just met in a collective).
_AGREE_SECONDS = 5.0


@contextlib.contextmanager
def guard(prefix: str = "gpugrad train", config=None):
    """Under a job of N > 1 ranks, end the job on any exception, never leaving a rank waiting.

    If every rank failed (a bad setting, a run folder in the way, SIGTERM/Ctrl-C forwarded by
    mpiexec to each rank), rank 0 re-raises (the CLI prints the one-line error, or the resume
    hint, as for one process) and the others leave quietly with SystemExit of the same status:
    2 for a settings error, 130 for SIGINT, 143 for SIGTERM. If only some failed, each of those
    prints its error with its rank (and the resume hint for an interruption) and aborts every rank
    with that status. ``config``: the run's TrainConfig, whose ``out`` the resume hint names.
    """
    try:
        yield
    except BaseException as exc:
        if not dist.is_initialized() or dist.get_world_size() == 1 or isinstance(exc, SystemExit):
            raise
        settings = isinstance(exc, (TrainError, DataError, CheckpointError, RunFolderError, OSError))
        code = (2 if settings else getattr(exc, "exit_code", 130) if isinstance(exc, KeyboardInterrupt)
                else 1)
        b, rank = dist.get_backend(), dist.get_rank()
        if b.all_failed(_AGREE_SECONDS):
            if rank == 0:
                raise
            sys.stdout.flush()
            raise SystemExit(code) from None
        if isinstance(exc, KeyboardInterrupt):
            print(f"\n{prefix}: rank {rank} of {b.size}: {exc}; {resume_hint(config)}", file=sys.stderr)
        else:
            report(exc, rank, b.size, prefix=prefix, with_traceback=not settings)
        dist.abort(code)
        sys.exit(code)   # not reached: abort ends the process


def resume_hint(config) -> str:
    """How to continue an interrupted run (the checkpoint of its last finished epoch), if any."""
    out = getattr(config, "out", None)
    checkpoint = os.path.join(out, "checkpoint.npz") if out else None
    if checkpoint and os.path.exists(checkpoint):
        return f"continue with: gpugrad train --resume {checkpoint}"
    return "no epoch had finished, so there is no checkpoint to resume from"
