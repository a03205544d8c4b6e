"""`mpiexec -n N gpugrad train`: the same weights as one process, resume with another N, faults.

N = 2, 3 ranks (oversubscribed, one BLAS thread each) on the same global batch end with the
weights of a one-process run, within float32 summation-order tolerance, for SGD with momentum
and Adam over 3 epochs with a ragged last batch; a run stopped after epoch 1 resumes on 3 ranks to
the same weights; a batch not divisible by N, or an --out holding a run, is one line and
status 2; SIGTERM to mpiexec is status 143 with one resume hint; a rank raising ends the job with
its error; a checkpoint interrupted mid-write leaves the previous one loadable.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

import gpugrad as gg
from gpugrad.commands.train import TrainConfig, train

pytest.importorskip("mpi4py", reason="mpi4py is not installed (pip install 'gpugrad[distributed]')")

from mpi_helpers import MPIEXEC, ROOT, SCRIPTS, mpirun  # noqa: E402

pytestmark = pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec (pip install mpich)")


TRAIN = ["--epochs", "3", "--hidden", "24,12", "--batch-size", "30", "--seed", "2", "--device", "cpu",
         "--quiet", "--schedule", "cosine"]      # 1438 samples: a ragged last batch of 28


def _weights(path):
    return {k: v.numpy() for k, v in gg.load(path, device="cpu")["model"].items()}


def _one_process(tmp_path, optimizer):
    cfg = TrainConfig(epochs=3, hidden=(24, 12), batch_size=30, seed=2, device="cpu", quiet=True,
                      optimizer=optimizer, out=str(tmp_path / f"one-{optimizer}"))
    train(cfg, log=lambda s: None)
    return _weights(tmp_path / f"one-{optimizer}" / "checkpoint.npz"), cfg


@pytest.mark.parametrize("n,optimizer", [(2, "sgd"), (3, "adam")])
def test_gpugrad_train_same_weights_as_one_process(tmp_path, n, optimizer):
    ref, _ = _one_process(tmp_path, optimizer)
    out_dir = tmp_path / f"ddp{n}"
    rc, out, err, _ = mpirun(n, "-m", "gpugrad", "train", *TRAIN, "--optimizer", optimizer,
                             "--out", str(out_dir))
    assert rc == 0, err[-3000:]
    assert out.count("data-parallel over") == 1 and out.count("done: 3 epochs") == 1   # rank 0 alone prints
    got = _weights(out_dir / "checkpoint.npz")
    for k in ref:
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-4, atol=2e-5, err_msg=k)
    hist = gg.load(out_dir / "checkpoint.npz", device="cpu")["history"]
    one = gg.load(tmp_path / f"one-{optimizer}" / "checkpoint.npz", device="cpu")["history"]
    np.testing.assert_allclose(hist["loss"], one["loss"], rtol=1e-5)    # reduced over ranks
    assert hist["val_acc"] == one["val_acc"]
    files = sorted(os.listdir(out_dir))
    events = [f for f in files if f.startswith("events.out.tfevents")]   # when tensorboardX is installed
    assert len(events) <= 1                                            # rank 0's only
    assert [f for f in files if f not in events] == [".gpugrad-run.lock", "best.npz", "checkpoint.npz", "curves.png",
                                                      "metrics.csv"]


def test_resume_with_another_number_of_ranks(tmp_path):
    ref, cfg = _one_process(tmp_path, "sgd")

    def stop_after_one(epoch, metrics):
        if epoch == 1:
            raise KeyboardInterrupt
    cut = TrainConfig(**{**cfg.__dict__, "out": str(tmp_path / "cut")})
    with pytest.raises(KeyboardInterrupt):
        train(cut, log=lambda s: None, on_epoch_end=stop_after_one)     # 1 process, epoch 1
    rc, out, err, _ = mpirun(3, "-m", "gpugrad", "train", "--resume", str(tmp_path / "cut" / "checkpoint.npz"),
                             "--quiet")                                 # 3 ranks, epochs 2-3
    assert rc == 0, err[-3000:]
    assert "resuming from" in out
    got = _weights(tmp_path / "cut" / "checkpoint.npz")
    for k in ref:
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-4, atol=2e-5, err_msg=k)


def test_batch_not_divisible_by_ranks_is_a_clear_error(tmp_path):
    rc, out, err, secs = mpirun(2, "-m", "gpugrad", "train", "--batch-size", "33", "--epochs", "1",
                                "--device", "cpu", "--out", str(tmp_path / "x"))
    assert rc == 2 and secs < 30, (rc, err)                   # as one process: a settings error
    assert err.count("--batch-size 33 is the global batch and must divide by the 2 ranks") == 1, err
    assert "Traceback" not in err and "each rank takes" not in out + err   # no split announced


def test_a_folder_holding_a_run_is_one_error_with_status_2(tmp_path):
    run = tmp_path / "run"
    train(TrainConfig(epochs=1, hidden=(8,), device="cpu", quiet=True, out=str(run)), log=lambda s: None)
    rc, out, err, secs = mpirun(2, "-m", "gpugrad", "train", "--epochs", "1", "--hidden", "8",
                                "--device", "cpu", "--quiet", "--out", str(run))
    assert rc == 2 and secs < 30, (rc, err)
    assert err.count("already holds a run") == 1 and err.startswith("gpugrad train: error: "), err
    assert "Traceback" not in err and "Abort" not in err, err


def test_sigterm_to_mpiexec_exits_143_with_one_resume_hint(tmp_path):
    import signal
    import subprocess
    import sys
    import time
    run = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.Popen([MPIEXEC, "-n", "2", sys.executable, "-m", "gpugrad", "train", "--epochs", "1000",
                          "--hidden", "8", "--device", "cpu", "--quiet", "--out", str(run)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    t0 = time.monotonic()
    while not (run / "checkpoint.npz").exists() and time.monotonic() - t0 < 60 and p.poll() is None:
        time.sleep(0.05)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 143, (p.returncode, err[-2000:])
    hint = f"continue with: gpugrad train --resume {run / 'checkpoint.npz'}"
    assert err.count(hint) == 1 and "Traceback" not in err, err[-2000:]


def test_a_failing_rank_ends_the_training_job(tmp_path):
    rc, out, err, secs = mpirun(2, os.path.join(SCRIPTS, "faults.py"), "train_raise", str(tmp_path / "run"))
    assert rc != 0 and secs < 20, f"status {rc} after {secs:.1f} s"
    assert "gpugrad train: rank 1 of 2 failed: RuntimeError: evaluation failed on rank 1" in err, err[-3000:]
    assert gg.load(tmp_path / "run" / "checkpoint.npz", device="cpu")["epoch"] >= 1


def test_checkpoint_interrupted_mid_write_leaves_the_previous_one(tmp_path):
    run = tmp_path / "run"
    rc, out, err, secs = mpirun(2, os.path.join(SCRIPTS, "faults.py"), "train_kill_save", str(run))
    assert rc != 0 and secs < 20, out + err
    ckpt = gg.load(run / "checkpoint.npz", device="cpu")      # epoch 1's, intact
    assert ckpt["epoch"] == 1


def test_default_run_folder_is_one_folder_for_all_ranks(tmp_path):
    # Without --out each process would pick its own timestamped folder: rank 0's is shared.
    rc, out, err, _ = mpirun(2, "-m", "gpugrad", "train", "--epochs", "1", "--hidden", "8",
                             "--batch-size", "64", "--device", "cpu", "--quiet", cwd=str(tmp_path))
    assert rc == 0, err[-3000:]
    folders = os.listdir(tmp_path / "runs")
    assert len(folders) == 1, folders
    assert "checkpoint.npz" in os.listdir(tmp_path / "runs" / folders[0])
