"""The CPU benchmark method (issue 15): contenders interleaved in rotating rounds, paired ratios,
every contender started from the same weights and checked to agree before it is timed, the BLAS
recorded, the engine command's rows and targets. Tiny sizes; nothing here asserts a speed."""
from __future__ import annotations

import importlib.util
import json
import os
import sys

import numpy as np
import pytest

from gpugrad.commands.bench import cli as bench_cli
from gpugrad.commands.bench import cpu_contenders as cc
from gpugrad.commands.bench import engine as eb
from gpugrad.commands.bench import mlp as mb
from gpugrad.commands.bench import report, timing

HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_JAX = importlib.util.find_spec("jax") is not None


def _cfg(**kw):
    base = dict(device="cpu", models=("tiny",), check_steps=3, max_repeats=3, min_repeats=3, budget_s=0.05)
    base.update(kw)
    return mb.MlpBenchConfig(**base)


def test_interleaved_rounds_rotate_the_order_and_align_the_samples():
    calls = []
    fns = {n: (lambda n=n: calls.append(n)) for n in "abc"}
    samples = timing.interleaved_host(fns, rounds=4, inner=2, warmup=1)
    assert calls[:3] == ["a", "b", "c"]                     # the warm-up round
    rounds = [calls[3 + 6 * r: 9 + 6 * r] for r in range(4)]
    assert [r[::2] for r in rounds] == timing.rotation_orders("abc", 4)
    assert timing.rotation_orders("abc", 4) == [list("abc"), list("bca"), list("cab"), list("abc")]
    assert all(r[0::2] == r[1::2] for r in rounds)          # inner calls back to back
    assert {k: len(v) for k, v in samples.items()} == {"a": 4, "b": 4, "c": 4}
    with pytest.raises(ValueError):
        timing.interleaved_host(fns, rounds=0)


@pytest.mark.parametrize("collector", [False, True])
def test_the_collector_is_paused_inside_samples_unless_asked(collector):
    import gc
    seen = []
    was = gc.isenabled()
    gc.enable()
    try:
        timing.interleaved_host({"a": lambda: seen.append(gc.isenabled())}, rounds=3, warmup=0,
                                collector=collector)
        assert gc.isenabled()                                 # restored after the run
    finally:
        if not was:
            gc.disable()
    assert seen == [collector] * 3


def test_the_engine_target_is_judged_on_the_collector_paused_rows_only():
    from gpugrad.commands.bench.engine import targets
    ratio = {"torch": {"median": 0.7, "iqr": 0.0}}
    rows = [{"workload": "chain 10 ops (1,)", "impl": "gpugrad", "ratios": ratio},
            {"workload": "chain 10 ops (1,), gc on", "impl": "gpugrad", "collector": True,
             "ratios": {"torch": {"median": 2.0, "iqr": 0.0}}}]
    assert [t["workload"] for t in targets(rows)] == ["chain 10 ops (1,)"]


def test_paired_ratios_are_per_round():
    # b is twice a in every round, though both drift 10x over the run: the pairs see 0.5 exactly,
    # where the ratio of medians would not tell the drift from the difference.
    a = [1.0, 10.0, 2.0, 20.0]
    b = [2.0, 20.0, 4.0, 40.0]
    st = timing.paired_ratios(a, b)
    assert st["median"] == 0.5 and st["iqr"] == 0.0 and st["n"] == 4
    with pytest.raises(ValueError):
        timing.paired_ratios([1.0], [1.0, 2.0])


def test_every_contender_starts_from_the_same_weights_and_agrees():
    res = mb.run_mlp_bench(_cfg(torch=HAS_TORCH, jax=HAS_JAX, check_steps=4), report.Log(quiet=True))
    rows = {r["impl"]: r for r in res["rows"]}
    assert res["failed"] == 0
    checked = [r for r in rows.values() if r["losses"] is not None]
    assert len(checked) >= 2 + HAS_TORCH + HAS_JAX
    first = checked[0]["losses"]
    for r in checked:   # same first loss (same weights and batch), then the same trajectory
        np.testing.assert_allclose(r["losses"], first, rtol=1e-5, err_msg=r["impl"])
        assert r["loss_check"] in ("ok", "reference")
    assert rows["GEMMs only (floor)"]["losses"] is None
    for r in rows.values():
        assert r["repeats"] == len(r["samples_ms"]) == 3
        assert all(len(v := timing.paired_ratios(r["samples_ms"], o["samples_ms"])) and
                   r["ratios"][o["impl"]]["median"] == pytest.approx(v["median"])
                   for o in rows.values() if o is not r)


def test_a_contender_that_disagrees_is_not_timed(monkeypatch):
    real = cc.NumpyContender.step
    monkeypatch.setattr(cc.NumpyContender, "step", lambda self: real(self) * 1.01)
    res = mb.run_mlp_bench(_cfg(torch=False, jax=False), report.Log(quiet=True))
    bad = next(r for r in res["rows"] if r["framework"] == "numpy")
    ours = next(r for r in res["rows"] if r["framework"] == "gpugrad")
    # without torch, hand numpy is the reference: then gpugrad is the one that "disagrees"
    flagged = ours if bad["loss_check"] == "reference" else bad
    assert flagged["status"] == "loss mismatch" and "step_ms" not in flagged
    assert res["failed"] == 1


def test_gemm_floor_runs_the_steps_products_with_their_layouts():
    init = [np.ones((3, 4), np.float32), np.zeros(3, np.float32), np.ones((2, 3), np.float32),
            np.zeros(2, np.float32)]
    c = cc.GemmFloorContender(init, np.ones((5, 4), np.float32))
    c.step()
    assert [h.shape for h in c.hs] == [(5, 3), (5, 2)]
    assert [d.shape for d in c.dws] == [(3, 4), (2, 3)]          # gᵀ h: the weights' own shapes
    np.testing.assert_allclose(c.hs[0], np.full((5, 3), 4.0))
    np.testing.assert_allclose(c.dws[1], c.gs[1].T @ c.hs[0], rtol=1e-6)
    np.testing.assert_allclose(c.dxs[1], c.gs[1] @ init[2], rtol=1e-6)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_hand_numpy_step_matches_gpugrad(optimizer):
    sizes, batch = mb.MODELS["tiny"]
    names, init = mb.initial_state(sizes, 0)
    x, y = mb.batch_data(sizes, batch, 0)
    cfg = _cfg(optimizer=optimizer)
    ours = mb.GpugradContender(cfg, sizes, names, init, x, y, None, False)
    hand = cc.NumpyContender(optimizer, init, x, y)
    a = [ours.loss_value(ours.step()) for _ in range(4)]
    b = [hand.step() for _ in range(4)]
    np.testing.assert_allclose(a, b, rtol=1e-5)
    np.testing.assert_allclose(ours.model.state_dict()["0.weight"].numpy(), hand.params[0], rtol=1e-4,
                               atol=1e-6)


def test_numpy_peak_bytes_sees_a_steps_temporaries():
    def step():
        a = np.ones(1 << 18, np.float32)     # 1 MiB, freed at return
        return float(a.sum())
    assert 1 << 20 <= cc.numpy_peak_bytes(step) < 2 << 20


def test_blas_is_recorded():
    info = report.blas_info()
    if not info:
        pytest.skip("threadpoolctl sees no BLAS")
    assert {"internal_api", "version", "architecture", "num_threads"} <= set(info[0])
    assert "thread(s)" in report.blas_label(info)


def test_reexec_only_for_more_threads_and_only_from_a_command(monkeypatch):
    monkeypatch.delenv("OPENBLAS_THREAD_TIMEOUT", raising=False)
    assert bench_cli.reexec_for_blas_threads(1) is None
    monkeypatch.setattr(sys, "orig_argv", ["python", "-m", "pytest"], raising=False)
    assert bench_cli.reexec_for_blas_threads(2) is None        # not our command line: never rerun
    monkeypatch.setenv("OPENBLAS_THREAD_TIMEOUT", "4")
    monkeypatch.setattr(sys, "orig_argv", ["python", "-m", "gpugrad.commands.bench", "engine"], raising=False)
    assert bench_cli.reexec_for_blas_threads(2) is None        # already set: run here


def test_chain_check_names_the_contender_that_disagrees():
    fns = {"gpugrad": eb.chain_gpugrad, "hand numpy": lambda x0, n: (eb.chain_numpy(x0, n)[0] * 1.01,
                                                                      eb.chain_numpy(x0, n)[1])}
    with pytest.raises(AssertionError, match="chain value: hand numpy"):
        eb.check_chain(fns, np.full((2,), 0.5, np.float32), 10)


def test_engine_command_writes_rows_ratios_and_targets(tmp_path):
    out = tmp_path / "eng"
    rc = bench_cli.main(["engine", "--chain-ops", "20", "--rounds", "2", "--quiet", "--no-jax",
                         "--out", str(out)] + ([] if HAS_TORCH else ["--no-torch"]))
    assert rc == 0
    data = json.loads((out / "bench-engine.json").read_text())
    impls = {(r["workload"].split()[0], r["impl"]) for r in data["rows"]}
    assert ("chain", "gpugrad") in impls and ("chain", "hand numpy") in impls
    assert ("MLP", "gpugrad numpy") in impls and ("MLP", "GEMMs only (floor)") in impls
    for r in data["rows"]:
        assert len(r["samples"]) == 2 and r["median"] > 0 and r["iqr"] >= 0
    kinds = {t["workload"].split()[0] for t in data["targets"]}
    assert "MLP" in kinds and (("chain" in kinds) == HAS_TORCH)
    assert all(t["met"] == (t["ratio"] <= t["bar"]) for t in data["targets"])
    assert all(b["num_threads"] == 1 for b in data["meta"]["blas"])      # as pinned for the run
    assert "bench-engine.log" in os.listdir(out)


def test_train_cpu_same_weights_checked_losses_and_paired_ratios(tmp_path):
    rc = bench_cli.main(["train-cpu", "--epochs", "2", "--quiet", "--no-jax", "--json", str(tmp_path / "t.json")]
                        + ([] if HAS_TORCH else ["--no-torch"]))
    assert rc == 0
    data = json.loads((tmp_path / "t.json").read_text())
    rows = {r["impl"]: r for r in data["rows"]}
    assert "gpugrad" in rows and "hand numpy" in rows and len(rows) == 2 + HAS_TORCH
    for r in rows.values():
        assert r["status"] == "ok" and r["check"] in ("ok", "reference")
        assert r["loss_max_rel_diff"] <= 1e-3 and len(r["samples_ms"]) == 2
        assert set(r["ratios"]) == set(rows) - {r["impl"]}
    assert data["steps"] == 45 and data["reference"] == (next(k for k in rows if k.startswith("torch"))
                                                         if HAS_TORCH else "hand numpy")
