"""Engine overhead on the CPU: gpugrad against hand-written NumPy and PyTorch CPU, side by side.

Two workloads, each run forward + backward by every contender in one process:

* ``chain``: 10,000 tiny ops (alternately ``x * 1.0001`` and ``x + 0.0001``) on a 1-element and a
  4x4 float32 tensor, then backward: the per-op cost of recording and replaying the graph.
* ``mlp``: one training step (forward, softmax cross-entropy, backward; no optimizer update) of
  a 784-256-256-10 ReLU MLP, batch 128, float32.

Contenders: gpugrad; the same math written by hand in NumPy (forward and backward, no graph);
PyTorch CPU when it is installed (``pip install torch``). Every repeat runs all contenders in a
rotating order, so drift (turbo, other processes) hits all of them alike; the table reports the
median of the repeats and the ratios of medians. BLAS threads (NumPy's OpenBLAS/MKL and
PyTorch's intra-op pool) are set to the same ``--threads`` before anything is imported.

Before timing, the MLP gradients of the three contenders are asserted equal (same weights,
same batch), so the comparison is of the same computation.

Targets (from the issue): MLP step within 1.15x of hand-written NumPy; per-op chain overhead no
worse than PyTorch CPU's.

    python benchmarks/bench_engine.py                      # both workloads, table on stdout
    python benchmarks/bench_engine.py --json out.json      # also write every sample as JSON
    python benchmarks/bench_engine.py --profile mlp        # cProfile of gpugrad's MLP step
"""
from __future__ import annotations

import argparse
import os
import sys


def _parse_args(argv=None):
    p = argparse.ArgumentParser(description="gpugrad engine overhead vs NumPy and PyTorch (CPU)")
    p.add_argument("--threads", type=int, default=1,
                   help="BLAS / intra-op threads for NumPy and PyTorch alike (default 1)")
    p.add_argument("--repeats", type=int, default=15, help="timed repeats per contender (median)")
    p.add_argument("--chain-ops", type=int, default=10_000, help="ops in the tiny-op chain")
    p.add_argument("--mlp-steps", type=int, default=5, help="MLP steps per timed repeat")
    p.add_argument("--only", choices=("chain", "mlp"), help="run one workload only")
    p.add_argument("--no-torch", action="store_true", help="leave PyTorch out even if installed")
    p.add_argument("--json", metavar="PATH", help="write config, samples, medians and ratios here")
    p.add_argument("--profile", choices=("chain", "mlp"),
                   help="instead of timing, cProfile gpugrad on this workload and print the top")
    p.add_argument("--gc-freeze", action="store_true",
                   help="diagnostic: gc.freeze() after imports (shows the cyclic GC's share)")
    p.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    return p.parse_args(argv)


ARGS = _parse_args() if __name__ == "__main__" else None
if ARGS is not None:
    # Must precede the first import of NumPy (and PyTorch): BLAS pools size themselves at load.
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = str(ARGS.threads)

import gc  # noqa: E402
import inspect  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import gpugrad as gg  # noqa: E402
from gpugrad.nn.functional import cross_entropy, linear  # noqa: E402

try:
    import torch  # noqa: E402
except ImportError:  # optional contender
    torch = None

MLP_SIZES = (784, 256, 256, 10)
BATCH = 128
MLP_TARGET = 1.15      # gpugrad MLP step / NumPy MLP step
CHAIN_TARGET = 1.0     # gpugrad per-op / PyTorch per-op
CHAIN_SHAPES = ((1,), (4, 4))


# -- the tiny-op chain -------------------------------------------------------------------------
def _chain_scalars(i):
    return (1.0001, None) if i % 2 == 0 else (None, 0.0001)


def chain_gpugrad(x0, n):
    x = gg.tensor(x0, requires_grad=True)
    y = x
    for i in range(n):
        y = y * 1.0001 if i % 2 == 0 else y + 0.0001
    y.sum().backward()
    return y.numpy(), x.grad.numpy()


def chain_numpy(x0, n):
    # The same math by hand: the forward ops, then the backward of each in reverse order
    # (mul by a constant scales the gradient; add passes it through unchanged).
    y = x0
    for i in range(n):
        y = y * np.float32(1.0001) if i % 2 == 0 else y + np.float32(0.0001)
    g = np.ones_like(x0)
    for i in range(n - 1, -1, -1):
        if i % 2 == 0:
            g = g * np.float32(1.0001)
    return y, g


def chain_torch(x0, n):
    x = torch.tensor(x0, requires_grad=True)
    y = x
    for i in range(n):
        y = y * 1.0001 if i % 2 == 0 else y + 0.0001
    y.sum().backward()
    return y.detach().numpy(), x.grad.numpy()


# -- the MLP step --------------------------------------------------------------------------------
def mlp_data(seed=0):
    """Weights (PyTorch layout: W is (out, in)), a batch and its integer targets, float32."""
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in zip(MLP_SIZES[:-1], MLP_SIZES[1:]):
        bound = 1 / np.sqrt(fan_in)
        params.append(rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32))
        params.append(rng.uniform(-bound, bound, fan_out).astype(np.float32))
    x = rng.standard_normal((BATCH, MLP_SIZES[0])).astype(np.float32)
    t = rng.integers(0, MLP_SIZES[-1], BATCH)
    return params, x, t


class GpugradMLP:
    """The step as a user writes it: ``relu(linear(...))``, or with ``fused=True`` the fused
    ``linear(..., activation="relu")`` op (one graph node per layer instead of two)."""

    def __init__(self, params, x, t, fused=False):
        self.params = [gg.tensor(p, requires_grad=True) for p in params]
        self.x, self.t = gg.tensor(x), gg.tensor(t)
        self.fused = fused

    def step(self):
        for p in self.params:
            p.grad = None
        W1, b1, W2, b2, W3, b3 = self.params
        if self.fused:
            h = linear(self.x, W1, b1, activation="relu")
            h = linear(h, W2, b2, activation="relu")
        else:
            h = gg.relu(linear(self.x, W1, b1))
            h = gg.relu(linear(h, W2, b2))
        loss = cross_entropy(linear(h, W3, b3), self.t)
        loss.backward()
        return loss.item(), [p.grad.numpy() for p in self.params]


def _has_fused_linear() -> bool:
    return "activation" in inspect.signature(linear).parameters


class NumpyMLP:
    def __init__(self, params, x, t):
        self.params, self.x, self.t = params, x, t
        self.rows = np.arange(len(t))

    def step(self):
        W1, b1, W2, b2, W3, b3 = self.params
        x, t, rows = self.x, self.t, self.rows
        a1 = x @ W1.T + b1
        h1 = np.maximum(a1, 0)
        a2 = h1 @ W2.T + b2
        h2 = np.maximum(a2, 0)
        z = h2 @ W3.T + b3
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        s = e.sum(axis=1, keepdims=True)
        loss = float(np.mean(np.log(s[:, 0]) - z[rows, t]))
        dz = e / s                               # softmax
        dz[rows, t] -= 1
        dz /= len(t)
        dW3, db3 = dz.T @ h2, dz.sum(axis=0)
        da2 = (dz @ W3) * (a2 > 0)
        dW2, db2 = da2.T @ h1, da2.sum(axis=0)
        da1 = (da2 @ W2) * (a1 > 0)
        dW1, db1 = da1.T @ x, da1.sum(axis=0)
        return loss, [dW1, db1, dW2, db2, dW3, db3]


class TorchMLP:
    def __init__(self, params, x, t):
        self.params = [torch.tensor(p, requires_grad=True) for p in params]
        self.x, self.t = torch.tensor(x), torch.tensor(t)

    def step(self):
        F = torch.nn.functional
        for p in self.params:
            p.grad = None
        W1, b1, W2, b2, W3, b3 = self.params
        h = F.relu(F.linear(self.x, W1, b1))
        h = F.relu(F.linear(h, W2, b2))
        loss = F.cross_entropy(F.linear(h, W3, b3), self.t)
        loss.backward()
        return loss.item(), [p.grad.numpy() for p in self.params]


def check_mlp_agreement(contenders) -> dict:
    """Assert every contender's loss and six gradients equal gpugrad's (float32 tolerances)."""
    results = {name: obj.step() for name, obj in contenders.items()}
    ref_loss, ref_grads = results["gpugrad"]
    worst = {}
    names = ("W1", "b1", "W2", "b2", "W3", "b3")
    for name, (loss, grads) in results.items():
        np.testing.assert_allclose(loss, ref_loss, rtol=1e-5, err_msg=f"loss: {name} vs gpugrad")
        err = 0.0
        for pname, g, r in zip(names, grads, ref_grads):
            np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-6,
                                       err_msg=f"d loss/d {pname}: {name} vs gpugrad")
            err = max(err, float(np.max(np.abs(g - r)) / (np.max(np.abs(r)) + 1e-30)))
        worst[name] = err
    return worst


def check_chain_agreement(fns, x0, n):
    ref_y, ref_g = fns["gpugrad"](x0, n)
    for name, fn in fns.items():
        y, g = fn(x0, n)
        np.testing.assert_allclose(y, ref_y, rtol=1e-5, err_msg=f"chain value: {name} vs gpugrad")
        np.testing.assert_allclose(g, ref_g, rtol=1e-5, err_msg=f"chain grad: {name} vs gpugrad")


# -- timing ----------------------------------------------------------------------------------
def interleaved(contenders: dict, repeats: int, inner: int = 1, warmup: int = 2) -> dict:
    """Seconds per call of each contender: ``repeats`` samples each, the order rotating per repeat."""
    names = list(contenders)
    for _ in range(warmup):
        for fn in contenders.values():
            fn()
    samples = {n: [] for n in names}
    for r in range(repeats):
        order = names[r % len(names):] + names[:r % len(names)]
        for n in order:
            fn = contenders[n]
            gc.collect()
            t0 = time.perf_counter()
            for _ in range(inner):
                fn()
            samples[n].append((time.perf_counter() - t0) / inner)
    return samples


def _med(xs):
    return statistics.median(xs)


def run_chain(args, use_torch) -> list:
    rows = []
    n = args.chain_ops
    for shape in CHAIN_SHAPES:
        x0 = np.full(shape, 0.5, dtype=np.float32)
        fns = {"gpugrad": chain_gpugrad, "numpy": chain_numpy}
        if use_torch:
            fns["torch"] = chain_torch
        check_chain_agreement(fns, x0, n)
        samples = interleaved({k: (lambda f=f: f(x0, n)) for k, f in fns.items()},
                              max(3, args.repeats // 2))
        med = {k: _med(v) for k, v in samples.items()}
        rows.append({"workload": f"chain {n} ops {shape}", "unit": "us/op",
                     "median": {k: v / n * 1e6 for k, v in med.items()},
                     "samples_s": samples,
                     "target": ("torch", CHAIN_TARGET) if use_torch else None})
    return rows


def run_mlp(args, use_torch) -> list:
    params, x, t = mlp_data()
    objs = {"gpugrad": GpugradMLP(params, x, t)}
    if _has_fused_linear():
        objs["gpugrad-fused"] = GpugradMLP(params, x, t, fused=True)
    objs["numpy"] = NumpyMLP(params, x, t)
    if use_torch:
        objs["torch"] = TorchMLP(params, x, t)
    worst = check_mlp_agreement(objs)
    samples = interleaved({k: o.step for k, o in objs.items()}, args.repeats, inner=args.mlp_steps)
    med = {k: _med(v) for k, v in samples.items()}
    return [{"workload": "MLP 784-256-256-10 step, batch 128", "unit": "ms/step",
             "median": {k: v * 1e3 for k, v in med.items()}, "samples_s": samples,
             "target": ("numpy", MLP_TARGET), "grad_max_rel_diff_vs_gpugrad": worst}]


BASELINES = ("numpy", "torch")


def print_table(rows):
    """One line per (workload, gpugrad variant): its median, the baselines', ratios, target."""
    head = (f"{'workload':36s} {'variant':14s} {'unit':>7s} {'gpugrad':>9s} {'numpy':>9s} "
            f"{'torch':>9s} {'vs numpy':>9s} {'vs torch':>9s}  target")
    print(head)
    print("-" * (len(head) + 20))
    missed = []
    for row in rows:
        med = row["median"]
        row["ratios"], row["target_met"] = {}, {}
        for variant in (k for k in med if k.startswith("gpugrad")):
            cells = [f"{med[variant]:9.3f}"] + [f"{med[b]:9.3f}" if b in med else f"{'-':>9s}"
                                                for b in BASELINES]
            for b in BASELINES:
                if b in med:
                    row["ratios"][f"{variant}/{b}"] = med[variant] / med[b]
                    cells.append(f"{med[variant] / med[b]:8.2f}x")
                else:
                    cells.append(f"{'-':>9s}")
            line = f"{row['workload']:36s} {variant:14s} {row['unit']:>7s} " + " ".join(cells)
            tgt = row["target"]
            if tgt is not None and tgt[0] in med:
                ok = med[variant] / med[tgt[0]] <= tgt[1]
                row["target_met"][variant] = ok
                line += f"  /{tgt[0]} <= {tgt[1]:.2f}: {'MET' if ok else 'MISSED'}"
                if not ok:
                    missed.append(f"{row['workload']} [{variant}]")
            print(line)
    return missed


def profile(args):
    import cProfile
    import pstats
    if args.profile == "chain":
        x0 = np.full((1,), 0.5, dtype=np.float32)
        work, calls = (lambda: chain_gpugrad(x0, args.chain_ops)), 5
    else:
        params, x, t = mlp_data()
        m = GpugradMLP(params, x, t)
        work, calls = m.step, 200
    work()
    pr = cProfile.Profile()
    pr.enable()
    for _ in range(calls):
        work()
    pr.disable()
    print(f"cProfile of gpugrad, {args.profile}, {calls} calls; top by own time (tottime):")
    pstats.Stats(pr).sort_stats("tottime").print_stats(25)


def main(args) -> int:
    use_torch = torch is not None and not args.no_torch
    if use_torch:
        torch.set_num_threads(args.threads)
    try:
        from threadpoolctl import threadpool_info
        blas = ", ".join(f"{i['internal_api']} {i['num_threads']} threads" for i in threadpool_info()
                         if i["user_api"] == "blas")
    except ImportError:
        blas = f"env OPENBLAS/OMP/MKL_NUM_THREADS={args.threads}"
    if args.profile:
        profile(args)
        return 0
    if args.gc_freeze:
        # Diagnostic: move everything allocated so far (imports: NumPy, PyTorch, ...) out of the
        # cyclic collector's reach, so a gen-2 collection scans only the graph itself.
        gc.collect()
        gc.freeze()
    print(f"python {platform.python_version()}, numpy {np.__version__} ({blas}), gpugrad "
          f"{gg.__version__}, torch {torch.__version__ + f' ({torch.get_num_threads()} threads)' if use_torch else 'not used'}"
          f"; cpu: {os.cpu_count()} cores; gc {'frozen after imports' if args.gc_freeze else 'default'}; "
          f"medians of interleaved repeats")
    rows = []
    if args.only in (None, "chain"):
        rows += run_chain(args, use_torch)
    if args.only in (None, "mlp"):
        rows += run_mlp(args, use_torch)
    missed = print_table(rows)
    for row in rows:
        if "grad_max_rel_diff_vs_gpugrad" in row:
            print("MLP gradients agree (max |diff| / max |grad| vs gpugrad): " + ", ".join(
                f"{k} {v:.1e}" for k, v in row["grad_max_rel_diff_vs_gpugrad"].items()))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"config": {"threads": args.threads, "repeats": args.repeats,
                                  "chain_ops": args.chain_ops, "mlp_steps": args.mlp_steps,
                                  "gc_freeze": args.gc_freeze,
                                  "python": platform.python_version(), "numpy": np.__version__,
                                  "torch": torch.__version__ if use_torch else None, "blas": blas,
                                  "cpu_count": os.cpu_count(), "machine": platform.machine()},
                       "rows": rows, "missed": missed}, f, indent=1, default=str)
        print(f"wrote {args.json}")
    return 1 if (missed and args.strict) else 0


if __name__ == "__main__":
    sys.exit(main(ARGS))
