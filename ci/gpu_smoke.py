"""ci/gpu.sh's smoke stage: the never-run GPU paths and one row per headline target, in one process,
in about 90 s, first thing on a GPU host (issue 23). The JSON is rewritten after every row, so a
stage stopped or failing part-way still leaves what it measured.

1. the toolchain: `gpugrad doctor`'s checks (versions, NVVM, one kernel's registers, PTX level);
2. every Numba kernel once on CuPy arrays against CuPy/cuBLAS at ragged mid shapes (matmul NN, TN,
   NT and the fused bias+ReLU epilogue at 1000x1030x777; the elementwise kernels at 2^20);
3. gg.cuda.graphed of the small step (784-256-256-10, batch 128): warm-up, capture, 3 replays
   against the eager step, and the capture must not have fallen back to eager;
4. the headline rows: SGEMM NT 4096^3 against cuBLAS FP32; relu and bias_sigmoid at 2^26 against
   copy bandwidth; the small step (numba policy, graphed) and the large one (1024-4096x4-10, batch
   4096, cublas and numba policies) against PyTorch eager.

    python ci/gpu_smoke.py OUT.json          # exit status 1 when a check failed or no GPU is here
"""
from __future__ import annotations

import dataclasses
import json
import sys
import time
import traceback


class Smoke:
    def __init__(self, path):
        self.path = path
        self.doc = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "rows": [], "failed": []}
        self.t0 = time.perf_counter()
        self.write()

    def write(self):
        self.doc["seconds"] = round(time.perf_counter() - self.t0, 2)
        with open(self.path, "w") as f:
            json.dump(self.doc, f, indent=1, default=str)

    def row(self, name, fn):
        """Run one check; record its result (a dict, with "ok") or its error; write the JSON."""
        t = time.perf_counter()
        try:
            out = fn()
        except Exception as exc:
            out = {"ok": False, "error": f"{type(exc).__name__}: {exc}",
                   "traceback": traceback.format_exc(limit=4)}
        out = dict(out, name=name, seconds=round(time.perf_counter() - t, 3))
        self.doc["rows"].append(out)
        if not out.get("ok", True):
            self.doc["failed"].append(name)
        print(f"smoke {name}: {'ok' if out.get('ok', True) else 'FAIL'} "
              f"{ {k: v for k, v in out.items() if k not in ('name', 'traceback')} }", flush=True)
        self.write()
        return out


def _close(cupy, got, want, rtol):
    got, want = cupy.asnumpy(got).astype("float64"), cupy.asnumpy(want).astype("float64")
    scale = max(float(abs(want).max()), 1e-30)
    err = float(abs(got - want).max()) / scale
    return {"ok": err <= rtol, "max_err_rel_to_max": err, "rtol": rtol}


def kernel_rows(smoke, cupy, kernels):
    rng = cupy.random.default_rng(0)
    f32 = cupy.float32
    M, K, N = 1000, 1030, 777
    a = rng.standard_normal((M, K), dtype=f32)
    b = rng.standard_normal((K, N), dtype=f32)
    at, bt = cupy.ascontiguousarray(a.T), cupy.ascontiguousarray(b.T)
    bias = rng.standard_normal(N, dtype=f32)
    ref = a @ b
    smoke.row("matmul_nn_1000x1030x777", lambda: _close(cupy, kernels.matmul(a, b), ref, 1e-5))
    smoke.row("matmul_tn_1000x1030x777", lambda: _close(cupy, kernels.matmul(at, b, trans_a=True), ref, 1e-5))
    smoke.row("matmul_nt_1000x1030x777", lambda: _close(cupy, kernels.matmul(a, bt, trans_b=True), ref, 1e-5))
    smoke.row("matmul_nt_bias_relu", lambda: _close(
        cupy, kernels.matmul(a, bt, trans_b=True, bias=bias, relu=True), cupy.maximum(ref + bias, 0), 1e-5))
    n = 1 << 20
    x = rng.standard_normal(n, dtype=f32)
    g = rng.standard_normal(n, dtype=f32)
    smoke.row("relu_2^20", lambda: _close(cupy, kernels.relu(x), cupy.maximum(x, 0), 0))
    smoke.row("relu_vjp_2^20", lambda: _close(cupy, kernels.relu_vjp(g, x), cupy.where(x > 0, g, 0), 0))
    z = rng.standard_normal((1024, 1024), dtype=f32)
    b2 = rng.standard_normal(1024, dtype=f32)
    g2 = rng.standard_normal((1024, 1024), dtype=f32)
    sig = 1 / (1 + cupy.exp(-(z + b2)))
    smoke.row("bias_sigmoid_2^20", lambda: _close(cupy, kernels.bias_sigmoid(z, b2), sig, 1e-6))

    def vjp(kernel, h, dz):
        got_dz, got_db = kernel(g2, h)
        a1, a2 = _close(cupy, got_dz, dz, 1e-6), _close(cupy, got_db, dz.sum(0), 1e-4)
        return {"ok": a1["ok"] and a2["ok"], "dz": a1, "db": a2}

    smoke.row("bias_sigmoid_vjp_2^20", lambda: vjp(kernels.bias_sigmoid_vjp, sig, g2 * sig * (1 - sig)))
    y = cupy.maximum(z, 0)
    smoke.row("bias_relu_vjp_2^20", lambda: vjp(kernels.bias_relu_vjp, y, cupy.where(y > 0, g2, 0)))


def cubin_row(cupy, kernels):
    """The cubin launch path (GPUGRAD_LAUNCH=cubin: the disk-cached cubin launched through CuPy) on
    the same operands as the default Numba path: both must give CuPy/cuBLAS's answer."""
    import os
    from gpugrad.kernels import _launch
    rng = cupy.random.default_rng(2)
    a = rng.standard_normal((1000, 1030), dtype=cupy.float32)
    bt = rng.standard_normal((777, 1030), dtype=cupy.float32)
    bias = rng.standard_normal(777, dtype=cupy.float32)
    x = rng.standard_normal(1 << 20, dtype=cupy.float32)
    saved = dict(_launch._jitted), dict(_launch._streams), os.environ.get("GPUGRAD_LAUNCH")
    os.environ["GPUGRAD_LAUNCH"] = "cubin"
    _launch._jitted.clear()
    _launch._streams.clear()
    try:
        mm = _close(cupy, kernels.matmul(a, bt, trans_b=True, bias=bias, relu=True),
                    cupy.maximum(a @ bt.T + bias, 0), 1e-5)
        r = _close(cupy, kernels.relu(x), cupy.maximum(x, 0), 0)
    finally:
        _launch._jitted.clear()
        _launch._jitted.update(saved[0])
        _launch._streams.clear()
        _launch._streams.update(saved[1])
        if saved[2] is None:
            os.environ.pop("GPUGRAD_LAUNCH", None)
        else:
            os.environ["GPUGRAD_LAUNCH"] = saved[2]
    return {"ok": mm["ok"] and r["ok"], "matmul_nt_bias_relu": mm, "relu": r}


def graphed_row(gg):
    from gpugrad.commands.bench.mlp import batch_data, initial_state
    import gpugrad.nn.functional as F
    sizes, batch = (784, 256, 256, 10), 128
    names, init = initial_state(sizes, 0)
    x, y = batch_data(sizes, batch, 0)

    def make():
        model = gg.nn.MLP(list(sizes), activation="relu", device="cuda")
        model.load_state_dict(dict(zip(names, init)))
        opt = gg.optim.Adam(model.parameters(), lr=1e-3)

        def step(xb, yb):
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            return loss
        return step

    xb, yb = gg.tensor(x, device="cuda"), gg.tensor(y, device="cuda")
    eager, fast = make(), None
    fast = gg.cuda.graphed(make(), xb, yb)
    le = [float(eager(xb, yb).item()) for _ in range(5)]
    lg = [float(fast(xb, yb).item()) for _ in range(5)]      # warm-up, capture, 3 replays
    err = max(abs(a - b) / max(abs(a), 1e-12) for a, b in zip(le, lg))
    captured = getattr(fast, "_replay", None) is not None and fast.eager_reason is None
    return {"ok": captured and err <= 1e-4, "captured": captured, "eager_reason": fast.eager_reason,
            "losses_eager": le, "losses_graphed": lg, "max_rel_diff": err}


def _events_ms(cupy, fns, repeats=10):
    from gpugrad.commands.bench.timing import time_cuda_events
    res = time_cuda_events(cupy, {k: [f] for k, f in fns.items()}, warmup=2, repeats=repeats)
    return {k: v["median"] for k, v in res.items()}


def headline_rows(smoke, cupy, gg, kernels):
    rng = cupy.random.default_rng(1)
    f32 = cupy.float32
    a = rng.standard_normal((4096, 4096), dtype=f32)
    b = rng.standard_normal((4096, 4096), dtype=f32)

    def sgemm():
        from gpugrad.backends.cuda import CUBLAS_DEFAULT_MATH, cublas_math_mode
        with cublas_math_mode(CUBLAS_DEFAULT_MATH):
            ms = _events_ms(cupy, {"numba": lambda: kernels.matmul(a, b, trans_b=True), "cublas": lambda: a @ b.T})
        flop = 2 * 4096 ** 3
        return {"ok": True, "ms": ms, "tflops": {k: flop / v / 1e9 for k, v in ms.items()},
                "ratio_to_cublas": ms["cublas"] / ms["numba"], "target": ">= 0.8 of cuBLAS FP32 (issue)"}

    smoke.row("headline_sgemm_nt_4096^3", sgemm)
    n = 1 << 26
    x = rng.standard_normal(n, dtype=f32)
    out = cupy.empty_like(x)
    z = x.reshape(8192, 8192)
    bz = rng.standard_normal(8192, dtype=f32)
    outz = cupy.empty_like(z)

    def bandwidth(name, fn):
        ms = _events_ms(cupy, {name: fn, "copy": lambda: cupy.copyto(out, x)})
        gbs = {k: 2 * 4 * n / v / 1e6 for k, v in ms.items()}
        return {"ok": True, "ms": ms, "GB/s": gbs, "ratio_to_copy": gbs[name] / gbs["copy"]}

    smoke.row("headline_relu_2^26", lambda: bandwidth("relu", lambda: kernels.relu(x, out=out)))
    smoke.row("headline_bias_sigmoid_2^26", lambda: bandwidth("bias_sigmoid",
                                                              lambda: kernels.bias_sigmoid(z, bz, out=outz)))
    del a, b, x, out, z, outz

    def mlp(model, policy, graphed, target):
        import torch
        from gpugrad.commands.bench import mlp as bm
        cfg = bm.MlpBenchConfig(device="cuda", models=(model,), optimizer="sgd", check_steps=3, budget_s=4.0,
                                max_repeats=20)
        sizes, batch = bm.MODELS[model]
        names, init = bm.initial_state(sizes, 0)
        x, y = bm.batch_data(sizes, batch, 0)
        rows = {}
        for label, make in (("gpugrad", lambda: bm.GpugradContender(cfg, sizes, names, init, x, y, policy, graphed)),
                            ("torch", lambda: bm.TorchContender(cfg, sizes, names, init, x, y, torch))):
            c = make()
            try:
                m = bm.measure(c, cfg)
                rows[label] = {"median_ms": 1e3 * sorted(m["samples_s"])[len(m["samples_s"]) // 2],
                               "peak_bytes": m["peak_bytes"], "losses": m["losses"], "notes": c.notes}
            finally:
                c.close()
        ratio = rows["gpugrad"]["median_ms"] / rows["torch"]["median_ms"]
        fell_back = any("fell back" in n for n in rows["gpugrad"]["notes"])
        return {"ok": not fell_back, "ratio_to_torch_eager": ratio, "target": target, "met": ratio <= target,
                **rows}

    smoke.row("headline_mlp_small_numba_graphed", lambda: mlp("small", "numba", True, 0.5))
    smoke.row("headline_mlp_large_cublas", lambda: mlp("large", "cublas", False, 1.02))
    smoke.row("headline_mlp_large_numba", lambda: mlp("large", "numba", False, 1.3))


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    smoke = Smoke(argv[0] if argv else "smoke.json")
    from gpugrad.commands.doctor import run_checks
    checks = run_checks()
    smoke.doc["doctor"] = [dataclasses.asdict(c) for c in checks]
    if any(c.status == "FAIL" for c in checks):
        smoke.doc["failed"].append("doctor")
    smoke.write()
    import gpugrad as gg
    if not gg.cuda.is_available():
        smoke.doc["failed"].append("no GPU: the smoke stage did not run")
        smoke.write()
        print("smoke: NOT RUN, no usable GPU here", flush=True)
        return 1
    import cupy
    from gpugrad import kernels
    kernel_rows(smoke, cupy, kernels)
    smoke.row("cubin_launch_path", lambda: cubin_row(cupy, kernels))
    smoke.row("graphed_small_step_3_replays", lambda: graphed_row(gg))
    headline_rows(smoke, cupy, gg, kernels)
    print(f"smoke: {len(smoke.doc['failed'])} failed {smoke.doc['failed']}, {smoke.doc['seconds']} s", flush=True)
    return 1 if smoke.doc["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
