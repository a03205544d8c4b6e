"""gpugrad bench: the MLP benchmark end to end on the CPU (rows, JSON, PNG, loss agreement with
PyTorch), ``bench kernels`` refusing a machine without a GPU, the kernel sweep's bookkeeping on
NumPy stand-ins, and the timing / table / JSON helpers. Nothing here asserts a speed."""
from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
import types

import numpy as np
import pytest

import gpugrad as gg
from gpugrad.commands.bench import cli as bench_cli
from gpugrad.commands.bench import kernels as kb
from gpugrad.commands.bench import mlp as mb
from gpugrad.commands.bench import report, timing
from gpugrad.vjp_namespace import RawNamespace

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HAS_GPU = gg.cuda.is_available()

HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_JAX = importlib.util.find_spec("jax") is not None


def _run(*args, env_extra=None, timeout=120):
    env = dict(os.environ)
    env.pop("NUMBA_ENABLE_CUDASIM", None)   # the real command, as a user runs it
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "gpugrad.commands.bench", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


# -- bench mlp --quick on the CPU, through the real command ------------------------------------------
@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench-mlp")
    # a short budget: the rows and files are under test here, not the figures
    proc = _run("mlp", "--quick", "--device", "cpu", "--budget", "0.2", "--repeats", "3", "--out", str(out))
    return proc, out


def test_mlp_quick_exits_0_and_prints_the_table(quick_run):
    proc, _ = quick_run
    assert proc.returncode == 0, proc.stderr
    assert "| model" in proc.stdout and "step ms (median)" in proc.stdout
    for model in mb.QUICK_MODELS:
        assert f"| {model}" in proc.stdout


def test_mlp_quick_produces_every_expected_row(quick_run):
    _, out = quick_run
    data = json.loads((out / "bench-mlp.json").read_text())
    expected = {(m, impl) for m in mb.QUICK_MODELS
                for impl in (["gpugrad numpy", "hand numpy", "GEMMs only (floor)"]
                             + (["torch eager"] if HAS_TORCH else []) + (["jax jit"] if HAS_JAX else []))}
    got = {(r["model"], r["impl"]) for r in data["rows"]}
    assert got == expected
    for r in data["rows"]:
        sizes, batch = mb.MODELS[r["model"]]
        assert r["status"] == "ok", r
        assert r["layers"] == mb.layers_label(sizes) and r["batch"] == batch
        assert r["step_ms"] > 0 and r["repeats"] == len(r["samples_ms"]) >= 1
        assert r["step_ms"] == pytest.approx(float(np.median(r["samples_ms"])))
        # paired ratios against every other contender of the model, from the same rounds
        others = {o["impl"] for o in data["rows"] if o["model"] == r["model"] and o is not r}
        assert set(r["ratios"]) == others
        if r["framework"] == "floor":
            assert r["losses"] is None        # timed only: it computes no loss
        else:
            assert len(r["losses"]) == 5 and all(math.isfinite(v) for v in r["losses"])
            assert r["loss_check"] in ("ok", "reference")
        # tracemalloc peak of a step for the NumPy-based contenders only
        assert (r["peak_mib"] is not None) == (r["framework"] in ("gpugrad", "numpy"))
        if r["peak_mib"] is not None:     # at least the parameters and their gradients
            assert r["peak_mib"] * 2**20 >= 2 * 4 * r["params"]
    assert data["failed_rows"] == 0


def test_mlp_quick_json_is_complete(quick_run):
    _, out = quick_run
    text = (out / "bench-mlp.json").read_text()
    data = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert data["benchmark"] == "mlp"
    meta = data["meta"]
    for key in ("date", "command", "device_type", "device_name", "driver_version", "cpu", "cpu_count",
                "python", "versions"):
        assert key in meta, key
    assert meta["device_type"] == "cpu" and "gpugrad.commands.bench mlp --quick" in meta["command"]
    assert meta["versions"]["numpy"] == np.__version__
    for key in ("gpugrad", "cupy", "numba", "torch"):
        assert key in meta["versions"]
    assert data["config"]["optimizer"] == "sgd" and data["config"]["threads"] == 1
    assert meta["blas"] and all(b["num_threads"] == 1 and "architecture" in b for b in meta["blas"])
    assert set(data["config"]["models"]) == set(mb.QUICK_MODELS)
    assert any("threads" in n for n in data["notes"]) and any("SGD" in n for n in data["notes"])
    assert data["table"].startswith("| model")


def test_mlp_quick_writes_a_png_and_the_raw_log(quick_run):
    _, out = quick_run
    png = out / "bench-mlp.png"
    assert report.is_png(str(png)) and png.stat().st_size > 5000
    log = (out / "bench-mlp.log").read_text()
    assert "gpugrad bench mlp on cpu" in log and "| model" in log


@pytest.mark.skipif(not HAS_TORCH, reason="PyTorch is not installed")
def test_mlp_quick_gpugrad_and_torch_agree_on_the_loss(quick_run):
    _, out = quick_run
    rows = json.loads((out / "bench-mlp.json").read_text())["rows"]
    for model in mb.QUICK_MODELS:
        ours = next(r for r in rows if r["model"] == model and r["framework"] == "gpugrad")
        ref = next(r for r in rows if r["model"] == model and r["framework"] == "torch")
        assert ours["loss_reference"] == "torch eager" and ours["loss_check"] == "ok"
        np.testing.assert_allclose(ours["losses"], ref["losses"], rtol=1e-4)
        assert ours["loss_max_rel_diff"] <= 1e-4
        assert ours["losses"][-1] < ours["losses"][0]   # it trained


# -- variants, in process (tiny model) ----------------------------------------------------------------
def _cfg(**kw):
    base = dict(device="cpu", models=("tiny",), check_steps=3, max_repeats=2, budget_s=0.05)
    base.update(kw)
    return mb.MlpBenchConfig(**base)


def test_graphed_rows_match_the_eager_ones():
    # On the CPU gg.cuda.graphed captures the step's NumPy calls and replays them (cpu_graph.py).
    res = mb.run_mlp_bench(_cfg(graphed="on", torch=HAS_TORCH, jax=False), report.Log(quiet=True))
    impls = [r["impl"] for r in res["rows"]]
    assert "gpugrad numpy" in impls and "gpugrad numpy +graph" in impls
    eager = next(r for r in res["rows"] if r["impl"] == "gpugrad numpy")
    graph = next(r for r in res["rows"] if r["impl"] == "gpugrad numpy +graph")
    np.testing.assert_allclose(graph["losses"], eager["losses"], rtol=1e-6)
    assert graph["status"] == "ok" and graph["graphed"] is True
    assert any("replay" in n for n in graph["notes"])
    assert not any("fell back" in n for n in graph["notes"])
    assert res["failed"] == 0


def test_no_torch_checks_against_the_first_gpugrad_row():
    res = mb.run_mlp_bench(_cfg(torch=False, graphed="on", extra=False, jax=False), report.Log(quiet=True))
    assert [r["framework"] for r in res["rows"]] == ["gpugrad", "gpugrad"]
    assert res["rows"][0]["loss_check"] == "reference"
    assert res["rows"][1]["loss_reference"] == "gpugrad numpy"
    assert any("left out" in n for n in res["notes"])


def test_no_torch_checks_against_hand_numpy():
    res = mb.run_mlp_bench(_cfg(torch=False, jax=False), report.Log(quiet=True))
    ref = next(r for r in res["rows"] if r["framework"] == "numpy")
    assert ref["loss_check"] == "reference"
    ours = next(r for r in res["rows"] if r["framework"] == "gpugrad")
    assert ours["loss_reference"] == "hand numpy" and ours["loss_check"] == "ok"


@pytest.mark.skipif(HAS_GPU or os.environ.get("NUMBA_ENABLE_CUDASIM") != "1",
                    reason="needs the CUDA simulator (the suite enables it on machines without a GPU)")
def test_kernel_policy_rows_on_the_simulated_device():
    # cudasim runs the CUDA backend's dispatch on NumPy arrays: the per-policy loop and
    # gg.use_kernels are exercised (the cublas policy only: the numba one is minutes in the simulator).
    before = gg.get_kernels()
    res = mb.run_mlp_bench(_cfg(device="cudasim", policies=("cublas",), torch=HAS_TORCH),
                           report.Log(quiet=True))
    ours = [r for r in res["rows"] if r["framework"] == "gpugrad"]
    assert [r["impl"] for r in ours] == ["gpugrad cublas"] and ours[0]["policy"] == "cublas"
    assert res["failed"] == 0
    assert gg.get_kernels() == before            # the policy was restored


def test_a_loss_mismatch_fails_the_row():
    rows = [dict(framework="torch", impl="torch eager", status="ok", step_ms=2.0, losses=[1.0, 0.9]),
            dict(framework="gpugrad", impl="gpugrad numpy", status="ok", step_ms=1.0, losses=[1.0, 0.9001]),
            dict(framework="gpugrad", impl="gpugrad bad", status="ok", step_ms=1.0, losses=[1.0, 0.95]),
            dict(framework="gpugrad", impl="gpugrad nan", status="ok", step_ms=1.0, losses=[1.0, float("nan")])]
    mb._check_losses(rows, rtol=1e-3)
    assert [r["loss_check"] for r in rows] == ["reference", "ok", "FAIL", "FAIL"]
    assert rows[1]["loss_max_rel_diff"] == pytest.approx(1e-4 / 0.9)
    assert rows[2]["status"] == "loss mismatch"
    assert rows[1]["time_vs_ref"] == 0.5


def test_failed_rows_make_the_command_exit_1(monkeypatch, tmp_path, capsys):
    real = mb._check_losses

    def sabotage(rows, rtol):
        # Break every row checked against the reference: PyTorch's row when it ran, else the
        # first gpugrad row (which then stays intact, so the eager-graph pair must disagree).
        ours = [r for r in rows if r["framework"] == "gpugrad"]
        has_torch = any(r["framework"] == "torch" for r in rows)
        broken = ours if has_torch else ours[1:]
        for r in broken:
            r["losses"] = [v * 1.1 for v in r["losses"]]
        sabotaged.append(len(broken))
        real(rows, rtol)

    sabotaged = []

    monkeypatch.setattr(mb, "_check_losses", sabotage)
    rc = bench_cli.main(["mlp", "--device", "cpu", "--sizes", "tiny", "--repeats", "1", "--quiet", "--no-jax",
                         "--graphed", "on", "--json", str(tmp_path / "r.json")])
    assert rc == 1
    assert "row(s) failed" in capsys.readouterr().err
    assert sabotaged and sabotaged[0] >= 1
    assert json.loads((tmp_path / "r.json").read_text())["failed_rows"] == sabotaged[0]


def test_step_flops():
    # 2*B*(in*out) forward per layer; backward dW for all and dX for all but the first layer.
    assert mb.step_flops((3, 4, 2), 5) == 2 * 5 * (3 * (12 + 8) - 12)


# -- bench kernels ------------------------------------------------------------------------------------
@pytest.mark.skipif(HAS_GPU, reason="this machine has a GPU")
def test_bench_kernels_without_a_gpu_exits_2_with_one_line():
    proc = _run("kernels", "--quick")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("gpugrad bench kernels: needs a CUDA GPU")
    assert proc.stdout == ""


def test_usage_errors_are_one_line_and_exit_2():
    proc = _run("mlp", "--sizes", "huge")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "--sizes" in proc.stderr
    proc = _run()
    assert proc.returncode == 2


@pytest.mark.skipif(HAS_GPU, reason="this machine has a GPU")
def test_mlp_on_cuda_without_a_gpu_is_one_line():
    proc = _run("mlp", "--device", "cuda")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1


class NumpyEnv(kb.EnvBase):
    """The kernel sweep's environment with NumPy stand-ins: checks its bookkeeping, not the GPU."""

    name = "numpy"
    l2_bytes = 64 * 1024

    def __init__(self):
        from gpugrad.backends.base import ArrayBackend
        self.xp, self.notes, self.composite = np, [], RawNamespace(ArrayBackend(np))
        self.calls = {}

    def time_ms(self, contenders, repeats, warmup=3):
        out = {}
        for name, fns in contenders.items():
            it = iter(range(10 ** 9))
            samples = timing.time_host(lambda: fns[next(it) % len(fns)](), warmup, repeats)
            out[name] = {**timing.summarize([s * 1e3 for s in samples]), "enqueue_ms": 0.0,
                         "host_bound_samples": 0}
        return out

    def synchronize(self):
        pass

    def free_bytes(self):
        return 1 << 34

    def release(self):
        pass

    def randn(self, shape, seed):
        return np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)

    def empty(self, shape):
        return np.empty(shape, np.float32)

    def copy(self, dst, src):
        np.copyto(dst, src)

    def ours_matmul(self, a, b, ta, tb, out):
        return np.matmul(a.T if ta else a, b.T if tb else b, out=out)

    def cublas_matmul(self, a, b, ta, tb, out, tf32=False):
        r = np.matmul(a.T if ta else a, b.T if tb else b, out=out)
        if tf32:   # what TF32 does to the result: about 10 bits of mantissa
            r[...] = r * (1 + 2.0 ** -11)
        return r

    def ours_elementwise(self, name, d):
        c = self.composite
        return {"relu": lambda: c.relu(d["x"]), "relu_vjp": lambda: c.relu_vjp(d["g"], d["x"]),
                "bias_sigmoid": lambda: c.bias_sigmoid(d["x"], d["b"]),
                "bias_sigmoid_vjp": lambda: c.bias_sigmoid_vjp(d["g"], d["h"])}[name]()

    def fused_elementwise(self, name, d):
        """Like CupyEnv's: writes d["y"]; the VJP leaves dz there and returns the column sums."""
        x, g, h, y = d["x"], d.get("g"), d.get("h"), d["y"]
        if name == "relu":
            y[...] = np.maximum(x, 0)
        elif name == "relu_vjp":
            y[...] = np.where(x > 0, g, 0)
        elif name == "bias_sigmoid":
            y[...] = 1 / (1 + np.exp(-(x + d["b"])))
        else:
            y[...] = g * h * (1 - h)
            return y.sum(axis=0)
        return y

    policy_elementwise = ours_elementwise


@pytest.fixture(scope="module")
def sweep():
    return kb.run_kernel_sweep(NumpyEnv(), (16, 48), (8, 11), repeats=3, log=report.Log(quiet=True))


def test_kernel_sweep_rows(sweep):
    rows = sweep["rows"]
    mm = [r for r in rows if r["kernel"] == "matmul"]
    assert {(r["layout"], r["n"]) for r in mm} == {(lay, n) for lay in kb.LAYOUTS for n in (16, 48)}
    for r in mm:
        assert r["flops"] == 2 * r["n"] ** 3 and r["intensity"] == pytest.approx(r["n"] / 6)
        assert r["tflops"] == pytest.approx(r["flops"] / r["ms"] / 1e9)
        assert r["vs_vendor"] == pytest.approx(r["cublas_ms"] / r["ms"])
        assert r["max_rel_diff_vs_cublas"] < 1e-6 and r["tf32_max_rel_diff_vs_fp32"] > 1e-4
        assert r["input_sets"] == timing.rotation_sets(3 * r["n"] ** 2 * 4, NumpyEnv.l2_bytes, cap=kb.MAX_SETS)
    ew = [r for r in rows if r["kernel"] in kb.ELEMENTWISE]
    assert {(r["kernel"], r["elements"]) for r in ew} == {(k, n) for k in kb.ELEMENTWISE for n in (256, 2048)}
    assert [r["shape"] for r in ew if r["elements"] == 2048][0] == [2, 1024]
    for r in ew:
        assert r["gbps"] == pytest.approx(r["bytes"] / r["ms"] / 1e6)
    assert len([r for r in rows if r["kernel"] == "copy"]) == 2
    assert len([r for r in rows if r["kernel"] == "launch_overhead"]) == 2


def test_kernel_sweep_ceilings_and_fractions(sweep):
    rows, c = sweep["rows"], sweep["ceilings"]
    big_copy = max((r for r in rows if r["kernel"] == "copy"), key=lambda r: r["elements"])
    assert c["copy_gbps"] == big_copy["gbps"] and c["cublas_peak_n"] == 48
    assert c["cublas_fp32_tflops"] == max(r["cublas_tflops"] for r in rows
                                          if r["kernel"] == "matmul" and r["n"] == 48)
    for r in rows:
        if r["kernel"] == "matmul":
            assert r["fraction_of_ceiling"] == pytest.approx(r["tflops"] / c["cublas_fp32_tflops"])
        elif r["kernel"] in kb.ELEMENTWISE:
            assert r["fraction_of_ceiling"] == pytest.approx(r["gbps"] / c["copy_gbps"])
    impls = {(p["kernel"], p["impl"]) for p in sweep["roofline"]}
    assert ("matmul", "cuBLAS TF32") in impls and ("relu", "CuPy fused") in impls


def test_kernel_table_json_and_roofline_png(sweep, tmp_path):
    table = kb.kernel_table(sweep["rows"])
    assert table.splitlines()[0].startswith("| kernel") and "matmul nt" in table
    assert "launch overhead" in table
    path = tmp_path / "k.json"
    report.write_json(str(path), {"rows": sweep["rows"], "ceilings": sweep["ceilings"]})
    assert json.loads(path.read_text())["ceilings"]["cublas_peak_n"] == 48
    png = tmp_path / "roofline.png"
    pytest.importorskip("matplotlib")
    assert report.plot_roofline(sweep["roofline"], sweep["ceilings"], str(png), "test")
    assert report.is_png(str(png))


# -- helpers -------------------------------------------------------------------------------------------
def test_summarize():
    s = timing.summarize([5, 1, 3, 2, 4])
    assert (s["median"], s["min"], s["max"], s["n"]) == (3, 1, 5, 5)
    assert s["mean"] == 3 and s["iqr"] == 2
    assert timing.summarize([1, 2, 3, 10])["median"] == 2.5
    assert timing.summarize([7])["iqr"] == 0
    with pytest.raises(ValueError):
        timing.summarize([])


def test_time_host_warms_up_and_syncs_around_each_sample():
    events = []
    samples = timing.time_host(lambda: events.append("call"), warmup=2, repeats=3,
                               sync=lambda: events.append("sync"))
    assert len(samples) == 3 and all(s >= 0 for s in samples)
    assert events == ["call"] * 2 + ["sync", "call", "sync"] * 3


def test_kernel_sweep_checks_every_result_against_the_vendor(sweep):
    rows = sweep["rows"]
    for r in rows:
        if r["kernel"] in kb.ELEMENTWISE:
            assert r["max_rel_diff_vs_cupy"] <= kb.ELEMENTWISE_RTOL
            assert set(r["enqueue_ms"]) == {"ours", "fused", "policy"}
    assert kb.result_failures(rows) == []


class WrongKernelsEnv(NumpyEnv):
    """A fast but wrong matmul (transposed result) and a ReLU that forgets to clamp."""

    def ours_matmul(self, a, b, ta, tb, out):
        r = super().ours_matmul(a, b, ta, tb, out)
        r[...] = r.T.copy()
        return r

    def ours_elementwise(self, name, d):
        if name == "relu":
            d["y"][...] = d["x"]
            return d["y"]
        return super().ours_elementwise(name, d)


def test_kernel_sweep_flags_wrong_results():
    result = kb.run_kernel_sweep(WrongKernelsEnv(), (16,), (8,), repeats=1, log=report.Log(quiet=True),
                                 overhead=False)
    failures = kb.result_failures(result["rows"])
    assert {f.split(":")[0] for f in failures} == {"matmul nn 16^3", "matmul tn 16^3", "matmul nt 16^3",
                                                   "relu 2^8"}


def test_elementwise_rotation_spans_twice_l2_in_bytes_touched(sweep):
    # The copy and relu touch 8 bytes per element: their rotation alone must span 2x L2.
    for r in sweep["rows"]:
        if r["kernel"] == "copy":
            assert r["input_sets"] * 8 * r["elements"] >= 2 * NumpyEnv.l2_bytes


class FakeCupy:
    """Just enough of CuPy for time_cuda_events: a timeline of what the host queued."""

    def __init__(self):
        self.timeline = []
        fake = self

        class Stream:
            def synchronize(self):
                fake.timeline.append("sync")

        class Event:
            def record(self, stream=None):
                fake.timeline.append("record")

            def synchronize(self):
                fake.timeline.append("event-sync")

        class Cuda:
            @staticmethod
            def get_current_stream():
                return Stream()

            @staticmethod
            def get_elapsed_time(start, end):
                return 8.0

        def raw_kernel(source, name):
            def launch(grid, block, args, stream=None):
                fake.timeline.append(("spin", int(args[0])))
            return launch

        Cuda.Event = Event
        self.cuda = Cuda
        self.RawKernel = raw_kernel
        self.int64 = int


def _steady_host_clock(monkeypatch):
    """The timer's host clock advancing 1 us per reading (plus what ``clock["skip_us"]`` adds):
    every enqueue measures the same unless a test makes one slow, so no sample is retried for a
    busy host (a loaded machine made the real clock's tests flaky). Returns the clock's state."""
    clock = {"us": 0, "skip_us": 0}

    def perf_counter():
        clock["us"] += 1 + clock["skip_us"]
        clock["skip_us"] = 0
        return clock["us"] * 1e-6

    monkeypatch.setattr(timing, "time", types.SimpleNamespace(perf_counter=perf_counter))
    return clock


def test_cuda_event_timer_interleaves_contenders_and_spins_ahead_of_each_batch(monkeypatch):
    _steady_host_clock(monkeypatch)
    cp = FakeCupy()
    fns = {name: [lambda name=name, i=i: cp.timeline.append((name, i)) for i in range(2)]
           for name in ("a", "b")}
    out = timing.time_cuda_events(cp, fns, warmup=1, repeats=2, batch=2)
    assert out["a"]["median"] == 4.0 and out["a"]["n"] == 2      # 8 ms per batch of 2
    assert out["a"]["host_bound_samples"] == 0 and out["a"]["batch"] == 2
    timed = cp.timeline[cp.timeline.index(("b", 1)) + 2:]        # after both warm-ups
    calls = [e[0] for e in timed if isinstance(e, tuple) and e[0] in "ab"]
    assert calls == ["a", "a", "b", "b", "a", "a", "b", "b"]
    # every batch: spin, start event, the calls, end event, wait
    first = timed.index("record") - 1
    assert timed[first][0] == "spin" and timed[first + 1:first + 6] == [
        "record", ("a", 0), ("a", 1), "record", "event-sync"]


def test_cuda_event_timer_retakes_a_sample_whose_enqueueing_outlasted_the_spin(monkeypatch):
    clock = _steady_host_clock(monkeypatch)
    cp = FakeCupy()
    slow = {"on": False, "times": 0}

    def call():
        if slow["on"] and slow["times"] < 1:     # one slow batch (a GC pause, say): 20 ms
            slow["times"] += 1
            clock["skip_us"] = 20_000

    def sample_hook(*args, **kwargs):
        slow["on"] = True
        return original(*args, **kwargs)

    original = timing._one_sample
    monkeypatch.setattr(timing, "_one_sample", sample_hook)
    out = timing.time_cuda_events(cp, {"a": [call]}, warmup=1, repeats=3, batch=1)
    assert out["a"]["retried_samples"] == 1 and out["a"]["host_bound_samples"] == 0
    assert out["a"]["n"] == 3
    assert out["a"]["spin_us"] >= 1.5 * 20_000     # the spin grew to outlast the slow enqueueing


def test_rotation_sets_span_twice_l2():
    assert timing.rotation_sets(10 * 2**20, l2_bytes=50 * 2**20) == 10
    assert timing.rotation_sets(1, l2_bytes=50 * 2**20, cap=16) == 16
    assert timing.rotation_sets(2**31, l2_bytes=50 * 2**20) == 2    # never fewer than 2


def test_adaptive_repeats():
    assert timing.adaptive_repeats(0.1, 1.0, 3, 30) == 10
    assert timing.adaptive_repeats(10.0, 1.0, 3, 30) == 3
    assert timing.adaptive_repeats(1e-6, 1.0, 3, 30) == 30
    assert timing.adaptive_repeats(0.0, 1.0, 3, 30) == 30


def test_format_table():
    cols = [("name", "name", None, "<"), ("ms", "ms", ".2f", ">"), ("x", lambda r: r.get("x"), None, ">")]
    text = report.format_table(cols, [dict(name="a", ms=1.234), dict(name="long name", ms=float("nan"), x=3)])
    lines = text.splitlines()
    assert lines[0] == "| name      |   ms |   x |"
    assert lines[1] == "| --------- | ---: | --: |"
    assert lines[2] == "| a         | 1.23 |   - |"
    assert lines[3] == "| long name |    - |   3 |"
    assert len({len(line) for line in lines}) == 1


def test_to_jsonable_and_write_json_are_strict(tmp_path):
    v = report.to_jsonable({"a": np.float32(1.5), "b": (1, np.int64(2)), "c": float("nan"),
                            "d": np.arange(3), "e": float("inf"), 3: None})
    assert v == {"a": 1.5, "b": [1, 2], "c": None, "d": [0, 1, 2], "e": None, "3": None}
    path = tmp_path / "sub" / "x.json"
    report.write_json(str(path), {"x": float("nan"), "y": np.float64(2.0)})
    assert json.loads(path.read_text()) == {"x": None, "y": 2.0}


def test_is_png(tmp_path):
    p = tmp_path / "a.png"
    p.write_bytes(report.PNG_SIGNATURE + b"rest")
    assert report.is_png(str(p))
    p.write_bytes(b"GIF89a")
    assert not report.is_png(str(p)) and not report.is_png(str(tmp_path / "missing.png"))


def test_importing_gpugrad_bench_pulls_in_no_gpu_or_plot_library():
    code = ("import sys, gpugrad.commands.bench, gpugrad.commands.bench.kernels, gpugrad.commands.bench.mlp; "
            "print(','.join(m for m in ('cupy', 'torch', 'matplotlib', 'numba') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""


def test_add_bench_parser_plugs_into_a_parent_cli():
    import argparse
    parser = argparse.ArgumentParser(prog="gpugrad")
    sub = parser.add_subparsers(dest="command")
    bench_cli.add_bench_parser(sub)
    args = parser.parse_args(["bench", "mlp", "--quick", "--sizes", "tiny,small", "--optimizer", "adam"])
    assert args.handler is bench_cli.run_bench
    assert args.bench_command == "mlp" and args.sizes == ("tiny", "small") and args.optimizer == "adam"
    assert bench_cli.run_bench(parser.parse_args(["bench"])) == 2
