"""`gpugrad bench data`: its rows are measured (read against pandas/pyarrow, peak memory of a read
and of a one-epoch train in fresh processes) on a small table; the figures themselves are in
benchmarks/results/data-cpu-2026-12-07/ (speed is asserted nowhere)."""
from __future__ import annotations

import json
import math

import pytest

pytest.importorskip("pandas")
pytest.importorskip("pyarrow")


def test_data_bench_rows_on_a_small_table(tmp_path):
    from gpugrad.commands.cli import main
    assert main(["bench", "data", "--rows", "3000", "--cols", "6", "--rounds", "1", "--quiet",
                 "--json", str(tmp_path / "d.json")]) == 0
    rows = json.load(open(tmp_path / "d.json"))["rows"]
    assert [r["row"] for r in rows] == ["read csv", "train csv", "read parquet", "train parquet"]
    for r in rows:
        assert r["gpugrad_s"] > 0 and math.isfinite(r["peak_x"]) and r["peak_x"] >= 0
    assert rows[0]["note"] == "pandas.read_csv" and rows[0]["peer_s"] > 0
