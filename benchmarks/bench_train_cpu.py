"""Time per training epoch of `gpugrad train`'s default model on the CPU, against the same model
in PyTorch (CPU, when installed) and a hand-written NumPy forward/backward, in one run.

Same data (the digits' training split), same batch order, same MLP (64-256-256-10, ReLU), same
optimizer (Adam, lr 1e-3), same batch size (32). Only the training steps are timed (forward,
loss, backward, Adam update), not evaluation or checkpoints. The first epoch is a warm-up;
the table reports medians of the rest.

    python benchmarks/bench_train_cpu.py [--epochs 8] [--threads 1]
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np

import gpugrad as gg
from gpugrad.data import DataLoader, epoch_permutation, load_digits, train_test_split
from gpugrad.commands.train import TrainConfig, build_model, build_optimizer


def batches(n, batch, seed, epoch):
    order = epoch_permutation(n, seed, epoch)
    return [order[i:i + batch] for i in range(0, n, batch)]


def bench_gpugrad(x, y, cfg, epochs):
    model = build_model(cfg, x.shape[1], 10, "cpu")
    opt, _ = build_optimizer(TrainConfig(**{**cfg.__dict__, "schedule": "none"}), model)
    loader = DataLoader(x, y, cfg.batch_size, seed=cfg.seed)
    times, loss = [], None
    for e in range(epochs):
        loader.set_epoch(e)
        t0 = time.perf_counter()
        for xb, yb in loader:
            loss = gg.nn.functional.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t0)
    return times, float(loss.item())


def bench_torch(x, y, cfg, epochs):
    import torch
    torch.manual_seed(cfg.seed)
    sizes = [x.shape[1], *cfg.hidden, 10]
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    times, loss = [], None
    for e in range(epochs):
        t0 = time.perf_counter()
        for idx in batches(len(x), cfg.batch_size, cfg.seed, e):
            idx = torch.from_numpy(idx)
            loss = torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t0)
    return times, float(loss.item())


def bench_numpy(x, y, cfg, epochs):
    """The same MLP with its gradients written out by hand, and Adam in place: the floor for
    a NumPy-based engine (no graph, no dispatch, no Python objects per op)."""
    rng = np.random.default_rng(cfg.seed)
    sizes = [x.shape[1], *cfg.hidden, 10]
    Ws = [rng.uniform(-1, 1, (b, a)).astype(np.float32) * np.float32(np.sqrt(6 / a))
          for a, b in zip(sizes[:-1], sizes[1:])]
    bs = [np.zeros(b, np.float32) for b in sizes[1:]]
    params = Ws + bs
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    b1, b2, eps, lr = 0.9, 0.999, 1e-8, cfg.lr
    step, times, loss = 0, [], None
    L = len(Ws)
    for e in range(epochs):
        t0 = time.perf_counter()
        for idx in batches(len(x), cfg.batch_size, cfg.seed, e):
            xb, yb = x[idx], y[idx]
            n = len(idx)
            hs = [xb]
            for i in range(L):
                z = hs[-1] @ Ws[i].T + bs[i]
                hs.append(np.maximum(z, 0) if i < L - 1 else z)
            logits = hs[-1]
            shifted = logits - logits.max(axis=1, keepdims=True)
            logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
            loss = -logp[np.arange(n), yb].mean()
            g = np.exp(logp)
            g[np.arange(n), yb] -= 1
            g /= n
            gW, gb = [None] * L, [None] * L
            for i in reversed(range(L)):
                gW[i] = g.T @ hs[i]
                gb[i] = g.sum(axis=0)
                if i:
                    g = (g @ Ws[i]) * (hs[i] > 0)
            step += 1
            c1, c2 = lr / (1 - b1 ** step), np.sqrt(1 - b2 ** step)
            for p, gp, mp, vp in zip(params, gW + gb, m, v):
                mp *= b1
                mp += (1 - b1) * gp
                vp *= b2
                vp += (1 - b2) * gp * gp
                p -= c1 * mp / (np.sqrt(vp) / c2 + eps)
        times.append(time.perf_counter() - t0)
    return times, float(loss)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=8, help="epochs per framework (first is warm-up)")
    ap.add_argument("--threads", type=int, default=1, help="BLAS / PyTorch intra-op threads")
    args = ap.parse_args()

    from threadpoolctl import threadpool_limits
    threadpool_limits(limits=args.threads, user_api="blas")
    cfg = TrainConfig()
    x, y = load_digits()
    x, y, _, _ = train_test_split(x, y, cfg.test_fraction, cfg.seed)
    runs = {"gpugrad (NumPy backend)": bench_gpugrad}
    try:
        import torch
        torch.set_num_threads(args.threads)
        runs[f"PyTorch {torch.__version__} CPU"] = bench_torch
    except ImportError:
        torch = None
    runs["hand-written NumPy fwd/bwd"] = bench_numpy

    results = {}
    for name, fn in runs.items():
        times, loss = fn(x, y, cfg, args.epochs)
        results[name] = (statistics.median(times[1:]), loss)
    base = results["gpugrad (NumPy backend)"][0]
    print(f"`gpugrad train` default model: MLP {x.shape[1]}-{'-'.join(map(str, cfg.hidden))}-10 ReLU, "
          f"Adam lr {cfg.lr:g}, batch {cfg.batch_size}, {len(y)} samples/epoch ({-(-len(y) // cfg.batch_size)} "
          f"steps); median of epochs 2..{args.epochs}; {args.threads} thread(s); "
          f"{platform.processor() or platform.machine()}, NumPy {np.__version__}\n")
    print("| implementation | s / epoch (median) | samples / s | time vs gpugrad | last batch loss |")
    print("|---|---:|---:|---:|---:|")
    for name, (t, loss) in results.items():
        print(f"| {name} | {t * 1e3:.1f} ms | {len(y) / t:,.0f} | {t / base:.2f}x | {loss:.4f} |")


if __name__ == "__main__":
    main()
