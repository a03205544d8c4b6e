"""`gpugrad bench ddp --quick`: runs 1- and 2-rank jobs and writes both tables and the cost-model fit."""
from __future__ import annotations

import json

import numpy as np

import pytest

from gpugrad.commands.cli import main

pytest.importorskip("mpi4py", reason="mpi4py is not installed (pip install 'gpugrad[distributed]')")

from mpi_helpers import MPIEXEC  # noqa: E402


@pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec (pip install mpich)")
def test_bench_ddp_quick_writes_steps_allreduce_and_fit(tmp_path, capsys):
    assert main(["bench", "ddp", "--quick", "--quiet", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "bench-ddp.json").read_text())
    assert sorted({r["ranks"] for r in data["step_rows"]}) == [1, 2]
    for r in data["step_rows"]:
        assert r["ddp_ms"] > 0 and r["one_rank_ms"] > 0 and r["allreduce_ms"] >= 0
        assert sum(r["bucket_bytes"]) == 4 * (64 * 128 + 128 + 128 * 10 + 10)   # every parameter, float32
    two = [r for r in data["step_rows"] if r["ranks"] == 2]
    assert all(r["hidden_pct"] is not None and 0 <= r["hidden_pct"] <= 100 for r in two)
    assert [r["bytes"] for r in data["allreduce_rows"]] == [1024, 65536]
    # A fitted slope from timings may come out at any sign on a loaded machine: check the fit exists.
    assert data["fit"]["ranks"] == 2 and np.isfinite(data["fit"]["us_per_byte"])
    out = capsys.readouterr().out
    assert "DDP step ms" in out and "MPI Allreduce us" in out


def test_bench_ddp_bad_ranks_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench", "ddp", "--ranks", "0"])
    assert exc.value.code == 2
