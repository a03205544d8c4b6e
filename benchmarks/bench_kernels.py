"""Benchmark gpugrad's hand-written kernels against their vendor counterparts (GPU only).

    python benchmarks/bench_kernels.py [--json results.json] [--quick]

* matmul (float32, NN / TN / NT, n = 1024 .. 8192, square) vs cuBLAS through ``cupy.matmul``
  on the same operand views, with TF32 **off** for both (see ``_disable_tf32``): TFLOP/s and
  the ratio to cuBLAS, plus the max relative difference between the two results.
* relu, relu_vjp, bias_sigmoid, bias_sigmoid_vjp (float32, 2^20 .. 2^28 elements) vs a
  measured device-to-device copy (bandwidth counts bytes read + written) and vs the same math
  as a CuPy ``ElementwiseKernel`` (bias_sigmoid_vjp: elementwise dz plus ``dz.sum(axis=0)``).
* host overhead per launch: back-to-back launches on a tiny input, no synchronisation, for
  gpugrad.kernels.relu vs the CuPy ElementwiseKernel.

Timing: CUDA events on CuPy's current stream around each call, after warm-up; the median of
the repeats is reported. Each repeat uses the next of several input sets, so that the sets
together exceed twice the L2 cache and no call reads operands the previous one left in L2.

Prints a table; ``--json PATH`` also writes every row plus device name, compute capability,
SM count and package versions. Exits with status 2 and a message when no GPU is present.
Importing this module needs neither CuPy nor a GPU.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time

L2_BYTES = 50 * 2**20          # H100 L2; the rotation only needs an upper bound
ROTATE_BYTES = 2 * L2_BYTES


def _disable_tf32():
    """Keep cuBLAS on true FP32 for float32 GEMMs, so the comparison is like for like.

    CuPy picks the cuBLAS compute type per dtype on first use (``_routines_linalg.get_compute_type``):
    TF32 only if ``CUPY_TF32`` is set to a positive integer; the default compute type is plain
    CUBLAS_COMPUTE_32F. We set CUPY_TF32=0 before cupy is imported, pin the compute type to
    PEDANTIC (no reduced-precision paths at all) where this CuPy exposes it, and set
    NVIDIA_TF32_OVERRIDE=0, which makes the CUDA libraries refuse TF32 process-wide.
    """
    os.environ["CUPY_TF32"] = "0"
    os.environ["NVIDIA_TF32_OVERRIDE"] = "0"


def _pin_cublas_pedantic(cupy, numpy) -> str:
    try:
        from cupy._core import _routines_linalg as rl
        rl.set_compute_type(numpy.float32, rl.COMPUTE_TYPE_PEDANTIC)
        return "pedantic"
    except Exception as exc:  # older/newer CuPy layouts: env vars above still hold
        return f"default (could not pin pedantic: {exc!r})"


def _gpu_or_exit():
    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):
        sys.exit("bench_kernels: NUMBA_ENABLE_CUDASIM is set; unset it, this benchmark needs a real GPU.")
    _disable_tf32()
    try:
        import cupy
    except ImportError:
        print("bench_kernels: CuPy is not installed (pip install 'gpugrad[cuda13]'); this benchmark needs "
              "a CUDA GPU.", file=sys.stderr)
        sys.exit(2)
    try:
        ok = cupy.cuda.is_available()
    except Exception:
        ok = False
    if not ok:
        print("bench_kernels: no CUDA GPU available; nothing to measure.", file=sys.stderr)
        sys.exit(2)
    return cupy


# ---------------------------------------------------------------------------------------
# timing

def time_gpu(cupy, fns, warmup=3, repeats=20):
    """Median milliseconds of one call, cycling through ``fns`` (one per input set)."""
    stream = cupy.cuda.get_current_stream()
    for i in range(warmup):
        fns[i % len(fns)]()
    stream.synchronize()
    times = []
    for i in range(repeats):
        start, end = cupy.cuda.Event(), cupy.cuda.Event()
        start.record(stream)
        fns[i % len(fns)]()
        end.record(stream)
        end.synchronize()
        times.append(cupy.cuda.get_elapsed_time(start, end))
    return statistics.median(times)


def n_sets(bytes_per_set, cap=16):
    return max(2, min(cap, math.ceil(ROTATE_BYTES / max(1, bytes_per_set))))


# ---------------------------------------------------------------------------------------
# matmul vs cuBLAS

def bench_matmul(cupy, K, sizes, repeats):
    import numpy as np
    rows = []
    layouts = {"nn": (False, False), "tn": (True, False), "nt": (False, True)}
    for n in sizes:
        set_bytes = 3 * n * n * 4
        sets = n_sets(set_bytes, cap=8)
        rng = cupy.random.default_rng(0)
        data = [(rng.standard_normal((n, n), dtype=np.float32), rng.standard_normal((n, n), dtype=np.float32),
                 cupy.empty((n, n), np.float32), cupy.empty((n, n), np.float32)) for _ in range(sets)]
        flops = 2.0 * n ** 3
        reps = max(3, min(repeats, int(2e13 / flops * 3)))
        for lname, (ta, tb) in layouts.items():
            ours = [lambda d=d: K.matmul(d[0], d[1], trans_a=ta, trans_b=tb, out=d[2]) for d in data]
            vendor = [lambda d=d: cupy.matmul(d[0].T if ta else d[0], d[1].T if tb else d[1], out=d[3])
                      for d in data]
            t_ours = time_gpu(cupy, ours, repeats=reps)
            t_blas = time_gpu(cupy, vendor, repeats=reps)
            a, b, c, ref = data[0]
            ours[0](); vendor[0]()
            rel = float(cupy.abs(c - ref).max() / cupy.abs(ref).max())
            rows.append(dict(
                bench="matmul", layout=lname, dtype="float32", m=n, n=n, k=n,
                ms=t_ours, cublas_ms=t_blas, tflops=flops / t_ours / 1e9, cublas_tflops=flops / t_blas / 1e9,
                ratio_vs_cublas=t_blas / t_ours, max_rel_diff_vs_cublas=rel, input_sets=sets))
            print(f"matmul {lname} {n:5d}^3  ours {rows[-1]['tflops']:6.2f} TFLOP/s  cuBLAS "
                  f"{rows[-1]['cublas_tflops']:6.2f}  ratio {rows[-1]['ratio_vs_cublas']:5.3f}  "
                  f"max rel diff {rel:.1e}", flush=True)
        del data
        cupy.get_default_memory_pool().free_all_blocks()
    return rows


# ---------------------------------------------------------------------------------------
# elementwise vs copy bandwidth and CuPy ElementwiseKernel

def _cupy_kernels(cupy):
    relu = cupy.ElementwiseKernel("T x", "T y", "y = x < (T)0 ? (T)0 : x", "gg_bench_relu")
    relu_vjp = cupy.ElementwiseKernel("T g, T x", "T dx", "dx = x > (T)0 ? g : (T)0", "gg_bench_relu_vjp")
    bias_sigmoid = cupy.ElementwiseKernel(
        "T z, T b", "T h",
        "T x = z + b; T e = exp(-fabs(x)); T r = (T)1 / ((T)1 + e); h = x >= (T)0 ? r : e * r;",
        "gg_bench_bias_sigmoid")
    sig_grad = cupy.ElementwiseKernel("T g, T h", "T dz", "dz = g * h * ((T)1 - h)", "gg_bench_sigmoid_grad")
    return relu, relu_vjp, bias_sigmoid, sig_grad


def bench_elementwise(cupy, K, log2_sizes, repeats):
    import numpy as np
    ck_relu, ck_relu_vjp, ck_bias_sigmoid, ck_sig_grad = _cupy_kernels(cupy)
    rows = []
    cols = 1024
    for p in log2_sizes:
        n = 2 ** p
        m = n // cols
        free, _ = cupy.cuda.runtime.memGetInfo()
        sets = n_sets(3 * n * 4, cap=4)
        if sets * 5 * n * 4 > 0.8 * free:
            sets = 1 if 5 * n * 4 < 0.8 * free else 0
        if not sets:
            print(f"skip 2^{p}: not enough device memory", flush=True)
            continue
        rng = cupy.random.default_rng(p)
        data = [dict(x=rng.standard_normal((m, cols), dtype=np.float32),
                     g=rng.standard_normal((m, cols), dtype=np.float32),
                     b=rng.standard_normal(cols, dtype=np.float32),
                     y=cupy.empty((m, cols), np.float32)) for _ in range(sets)]
        nbytes = n * 4

        def copy(d):
            cupy.cuda.runtime.memcpyAsync(d["y"].data.ptr, d["x"].data.ptr, nbytes,
                                          cupy.cuda.runtime.memcpyDeviceToDevice,
                                          cupy.cuda.get_current_stream().ptr)
        t_copy = time_gpu(cupy, [lambda d=d: copy(d) for d in data], repeats=repeats)
        copy_bw = 2 * nbytes / t_copy / 1e6  # GB/s, read + write
        print(f"copy 2^{p}: {copy_bw:7.1f} GB/s", flush=True)

        cases = {
            # name: (ours, cupy, bytes moved)
            "relu": (lambda d: K.relu(d["x"], out=d["y"]), lambda d: ck_relu(d["x"], d["y"]), 2 * nbytes),
            "relu_vjp": (lambda d: K.relu_vjp(d["g"], d["x"], out=d["y"]),
                         lambda d: ck_relu_vjp(d["g"], d["x"], d["y"]), 3 * nbytes),
            "bias_sigmoid": (lambda d: K.bias_sigmoid(d["x"], d["b"], out=d["y"]),
                             lambda d: ck_bias_sigmoid(d["x"], d["b"], d["y"]), 2 * nbytes),
            # dz written once, plus db: g and h read, dz written (the reduction re-reads dz in CuPy)
            "bias_sigmoid_vjp": (lambda d: K.bias_sigmoid_vjp(d["g"], d["x"]),
                                 lambda d: ck_sig_grad(d["g"], d["x"], d["y"]).sum(axis=0), 3 * nbytes),
        }
        for name, (ours, theirs, moved) in cases.items():
            t_ours = time_gpu(cupy, [lambda d=d: ours(d) for d in data], repeats=repeats)
            t_cupy = time_gpu(cupy, [lambda d=d: theirs(d) for d in data], repeats=repeats)
            bw = moved / t_ours / 1e6
            rows.append(dict(bench=name, dtype="float32", elements=n, shape=[m, cols], ms=t_ours,
                             cupy_ms=t_cupy, gbps=bw, copy_gbps=copy_bw, fraction_of_copy=bw / copy_bw,
                             ratio_vs_cupy=t_cupy / t_ours, input_sets=sets))
            print(f"{name:17s} 2^{p}: {bw:7.1f} GB/s = {bw / copy_bw:5.1%} of copy; "
                  f"{t_cupy / t_ours:5.2f}x CuPy ElementwiseKernel", flush=True)
        del data
        cupy.get_default_memory_pool().free_all_blocks()
    return rows


def bench_overhead(cupy, K, launches=2000):
    import numpy as np
    ck_relu = _cupy_kernels(cupy)[0]
    x = cupy.ones(1024, np.float32)
    y = cupy.empty_like(x)
    rows = []
    for name, fn in (("gpugrad.kernels.relu", lambda: K.relu(x, out=y)),
                     ("cupy.ElementwiseKernel", lambda: ck_relu(x, y))):
        for _ in range(50):
            fn()
        cupy.cuda.get_current_stream().synchronize()
        t0 = time.perf_counter()
        for _ in range(launches):
            fn()
        t_host = time.perf_counter() - t0
        cupy.cuda.get_current_stream().synchronize()
        t_all = time.perf_counter() - t0
        rows.append(dict(bench="launch_overhead", impl=name, host_us_per_launch=t_host / launches * 1e6,
                         wall_us_per_launch=t_all / launches * 1e6))
        print(f"launch overhead {name:24s}: {rows[-1]['host_us_per_launch']:6.1f} us host, "
              f"{rows[-1]['wall_us_per_launch']:6.1f} us wall per launch", flush=True)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Benchmark gpugrad.kernels against cuBLAS / CuPy (GPU only).")
    ap.add_argument("--json", metavar="PATH", help="also write results as JSON")
    ap.add_argument("--quick", action="store_true", help="small sizes only (smoke test)")
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args(argv)

    cupy = _gpu_or_exit()
    import numpy as np
    import gpugrad.kernels as K

    cublas_mode = _pin_cublas_pedantic(cupy, np)
    dev = cupy.cuda.Device()
    props = cupy.cuda.runtime.getDeviceProperties(dev.id)
    name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
    meta = dict(device=name, compute_capability=dev.compute_capability,
                sm_count=dev.attributes["MultiProcessorCount"], cublas_float32_compute_type=cublas_mode,
                cupy=cupy.__version__, numpy=np.__version__, python=platform.python_version(),
                date=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    try:
        import numba_cuda
        meta["numba_cuda"] = getattr(numba_cuda, "__version__", "?")
    except ImportError:
        pass
    print(f"device: {name} (cc {meta['compute_capability']}, {meta['sm_count']} SMs); cuBLAS fp32 "
          f"compute type: {cublas_mode}", flush=True)

    sizes = [1024, 2048] if args.quick else [1024, 2048, 4096, 8192]
    log2 = [20, 22] if args.quick else [20, 22, 24, 26, 28]
    rows = []
    rows += bench_matmul(cupy, K, sizes, args.repeats)
    rows += bench_elementwise(cupy, K, log2, args.repeats)
    rows += bench_overhead(cupy, K)

    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(meta=meta, results=rows), f, indent=2)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
