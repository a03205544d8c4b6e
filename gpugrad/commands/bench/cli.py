"""The ``gpugrad bench`` command: ``kernels`` (GPU only) and ``mlp`` (GPU or CPU).

Wire it into a top-level parser with::

    from gpugrad.commands.bench.cli import add_bench_parser
    add_bench_parser(subparsers)       # sets handler=run_bench; then: return args.handler(args)

``python -m gpugrad.commands.bench ...`` runs the same command standalone.

Exit status: 0 when every row was measured and checked, 1 when a row failed (an error, or a loss
that disagrees with PyTorch's), 2 for a usage error or a machine that cannot run the benchmark
(one line on stderr, no traceback).
"""
from __future__ import annotations

import argparse
import os
import sys

from ..argtypes import EXIT_USAGE, OneLineParser as _OneLineParser
from ..argtypes import positive_float as _positive_float, positive_int as _positive_int
from .mlp import (
    CPU_MLP_COLUMNS, DEFAULT_MODELS, MLP_COLUMNS, MODELS, MlpBenchConfig, OPTIMIZERS, POLICIES, QUICK_MODELS,
    _jax_or_none, _torch_or_none)
from ..runs import RunFolderError, check_writable_dir, check_writable_file
from . import mlp  # mlp.run_mlp_bench looked up per call: tests replace it
from ... import cuda

EXIT_OK, EXIT_FAILED_ROWS = 0, 1


class BenchError(Exception):
    """A reason the benchmark cannot run here, said in one line (exit status 2)."""


def _names(choices):
    def parse(s: str) -> tuple:
        items = tuple(p.strip() for p in s.split(",") if p.strip())
        if items == ("all",):
            return tuple(choices)
        bad = [p for p in items if p not in choices]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list from {', '.join(choices)} "
                                             f"(or 'all'), got {s!r}")
        return items
    return parse


def _common(p) -> None:
    p.add_argument("--quick", action="store_true", help="a short run: a few small sizes only")
    p.add_argument("--json", metavar="PATH", help="write every figure and the environment as JSON")
    p.add_argument("--plots", metavar="DIR", help="write PNG plots into DIR")
    p.add_argument("--out", metavar="DIR", help="write JSON, PNG plots and the raw log together into DIR")
    p.add_argument("--quiet", action="store_true", help="print only the final table")


def add_bench_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``bench`` (with ``kernels`` and ``mlp``) to an argparse subparsers object."""
    bench = subparsers.add_parser("bench", help="benchmark kernels (GPU) or MLP training steps against PyTorch",
                                  description=_DESCRIPTION)
    _configure(bench)
    return bench


_DESCRIPTION = ("Benchmarks: 'kernels' times the hand-written CUDA kernels against cuBLAS/CuPy (GPU only); "
                "'mlp' times full training steps of MLPs against PyTorch eager.")


def _configure(bench) -> None:
    """Add the ``kernels`` and ``mlp`` subcommands to ``bench`` and make it dispatch to run_bench."""
    parser_class = type(bench)
    sub = bench.add_subparsers(dest="bench_command", metavar="BENCHMARK", parser_class=parser_class)

    k = sub.add_parser("kernels", help="hand-written kernels vs cuBLAS / CuPy, roofline (GPU only)",
                       description="Each hand-written kernel against its vendor counterpart, with the "
                                   "device's measured copy bandwidth and cuBLAS peak as ceilings.")
    _common(k)
    k.add_argument("--repeats", type=_positive_int, default=30, help="timed repeats per case (median)")
    k.add_argument("--no-overhead", action="store_true", help="skip the host launch-overhead rows")
    k.add_argument("--static", action="store_true",
                   help="no GPU: compile every kernel for sm_90, disassemble it and report its machine-code "
                        "figures (FFMA share, loads before the first store, instructions per element, spills)")

    m = sub.add_parser("mlp", help="full training steps of MLPs, gpugrad vs PyTorch eager",
                       description="Forward, cross-entropy, backward and optimizer step of MLPs from "
                                   "784-256-256-10 to 4x8192 hidden, gpugrad against PyTorch eager on the "
                                   "same device from the same initial weights, losses checked.")
    _common(m)
    m.add_argument("--device", choices=("auto", "cpu", "cuda", "cudasim"), default="auto",
                   help="auto: cuda when a GPU works, else cpu (cudasim: Numba's simulator, for tests)")
    m.add_argument("--sizes", type=_names(tuple(MODELS)), metavar="NAMES",
                   help=f"models, comma-separated from {', '.join(MODELS)} or 'all' (default: small,medium "
                        f"with --quick; else all but tiny, and no xlarge on cpu)")
    m.add_argument("--optimizer", choices=tuple(OPTIMIZERS), default="sgd",
                   help="; ".join(f"{k}: {v}" for k, v in OPTIMIZERS.items()) + " (default: sgd)")
    m.add_argument("--steps", type=_positive_int, default=5,
                   help="checked steps: losses compared with PyTorch's after each (default: 5)")
    m.add_argument("--rtol", type=_positive_float, default=1e-3,
                   help="max relative loss difference before a row fails (default: 1e-3)")
    m.add_argument("--repeats", type=_positive_int, default=None,
                   help="most timed steps per row (default: 30; 10 with --quick)")
    m.add_argument("--budget", type=_positive_float, default=None,
                   help="seconds of timed steps per row (default: 5; 1 with --quick)")
    m.add_argument("--threads", type=_positive_int, default=None,
                   help="cpu: NumPy BLAS, torch and JAX threads, the same for all (default: 1)")
    m.add_argument("--no-jax", action="store_true", help="cpu: leave JAX jit out even when installed")
    m.add_argument("--no-extra", action="store_true",
                   help="cpu: leave out the hand-written NumPy step and the GEMMs-only floor")
    m.add_argument("--policies", type=_names(tuple(POLICIES)), default=("numba", "cublas"),
                   help="GPU kernel policies to run gpugrad under (default: numba,cublas)")
    m.add_argument("--graphed", choices=("auto", "on", "off"), default="auto",
                   help="rows with the step captured by gg.cuda.graphed (auto: on a GPU; on the CPU "
                        "'on' replays the step's NumPy calls)")
    m.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    m.add_argument("--seed", type=int, default=0, help="seed of the initial weights and the batch")

    d = sub.add_parser("ddp", help="data-parallel steps over 1 and 2 MPI ranks on the CPU, all-reduce per "
                                   "bucket size vs MPI's Allreduce",
                       description="DistributedDataParallel step time with 1 and 2 ranks, the all-reduce "
                                   "time per bucket size against MPI's own Allreduce, and the fraction of "
                                   "the all-reduce hidden behind backward (needs mpi4py and mpiexec).")
    _common(d)
    d.add_argument("--ranks", type=lambda s: tuple(_positive_int(v) for v in s.split(",")), default=(1, 2),
                   help="rank counts to run, comma-separated (default: 1,2)")

    e = sub.add_parser("engine", help="engine overhead per op and the small MLP step on the CPU, vs "
                                      "hand NumPy, PyTorch, JAX jit and the GEMMs-only floor",
                       description="The engine's fixed cost per recorded op (a chain of tiny ops, forward "
                                   "and backward) and the 784-256-256-10 training step, against hand-written "
                                   "NumPy, PyTorch CPU, JAX jit and the step's GEMMs alone: contenders "
                                   "interleaved in rotating rounds, results checked before timing, medians "
                                   "with IQR and paired ratios.")
    _common(e)
    e.add_argument("--threads", type=_positive_int, default=1,
                   help="NumPy BLAS, torch and JAX threads (default: 1)")
    e.add_argument("--rounds", type=_positive_int, default=None,
                   help="interleaved rounds per workload (default: 15; 5 with --quick)")
    e.add_argument("--chain-ops", type=_positive_int, default=10_000, help="ops in the tiny-op chain")
    e.add_argument("--only", choices=("chain", "mlp"), help="run one workload only")
    e.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    e.add_argument("--no-jax", action="store_true", help="leave JAX jit out")
    e.add_argument("--profile", choices=("chain", "mlp"),
                   help="instead of timing, print a cProfile of gpugrad alone on this workload")
    e.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")

    t = sub.add_parser("train-cpu", help="epochs of gpugrad train's default model on the CPU vs PyTorch, "
                                         "hand NumPy and JAX jit",
                       description="Epochs of the 64-256-256-10 MLP (Adam, batch 32, digits) from the same "
                                   "weights and batches, losses checked, epochs interleaved, paired ratios.")
    _common(t)
    t.add_argument("--epochs", type=_positive_int, default=None,
                   help="timed epochs (interleaved rounds) per contender (default: 15; 3 with --quick)")
    t.add_argument("--threads", type=_positive_int, default=1, help="BLAS, torch and JAX threads (default: 1)")
    t.add_argument("--rtol", type=_positive_float, default=1e-3,
                   help="max relative difference of any step's loss from the reference's (default: 1e-3)")
    t.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    t.add_argument("--no-jax", action="store_true", help="leave JAX jit out")

    dt = sub.add_parser("data", help="reading a 200,000 x 50 table (CSV, Parquet) against pandas, and the "
                                     "peak memory of training on it",
                        description="gpugrad.data.tables against pandas.read_csv (and pyarrow for Parquet) on "
                                    "the same file, interleaved rounds, medians; peak memory of the read and of "
                                    "a one-epoch gpugrad train in fresh processes, over the float32 array.")
    _common(dt)
    dt.add_argument("--rows", type=_positive_int, default=None, help="rows (default: 200000; 20000 with --quick)")
    dt.add_argument("--cols", type=_positive_int, default=50, help="columns, the label included (default: 50)")
    dt.add_argument("--rounds", type=_positive_int, default=None, help="read rounds (default: 5; 2 with --quick)")
    bench.set_defaults(handler=run_bench, bench_parser=bench)


def run_bench(args) -> int:
    """Run the benchmark chosen on the command line; returns the exit status."""
    command = getattr(args, "bench_command", None)
    if command is None:
        parser = getattr(args, "bench_parser", None)
        if parser is not None:
            parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        if command == "kernels":
            return _run_kernels(args)
        if command == "engine":
            return _run_engine(args)
        if command == "train-cpu":
            return _run_train_cpu(args)
        if command == "data":
            return _run_data(args)
        if command == "ddp":
            from .ddp import run_ddp_cli
            return run_ddp_cli(args, _outputs(args, "ddp"), _write_outputs, BenchError)
        return _run_mlp(args)
    except BenchError as exc:
        print(f"gpugrad bench {command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"\ngpugrad bench {command}: interrupted", file=sys.stderr)
        return 130


def _outputs(args, kind: str) -> dict:
    """Where to write: --out DIR gives all three; --json/--plots set (or override) their own."""
    out = {"json": None, "plots": None, "log": None}
    if args.out:
        out.update(json=os.path.join(args.out, f"bench-{kind}.json"), plots=args.out,
                   log=os.path.join(args.out, f"bench-{kind}.log"))
    if args.json:
        out["json"] = args.json
    if args.plots:
        out["plots"] = args.plots
    _check_outputs(args, out)
    return out


def _check_outputs(args, out: dict) -> None:
    """Refuse unusable output paths before the benchmark runs, not after it (one line, exit 2)."""
    try:
        if args.out:
            check_writable_dir(args.out, "--out")
        if out["plots"]:
            check_writable_dir(out["plots"], "--plots" if args.plots else "--out")
        for key, flag in (("json", "--json"), ("log", "--out")):
            if out[key]:
                check_writable_file(out[key], flag if getattr(args, key, None) or key == "log" else "--out")
    except RunFolderError as exc:
        raise BenchError(str(exc)) from None


def _gpu_works() -> bool:
    return cuda.is_available()


def _run_mlp(args) -> int:
    from . import report

    device = args.device
    if device == "auto":
        device = "cuda" if _gpu_works() else "cpu"
    elif device == "cuda" and not _gpu_works():
        raise BenchError("--device cuda: no usable CUDA GPU here (CuPy missing, no driver, or no GPU); "
                         "use --device cpu")
    elif device == "cudasim" and os.environ.get("NUMBA_ENABLE_CUDASIM", "0") in ("", "0"):
        raise BenchError("--device cudasim needs NUMBA_ENABLE_CUDASIM=1 set before Python starts")
    models = args.sizes or (QUICK_MODELS if args.quick else DEFAULT_MODELS[device])
    cfg = MlpBenchConfig(
        device=device, models=tuple(models), optimizer=args.optimizer, check_steps=args.steps,
        rtol=args.rtol, max_repeats=args.repeats or (10 if args.quick else 30),
        budget_s=args.budget or (1.0 if args.quick else 5.0), seed=args.seed, threads=args.threads,
        policies=tuple(args.policies), graphed=args.graphed, torch=not args.no_torch,
        jax=not args.no_jax, extra=not args.no_extra)
    out = _outputs(args, "mlp")
    if device == "cpu":
        rc = reexec_for_blas_threads(args.threads or 1)
        if rc is not None:
            return rc
    log = report.Log(quiet=args.quiet)
    meta = report.collect_meta("cuda" if device == "cuda" else "cpu")
    where = meta["device_name"] + (f" (driver {meta['driver_version']})" if meta.get("driver_version") else
                                   f", {meta['cpu_count']} cores")
    log(f"gpugrad bench mlp on {device}: {where}; {meta['date']}")
    rows = []
    try:
        result = mlp.run_mlp_bench(cfg, log, rows=rows)
    except KeyboardInterrupt:   # Ctrl-C or `timeout -s INT`: keep the models already measured
        log(f"interrupted after {len(rows)} rows; writing them")
        _write_outputs(out, {"benchmark": "mlp", "meta": meta, "interrupted": True, "rows": rows,
                             "table": report.format_table(CPU_MLP_COLUMNS if device == "cpu" else MLP_COLUMNS,
                                                    rows) if rows else ""},
                       log, plot=None, plot_names=[])
        raise
    if result["config"].get("blas") is not None:
        meta["blas"] = result["config"]["blas"]     # the thread count the run used
    log("")
    columns = CPU_MLP_COLUMNS if device == "cpu" else MLP_COLUMNS
    table = report.format_table(columns, result["rows"])
    log(table)
    ref = ("torch eager" if any(r["framework"] == "torch" for r in result["rows"]) else
           "hand numpy" if any(r["framework"] == "numpy" for r in result["rows"]) else "the first gpugrad row")
    notes = result["notes"] + [f"time / ref and loss rel diff are against {ref} on the same device"]
    if device == "cpu":
        notes.append("peak MiB (cpu): the most bytes the contender's NumPy arrays held at once during one "
                     "step (tracemalloc from before the contender was built: parameters, optimizer state, "
                     "gradients and its batch copy included; NumPy-based contenders only)")
    for r in result["rows"]:
        for n in r.get("notes", []):
            if n not in notes:
                notes.append(n)
        if r.get("error"):
            notes.append(f"{r['model']} {r['impl']}: {r['error']}")
    for n in notes:
        log(f"* {n}")
    if args.quiet:
        print(table)
    payload = {"benchmark": "mlp", "meta": meta, "config": result["config"], "notes": notes,
               "rows": result["rows"], "failed_rows": result["failed"], "table": table}
    # Without PyTorch rows the plot compares gpugrad's variants only: its title must not say otherwise.
    versus = "gpugrad vs PyTorch eager" if ref == "torch eager" else "gpugrad (without PyTorch)"
    _write_outputs(out, payload, log, plot=lambda d: report.plot_mlp(
        result["rows"], os.path.join(d, "bench-mlp.png"),
        f"{versus}: one training step ({cfg.optimizer}, float32) on {device.upper()}: "
        f"{meta['device_name']}"),
        plot_names=["bench-mlp.png"])
    if result["failed"]:
        print(f"gpugrad bench mlp: {result['failed']} row(s) failed (see the check column)", file=sys.stderr)
        return EXIT_FAILED_ROWS
    return EXIT_OK


#: OpenBLAS's idle workers spin for 2^N cycles after each call (N = 28 by default, ~0.1 s), taking
#: the second core from whichever contender runs next; N = 4 parks them at once. Read at load.
OPENBLAS_THREAD_TIMEOUT = "4"


def reexec_for_blas_threads(threads: int):
    """With more than one BLAS thread, rerun this very command in a child process whose
    environment sets OPENBLAS_THREAD_TIMEOUT (OpenBLAS reads it only when it loads, and NumPy is
    loaded by now); return the child's exit status. None when nothing needs doing: one thread,
    the variable already set, or not a command line (``sys.orig_argv`` is not ours)."""
    import subprocess
    if threads <= 1 or "OPENBLAS_THREAD_TIMEOUT" in os.environ:
        return None
    argv = list(getattr(sys, "orig_argv", []))
    if not any(a in ("gpugrad", "gpugrad.commands.bench", "gpugrad.__main__") or a.endswith("/gpugrad")
               for a in argv[1:3]):
        return None
    env = dict(os.environ, OPENBLAS_THREAD_TIMEOUT=OPENBLAS_THREAD_TIMEOUT)
    print(f"gpugrad bench: {threads} threads: rerunning with OPENBLAS_THREAD_TIMEOUT="
          f"{OPENBLAS_THREAD_TIMEOUT} (idle OpenBLAS workers must not spin on a core another contender "
          f"needs)", file=sys.stderr, flush=True)
    return subprocess.call([sys.executable, *argv[1:]], env=env)


def _write_outputs(out: dict, payload: dict, log, plot, plot_names) -> None:
    from . import report
    if out["plots"] and plot is not None:
        if plot(out["plots"]):
            payload["plots"] = [os.path.join(out["plots"], n) for n in plot_names]
            for p in payload["plots"]:
                log(f"wrote {p}")
        else:
            payload.setdefault("notes", []).append("plots skipped: matplotlib is not installed")
            log("plots skipped: matplotlib is not installed")
    if out["json"]:
        report.write_json(out["json"], payload)
        log(f"wrote {out['json']}")
    if out["log"]:
        os.makedirs(os.path.dirname(os.path.abspath(out["log"])), exist_ok=True)
        log(f"wrote {out['log']}")
        with open(out["log"], "w") as f:
            f.write(log.text())


def _run_engine(args) -> int:
    from . import report
    from .engine import ENGINE_COLUMNS, mlp_rows, profile, run_chain, targets
    if args.profile:
        profile(args.profile, args.chain_ops)
        return EXIT_OK
    out = _outputs(args, "engine")
    rc = reexec_for_blas_threads(args.threads)
    if rc is not None:
        return rc
    rounds = args.rounds or (5 if args.quick else 15)
    chain_ops = min(args.chain_ops, 2000) if args.quick else args.chain_ops
    log = report.Log(quiet=args.quiet)
    meta = report.collect_meta("cpu")
    log(f"gpugrad bench engine on cpu: {meta['device_name']}, {meta['cpu_count']} cores; {meta['date']}; "
        f"load average {meta['load_average']}")
    cfg = MlpBenchConfig(device="cpu", models=("small",), threads=args.threads, torch=not args.no_torch,
                         jax=not args.no_jax, max_repeats=rounds, min_repeats=rounds,
                         budget_s=1e9, graphed="on")
    torch = None
    if not args.no_torch:
        try:
            import torch
            torch.set_num_threads(args.threads)
        except ImportError:
            torch = None
    rows = []
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=args.threads, user_api="blas"):
        blas = report.blas_label()
        meta["blas"] = report.blas_info()             # the thread count the run used
        result = mlp.run_mlp_bench(cfg, log) if args.only in (None, "mlp") else None
        if args.only in (None, "chain"):
            rows += run_chain(chain_ops, rounds, torch, log)
    notes = [f"BLAS: {blas}; torch threads {torch.get_num_threads() if torch is not None else '(not used)'}",
             "chain: values and gradients of every contender equal gpugrad's (rtol 1e-5) before timing; "
             "interleaved rounds, order rotating; ratios are medians [IQR] of per-round ratios",
             "chain: timed with Python's garbage collector paused inside each sample (the engine's own "
             "cost: the target); the 'gc on' rows time it running, as in a program, after a collection"]
    if result is not None:
        rows += mlp_rows(result)
        notes += [n for n in result["notes"] if n not in notes]
    log("")
    table = report.format_table(ENGINE_COLUMNS, rows)
    log(table)
    judged = targets(rows)
    for t in judged:
        notes.append(f"target {t['workload']}: gpugrad / {t['versus']} = {t['ratio']:.2f}x [IQR {t['iqr']:.2f}] "
                     f"<= {t['bar']:.2f}x: {'MET' if t['met'] else 'MISSED'}")
    for n in notes:
        log(f"* {n}")
    if args.quiet:
        print(table)
    failed = result["failed"] if result is not None else 0
    payload = {"benchmark": "engine", "meta": meta, "config": {"threads": args.threads, "rounds": rounds,
                                                               "chain_ops": chain_ops, "only": args.only},
               "rows": rows, "targets": judged, "notes": notes, "failed_rows": failed, "table": table,
               "mlp": result}
    _write_outputs(out, payload, log, plot=None, plot_names=[])
    if failed:
        print(f"gpugrad bench engine: {failed} row(s) failed", file=sys.stderr)
        return EXIT_FAILED_ROWS
    if args.strict and not all(t["met"] for t in judged):
        return EXIT_FAILED_ROWS
    return EXIT_OK


def _run_train_cpu(args) -> int:
    from threadpoolctl import threadpool_limits
    from . import report
    from .train_cpu import TRAIN_CPU_COLUMNS, run_train_cpu
    out = _outputs(args, "train-cpu")
    rc = reexec_for_blas_threads(args.threads)
    if rc is not None:
        return rc
    log = report.Log(quiet=args.quiet)
    meta = report.collect_meta("cpu")
    log(f"gpugrad bench train-cpu: {meta['device_name']}, {meta['cpu_count']} cores; {meta['date']}; "
        f"load average {meta['load_average']}")
    notes = []
    torch = _torch_or_none(MlpBenchConfig(torch=not args.no_torch), notes)
    if torch is not None:
        torch.set_num_threads(args.threads)
    jax = None if args.no_jax else _jax_or_none(args.threads, notes)
    epochs = args.epochs or (3 if args.quick else 15)
    with threadpool_limits(limits=args.threads, user_api="blas"):
        blas = report.blas_label()
        meta["blas"] = report.blas_info()             # the thread count the run used
        result = run_train_cpu(epochs, args.rtol, log, torch=torch, jax=jax)
    notes = [f"`gpugrad train` default model: MLP {result['model']} ReLU, Adam lr 1e-3, batch {result['batch']}, "
             f"{result['samples']} samples/epoch ({result['steps']} steps); same initial weights and batch "
             f"order for all", f"threads: {args.threads}; BLAS: {blas}"
             + (f"; torch.set_num_threads({args.threads})" if torch is not None else ""),
             f"loss check: every step of the first (untimed) epoch against {result['reference']}, "
             f"rtol {args.rtol:g}", f"timing: {epochs} epochs per contender in interleaved rounds (order "
             f"rotating); ratios are medians [IQR] of per-round ratios"] + notes
    table = report.format_table(TRAIN_CPU_COLUMNS, result["rows"])
    log("")
    log(table)
    for n in notes:
        log(f"* {n}")
    if args.quiet:
        print(table)
    failed = sum(r["status"] != "ok" for r in result["rows"])
    _write_outputs(out, {"benchmark": "train-cpu", "meta": meta, "config": {"epochs": epochs, "threads": args.threads,
                                                                           "rtol": args.rtol},
                         **result, "notes": notes, "failed_rows": failed, "table": table},
                   log, plot=None, plot_names=[])
    if failed:
        print(f"gpugrad bench train-cpu: {failed} row(s) failed (see the check column)", file=sys.stderr)
        return EXIT_FAILED_ROWS
    return EXIT_OK


def _run_kernels(args) -> int:
    from .kernels import run_kernels_cli
    return run_kernels_cli(args, _outputs(args, "kernels-static" if args.static else "kernels"), _write_outputs,
                           BenchError)


def build_parser() -> argparse.ArgumentParser:
    """The standalone parser of ``python -m gpugrad.commands.bench``."""
    bench = _OneLineParser(prog="python -m gpugrad.commands.bench", description=_DESCRIPTION)
    _configure(bench)
    return bench


def main(argv=None) -> int:
    """``python -m gpugrad.commands.bench kernels|mlp ...``."""
    return run_bench(build_parser().parse_args(argv))


def _run_data(args) -> int:
    from . import report
    from .data import DATA_COLUMNS, run_data_bench
    out = _outputs(args, "data")
    log = report.Log(quiet=args.quiet)
    meta = report.collect_meta("cpu")
    log(f"gpugrad bench data: {meta['device_name']}, {meta['cpu_count']} cores; {meta['date']}; "
        f"load average {meta['load_average']}")
    rows, notes = run_data_bench(args.rows or (20_000 if args.quick else 200_000), args.cols,
                                 args.rounds or (2 if args.quick else 5), log)
    log("")
    log(report.format_table(DATA_COLUMNS, rows))
    for n in notes:
        log(f"  {n}")
    _write_outputs(out, {"meta": meta, "rows": rows, "notes": notes}, log, None, [])
    return EXIT_OK
