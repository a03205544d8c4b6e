"""Data-parallel training over real MPI processes (mpiexec, oversubscribed on a small machine).

Each test starts a job of 1-3 ranks, one BLAS thread each. Proves, through the Python API: N = 1,
2, 3 ranks on the same global batch end with one process's weights (float32 summation-order
tolerance) for SGD with momentum and Adam, with one or several buckets, and no_sync accumulation;
the collectives on tensors and objects; a model that differs across ranks is refused; a rank
raising or killed by a signal ends the whole job within seconds with a non-zero status and that
rank's error. (`gpugrad train`: test_distributed_train.py.) Skipped without mpi4py or mpiexec.
"""
from __future__ import annotations

import os

import pytest

pytest.importorskip("mpi4py", reason="mpi4py is not installed (pip install 'gpugrad[distributed]')")

from mpi_helpers import MPIEXEC, SCRIPTS, mpirun  # noqa: E402

pytestmark = pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec (pip install mpich)")


@pytest.mark.parametrize("n", [1, 2, 3])
def test_python_api_same_weights_as_one_process(n):
    rc, out, err, _ = mpirun(n, os.path.join(SCRIPTS, "same_weights.py"))
    assert rc == 0, err[-3000:]
    for case in ("sgd", "adam", "no_sync"):
        assert f"OK {case} N={n}" in out, out + err[-2000:]
    assert out.count("OK ") == 5


def test_collectives_and_model_mismatch():
    rc, out, err, _ = mpirun(3, os.path.join(SCRIPTS, "collectives.py"))
    assert rc == 0 and "OK collectives" in out, err[-3000:]


@pytest.mark.parametrize("mode,message", [
    ("raise", "rank 1 of 2 failed: RuntimeError: boom on rank 1"),
    ("kill", "signal 9"),
])
def test_a_failing_rank_ends_the_job(tmp_path, mode, message):
    rc, out, err, secs = mpirun(2, os.path.join(SCRIPTS, "faults.py"), mode, str(tmp_path / "run"), timeout=60)
    assert rc != 0, out + err
    assert secs < 20, f"the job took {secs:.1f} s to end"
    assert message in out + err, (out + err)[-3000:]
    assert "not reached" not in out + err


