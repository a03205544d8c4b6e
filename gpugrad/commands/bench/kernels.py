"""``gpugrad bench kernels`` (GPU only): each hand-written kernel against its vendor counterpart, and
against the device's two ceilings measured in the same run.

* matmul (float32; NN, TN, NT; square n = 256 .. 8192) against cuBLAS through ``cupy.matmul`` on the
  same operand views, FP32 (default math: no TF32) and TF32 (tensor-op math mode on CuPy's cuBLAS
  handle, switched by the CUDA backend's ``cublas_math_mode`` as ``gg.set_kernels(matmul="cublas-tf32")``
  does, with the float32 compute type the backend pins): TFLOP/s, ratio to cuBLAS FP32, and the max
  relative difference of the results (which also shows whether TF32 really engaged).
* relu, relu_vjp, bias_sigmoid, bias_sigmoid_vjp (float32, 2^16 .. 2^28 elements, rows of 1024)
  against the CUDA backend's own fused CuPy kernels (the very ``ElementwiseKernel`` objects the
  "cupy" policy runs, here writing into a preallocated output; CuPy's ``maximum`` for the relu
  forward, as the relu formula runs it) and against what gpugrad's "cupy" policy runs end to end
  (allocating its output): GB/s, ratio to CuPy. Every result is checked against the fused CuPy one,
  and matmul's against cuBLAS FP32; a disagreement fails the run.
* ceilings: device-to-device copy bandwidth (``cudaMemcpyAsync``, bytes read + written) per size, the
  ceiling being the copy at the largest size; cuBLAS peak TFLOP/s (FP32 and TF32) at the largest
  matmul size. Every kernel row is reported as a fraction of its ceiling; the roofline plot places
  every row by arithmetic intensity (minimum DRAM traffic) against the two ceilings.
* host overhead per launch (tiny input, no synchronisation): gpugrad.kernels.relu vs CuPy.

Timing: CUDA events on CuPy's current stream around batches of calls queued behind a spin kernel
(see timing.time_cuda_events), after warm-up; medians of the repeats, the contenders of a row
sampled in turn. Consecutive calls read different input sets whose bytes touched per call add up to
twice the L2 cache (size asked from the device), so no call finds its operands in L2.

The sweep is written against a small ``Env`` (array module, timer, the contenders), so its
bookkeeping (rows, ratios, ceilings, table, plot) is tested on the CPU with NumPy stand-ins;
``CupyEnv`` is the real one.
"""
from __future__ import annotations

import importlib.util
import os
import sys
import time

from ...backends import cuda as cuda_backend
from .timing import DEFAULT_L2_BYTES, rotation_sets, time_cuda_events
import gpugrad.kernels as K
from gpugrad.kernels import _sass   # cheap: imports neither numba nor cupy
from gpugrad.kernels.matmul import splitk_plan
from ...vjp_namespace import raw_namespace
from ... import cuda
from . import report

MATMUL_SIZES = (256, 512, 1024, 2048, 4096, 8192)
MATMUL_SIZES_QUICK = (256, 512, 1024)
ELEMENTWISE_LOG2 = (16, 18, 20, 22, 24, 26, 28)
ELEMENTWISE_LOG2_QUICK = (16, 18, 20)
LAYOUTS = {"nn": (False, False), "tn": (True, False), "nt": (False, True)}
COLS = 1024
# Input sets are capped only to bound the Python lists: small cases need many sets (2^16 floats:
# ~200) for the rotation to span twice the L2; large ones need the minimum of 2.
MAX_SETS = 512
# A result further than this from the vendor's (max |diff| / max |vendor|) fails the run: float32
# accumulation-order differences at K = 8192 are ~1e-6; a wrong kernel is off by O(1).
MATMUL_RTOL = 1e-3
ELEMENTWISE_RTOL = 1e-5

# Nominal FLOPs and minimum DRAM bytes per element of each elementwise kernel (float32), for the
# roofline: relu max(x,0); relu_vjp g*(x>0); bias_sigmoid add, exp, add, divide; its VJP
# (1-h), *h, *g and the column-sum add. Bytes: every input read once, every output written once.
ELEMENTWISE = {
    "relu": dict(flops=1, bytes=8),
    "relu_vjp": dict(flops=1, bytes=12),
    "bias_sigmoid": dict(flops=4, bytes=8),
    "bias_sigmoid_vjp": dict(flops=4, bytes=12),
}
#: The vendor contender of each elementwise kernel: the name of the CUDA backend's fused CuPy kernel
#: (backends/cuda.py ELEMENTWISE_KERNELS) with the same math, the one the "cupy" policy runs. relu's
#: forward has none: its formula (ops/activation.py) is CuPy's one-kernel ``maximum(x, 0)``;
#: bias_sigmoid_vjp is sigmoid_vjp's kernel, then a column sum, as its formula is.
VENDOR_KERNELS = {"relu_vjp": "relu_vjp", "bias_sigmoid": "sigmoid_bias", "bias_sigmoid_vjp": "sigmoid_vjp"}


def vendor_kernels() -> dict:
    """{elementwise kernel: the CUDA backend's compiled fused CuPy kernel for it} (the backend's
    cached objects; CuPy compiles them on first call, so this works without a GPU)."""
    return {name: cuda_backend.CudaBackend.elementwise(k) for name, k in VENDOR_KERNELS.items()}


# The fewest bytes per element any contender of a size touches (the copy and relu: one read, one
# write): the L2 rotation is sized from it, so every contender's rotation spans at least 2x L2.
MIN_TOUCHED_BYTES = min(min(spec["bytes"] for spec in ELEMENTWISE.values()), 8)


# -- environments ----------------------------------------------------------------------------------
class EnvBase:
    """What every sweep environment shares: result comparisons written against ``self.xp``."""

    def max_rel_diff(self, a, ref):
        """max |a - ref| / max |ref| (absolute when ref is all zeros)."""
        scale = float(self.xp.abs(ref).max())
        return float(self.xp.abs(a - ref).max()) / (scale if scale > 0 else 1.0)

    def elementwise_diff(self, name, d):
        """Max relative difference of our result from the fused CuPy one, on input set ``d``.

        The bias gradient db (column sums of dz over every row) is compared with the float64 sum
        of the fused dz, relative to the column's sum of |dz|: float32 summation in any order
        stays within ~1e-7 of that, while a block of rows missed or counted twice does not.
        """
        xp = self.xp
        ours = self.ours_elementwise(name, d)
        ours = tuple(a.copy() for a in ours) if isinstance(ours, tuple) else ours.copy()
        fused = self.fused_elementwise(name, d)
        if name != "bias_sigmoid_vjp":
            return self.max_rel_diff(ours, fused)
        dz, db = ours                       # fused: db, with its dz left in d["y"]
        dz64 = d["y"].astype(xp.float64)
        scale = xp.maximum(xp.abs(dz64).sum(axis=0), xp.finfo(xp.float64).tiny)
        db_err = float((xp.abs(db.astype(xp.float64) - dz64.sum(axis=0)) / scale).max())
        return max(self.max_rel_diff(dz, d["y"]), db_err)


class CupyEnv(EnvBase):
    """The GPU: CuPy arrays, CUDA-event timing, gpugrad.kernels vs cuBLAS / CuPy."""

    name = "cuda"

    def __init__(self):
        import cupy
        import numpy
        self.xp = cupy
        self.np = numpy
        self.K = K
        # The backend pins the float32 compute type (so the handle's math mode alone decides TF32)
        # as it is built; asked again here only to note it when this CuPy cannot.
        self.backend = cuda_backend.CudaBackend(cupy.cuda.runtime.getDevice())
        dev = cupy.cuda.Device()
        self.l2_bytes = int(dev.attributes.get("L2CacheSize") or DEFAULT_L2_BYTES)
        self.notes = []
        reason = cuda_backend.pin_fp32_compute_type(cupy)
        if reason:  # the TF32 check in the rows still tells
            self.notes.append(reason)
        if os.environ.get("NVIDIA_TF32_OVERRIDE") == "0":
            self.notes.append("NVIDIA_TF32_OVERRIDE=0 is set: the cuBLAS TF32 rows run in FP32")
        self._ew = vendor_kernels()

    # timing
    def time_ms(self, contenders, repeats, warmup=3):
        """{name: list of calls} -> {name: summary of GPU ms per call}, sampled in turn."""
        return time_cuda_events(self.xp, contenders, warmup=warmup, repeats=repeats)

    def synchronize(self):
        self.xp.cuda.get_current_stream().synchronize()

    def free_bytes(self):
        return int(self.xp.cuda.runtime.memGetInfo()[0])

    def release(self):
        self.synchronize()
        self.xp.get_default_memory_pool().free_all_blocks()

    # data
    def randn(self, shape, seed):
        return self.xp.random.default_rng(seed).standard_normal(shape, dtype=self.np.float32)

    def empty(self, shape):
        return self.xp.empty(shape, self.np.float32)

    # contenders
    def copy(self, dst, src):
        rt = self.xp.cuda.runtime
        rt.memcpyAsync(dst.data.ptr, src.data.ptr, src.nbytes, rt.memcpyDeviceToDevice,
                       self.xp.cuda.get_current_stream().ptr)

    def ours_matmul(self, a, b, ta, tb, out):
        return self.K.matmul(a, b, trans_a=ta, trans_b=tb, out=out)

    def cublas_matmul(self, a, b, ta, tb, out, tf32=False):
        """cupy.matmul on the same views; TF32 through the CUDA backend's math-mode switch."""
        left, right = (a.T if ta else a), (b.T if tb else b)
        if not tf32:
            return self.xp.matmul(left, right, out=out)
        with cuda_backend.cublas_math_mode(cuda_backend.CUBLAS_TF32_TENSOR_OP_MATH):
            return self.xp.matmul(left, right, out=out)

    def ours_elementwise(self, name, d):
        K = self.K
        if name == "relu":
            return K.relu(d["x"], out=d["y"])
        if name == "relu_vjp":
            return K.relu_vjp(d["g"], d["x"], out=d["y"])
        if name == "bias_sigmoid":
            return K.bias_sigmoid(d["x"], d["b"], out=d["y"])
        return K.bias_sigmoid_vjp(d["g"], d["h"])

    def fused_elementwise(self, name, d):
        """The CUDA backend's own fused CuPy kernel for ``name`` (vendor_kernels), into d["y"]."""
        if name == "relu":
            return self.xp.maximum(d["x"], 0, out=d["y"])
        kernel = self._ew[name]
        if name == "relu_vjp":
            return kernel(d["g"], d["x"], d["y"])
        if name == "bias_sigmoid":
            return kernel(d["x"], d["b"], d["y"])
        return kernel(d["g"], d["h"], d["y"]).sum(axis=0)

    def policy_elementwise(self, name, d):
        """What gg.set_kernels(relu="cupy" / bias_sigmoid="cupy") runs: the CUDA backend's vendor
        implementations (one fused CuPy kernel each, CuPy's own maximum for the relu forward)."""
        c = raw_namespace(self.backend, kernels=False)
        if name == "relu":
            return c.relu(d["x"])
        if name == "relu_vjp":
            return c.relu_vjp(d["g"], d["x"])
        if name == "bias_sigmoid":
            return c.bias_sigmoid(d["x"], d["b"])
        return c.bias_sigmoid_vjp(d["g"], d["h"])


# -- the sweep -------------------------------------------------------------------------------------
def _matmul_repeats(n, repeats, batch=8):
    # Large GEMMs are long and stable: fewer repeats (at least 3) keep the run to minutes. Each
    # sample is a batch of calls: about 5e13 FLOP per contender and layout (8192^3: 5 samples of 8).
    return max(3, min(repeats, int(5e13 / (2.0 * n ** 3 * batch))))


def bench_matmul(env, sizes, repeats, log, rows=None) -> list[dict]:
    """One row per (layout, n): ours, cuBLAS FP32, cuBLAS TF32 (appended to ``rows`` as measured)."""
    rows = [] if rows is None else rows
    for n in sizes:
        sets = rotation_sets(3 * n * n * 4, env.l2_bytes, cap=MAX_SETS)
        data = [(env.randn((n, n), 2 * s), env.randn((n, n), 2 * s + 1), env.empty((n, n)),
                 env.empty((n, n)), env.empty((n, n))) for s in range(sets)]
        flops = 2.0 * n ** 3
        reps = _matmul_repeats(n, repeats, batch=max(8, sets))
        for layout, (ta, tb) in LAYOUTS.items():
            ours = [lambda d=d: env.ours_matmul(d[0], d[1], ta, tb, d[2]) for d in data]
            fp32 = [lambda d=d: env.cublas_matmul(d[0], d[1], ta, tb, d[3]) for d in data]
            tf32 = [lambda d=d: env.cublas_matmul(d[0], d[1], ta, tb, d[4], tf32=True) for d in data]
            t = env.time_ms({"ours": ours, "fp32": fp32, "tf32": tf32}, reps)
            for f in (ours[0], fp32[0], tf32[0]):
                f()
            d = data[0]
            row = dict(kernel="matmul", layout=layout, dtype="float32", m=n, n=n, k=n, size=f"{n}^3",
                       flops=flops, bytes=3 * n * n * 4, intensity=flops / (3 * n * n * 4),
                       ms=t["ours"]["median"], cublas_ms=t["fp32"]["median"], cublas_tf32_ms=t["tf32"]["median"],
                       ms_stats=t["ours"], cublas_ms_stats=t["fp32"], cublas_tf32_ms_stats=t["tf32"],
                       max_rel_diff_vs_cublas=env.max_rel_diff(d[2], d[3]),
                       tf32_max_rel_diff_vs_fp32=env.max_rel_diff(d[4], d[3]),
                       input_sets=sets, repeats=reps, **_host_fields(t))
            row["tflops"] = flops / row["ms"] / 1e9
            row["cublas_tflops"] = flops / row["cublas_ms"] / 1e9
            row["cublas_tf32_tflops"] = flops / row["cublas_tf32_ms"] / 1e9
            row["vs_vendor"] = row["cublas_ms"] / row["ms"]
            rows.append(row)
            log(f"matmul {layout} {n:5d}^3: ours {row['tflops']:7.2f} TFLOP/s, cuBLAS FP32 "
                f"{row['cublas_tflops']:7.2f}, TF32 {row['cublas_tf32_tflops']:7.2f}; ours/cuBLAS "
                f"{row['vs_vendor']:.3f}; max rel diff {row['max_rel_diff_vs_cublas']:.1e}")
        del data, ours, fp32, tf32
        env.release()
    return rows


def bench_elementwise(env, log2_sizes, repeats, log, rows=None) -> list[dict]:
    """Per size: a copy row (the bandwidth ceiling) and one row per elementwise kernel (appended
    to ``rows`` as measured)."""
    rows = [] if rows is None else rows
    for p in log2_sizes:
        n = 2 ** p
        m = max(1, n // COLS)
        shape = (m, COLS) if n >= COLS else (1, n)
        n = shape[0] * shape[1]
        per_set = 4 * n * 4                                  # allocated: x, g, h, y
        sets = rotation_sets(MIN_TOUCHED_BYTES * n, env.l2_bytes, cap=MAX_SETS)
        free = env.free_bytes()
        while sets > 1 and sets * per_set > 0.7 * free:
            sets -= 1
        if per_set > 0.7 * free:
            log(f"skip 2^{p}: not enough device memory ({free / 2**30:.1f} GiB free)")
            continue
        data = [dict(x=env.randn(shape, 10 * p + 4 * s), g=env.randn(shape, 10 * p + 4 * s + 1),
                     h=env.randn(shape, 10 * p + 4 * s + 2), b=env.randn((shape[1],), 10 * p + 4 * s + 3),
                     y=env.empty(shape)) for s in range(sets)]
        nbytes = n * 4
        t_copy = env.time_ms({"copy": [lambda d=d: env.copy(d["y"], d["x"]) for d in data]}, repeats)["copy"]
        copy_gbps = 2 * nbytes / t_copy["median"] / 1e6
        rows.append(dict(kernel="copy", elements=n, shape=list(shape), size=f"2^{p}", bytes=2 * nbytes,
                         ms=t_copy["median"], ms_stats=t_copy, gbps=copy_gbps, input_sets=sets, repeats=repeats,
                         **_host_fields({"copy": t_copy})))
        log(f"copy 2^{p}: {copy_gbps:8.1f} GB/s (read + write)")
        for name, spec in ELEMENTWISE.items():
            t = env.time_ms({k: [lambda d=d, fn=fn: fn(name, d) for d in data]
                             for k, fn in (("ours", env.ours_elementwise), ("fused", env.fused_elementwise),
                                           ("policy", env.policy_elementwise))}, repeats)
            moved, flops = spec["bytes"] * n, spec["flops"] * n
            row = dict(kernel=name, dtype="float32", elements=n, shape=list(shape), size=f"2^{p}",
                       flops=flops, bytes=moved, intensity=flops / moved,
                       ms=t["ours"]["median"], cupy_ms=t["fused"]["median"], cupy_policy_ms=t["policy"]["median"],
                       ms_stats=t["ours"], cupy_ms_stats=t["fused"], cupy_policy_ms_stats=t["policy"],
                       copy_gbps_same_size=copy_gbps, input_sets=sets, repeats=repeats,
                       max_rel_diff_vs_cupy=env.elementwise_diff(name, data[0]), **_host_fields(t))
            row["gbps"] = moved / row["ms"] / 1e6
            row["cupy_gbps"] = moved / row["cupy_ms"] / 1e6
            row["vs_vendor"] = row["cupy_ms"] / row["ms"]
            row["vs_cupy_policy"] = row["cupy_policy_ms"] / row["ms"]
            row["fraction_of_copy_same_size"] = row["gbps"] / copy_gbps
            rows.append(row)
            log(f"{name:17s} 2^{p}: ours {row['gbps']:8.1f} GB/s ({row['fraction_of_copy_same_size']:.0%} of "
                f"copy), {row['vs_vendor']:.2f}x fused CuPy, {row['vs_cupy_policy']:.2f}x gg cupy policy")
        del data
        env.release()
    return rows


def _host_fields(timings) -> dict:
    """Per contender: host enqueue ms per call, and samples whose enqueueing outlasted the spin
    even after retries (their GPU time may include idle gaps: read such a row as host-bound)."""
    return {"enqueue_ms": {k: t["enqueue_ms"] for k, t in timings.items()},
            "host_bound_samples": {k: t["host_bound_samples"] for k, t in timings.items()}}


def result_failures(rows) -> list[str]:
    """Rows whose results disagree with the vendor's beyond tolerance, one line each."""
    bad = []
    for r in rows:
        if r["kernel"] == "matmul" and not r["max_rel_diff_vs_cublas"] <= MATMUL_RTOL:
            bad.append(f"matmul {r['layout']} {r['size']}: max rel diff vs cuBLAS FP32 "
                       f"{r['max_rel_diff_vs_cublas']:.1e} > {MATMUL_RTOL:.0e}")
        elif r["kernel"] in ELEMENTWISE and not r["max_rel_diff_vs_cupy"] <= ELEMENTWISE_RTOL:
            bad.append(f"{r['kernel']} {r['size']}: max rel diff vs fused CuPy "
                       f"{r['max_rel_diff_vs_cupy']:.1e} > {ELEMENTWISE_RTOL:.0e}")
    return bad


def bench_launch_overhead(env, log, launches=2000) -> list[dict]:
    """Host microseconds per launch, back to back on a tiny input, no synchronisation."""
    x = env.randn((1, COLS), 0)
    d = dict(x=x, y=env.empty((1, COLS)))
    rows = []
    for impl, fn in (("gpugrad.kernels.relu", lambda: env.ours_elementwise("relu", d)),
                     ("cupy.maximum (relu formula)", lambda: env.fused_elementwise("relu", d))):
        for _ in range(50):
            fn()
        env.synchronize()
        t0 = time.perf_counter()
        for _ in range(launches):
            fn()
        host = time.perf_counter() - t0
        env.synchronize()
        wall = time.perf_counter() - t0
        rows.append(dict(kernel="launch_overhead", impl=impl, host_us_per_launch=host / launches * 1e6,
                         wall_us_per_launch=wall / launches * 1e6))
        log(f"launch overhead {impl:28s}: {rows[-1]['host_us_per_launch']:6.1f} us host, "
            f"{rows[-1]['wall_us_per_launch']:6.1f} us wall per launch")
    return rows


def ceilings_from(rows) -> dict:
    """The device's ceilings from the sweep: copy GB/s at the largest size, cuBLAS peak at the
    largest matmul size (best layout), FP32 and TF32."""
    out = {}
    copies = [r for r in rows if r["kernel"] == "copy"]
    if copies:
        big = max(copies, key=lambda r: r["elements"])
        out.update(copy_gbps=big["gbps"], copy_elements=big["elements"])
    mm = [r for r in rows if r["kernel"] == "matmul"]
    if mm:
        n = max(r["n"] for r in mm)
        at = [r for r in mm if r["n"] == n]
        out.update(cublas_fp32_tflops=max(r["cublas_tflops"] for r in at),
                   cublas_tf32_tflops=max(r["cublas_tf32_tflops"] for r in at), cublas_peak_n=n)
    return out


def apply_ceilings(rows, ceilings) -> None:
    """Every kernel row as a fraction of its ceiling (matmul: cuBLAS FP32 peak; elementwise: copy)."""
    for r in rows:
        if r["kernel"] == "matmul" and ceilings.get("cublas_fp32_tflops"):
            r["fraction_of_ceiling"] = r["tflops"] / ceilings["cublas_fp32_tflops"]
        elif r["kernel"] in ELEMENTWISE and ceilings.get("copy_gbps"):
            r["fraction_of_ceiling"] = r["gbps"] / ceilings["copy_gbps"]
        elif r["kernel"] == "copy" and ceilings.get("copy_gbps"):
            r["fraction_of_ceiling"] = r["gbps"] / ceilings["copy_gbps"]


def roofline_points(rows) -> list[dict]:
    """(kernel, impl, intensity, GFLOP/s) for every measured contender of every row."""
    pts = []
    for r in rows:
        if r["kernel"] == "matmul":
            for impl, key in (("gpugrad", "ms"), ("cuBLAS FP32", "cublas_ms"), ("cuBLAS TF32", "cublas_tf32_ms")):
                pts.append(dict(kernel="matmul", impl=impl, size=r["size"], layout=r["layout"],
                                intensity=r["intensity"], gflops=r["flops"] / r[key] / 1e6))
        elif r["kernel"] in ELEMENTWISE:
            for impl, key in (("gpugrad", "ms"), ("CuPy fused", "cupy_ms")):
                pts.append(dict(kernel=r["kernel"], impl=impl, size=r["size"], intensity=r["intensity"],
                                gflops=r["flops"] / r[key] / 1e6))
    return pts


def run_kernel_sweep(env, matmul_sizes, log2_sizes, repeats, log, overhead=True, rows=None) -> dict:
    """The whole sweep. Rows are appended to ``rows`` (a list the caller may pass) as each section
    ends, so an interrupted run still has what was measured."""
    rows = [] if rows is None else rows
    bench_matmul(env, matmul_sizes, repeats, log, rows)
    bench_elementwise(env, log2_sizes, repeats, log, rows)
    if overhead:
        rows += bench_launch_overhead(env, log)
    ceilings = ceilings_from(rows)
    apply_ceilings(rows, ceilings)
    return {"rows": rows, "ceilings": ceilings, "roofline": roofline_points(rows), "notes": list(env.notes)}


def _ratio(v):
    return None if v is None else f"{v:.2f}x"


def _pct(v):
    return None if v is None else f"{v:.0%}"


KERNEL_COLUMNS = [
    ("kernel", lambda r: r["kernel"] + (f" {r['layout']}" if r.get("layout") else ""), None, "<"),
    ("size", "size", None, ">"),
    ("ours ms", "ms", ".4g", ">"),
    ("ours", lambda r: f"{r['tflops']:.2f} TFLOP/s" if "tflops" in r else (
        f"{r['gbps']:.0f} GB/s" if "gbps" in r else None), None, ">"),
    ("vendor", lambda r: f"{r['cublas_tflops']:.2f} TFLOP/s" if "cublas_tflops" in r else (
        f"{r['cupy_gbps']:.0f} GB/s" if "cupy_gbps" in r else None), None, ">"),
    ("ours/vendor", lambda r: _ratio(r.get("vs_vendor")), None, ">"),
    ("TF32 cuBLAS", lambda r: f"{r['cublas_tf32_tflops']:.2f} TFLOP/s" if "cublas_tf32_tflops" in r else None,
     None, ">"),
    ("of ceiling", lambda r: _pct(r.get("fraction_of_ceiling")), None, ">"),
    ("max rel diff", "max_rel_diff_vs_cublas", ".1e", ">"),
]


def kernel_table(rows) -> str:
    main = [r for r in rows if r["kernel"] != "launch_overhead"]
    text = report.format_table(KERNEL_COLUMNS, main)
    over = [r for r in rows if r["kernel"] == "launch_overhead"]
    if over:
        text += "\n\n" + report.format_table([("launch overhead", "impl", None, "<"),
                                       ("host us/launch", "host_us_per_launch", ".1f", ">"),
                                       ("wall us/launch", "wall_us_per_launch", ".1f", ">")], over)
    return text


# -- the command -----------------------------------------------------------------------------------
def gpu_unavailable_reason():
    """None when a CUDA GPU works, else why not (one phrase)."""
    if importlib.util.find_spec("cupy") is None:
        return "CuPy is not installed (pip install 'gpugrad[cuda13]')"
    if not cuda.is_available():
        return "no usable CUDA GPU (no driver or no device)"
    return None


def run_kernels_cli(args, out, write_outputs, BenchError) -> int:
    if getattr(args, "static", False):
        return run_static_cli(args, out, write_outputs, BenchError)
    reason = gpu_unavailable_reason()
    if reason:
        raise BenchError(f"needs a CUDA GPU and this machine has none: {reason}; nothing measured "
                         f"(on a CPU, try: gpugrad bench mlp)")
    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):
        raise BenchError("NUMBA_ENABLE_CUDASIM is set, which would time the simulator; unset it")
    log = report.Log(quiet=args.quiet)
    env = CupyEnv()
    meta = report.collect_meta("cuda")
    meta["l2_bytes_used_for_rotation"] = env.l2_bytes
    log(f"gpugrad bench kernels: {meta['device_name']} (cc {meta['compute_capability']}, {meta['sm_count']} SMs, "
        f"L2 {env.l2_bytes / 2**20:.0f} MiB, driver {meta.get('driver_version')}); {meta['date']}")
    sizes = MATMUL_SIZES_QUICK if args.quick else MATMUL_SIZES
    log2 = ELEMENTWISE_LOG2_QUICK if args.quick else ELEMENTWISE_LOG2
    rows = []
    try:
        result = run_kernel_sweep(env, sizes, log2, args.repeats, log, overhead=not args.no_overhead,
                                  rows=rows)
    except KeyboardInterrupt:   # Ctrl-C or `timeout -s INT`: keep what was measured
        log(f"interrupted after {len(rows)} rows; writing them")
        payload = {"benchmark": "kernels", "meta": meta, "interrupted": True, "rows": rows,
                   "notes": list(env.notes), "table": kernel_table(rows) if rows else ""}
        write_outputs(out, payload, log, plot=None, plot_names=[])
        raise
    table = kernel_table(result["rows"])
    c = result["ceilings"]
    log("")
    log(table)
    notes = result["notes"] + [
        f"ceilings measured in this run: copy {c.get('copy_gbps', float('nan')):.0f} GB/s (read + write, "
        f"2^{(c.get('copy_elements') or 1).bit_length() - 1} floats); cuBLAS FP32 "
        f"{c.get('cublas_fp32_tflops', float('nan')):.2f} TFLOP/s, TF32 "
        f"{c.get('cublas_tf32_tflops', float('nan')):.2f} TFLOP/s at {c.get('cublas_peak_n')}^3",
        "ours/vendor: vendor time / our time (>1: ours faster); vendor = cuBLAS FP32 for matmul, the CUDA "
        "backend's fused CuPy kernel for the elementwise kernels (CuPy's maximum for the relu forward), "
        "writing into a preallocated output (vs_cupy_policy in the JSON: against what "
        "gg.set_kernels(relu/bias_sigmoid='cupy') runs, allocating its output)",
        "of ceiling: matmul vs the cuBLAS FP32 peak; elementwise vs the copy bandwidth",
        f"timing: CUDA events around batches queued behind a spin kernel, median of up to {args.repeats} "
        f"repeats after 3 warm-up calls, contenders sampled in turn; inputs rotated over sets whose bytes "
        f"touched span 2x L2",
    ]
    host_bound = [f"{r['kernel']} {r.get('layout', '')} {r['size']} {k}".replace("  ", " ")
                  for r in result["rows"] for k, v in r.get("host_bound_samples", {}).items() if v]
    if host_bound:
        notes.append("host-bound (enqueueing outlasted the spin in some samples; GPU time may include idle "
                     "gaps): " + ", ".join(host_bound))
    failures = result_failures(result["rows"])
    notes += [f"WRONG RESULT: {f}" for f in failures]
    for r in result["rows"]:
        if r["kernel"] == "matmul" and r["tf32_max_rel_diff_vs_fp32"] < 1e-5 and r["n"] >= 1024:
            notes.append(f"cuBLAS TF32 results equal FP32 to {r['tf32_max_rel_diff_vs_fp32']:.1e} at {r['size']}: "
                         f"TF32 probably did not engage")
            break
    for n in notes:
        log(f"* {n}")
    if args.quiet:
        print(table)
    payload = {"benchmark": "kernels", "meta": meta, "ceilings": c, "notes": notes, "rows": result["rows"],
               "roofline": result["roofline"], "table": table}
    write_outputs(out, payload, log, plot=lambda d: report.plot_roofline(
        result["roofline"], c, os.path.join(d, "bench-kernels-roofline.png"),
        f"gpugrad kernels roofline, float32: {meta['device_name']}"),
        plot_names=["bench-kernels-roofline.png"])
    if failures:
        print(f"gpugrad bench kernels: {len(failures)} kernel result(s) disagree with the vendor's: "
              + "; ".join(failures), file=sys.stderr)
        return 1
    return 0


# ---------------------------------------------------------------------------------------------
# --static: figures from the sm_90 machine code, no GPU (kernels/_sass.py)

#: The GEMMs of the 784-256-256-10 MLP at batch 128 whose launch shape --static reports: per layer
#: the forward x @ W^T (NT) and the VJPs dX = G @ W (NN) and dW = G^T @ X (TN).
STATIC_MLP = ((784, 256), (256, 256), (256, 10))
STATIC_MLP_BATCH = 128


def static_mlp_plan(sms: int = 132) -> list:
    """Config, K slices and blocks ``matmul`` launches for each GEMM of the small MLP."""
    rows = []
    for i, (fan_in, fan_out) in enumerate(STATIC_MLP, 1):
        for gemm, layout, (M, N, K) in (("forward", "nt", (STATIC_MLP_BATCH, fan_out, fan_in)),
                                        ("dX", "nn", (STATIC_MLP_BATCH, fan_in, fan_out)),
                                        ("dW", "tn", (fan_out, fan_in, STATIC_MLP_BATCH))):
            plan = splitk_plan(M, N, K, "float32", sms)
            rows.append(dict(layer=i, gemm=gemm, layout=layout, sms=sms,
                             fills_a_wave=plan["blocks"] >= sms, **plan))
    return rows


def static_figures(only: str = "", dtype: str = "") -> list:
    """Every registered kernel's sm_90 figures (``_sass.spec_figures``), compiled in two subprocesses
    (one per dtype) with NUMBA_ENABLE_CUDASIM unset (the simulator has no compile_ptx)."""
    import json
    import subprocess
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    dtypes = [dtype] if dtype else ["float32", "float64"]
    procs = [subprocess.Popen([sys.executable, "-m", "gpugrad.kernels._sass", "--dtype", d, "--only", only],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for d in dtypes]
    rows = []
    for p in procs:
        out, err = p.communicate()
        if p.returncode != 0:
            raise RuntimeError(f"sm_90 compile failed:\n{err[-4000:]}")
        rows += [json.loads(line) for line in out.splitlines()]
    return sorted(rows, key=lambda r: (r["dtype"], r["name"]))


def run_static_cli(args, out, write_outputs, BenchError) -> int:
    """``gpugrad bench kernels --static``: the machine-code figures of every kernel (no GPU)."""
    import importlib.util
    missing = [m for m in ("numba_cuda", "cuda.core") if importlib.util.find_spec(m) is None]
    if missing:
        raise BenchError(f"--static needs numba-cuda[cu13] and nvdisasm: pip install -e .[kernels] "
                         f"(missing: {', '.join(missing)})")
    try:
        _sass.nvdisasm_path()
    except RuntimeError as exc:
        raise BenchError(str(exc)) from None
    log = report.Log(quiet=args.quiet)
    meta = report.collect_meta("cpu")
    meta["versions"]["nvidia-cuda-nvdisasm"] = _dist("nvidia-cuda-nvdisasm")
    meta["target"] = "sm_90 (compiled and disassembled here; no GPU)"
    log(f"gpugrad bench kernels --static: every kernel compiled for sm_90 and disassembled; {meta['date']}")
    rows = static_figures(dtype="float32" if args.quick else "")
    table = _sass.format_table(rows)
    plan = static_mlp_plan()
    plan_table = "\n".join(
        f"layer {p['layer']} {p['gemm']:<7} {p['layout']}  M={p['M']:<4} N={p['N']:<4} K={p['K']:<4} "
        f"{p['config']:<7} tiles={p['tiles']:<3} splits={p['splits']:<2} blocks={p['blocks']:<4}"
        f"{'' if p['fills_a_wave'] else ' (under a wave: K too short to split further)'}" for p in plan)
    log("")
    log(table)
    log("")
    log(f"784-256-256-10 MLP at batch {STATIC_MLP_BATCH}, blocks per GEMM on 132 SMs:")
    log(plan_table)
    failing = {f"{r['name']} [{r['dtype']}]": _sass.violations(r) for r in rows if _sass.violations(r)}
    notes = ["static, from the machine code; not a GPU timing: FFMA share caps FP32 throughput (one "
             "warp-instruction per clock per scheduler on Hopper), loads before the first store are the "
             "loads a warp has in flight; neither measures memory latency, occupancy or clocks",
             f"targets: float32 matmul innermost loop FFMA >= {_sass.FFMA_SHARE_INNER:.0%}, K tile >= "
             f"{_sass.FFMA_SHARE_TILE:.0%}; float32 elementwise >= {_sass.LOADS_BEFORE_STORE} loads before "
             f"the first store, instructions per element <= {_sass.INSTR_PER_ELEMENT}; no spills, no local "
             f"memory, no float64 in float32 kernels"]
    notes += [f"MISSED: {k}: {'; '.join(v)}" for k, v in failing.items()]
    for n in notes:
        log(f"* {n}")
    if args.quiet:
        print(table)
    # a float64 kernel lists hundreds of DFMA as its float64 instructions: keep the count and a sample
    slim = [dict(r, f64=r["f64"][:3], f64_count=len(r["f64"])) for r in rows]
    payload = {"benchmark": "kernels-static", "meta": meta, "notes": notes, "rows": slim,
               "mlp_gemms": plan, "table": table, "mlp_table": plan_table,
               "missed": failing}
    write_outputs(out, payload, log, plot=None, plot_names=[])
    return 1 if failing else 0


def _dist(name):
    import importlib.metadata
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None
