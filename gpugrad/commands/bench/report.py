"""What a benchmark hands back: a terminal (Markdown) table, a JSON file with every figure and the
environment it was measured in, PNG plots, and a raw log of everything printed.

matplotlib is optional (plots are skipped with a note without it); nothing GPU-related is imported
unless the run is on a GPU.
"""
from __future__ import annotations

import datetime
import json
import math
import os
import platform
import shlex
import subprocess
import sys

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# -- the log ---------------------------------------------------------------------------------------
class Log:
    """Prints lines to stdout (flushed, so progress shows) and keeps them for the raw log file."""

    def __init__(self, stream=None, quiet: bool = False):
        self.stream = stream
        self.quiet = quiet
        self.lines: list[str] = []

    def __call__(self, line: str = "") -> None:
        self.lines.append(line)
        if not self.quiet:
            print(line, file=self.stream or sys.stdout, flush=True)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


# -- tables ----------------------------------------------------------------------------------------
def fmt(value, spec: str = ".3g") -> str:
    """A table cell: numbers by ``spec``, None/NaN as a dash, anything else as str."""
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return format(value, spec)
    return str(value)


def format_table(columns, rows) -> str:
    """A Markdown table (readable on a terminal, pasteable into a README).

    ``columns`` is a list of (header, key_or_function, format_spec, align) with align "<" or ">";
    ``rows`` a list of dicts. A key missing from a row shows as a dash.
    """
    header = [c[0] for c in columns]
    body = []
    for r in rows:
        cells = []
        for _, key, spec, _ in columns:
            v = key(r) if callable(key) else r.get(key)
            cells.append(fmt(v, spec) if spec else fmt(v))
        body.append(cells)
    # at least 3 wide, so the rule row has a dash beside any colon (valid GitHub Markdown)
    widths = [max(3, len(h), *(len(row[i]) for row in body)) for i, h in enumerate(header)]
    aligns = [c[3] for c in columns]

    def line(cells):
        return "| " + " | ".join(c.ljust(w) if a == "<" else c.rjust(w)
                                 for c, w, a in zip(cells, widths, aligns)) + " |"

    rule = "| " + " | ".join(("-" * (w - 1) + ":") if a == ">" else "-" * w
                             for w, a in zip(widths, aligns)) + " |"
    return "\n".join([line(header), rule, *(line(b) for b in body)])


# -- JSON ------------------------------------------------------------------------------------------
def to_jsonable(obj):
    """Plain JSON values: NumPy scalars/arrays to Python, NaN/inf to None, tuples to lists."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if hasattr(obj, "tolist"):          # NumPy (or CuPy) scalars and arrays
        return to_jsonable(obj.tolist())
    return str(obj)


def write_json(path: str, payload: dict) -> None:
    """Strict JSON (no NaN): what a JSON parser anywhere accepts."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    text = json.dumps(to_jsonable(payload), indent=2, allow_nan=False)
    with open(path, "w") as f:
        f.write(text + "\n")


# -- the environment -------------------------------------------------------------------------------
def _version(module_name: str):
    try:
        mod = __import__(module_name)
    except Exception:
        return None
    return getattr(mod, "__version__", "unknown")


def _dist_version(name: str):
    try:
        from importlib.metadata import version
        return version(name)
    except Exception:
        return None


def blas_info() -> list:
    """The BLAS libraries loaded in this process (threadpoolctl): library, version, kernel
    (OpenBLAS's ``architecture``), threading layer and current thread count. [] without
    threadpoolctl."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    return [{k: i.get(k) for k in ("internal_api", "version", "architecture", "threading_layer",
                                   "num_threads", "prefix")}
            for i in threadpool_info() if i.get("user_api") == "blas"]


def blas_label(info=None) -> str:
    """One line for a table note: 'openblas 0.3.31 (SkylakeX kernel, pthreads, 1 thread)'."""
    info = blas_info() if info is None else info
    if not info:
        return "BLAS unknown (threadpoolctl not installed)"
    return "; ".join(f"{i['internal_api']} {i['version']} ({i.get('architecture') or '?'} kernel, "
                     f"{i.get('threading_layer') or '?'}, {i['num_threads']} thread(s))" for i in info)


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit():
    """HEAD of the checkout gpugrad runs from; GPUGRAD_COMMIT where the tree travelled without .git."""
    if os.environ.get("GPUGRAD_COMMIT"):
        return os.environ["GPUGRAD_COMMIT"]
    try:
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=5)
        return out.stdout.strip() or None
    except Exception:
        return None


def gpu_meta() -> dict:
    """Name, compute capability, SMs, L2, driver and CUDA versions of the current GPU (CuPy)."""
    import cupy
    dev = cupy.cuda.Device()
    props = cupy.cuda.runtime.getDeviceProperties(dev.id)
    name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
    meta = {"device_name": name, "compute_capability": dev.compute_capability,
            "sm_count": dev.attributes.get("MultiProcessorCount"),
            "l2_bytes": dev.attributes.get("L2CacheSize"),
            "memory_bytes": int(props.get("totalGlobalMem", 0)) or None,
            "cuda_driver_api_version": cupy.cuda.runtime.driverGetVersion(),
            "cuda_runtime_version": cupy.cuda.runtime.runtimeGetVersion()}
    try:
        from cupy_backends.cuda.libs import cublas
        meta["cublas_version"] = cublas.getVersion(cupy.cuda.device.get_cublas_handle())
    except Exception:  # an informational field: never fail a benchmark over it
        meta["cublas_version"] = None
    torch = sys.modules.get("torch")        # only when the benchmark already uses PyTorch
    if torch is not None:
        meta["torch_cuda_version"] = getattr(torch.version, "cuda", None)
    try:  # the driver's own version string (e.g. 580.65.06) is only known to nvidia-smi / NVML
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader",
                              f"--id={dev.id}"], capture_output=True, text=True, timeout=10)
        meta["driver_version"] = out.stdout.strip() or None
    except Exception:
        meta["driver_version"] = None
    return meta


def collect_meta(device_type: str, argv=None) -> dict:
    """Everything needed to interpret the figures: device, driver, library versions, date, command."""
    argv = sys.argv if argv is None else argv
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).astimezone().isoformat(timespec="seconds"),
        "command": shlex.join(["python", "-m", "gpugrad.commands.bench", *argv[1:]])
        if argv and argv[0].endswith(("__main__.py", "-m")) else shlex.join(argv),
        "device_type": device_type,
        "host": platform.node(),
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "gpugrad_commit": _git_commit(),
        "versions": {m: _version(m) for m in ("gpugrad", "numpy", "cupy", "numba", "numba_cuda", "torch",
                                              "matplotlib")},
        "env": {k: os.environ[k] for k in ("GPUGRAD_KERNELS", "NUMBA_ENABLE_CUDASIM", "CUPY_TF32",
                                           "NVIDIA_TF32_OVERRIDE", "OMP_NUM_THREADS",
                                           "OPENBLAS_NUM_THREADS", "OPENBLAS_THREAD_TIMEOUT",
                                           "MKL_NUM_THREADS", "XLA_FLAGS",
                                           "CUDA_VISIBLE_DEVICES") if k in os.environ},
        "blas": blas_info(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }
    meta["versions"]["jax"] = _dist_version("jax")      # not imported here: XLA reads its flags at import
    if device_type == "cuda":
        meta.update(gpu_meta())
    else:
        meta["device_name"] = meta["cpu"]
        meta["driver_version"] = None
    return meta


# -- plots -----------------------------------------------------------------------------------------
def _pyplot():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        return plt
    except Exception:
        return None


def plot_mlp(rows: list[dict], path: str, title: str) -> bool:
    """Step time per model size, one line per implementation (log scale). False without matplotlib."""
    plt = _pyplot()
    if plt is None:
        return False
    models = list(dict.fromkeys(r["model"] for r in rows))
    impls = list(dict.fromkeys(r["impl"] for r in rows))
    ref = next((r["impl"] for r in rows if r.get("loss_check") == "reference"), None)
    fig, (ax, rax) = plt.subplots(1, 2, figsize=(12, 4.8), gridspec_kw={"width_ratios": [3, 2]})
    for k, impl in enumerate(impls):
        color = f"C{k}"
        xs, ys, ratios = [], [], []
        for i, m in enumerate(models):
            r = next((r for r in rows if r["model"] == m and r["impl"] == impl), None)
            if r is not None and r.get("step_ms") is not None:
                xs.append(i)
                ys.append(r["step_ms"])
                ratios.append(r.get("time_vs_ref"))
        style = "--" if impl.startswith("torch") else "-"
        ax.plot(xs, ys, style, marker="o", color=color, label=impl)
        if ref and impl != ref:
            pts = [(x, v) for x, v in zip(xs, ratios) if v is not None]
            rax.plot([x for x, _ in pts], [v for _, v in pts], style, marker="o", color=color, label=impl)
    labels = [_model_label(rows, m) for m in models]
    for a in (ax, rax):
        a.set_xticks(range(len(models)))
        a.set_xticklabels(labels, fontsize=7)
        a.grid(True, which="both", alpha=0.3)
    ax.set_yscale("log")
    ax.set_ylabel("training step, median (ms)")
    ax.legend(fontsize=8)
    rax.axhline(1.0, color="k", lw=1, ls="--")
    rax.set_ylabel(f"step time / {ref} (lower is faster)" if ref else "step time ratio")
    if rax.lines[1:]:
        rax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def _model_label(rows, model):
    r = next(r for r in rows if r["model"] == model)
    return f"{model}\n{r['layers']}\nbatch {r['batch']}"


def plot_roofline(rows: list[dict], ceilings: dict, path: str, title: str) -> bool:
    """Roofline: arithmetic intensity (FLOP/byte) vs achieved GFLOP/s of every kernel row, under the
    measured bandwidth ceiling (copy GB/s x intensity) and compute ceilings (cuBLAS peak, FP32 and TF32)."""
    plt = _pyplot()
    if plt is None:
        return False
    bw = ceilings.get("copy_gbps")
    fig, ax = plt.subplots(figsize=(8, 5.5))
    pts = [r for r in rows if r.get("intensity") and r.get("gflops")]
    if pts:
        lo = min(r["intensity"] for r in pts) / 2
        hi = max(r["intensity"] for r in pts) * 2
    else:
        lo, hi = 0.05, 2000.0
    for key, label, style in (("cublas_fp32_tflops", "cuBLAS FP32 peak (measured)", "-"),
                              ("cublas_tf32_tflops", "cuBLAS TF32 peak (measured)", ":")):
        peak = ceilings.get(key)
        if peak and bw:
            ridge = peak * 1e3 / bw
            ax.plot([lo, ridge, max(hi, ridge * 2)], [bw * lo, peak * 1e3, peak * 1e3], style, color="k",
                    lw=1, label=f"{label}: {peak:.1f} TFLOP/s; ridge {ridge:.0f} FLOP/B")
    if bw:
        ax.plot([], [], " ", label=f"copy bandwidth (measured): {bw:.0f} GB/s")
    markers = {"matmul": "o", "relu": "v", "relu_vjp": "^", "bias_sigmoid": "s", "bias_sigmoid_vjp": "D"}
    impls = list(dict.fromkeys(r["impl"] for r in pts))
    colors = {impl: f"C{i}" for i, impl in enumerate(impls)}
    for kernel, impl in dict.fromkeys((r["kernel"], r["impl"]) for r in pts):
        sel = [r for r in pts if r["kernel"] == kernel and r["impl"] == impl]
        ours = impl == "gpugrad"
        ax.scatter([r["intensity"] for r in sel], [r["gflops"] for r in sel], marker=markers.get(kernel, "o"),
                   s=30 if ours else 22, facecolors=colors[impl] if ours else "none",
                   edgecolors=colors[impl], label=f"{kernel} ({impl})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOP / byte of DRAM traffic, minimum)")
    ax.set_ylabel("achieved GFLOP/s")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def is_png(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(8) == PNG_SIGNATURE
    except OSError:
        return False
