"""Run under mpiexec -n N: one rank fails in the way argv[1] says; the job must end, never hang.

raise / kill:   the Python API; rank 1 raises / is killed by SIGKILL between two all-reduces.
train_raise:    `gpugrad train`; rank 1 raises during epoch 2's evaluation.
train_kill_save: `gpugrad train`; rank 0 is killed by SIGKILL halfway through writing epoch 2's
                checkpoint (argv[2] is --out): epoch 1's checkpoint must stay loadable.
"""
import os
import signal
import sys

import gpugrad as gg

mode = sys.argv[1]
rank = int(os.environ.get("PMI_RANK") or os.environ.get("OMPI_COMM_WORLD_RANK") or 0)

if mode in ("raise", "kill"):
    gg.distributed.init(backend="mpi")
    t = gg.tensor([1.0])
    gg.distributed.all_reduce(t)
    if rank == 1:
        if mode == "raise":
            raise RuntimeError("boom on rank 1")
        os.kill(os.getpid(), signal.SIGKILL)
    gg.distributed.all_reduce(t)     # the other ranks would wait here forever
    raise SystemExit("not reached: the job should have been aborted")

import gpugrad.commands.train as T  # noqa: E402
from gpugrad.commands.cli import main  # noqa: E402

calls = {"evaluate": 0, "savez": 0}
if mode == "train_raise" and rank == 1:
    real_evaluate = T._metrics   # the per-epoch evaluation (train and validation splits)

    def evaluate(*a, **k):
        calls["evaluate"] += 1
        if calls["evaluate"] == 3:   # two evaluations per epoch: the first of epoch 2
            raise RuntimeError("evaluation failed on rank 1")
        return real_evaluate(*a, **k)
    T._metrics = evaluate
elif mode == "train_kill_save" and rank == 0:
    from gpugrad import serialization

    def kill_mid_write(point, path):
        # gg.save's fault-injection hook: after the first array of epoch 2's checkpoint is
        # written to the temporary file, die.
        if point == "member:a0" and path.endswith(".tmp") and os.path.basename(path).startswith(".checkpoint"):
            calls["savez"] += 1
            if calls["savez"] == 2:
                os.kill(os.getpid(), signal.SIGKILL)
    serialization.set_write_hook(kill_mid_write)

out = sys.argv[2]
sys.exit(main(["train", "--epochs", "3", "--hidden", "8", "--batch-size", "32", "--device", "cpu",
               "--quiet", "--out", out]))
