"""``gpugrad bench mlp``: one full training step of an MLP (forward, softmax cross-entropy, backward,
optimizer update), gpugrad against PyTorch eager on the same device, from the same initial weights.

For every model size:

* The initial parameters are drawn once (gpugrad's ``MLP`` initialisation, on the CPU, seeded) and
  copied into every contender, so all of them start from the same numbers; the batch (random
  inputs, random labels) is fixed and stays on the device for the whole run (no data loading).
* Each contender first runs ``check_steps`` steps, recording the loss of each. gpugrad's losses must
  match PyTorch's to ``rtol`` (max over the steps of |l_gg - l_torch| / |l_torch|); a row that
  misses fails, and the command exits 1. These steps are also the warm-up (Numba compiles, pools
  fill). Peak GPU memory is recorded during them (allocation tracking costs a Python call per
  allocation, so it is switched off again before timing).
* Then the step is timed on the host clock, synchronizing the device before and after each step,
  and the median is reported. The number of timed steps adapts to a time budget per row.

On a GPU gpugrad runs once per kernel policy ("numba": the hand-written kernels; "cublas": cuBLAS
for matmul, CuPy for ReLU and bias-sigmoid), and once more per policy as a captured CUDA graph when
``gg.cuda.graphed`` exists. On the CPU the NumPy backend runs against PyTorch CPU with the same
number of threads for both (NumPy's BLAS through threadpoolctl, ``torch.set_num_threads``).
"""
from __future__ import annotations

import contextlib
import dataclasses
import gc
import os

import numpy as np

from .timing import adaptive_repeats, interleaved_host, paired_ratios, summarize, time_host
import gpugrad as gg
import gpugrad.nn.functional as F

# name: (layer sizes [in, hidden..., out], batch)
MODELS = {
    "tiny": ((32, 16, 16, 4), 8),  # for tests: seconds on any machine
    "small": ((784, 256, 256, 10), 128),
    "medium": ((784, 1024, 1024, 10), 512),
    "large": ((1024, 4096, 4096, 4096, 4096, 10), 4096),
    "xlarge": ((1024, 8192, 8192, 8192, 8192, 10), 8192),
}
QUICK_MODELS = ("small", "medium")
DEFAULT_MODELS = {"cuda": ("small", "medium", "large", "xlarge"),
                  # xlarge is ~10 TFLOP per step: minutes per step on a laptop-class CPU
                  "cpu": ("small", "medium", "large"),
                  "cudasim": ("tiny",)}

# What each policy name means for the three kernel ops.
POLICIES = {
    "numba": dict(matmul="numba", relu="numba", bias_sigmoid="numba"),
    "cublas": dict(matmul="cublas", relu="cupy", bias_sigmoid="cupy"),
    "cublas-tf32": dict(matmul="cublas-tf32", relu="cupy", bias_sigmoid="cupy"),
}

OPTIMIZERS = {"sgd": "SGD, lr 1e-3, momentum 0.9", "adam": "Adam, lr 1e-3, betas (0.9, 0.999), eps 1e-8"}


@dataclasses.dataclass
class MlpBenchConfig:
    device: str = "cpu"                 # "cpu", "cuda" or "cudasim"
    models: tuple = QUICK_MODELS
    optimizer: str = "sgd"
    check_steps: int = 5
    rtol: float = 1e-3
    warmup: int = 1                     # extra untimed steps after the checked ones
    max_repeats: int = 30
    min_repeats: int = 3
    budget_s: float = 5.0               # timing budget per row
    seed: int = 0
    threads: int | None = None          # CPU: BLAS and torch threads (default: os.cpu_count())
    policies: tuple = ("numba", "cublas")
    graphed: str = "auto"               # "auto" (on a GPU, when gg.cuda.graphed exists), "on", "off"
    torch: bool = True
    jax: bool = True                    # cpu: JAX jit as a contender when installed
    extra: bool = True                  # cpu: hand-written NumPy and the GEMMs-only floor as contenders
    peak_memory: bool = True            # cpu: tracemalloc peak of one step of the NumPy-based contenders


def layers_label(sizes) -> str:
    return "-".join(str(s) for s in sizes)


def step_flops(sizes, batch) -> float:
    """Nominal FLOPs of one step: 2*B*in*out per layer forward, twice that backward (dW and dX),
    less the unneeded dX of the first layer. Elementwise work and the update are not counted."""
    mm = [i * o for i, o in zip(sizes[:-1], sizes[1:])]
    return 2.0 * batch * (3 * sum(mm) - mm[0])


def initial_state(sizes, seed):
    """gpugrad's MLP initialisation, drawn on the CPU: (names, float32 arrays), weight (out, in)."""
    gg.manual_seed(seed)
    model = gg.nn.MLP(list(sizes), activation="relu", device="cpu")
    named = list(model.named_parameters())
    return [n for n, _ in named], [np.array(p.numpy(), dtype=np.float32, copy=True) for _, p in named]


def batch_data(sizes, batch, seed):
    rng = np.random.default_rng(seed + 1)
    x = rng.standard_normal((batch, sizes[0]), dtype=np.float32)
    y = rng.integers(0, sizes[-1], batch).astype(np.int64)
    return x, y


# -- contenders ------------------------------------------------------------------------------------
class Contender:
    """Common shape: ``step()`` runs one training step and returns the loss (a device scalar),
    ``loss_value(l)`` reads it on the host, ``sync()`` waits for the device, ``peak_bytes()``."""

    impl: str
    notes: list

    def close(self):
        pass


class GpugradContender(Contender):
    def __init__(self, cfg: MlpBenchConfig, sizes, names, init, x, y, policy, graphed):
        self.gg = gg
        self.notes = []
        self.device = cfg.device
        self.on_gpu = cfg.device == "cuda"
        self.policy = policy
        self.graphed = graphed
        base = {"cpu": "gpugrad numpy"}.get(cfg.device, f"gpugrad {policy}")
        self.impl = base + (" +graph" if graphed else "")
        self._policy_ctx = gg.use_kernels(**POLICIES[policy]) if policy and cfg.device != "cpu" \
            else contextlib.nullcontext()
        self._policy_ctx.__enter__()
        try:
            self._setup(cfg, sizes, names, init, x, y, F)
        except BaseException:
            self.close()
            raise

    def _setup(self, cfg, sizes, names, init, x, y, F):
        gg, graphed = self.gg, self.graphed
        if self.on_gpu:
            _free_gpu_memory()
            gg.cuda.reset_peak_memory_stats()   # starts tracking; counts params, state, activations
        model = gg.nn.MLP(list(sizes), activation="relu", device=cfg.device)
        model.load_state_dict(dict(zip(names, init)))
        opt = (gg.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9) if cfg.optimizer == "sgd"
               else gg.optim.Adam(model.parameters(), lr=1e-3))
        self.x = gg.tensor(x, device=cfg.device)
        self.y = gg.tensor(y, device=cfg.device)
        self.model, self.opt = model, opt

        def step(xb, yb):
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            return loss

        if graphed:
            self._step = gg.cuda.graphed(step, self.x, self.y)
            if cfg.device == "cpu":
                self.notes.append("graphed on cpu: calls 2 and 3 capture the step's NumPy calls, later "
                                  "calls replay them into static buffers (gpugrad/cpu_graph.py)")
            elif not self.on_gpu:
                self.notes.append(f"graphed on {cfg.device}: gg.cuda.graphed runs the step eagerly here")
        else:
            self._step = step

    def step(self):
        return self._step(self.x, self.y)

    def loss_value(self, loss) -> float:
        # (called after each checked step only) a CPU capture that fell back says so in the row
        reason = getattr(self._step, "eager_reason", None)
        if reason and not any(n.startswith("graphed step fell back") for n in self.notes):
            self.notes.append(f"graphed step fell back to eager steps: {reason}")
        return float(loss.item())

    def sync(self):
        if self.on_gpu:
            self.gg.cuda.synchronize()

    def peak_bytes(self):
        # memory_stats counts the default pool and every CUDA graph's private pool
        if not self.on_gpu:
            return None
        return self.gg.cuda.memory_stats()["peak_bytes"]

    def stop_memory_tracking(self):
        if self.on_gpu:
            self.gg.cuda.track_peak_memory(False)

    def close(self):
        if self._policy_ctx is None:
            return
        self.stop_memory_tracking()
        self._policy_ctx.__exit__(None, None, None)
        self._policy_ctx = None
        self.model = self.opt = self._step = self.x = self.y = None
        gc.collect()
        if self.on_gpu:
            _free_gpu_memory()


class TorchContender(Contender):
    def __init__(self, cfg: MlpBenchConfig, sizes, names, init, x, y, torch):
        self.torch = torch
        self.notes = []
        self.on_gpu = cfg.device == "cuda"
        dev = torch.device("cuda" if self.on_gpu else "cpu")
        self.impl = "torch eager"
        if self.on_gpu:
            torch.backends.cuda.matmul.allow_tf32 = False   # like for like with float32 cuBLAS
            torch.backends.cudnn.allow_tf32 = False
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        layers = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(torch.nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(torch.nn.ReLU())
        model = torch.nn.Sequential(*layers).to(dev)
        own = dict(model.named_parameters())
        # gpugrad's MLP names its Linear layers by position in the Sequential, as torch does.
        if list(own) != list(names):
            raise RuntimeError(f"parameter names differ: torch {list(own)} vs gpugrad {list(names)}")
        with torch.no_grad():
            for n, arr in zip(names, init):
                own[n].copy_(torch.from_numpy(arr))
        opt = (torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9) if cfg.optimizer == "sgd"
               else torch.optim.Adam(model.parameters(), lr=1e-3))
        self.x = torch.from_numpy(x).to(dev)
        self.y = torch.from_numpy(y).to(dev)
        self.model, self.opt = model, opt
        F = torch.nn.functional

        def step():
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(self.x), self.y)
            loss.backward()
            opt.step()
            return loss

        self.step = step

    def loss_value(self, loss) -> float:
        return float(loss.item())

    def sync(self):
        if self.on_gpu:
            self.torch.cuda.synchronize()

    def peak_bytes(self):
        return int(self.torch.cuda.max_memory_allocated()) if self.on_gpu else None

    def stop_memory_tracking(self):
        pass

    def close(self):
        self.model = self.opt = self.step = self.x = self.y = None
        gc.collect()
        if self.on_gpu:
            self.torch.cuda.empty_cache()


def _free_gpu_memory():
    import cupy
    gc.collect()
    cupy.cuda.get_current_stream().synchronize()
    cupy.get_default_memory_pool().free_all_blocks()


# -- running ---------------------------------------------------------------------------------------
def measure(contender: Contender, cfg: MlpBenchConfig) -> dict:
    """Checked steps (losses, peak memory), then timed steps: the figures of one row."""
    losses = [contender.loss_value(contender.step()) for _ in range(cfg.check_steps)]
    contender.sync()
    peak = contender.peak_bytes()
    contender.stop_memory_tracking()
    # Estimate a step from one more, to size the timed run to the budget.
    est = time_host(contender.step, warmup=cfg.warmup, repeats=1, sync=contender.sync)[0]
    repeats = adaptive_repeats(est, cfg.budget_s, min(cfg.min_repeats, cfg.max_repeats), cfg.max_repeats)
    samples = time_host(contender.step, warmup=0, repeats=repeats, sync=contender.sync)
    return {"losses": losses, "peak_bytes": peak, "samples_s": samples, "repeats": repeats}


def _variants(cfg: MlpBenchConfig):
    """(policy, graphed) pairs for gpugrad on this device, and notes on what was left out."""
    notes = []
    policies = tuple(cfg.policies) if cfg.device != "cpu" else (None,)
    has_graphed = hasattr(gg, "cuda") and hasattr(gg.cuda, "graphed")
    if cfg.graphed == "on" or (cfg.graphed == "auto" and cfg.device == "cuda"):
        graphed = has_graphed
        if not has_graphed:
            notes.append("no graphed rows: this gpugrad has no gg.cuda.graphed")
    else:
        graphed = False
    out = [(p, False) for p in policies]
    if graphed:
        out += [(p, True) for p in policies]
    return out, notes


def _torch_or_none(cfg: MlpBenchConfig, notes: list):
    if not cfg.torch:
        notes.append("PyTorch left out (--no-torch): gpugrad rows only; losses checked against the "
                     "first gpugrad row")
        return None
    try:
        import torch
    except ImportError:
        notes.append("PyTorch is not installed: gpugrad rows only (pip install torch to compare); "
                     "losses checked against the first gpugrad row")
        return None
    if cfg.device == "cuda" and not torch.cuda.is_available():
        notes.append(f"PyTorch {torch.__version__} has no CUDA here: gpugrad rows only; losses checked "
                     f"against the first gpugrad row")
        return None
    return torch


def _set_threads(cfg: MlpBenchConfig, torch, notes: list):
    """Same thread count for NumPy's BLAS and PyTorch's intra-op pool (CPU runs; default 1)."""
    threads = cfg.threads or 1
    limiter = None
    try:
        from threadpoolctl import threadpool_limits
        limiter = threadpool_limits(limits=threads, user_api="blas")
        from .report import blas_label
        blas = f"NumPy BLAS {threads} thread(s) (threadpoolctl): {blas_label()}"
        if threads > 1:
            blas += (f"; OPENBLAS_THREAD_TIMEOUT={os.environ.get('OPENBLAS_THREAD_TIMEOUT', 'unset')} "
                     f"(idle OpenBLAS workers spin for 2^N cycles after a call and slow the next "
                     f"contender; 4 stops that)")
    except ImportError:
        blas = "NumPy BLAS threads not set (threadpoolctl missing)"
    if torch is not None:
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        limiter = _Restore(limiter, lambda: torch.set_num_threads(previous))
        blas += f", torch.set_num_threads({threads})"
    notes.append(f"threads: {blas}")
    return threads, limiter


class _Restore:
    """Undo the thread settings when the run ends (threadpoolctl's limiter, then torch's count)."""

    def __init__(self, limiter, undo):
        self.limiter, self.undo = limiter, undo

    def restore_original_limits(self):
        if self.limiter is not None:
            self.limiter.restore_original_limits()
        self.undo()


def run_mlp_bench(cfg: MlpBenchConfig, log, rows=None) -> dict:
    """Run every model and contender; return {"config", "rows", "notes", "failed"}. Each model's rows
    are appended to ``rows`` (a list the caller may pass) once measured, so an interrupted run
    keeps them."""
    notes = [f"optimizer: {OPTIMIZERS[cfg.optimizer]}, float32, cross-entropy (mean) on a fixed random batch",
             f"loss check: {cfg.check_steps} steps from the same initial weights; a row fails when "
             f"max_step |loss - reference| / |reference| > {cfg.rtol:g}",
             "timing: host clock per step, device synchronized before and after each step; median of "
             "the timed steps, after the checked steps and warm-up"]
    torch = _torch_or_none(cfg, notes)
    threads, limiter = (None, None)
    blas = None
    if cfg.device in ("cpu", "cudasim"):
        threads, limiter = _set_threads(cfg, torch, notes)
        from .report import blas_info
        blas = blas_info()        # as set for the run (threadpoolctl), not as the process started
    if cfg.device == "cuda":
        notes.append("policies: numba = hand-written matmul/ReLU/bias-sigmoid kernels; cublas = "
                     "cuBLAS FP32 (TF32 off) matmul with CuPy ReLU/bias-sigmoid; torch TF32 off too")
        notes.append("peak memory: gpugrad gg.cuda.memory_stats()['peak_bytes'] (CuPy pool bytes in use), "
                     "torch torch.cuda.max_memory_allocated(); both from the model's creation on")
    variants, vnotes = _variants(cfg)
    notes += vnotes
    rows = [] if rows is None else rows
    jax = None
    if cfg.device == "cpu" and cfg.jax:
        jax = _jax_or_none(threads, notes)
    if cfg.device == "cpu":
        notes.append("method: all contenders of a model live at once and are timed in interleaved "
                     "rounds, the order rotating each round (round r starts with contender r); "
                     "a sample is the mean of `inner` back-to-back steps; 'vs X' columns are the "
                     "median [IQR] of the per-round ratios (paired), not ratios of medians")
    try:
        for name in cfg.models:
            if cfg.device == "cpu":
                rows += _run_cpu_model(cfg, name, torch, jax, variants, log)
                continue
            sizes, batch, init, x, y, flops, n_params, contenders = _model_setup(cfg, name, torch,
                                                                                variants, log)
            model_rows = []
            for framework, make in contenders:
                row = {"model": name, "layers": layers_label(sizes), "batch": batch, "params": n_params,
                       "step_gflop": flops / 1e9, "framework": framework, "device": cfg.device}
                c = None
                try:
                    c = make()
                    row.update(impl=c.impl, policy=getattr(c, "policy", None),
                               graphed=getattr(c, "graphed", False))
                    m = measure(c, cfg)
                    stats = summarize(m["samples_s"])
                    row.update(step_ms=stats["median"] * 1e3,
                               step_ms_stats={k: (v * 1e3 if k != "n" else v) for k, v in stats.items()},
                               samples_ms=[s * 1e3 for s in m["samples_s"]], repeats=m["repeats"],
                               samples_per_s=batch / stats["median"],
                               tflops=flops / stats["median"] / 1e12,
                               peak_mib=None if m["peak_bytes"] is None else m["peak_bytes"] / 2**20,
                               losses=m["losses"], notes=list(c.notes), status="ok")
                except Exception as exc:  # one failing row (e.g. out of memory) must not end the run
                    row.setdefault("impl", framework)
                    row.update(status="error", error=f"{type(exc).__name__}: {exc}")
                    log(f"  {row['impl']}: ERROR {row['error']}")
                finally:
                    if c is not None:
                        c.close()
                model_rows.append(row)
                if row["status"] == "ok":
                    log(f"  {row['impl']:<22s} {row['step_ms']:10.3f} ms/step  (median of {row['repeats']}; "
                        f"loss {row['losses'][0]:.6f} -> {row['losses'][-1]:.6f})")
            _check_losses(model_rows, cfg.rtol)
            rows += model_rows
    finally:
        if limiter is not None:
            limiter.restore_original_limits()
    failed = [r for r in rows if r["status"] != "ok"]
    config = dataclasses.asdict(cfg)
    config.update(threads=threads, blas=blas, models={n: {"sizes": list(MODELS[n][0]), "batch": MODELS[n][1]}
                                           for n in cfg.models})
    return {"config": config, "rows": rows, "notes": notes, "failed": len(failed)}


def _jax_or_none(threads, notes):
    """JAX for the CPU rows, pinned to ``threads`` where XLA allows (flags read at its import)."""
    import sys
    if "jax" not in sys.modules and threads == 1:
        flags = os.environ.get("XLA_FLAGS", "")
        if "intra_op_parallelism_threads" not in flags:
            os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false "
                                       "intra_op_parallelism_threads=1").strip()
    from .cpu_contenders import jax_or_none
    jax = jax_or_none()
    if jax is None:
        notes.append("JAX is not installed: no 'jax jit' rows (pip install jax jaxlib to compare)")
    else:
        notes.append(f"JAX {jax.__version__} jit on the CPU, XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}")
    return jax


def _model_setup(cfg: MlpBenchConfig, name, torch, variants, log):
    """A model's shared start, announced: (sizes, batch, initial arrays, x, y, step FLOPs, parameter
    count, [(framework, maker)] for PyTorch (when present) and each gpugrad variant)."""
    sizes, batch = MODELS[name]
    names, init = initial_state(sizes, cfg.seed)
    x, y = batch_data(sizes, batch, cfg.seed)
    flops = step_flops(sizes, batch)
    n_params = int(sum(a.size for a in init))
    log(f"model {name}: {layers_label(sizes)}, batch {batch}, {n_params / 1e6:.2f} M params, "
        f"{flops / 1e9:.2f} GFLOP/step")
    makers = []
    if torch is not None:
        makers.append(("torch", lambda: TorchContender(cfg, sizes, names, init, x, y, torch)))
    for policy, graphed in variants:
        makers.append(("gpugrad", lambda p=policy, g=graphed: GpugradContender(
            cfg, sizes, names, init, x, y, p, g)))
    return sizes, batch, init, x, y, flops, n_params, makers


def _run_cpu_model(cfg: MlpBenchConfig, name, torch, jax, variants, log) -> list:
    """One model on the CPU by the interleaved method: every contender built from the same initial
    weights and batch, losses checked against the reference before any timing, then timed in
    rotating rounds; paired ratios against every baseline; tracemalloc peak of one step."""
    from .cpu_contenders import GemmFloorContender, JaxContender, NumpyContender, TracedPeak
    sizes, batch, init, x, y, flops, n_params, makers = _model_setup(cfg, name, torch, variants, log)
    if cfg.extra:
        makers.append(("numpy", lambda: NumpyContender(cfg.optimizer, init, x, y)))
    if jax is not None:
        makers.append(("jax", lambda: JaxContender(jax, cfg.optimizer, init, x, y)))
    if cfg.extra:
        makers.append(("floor", lambda: GemmFloorContender(init, x)))
    base = {"model": name, "layers": layers_label(sizes), "batch": batch, "params": n_params,
            "step_gflop": flops / 1e9, "device": "cpu"}
    rows, live = [], []
    try:
        for framework, make in makers:
            row = dict(base, framework=framework)
            try:
                # NumPy-based contenders are built and checked under tracemalloc: their peak counts
                # everything they hold, parameters and optimizer state included
                with TracedPeak(cfg.peak_memory and framework in ("gpugrad", "numpy")) as traced:
                    c = make()
                    row.update(impl=c.impl, policy=getattr(c, "policy", None),
                               graphed=getattr(c, "graphed", False), notes=list(c.notes))
                    row["losses"] = [c.loss_value(c.step()) for _ in range(cfg.check_steps)]
                    row["notes"] = list(c.notes)       # with what the checked steps added
                    traced.reset()
                    c.step()                      # the step whose peak is measured (untimed)
                if framework == "floor":
                    row["losses"] = None
                row["peak_mib"] = None if traced.peak_bytes is None else traced.peak_bytes / 2**20
                row["status"] = "ok"
                live.append((row, c))
            except Exception as exc:  # one failing contender must not end the run
                row.setdefault("impl", framework)
                row.update(status="error", error=f"{type(exc).__name__}: {exc}")
                log(f"  {row['impl']}: ERROR {row['error']}")
            rows.append(row)
        _check_losses([r for r in rows if r.get("losses") is not None or r["status"] != "ok"], cfg.rtol)
        timed = [(r, c) for r, c in live if r["status"] == "ok"]
        if timed:
            est = {r["impl"]: time_host(c.step, warmup=cfg.warmup, repeats=1)[0] for r, c in timed}
            # a sample is >= ~20 ms of steps (timer and scheduler noise), rounds fill the budget
            inner = max(1, min(50, int(0.02 / max(1e-6, max(est.values())))))
            per_round = sum(est.values()) * inner
            rounds = adaptive_repeats(per_round, cfg.budget_s * len(timed),
                                      min(cfg.min_repeats, cfg.max_repeats), cfg.max_repeats)
            samples = interleaved_host({r["impl"]: c.step for r, c in timed}, rounds, inner=inner, warmup=0)
            for r, _ in timed:
                st = summarize(samples[r["impl"]])
                r.update(step_ms=st["median"] * 1e3,
                         step_ms_stats={k: (v * 1e3 if k != "n" else v) for k, v in st.items()},
                         samples_ms=[v * 1e3 for v in samples[r["impl"]]], repeats=rounds, inner=inner,
                         samples_per_s=batch / st["median"], tflops=flops / st["median"] / 1e12,
                         ratios={o["impl"]: paired_ratios(samples[r["impl"]], samples[o["impl"]])
                                 for o, _ in timed if o is not r})
                ref = r.get("loss_reference")
                if ref in r["ratios"]:
                    r["time_vs_ref"] = r["ratios"][ref]["median"]
                elif ref == r["impl"]:
                    r["time_vs_ref"] = 1.0
                log(f"  {r['impl']:<22s} {r['step_ms']:10.3f} ms/step  (median of {rounds} rounds x {inner}; "
                    f"IQR {r['step_ms_stats']['iqr']:.3f})")
    finally:
        for _, c in live:
            c.close()
    return rows


def _check_losses(rows: list, rtol: float) -> None:
    """Compare each row's losses with the reference (torch, else the first gpugrad row); time ratios."""
    ok = [r for r in rows if r["status"] == "ok"]
    if not ok:
        return
    ref = next((r for r in ok if r["framework"] == "torch"),
               next((r for r in ok if r["framework"] == "numpy"), ok[0]))
    for r in ok:
        r["loss_reference"] = ref["impl"]
        if r.get("step_ms") is not None and ref.get("step_ms") is not None:
            r["time_vs_ref"] = r["step_ms"] / ref["step_ms"]
        if r is ref:
            r["loss_max_rel_diff"] = 0.0
            r["loss_check"] = "reference"
            continue
        a, b = np.asarray(r["losses"], np.float64), np.asarray(ref["losses"], np.float64)
        if a.shape != b.shape or not np.all(np.isfinite(a)):
            rel = float("inf")
        else:
            rel = float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-30)))
        r["loss_max_rel_diff"] = rel
        r["loss_check"] = "ok" if rel <= rtol else "FAIL"
        if rel > rtol:
            r["status"] = "loss mismatch"


def _ratio_cell(impl_prefix):
    """'1.02x [0.03]': the paired ratio against the row whose impl starts with ``impl_prefix``."""
    def cell(r):
        for other, st in (r.get("ratios") or {}).items():
            if other.startswith(impl_prefix):
                return f"{st['median']:.2f}x [{st['iqr']:.2f}]"
        return None
    return cell


def _iqr_cell(r):
    st = r.get("step_ms_stats")
    return None if not st else f"{st['iqr']:.3f}"


CPU_MLP_COLUMNS = [
    ("model", "model", None, "<"),
    ("layers", "layers", None, "<"),
    ("batch", "batch", None, ">"),
    ("impl", "impl", None, "<"),
    ("step ms (median)", "step_ms", ".3f", ">"),
    ("IQR ms", _iqr_cell, None, ">"),
    ("vs torch [IQR]", _ratio_cell("torch"), None, ">"),
    ("vs hand numpy", _ratio_cell("hand numpy"), None, ">"),
    ("vs GEMMs only", _ratio_cell("GEMMs only"), None, ">"),
    ("vs jax jit", _ratio_cell("jax"), None, ">"),
    ("peak MiB", "peak_mib", ".1f", ">"),
    ("loss rel diff", lambda r: None if r.get("loss_max_rel_diff") is None
     else ("ref" if r.get("loss_check") == "reference" else f"{r['loss_max_rel_diff']:.1e}"), None, ">"),
    ("check", lambda r: (r.get("loss_check") or "timed only") if r["status"] in ("ok", "loss mismatch")
     else r["status"], None, "<"),
]

MLP_COLUMNS = [
    ("model", "model", None, "<"),
    ("layers", "layers", None, "<"),
    ("batch", "batch", None, ">"),
    ("impl", "impl", None, "<"),
    ("step ms (median)", "step_ms", ".3f", ">"),
    ("samples/s", lambda r: None if r.get("samples_per_s") is None else f"{r['samples_per_s']:,.0f}", None, ">"),
    ("TFLOP/s", "tflops", ".3f", ">"),
    ("time / ref", lambda r: None if r.get("time_vs_ref") is None else f"{r['time_vs_ref']:.2f}x", None, ">"),
    ("peak MiB", "peak_mib", ".1f", ">"),
    ("loss rel diff", lambda r: None if r.get("loss_max_rel_diff") is None
     else ("ref" if r.get("loss_check") == "reference" else f"{r['loss_max_rel_diff']:.1e}"), None, ">"),
    ("check", lambda r: r.get("loss_check") if r["status"] in ("ok", "loss mismatch") else r["status"], None, "<"),
]
