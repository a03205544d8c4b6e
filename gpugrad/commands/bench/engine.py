"""``gpugrad bench engine``: the engine's fixed cost per recorded op, and the small MLP's training step,
on the CPU, by the same method as ``bench mlp`` (contenders interleaved in rotating rounds, results
checked to agree before timing, medians with IQR, paired ratios, BLAS recorded).

* ``chain``: N tiny ops (alternately ``x * 1.0001`` and ``x + 0.0001``) on a 1-element and a 4x4
  float32 tensor, then backward: the per-op cost of recording and replaying the graph. Contenders:
  gpugrad, the same arithmetic by hand in NumPy (forward and backward, no graph), PyTorch CPU.
* ``mlp``: the ``small`` model (784-256-256-10, batch 128) of ``bench mlp``: a full training step
  (forward, cross-entropy, backward, SGD momentum) against PyTorch, hand NumPy, JAX jit and the
  GEMMs-only floor (see ``gpugrad.commands.bench.mlp``); gpugrad eager and captured ("+graph":
  ``gg.cuda.graphed``, on the CPU a replay of the step's NumPy calls, gpugrad/cpu_graph.py).

Targets (issue 15; benchmarks, never tests): per-op overhead <= 0.8x PyTorch CPU's; the small MLP
step <= 1.05x hand NumPy's at 1 thread; beyond them, the captured step <= 1.0x JAX jit's.
"""
from __future__ import annotations

import numpy as np

from .timing import interleaved_host, paired_ratios, summarize
import gpugrad as gg
from .mlp import GpugradContender, MODELS, MlpBenchConfig, batch_data, initial_state

CHAIN_SHAPES = ((1,), (4, 4))
TARGETS = {"chain": ("torch", 0.8), "mlp": ("hand numpy", 1.05),
           # issue 15's "beyond": the captured step (gg.cuda.graphed on the CPU) no slower than JAX jit
           "mlp graphed": ("jax jit", 1.0)}


def chain_gpugrad(x0, n):
    x = gg.tensor(x0, requires_grad=True)
    y = x
    for i in range(n):
        y = y * 1.0001 if i % 2 == 0 else y + 0.0001
    y.sum().backward()
    return y.numpy(), x.grad.numpy()


def chain_numpy(x0, n):
    # The forward ops, then the backward of each in reverse (a constant factor scales the
    # gradient; adding a constant passes it through).
    y = x0
    for i in range(n):
        y = y * np.float32(1.0001) if i % 2 == 0 else y + np.float32(0.0001)
    g = np.ones_like(x0)
    for i in range(n - 1, -1, -1):
        if i % 2 == 0:
            g = g * np.float32(1.0001)
    return y, g


def chain_torch(torch):
    def run(x0, n):
        x = torch.tensor(x0, requires_grad=True)
        y = x
        for i in range(n):
            y = y * 1.0001 if i % 2 == 0 else y + 0.0001
        y.sum().backward()
        return y.detach().numpy(), x.grad.numpy()
    return run


def check_chain(fns: dict, x0, n, rtol=1e-5) -> None:
    """Every contender's value and gradient equal gpugrad's; AssertionError naming the one that differs."""
    ref_y, ref_g = fns["gpugrad"](x0, n)
    for name, fn in fns.items():
        y, g = fn(x0, n)
        np.testing.assert_allclose(y, ref_y, rtol=rtol, err_msg=f"chain value: {name} vs gpugrad")
        np.testing.assert_allclose(g, ref_g, rtol=rtol, err_msg=f"chain gradient: {name} vs gpugrad")


def run_chain(n_ops: int, rounds: int, torch, log) -> list:
    """One row per (shape, contender): microseconds per op (forward + backward), paired ratios,
    timed with Python's garbage collector paused (the engine's own cost, the target's figure);
    then the (1,) chain again with the collector running, as in a user's program, where a long
    live graph of Python objects costs collection passes over the whole heap (gpugrad's graph is
    Python objects; PyTorch's is C++; both pay for the heap of every module imported)."""
    rows = []
    for shape, collector in [(s, False) for s in CHAIN_SHAPES] + [(CHAIN_SHAPES[0], True)]:
        x0 = np.full(shape, 0.5, dtype=np.float32)
        fns = {"gpugrad": chain_gpugrad, "hand numpy": chain_numpy}
        if torch is not None:
            fns["torch"] = chain_torch(torch)
        check_chain(fns, x0, n_ops)
        samples = interleaved_host({k: (lambda f=f: f(x0, n_ops)) for k, f in fns.items()}, rounds,
                                   inner=1, warmup=1, collector=collector)
        label = f"chain {n_ops} ops {shape}" + (", gc on" if collector else "")
        per_op = {k: [s / n_ops * 1e6 for s in v] for k, v in samples.items()}
        for k in fns:
            st = summarize(per_op[k])
            rows.append({"workload": label, "impl": k, "unit": "us/op", "collector": collector,
                         "median": st["median"], "iqr": st["iqr"], "stats": st, "samples": per_op[k],
                         "check": "ok" if k != "gpugrad" else "reference",
                         "ratios": {o: paired_ratios(per_op[k], per_op[o]) for o in fns if o != k}})
            log(f"  {label[len('chain '):]} {k:<10s} {st['median']:7.2f} us/op  (IQR {st['iqr']:.2f}, "
                f"{rounds} rounds)")
    return rows


def mlp_rows(mlp_result: dict) -> list:
    """bench mlp's rows re-shaped for the engine table (ms per step)."""
    rows = []
    for r in mlp_result["rows"]:
        if r.get("status") != "ok" or r.get("step_ms") is None:
            continue
        st = r["step_ms_stats"]
        rows.append({"workload": f"MLP {r['layers']} step, batch {r['batch']}", "impl": r["impl"],
                     "unit": "ms/step", "median": r["step_ms"], "iqr": st["iqr"], "stats": st,
                     "samples": r["samples_ms"], "check": r.get("loss_check") or "timed only",
                     "peak_mib": r.get("peak_mib"),
                     "ratios": r.get("ratios", {})})
    return rows


def targets(rows: list) -> list:
    """The issue's targets, judged on the paired ratio's median: [(what, ratio, iqr, bar, met)]."""
    out = []
    for r in rows:
        if r["impl"] not in ("gpugrad", "gpugrad numpy", "gpugrad numpy +graph") or r.get("collector"):
            continue                        # the target is the engine's cost, collector paused
        kind = "chain" if r["workload"].startswith("chain") else \
            "mlp graphed" if r["impl"].endswith("+graph") else "mlp"
        ref, bar = TARGETS[kind]
        st = next((v for k, v in r["ratios"].items() if k.startswith(ref)), None)
        if st is None:
            continue
        out.append({"workload": r["workload"], "versus": ref, "ratio": st["median"], "iqr": st["iqr"],
                    "bar": bar, "met": st["median"] <= bar})
    return out


def _ratio(prefix):
    """The paired ratio against the contender whose name starts with ``prefix`` ('torch' is
    'torch' in the chain rows and 'torch eager' in the MLP rows)."""
    def cell(r):
        st = next((v for k, v in r["ratios"].items() if k.startswith(prefix)), None)
        return None if st is None else f"{st['median']:.2f}x [{st['iqr']:.2f}]"
    return cell


ENGINE_COLUMNS = [
    ("workload", "workload", None, "<"),
    ("impl", "impl", None, "<"),
    ("unit", "unit", None, "<"),
    ("median", "median", ".3f", ">"),
    ("IQR", "iqr", ".3f", ">"),
    ("vs torch [IQR]", _ratio("torch"), None, ">"),
    ("vs hand numpy", _ratio("hand numpy"), None, ">"),
    ("vs GEMMs only", _ratio("GEMMs only"), None, ">"),
    ("vs jax jit", _ratio("jax"), None, ">"),
    ("check", "check", None, "<"),
]


def profile(workload: str, n_ops: int, out=None) -> None:
    """cProfile of gpugrad alone on ``workload`` ("chain" or "mlp"), top 25 by own time."""
    import cProfile
    import io
    import pstats
    import sys
    if workload == "chain":
        x0 = np.full((1,), 0.5, dtype=np.float32)
        work, calls = (lambda: chain_gpugrad(x0, n_ops)), 5
    else:
        sizes, batch = MODELS["small"]
        names, init = initial_state(sizes, 0)
        x, y = batch_data(sizes, batch, 0)
        c = GpugradContender(MlpBenchConfig(), sizes, names, init, x, y, None, False)
        work, calls = c.step, 200
    work()
    pr = cProfile.Profile()
    pr.enable()
    for _ in range(calls):
        work()
    pr.disable()
    s = io.StringIO()
    pstats.Stats(pr, stream=s).sort_stats("tottime").print_stats(25)
    print(f"cProfile of gpugrad, {workload}, {calls} calls; top by own time (tottime):\n{s.getvalue()}",
          file=out or sys.stdout)
