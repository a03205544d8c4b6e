"""``gpugrad bench ddp``: data-parallel training steps over MPI ranks on the CPU.

Measured, for 1 and 2 ranks (each an ``mpiexec`` job, one BLAS thread per rank):

* the step time of the MLP without DDP (one rank's work: the per-rank batch) and with
  DistributedDataParallel, per bucket size;
* the all-reduce time of every bucket size through DDP's path (``iall_reduce`` then ``wait``)
  against mpi4py's own blocking ``Allreduce`` on the same bytes;
* how much of the all-reduce backward hides: 1 - (time waiting at the end of backward) /
  (time of the same buckets' all-reduces run back to back).

The issue's target: a DDP step costs no more than the one-rank step of the same per-rank batch
plus 10% plus the part of the all-reduce that does not overlap (the end-of-backward wait).
The all-reduce times also fit the cost model of docs/distributed.md: t(bytes) = a + b * bytes.

``python -m gpugrad.commands.bench.ddp WORKER_CONFIG_JSON OUT_JSON`` is the per-rank worker.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import gpugrad as gg
from gpugrad.nn.functional import cross_entropy
from gpugrad.nn.parallel import DistributedDataParallel
from . import report

DEFAULT = {"layers": [784, 1024, 1024, 10], "batch": 64, "warmup": 3, "steps": 20, "caps": [25.0, 1.0],
           "sizes": [2 ** k for k in range(10, 26, 3)], "repeats": 15}
QUICK = {"layers": [64, 128, 10], "batch": 16, "warmup": 1, "steps": 4, "caps": [25.0, 0.01],
         "sizes": [2 ** 10, 2 ** 16], "repeats": 3}

STEP_COLUMNS = [
    ("ranks", "ranks", "d", ">"), ("bucket cap MB", "cap_mb", "g", ">"), ("buckets", "buckets", "d", ">"),
    ("batch/rank", "batch", "d", ">"), ("1-rank step ms", "one_rank_ms", ".2f", ">"),
    ("DDP step ms", "ddp_ms", ".2f", ">"), ("all-reduce ms", "allreduce_ms", ".3f", ">"),
    ("exposed ms", "exposed_ms", ".3f", ">"), ("hidden", "hidden_pct", ".0f", ">"),
    ("target ms", "target_ms", ".2f", ">"), ("meets", "meets", "", "<"),
]
AR_COLUMNS = [
    ("ranks", "ranks", "d", ">"), ("bytes", "bytes", "d", ">"), ("DDP path us", "ddp_us", ".1f", ">"),
    ("MPI Allreduce us", "mpi_us", ".1f", ">"), ("ratio", "ratio", ".2f", ">"),
    ("model us", "model_us", ".1f", ">"), ("algbw GB/s", "gbps", ".2f", ">"),
]


def _median_ms(samples):
    return float(np.median(samples)) * 1e3


# -- the worker (one per rank) --------------------------------------------------------------------
def worker(cfg: dict, out_path: str) -> None:
    from threadpoolctl import threadpool_limits
    threadpool_limits(1, user_api="blas")

    pg = gg.distributed.init(backend="mpi", device="cpu")
    MPI, comm = pg.MPI, pg.comm
    n, rank = pg.size, pg.rank
    rng = np.random.default_rng(rank)
    x = gg.tensor(rng.standard_normal((cfg["batch"], cfg["layers"][0])).astype(np.float32))
    y = gg.tensor(rng.integers(0, cfg["layers"][-1], cfg["batch"]))

    def worst(seconds):  # the slowest rank's figure: a step is as slow as its slowest rank
        return comm.allreduce(seconds, op=MPI.MAX)

    gg.manual_seed(0)
    model = gg.nn.MLP(cfg["layers"])
    opt = gg.optim.SGD(list(model.parameters()), lr=1e-3, momentum=0.9)
    result = {"ranks": n, "steps": []}
    plain_all = []
    for cap in cfg["caps"]:
        ddp = DistributedDataParallel(model, bucket_cap_mb=cap)
        waits = []
        finish = ddp._finish

        def timed_finish():
            t0 = time.perf_counter()
            finish()
            waits.append(time.perf_counter() - t0)
        ddp._finish = timed_finish     # the end-of-backward callback: the exposed communication

        def plain():
            with ddp.no_sync():        # the same model without communication: one rank's work
                opt.zero_grad()
                cross_entropy(model(x), y).backward()
                opt.step()

        def step():
            opt.zero_grad()
            cross_entropy(ddp(x), y).backward()
            opt.step()
        # Alternate the two (and the all-reduce alone) so a busy machine slows all of them alike.
        flats = [b.flat.copy() for b in ddp._buckets]

        def all_buckets():
            for f in flats:
                pg.iall_reduce(f).wait()
        t_plain, t_ddp, t_ar = [], [], []
        for i in range(cfg["warmup"] + cfg["steps"]):
            for fn, acc in ((plain, t_plain), (step, t_ddp), (all_buckets, t_ar)):
                comm.Barrier()
                t0 = time.perf_counter()
                fn()
                if i >= cfg["warmup"]:
                    acc.append(time.perf_counter() - t0)
        for h in ddp._hook_handles:
            h.remove()
        plain_all += t_plain
        result["steps"].append({"cap_mb": cap, "buckets": len(flats), "bucket_bytes": ddp.bucket_sizes,
                                "plain_ms": worst(_median_ms(t_plain)), "ddp_ms": worst(_median_ms(t_ddp)),
                                "exposed_ms": worst(_median_ms(waits[cfg["warmup"]:])),
                                "allreduce_ms": worst(_median_ms(t_ar))})
    result["plain_ms"] = worst(_median_ms(plain_all))

    result["allreduce"] = []
    if n > 1:
        for nbytes in cfg["sizes"]:
            buf = np.ones(nbytes // 4, np.float32)
            t_ddp, t_raw = [], []
            for i in range(2 + cfg["repeats"]):
                for fn, acc in ((lambda: pg.iall_reduce(buf).wait(), t_ddp),
                                (lambda: comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM), t_raw)):
                    comm.Barrier()
                    t0 = time.perf_counter()
                    fn()
                    if i >= 2:
                        acc.append(time.perf_counter() - t0)
            result["allreduce"].append({"bytes": nbytes, "ddp_us": worst(_median_ms(t_ddp)) * 1e3,
                                        "mpi_us": worst(_median_ms(t_raw)) * 1e3})
    if rank == 0:
        with open(out_path, "w") as f:
            json.dump(result, f)


# -- the parent ----------------------------------------------------------------------------------------
def mpiexec_path() -> str | None:
    import shutil
    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return beside if os.path.exists(beside) else shutil.which("mpiexec")


def run_ddp_bench(ranks, quick: bool, log, error_cls) -> dict:
    """Run one mpiexec job per rank count; returns the rows of both tables and the model fit."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        raise error_cls("mpi4py is not installed; pip install 'gpugrad[distributed]'") from None
    mpiexec = mpiexec_path()
    if mpiexec is None:
        raise error_cls("no mpiexec found; pip install mpich (or 'gpugrad[distributed]')")
    cfg = dict(QUICK if quick else DEFAULT)
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    # the folder holding the gpugrad package (ddp.py is gpugrad/commands/bench/ddp.py): never the
    # package folder itself, whose modules would shadow stdlib ones of the same name on sys.path
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in ranks:
            out = os.path.join(tmp, f"ranks{n}.json")
            log(f"running {n} rank(s): MLP {'-'.join(map(str, cfg['layers']))}, batch {cfg['batch']} per rank")
            p = subprocess.run([mpiexec, "-n", str(n), sys.executable, "-m", "gpugrad.commands.bench.ddp",
                                json.dumps(cfg), out], env=env, capture_output=True, text=True, timeout=600)
            if p.returncode != 0 or not os.path.exists(out):
                raise error_cls(f"the {n}-rank job failed (status {p.returncode}): "
                                f"{(p.stderr.strip().splitlines() or ['no output'])[-1]}")
            with open(out) as f:
                runs[n] = json.load(f)
    return summarize(runs, cfg)


def summarize(runs: dict, cfg: dict) -> dict:
    base = runs[min(runs)]["plain_ms"]   # one rank's step (from the smallest job: 1 rank, no contention)
    step_rows = []
    for n, r in sorted(runs.items()):
        for s in r["steps"]:
            exposed = s["exposed_ms"]
            target = 1.1 * base + exposed
            hidden = 100 * max(0.0, 1 - exposed / s["allreduce_ms"]) if n > 1 and s["allreduce_ms"] > 0 else None
            step_rows.append({"ranks": n, "cap_mb": s["cap_mb"], "buckets": s["buckets"], "batch": cfg["batch"],
                              "one_rank_ms": base, "ddp_ms": s["ddp_ms"], "allreduce_ms": s["allreduce_ms"],
                              "exposed_ms": exposed, "hidden_pct": hidden, "target_ms": target,
                              "meets": "yes" if s["ddp_ms"] <= target else "no",
                              "bucket_bytes": s["bucket_bytes"]})
    ar_rows, fit = [], None
    for n, r in sorted(runs.items()):
        pts = r["allreduce"]
        if len(pts) >= 2:
            b = np.array([p["bytes"] for p in pts], float)
            t = np.array([p["mpi_us"] for p in pts], float)
            # weights 1/t: fit relative error, so 1 KB (latency) counts as much as 32 MB (bandwidth)
            slope, icpt = np.polyfit(b, t, 1, w=1 / t)
            # ring all-reduce: t = 2(N-1) alpha + 2(N-1)/N * bytes / BW
            fit = {"ranks": n, "intercept_us": icpt, "us_per_byte": slope,
                   "alpha_us": icpt / (2 * (n - 1)), "bandwidth_GBps": 2 * (n - 1) / n / slope / 1e3}
        for p in pts:
            model_us = fit["intercept_us"] + fit["us_per_byte"] * p["bytes"] if fit else None
            ar_rows.append({"ranks": n, "bytes": p["bytes"], "ddp_us": p["ddp_us"], "mpi_us": p["mpi_us"],
                            "ratio": p["ddp_us"] / p["mpi_us"], "model_us": model_us,
                            "gbps": p["bytes"] / p["mpi_us"] / 1e3})
    return {"config": cfg, "step_rows": step_rows, "allreduce_rows": ar_rows, "fit": fit, "runs": runs}


def run_ddp_cli(args, outputs: dict, write_outputs, error_cls) -> int:
    log = report.Log(quiet=args.quiet)
    meta = report.collect_meta("cpu")
    log(f"gpugrad bench ddp on cpu: {meta['device_name']}, {meta['cpu_count']} cores; {meta['date']}")
    ranks = tuple(args.ranks)
    result = run_ddp_bench(ranks, args.quick, log, error_cls)
    steps = report.format_table(STEP_COLUMNS, result["step_rows"])
    ar = report.format_table(AR_COLUMNS, result["allreduce_rows"]) if result["allreduce_rows"] else ""
    log("")
    log(steps)
    if ar:
        log("")
        log(ar)
    notes = ["1-rank step: the same model and per-rank batch, one process, no DDP; target = 1.1 x that "
             "+ exposed (the end-of-backward wait); hidden = 1 - exposed / all-reduce of the same buckets "
             "back to back; every figure is the slowest rank's median"]
    if result["fit"]:
        f = result["fit"]
        notes.append(f"cost model fit over {f['ranks']} ranks: t = {f['intercept_us']:.1f} us + bytes / "
                     f"{1 / f['us_per_byte'] / 1e3:.2f} GB/s  (ring: alpha {f['alpha_us']:.1f} us, "
                     f"bus bandwidth {f['bandwidth_GBps']:.2f} GB/s)")
    for n in notes:
        log(f"* {n}")
    if args.quiet:
        print(steps + ("\n\n" + ar if ar else ""))
    payload = {"benchmark": "ddp", "meta": meta, "notes": notes, **result,
               "table_steps": steps, "table_allreduce": ar}
    write_outputs(outputs, payload, log, plot=None, plot_names=[])
    return 0


if __name__ == "__main__":
    worker(json.loads(sys.argv[1]), sys.argv[2])
