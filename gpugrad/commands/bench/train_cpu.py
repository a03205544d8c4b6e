"""``gpugrad bench train-cpu``: epochs of ``gpugrad train``'s default model on the CPU (64-256-256-10
ReLU MLP, Adam lr 1e-3, batch 32, the digits' training split), gpugrad against PyTorch CPU,
hand-written NumPy and JAX jit, by the method of ``bench mlp``:

* the same initial weights (gpugrad's ``build_model``, copied into every contender), the same
  batches in the same order (``epoch_permutation``), the same optimizer formulas;
* a first epoch per contender with every step's loss recorded, checked against the reference
  (PyTorch, else hand NumPy) before anything is timed; it is also the warm-up (JAX compiles);
* timed epochs in interleaved rounds, the order rotating; round r runs epoch r + 1 for everyone;
* medians with IQR, paired ratios against every other contender; threads pinned (default 1).

Only the training steps are timed (forward, loss, backward, Adam), not evaluation or checkpoints.
"""
from __future__ import annotations

import numpy as np

from .timing import interleaved_host, paired_ratios, summarize
from ...data import epoch_permutation, load_digits, train_test_split
import gpugrad as gg
from ..train import TrainConfig, build_model
from .cpu_contenders import JaxContender, NumpyContender


def _data(cfg):
    x, y = load_digits()
    x, y, _, _ = train_test_split(x, y, cfg.test_fraction, cfg.seed)
    return np.ascontiguousarray(x, dtype=np.float32), np.asarray(y, dtype=np.int64)


def _batches(n, batch, seed, epoch):
    order = epoch_permutation(n, seed, epoch)
    return [order[i:i + batch] for i in range(0, n, batch)]


class _Epochs:
    """Runs epoch 0, 1, 2 ... of one contender; ``check=True`` returns every step's loss."""

    def __init__(self, impl, step, x, y, batch, seed, loss_value=float):
        self.impl, self._step, self.x, self.y = impl, step, x, y
        self.batch, self.seed, self.epoch, self.loss_value = batch, seed, 0, loss_value

    def __call__(self, check=False):
        losses = []
        for idx in _batches(len(self.x), self.batch, self.seed, self.epoch):
            loss = self._step(self.x[idx], self.y[idx])
            if check:
                losses.append(self.loss_value(loss))
        self.epoch += 1
        return losses


def contenders(cfg, x, y, torch=None, jax=None) -> list:
    """The contenders' epoch runners, all from gpugrad's initial weights."""
    lr = cfg.lr or 1e-3
    model = build_model(cfg, x.shape[1], 10, "cpu")
    names = [n for n, _ in model.named_parameters()]
    init = [np.array(p.numpy(), dtype=np.float32, copy=True) for _, p in model.named_parameters()]
    opt = gg.optim.Adam(model.parameters(), lr=lr)
    F = gg.nn.functional

    def gg_step(xb, yb):
        loss = F.cross_entropy(model(gg.tensor(xb)), gg.tensor(yb))
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    out = [_Epochs("gpugrad", gg_step, x, y, cfg.batch_size, cfg.seed, lambda l: float(l.item()))]
    if torch is not None:
        sizes = [x.shape[1], *cfg.hidden, 10]
        layers = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(torch.nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(torch.nn.ReLU())
        tm = torch.nn.Sequential(*layers)
        own = dict(tm.named_parameters())
        with torch.no_grad():
            for n, a in zip(names, init):
                own[n].copy_(torch.from_numpy(a))
        topt = torch.optim.Adam(tm.parameters(), lr=lr)

        def torch_step(xb, yb):
            loss = torch.nn.functional.cross_entropy(tm(torch.from_numpy(xb)), torch.from_numpy(yb))
            topt.zero_grad(set_to_none=True)
            loss.backward()
            topt.step()
            return loss

        out.append(_Epochs(f"torch {torch.__version__}", torch_step, x, y, cfg.batch_size, cfg.seed,
                           lambda l: float(l.item())))
    hand = NumpyContender("adam", init, x[:cfg.batch_size], y[:cfg.batch_size])
    out.append(_Epochs("hand numpy", hand.step, x, y, cfg.batch_size, cfg.seed))
    if jax is not None:
        jc = JaxContender(jax, "adam", init, x[:cfg.batch_size], y[:cfg.batch_size])
        out.append(_Epochs("jax jit", jc.step, x, y, cfg.batch_size, cfg.seed))
    return out


def run_train_cpu(epochs: int, rtol: float, log, torch=None, jax=None) -> dict:
    """Check, then time ``epochs`` interleaved rounds; returns {"rows", "reference", "steps"}."""
    cfg = TrainConfig()
    x, y = _data(cfg)
    runs = contenders(cfg, x, y, torch, jax)
    losses = {r.impl: r(check=True) for r in runs}
    ref = next((r.impl for r in runs if r.impl.startswith("torch")), "hand numpy")
    rows = []
    for r in runs:
        a, b = np.asarray(losses[r.impl], np.float64), np.asarray(losses[ref], np.float64)
        rel = float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-30))) if a.shape == b.shape else float("inf")
        rows.append({"impl": r.impl, "loss_max_rel_diff": rel, "last_loss": float(a[-1]),
                     "check": "reference" if r.impl == ref else ("ok" if rel <= rtol else "FAIL")})
    good = [r for r, row in zip(runs, rows) if row["check"] != "FAIL"]
    samples = interleaved_host({r.impl: r for r in good}, epochs, inner=1, warmup=0)
    for row in rows:
        if row["impl"] not in samples:
            row["status"] = "loss mismatch"
            continue
        st = summarize(samples[row["impl"]])
        row.update(status="ok", epoch_ms=st["median"] * 1e3, iqr_ms=st["iqr"] * 1e3,
                   samples_ms=[v * 1e3 for v in samples[row["impl"]]], samples_per_s=len(y) / st["median"],
                   ratios={o: paired_ratios(samples[row["impl"]], samples[o]) for o in samples
                           if o != row["impl"]})
        log(f"  {row['impl']:<14s} {row['epoch_ms']:8.2f} ms/epoch (IQR {row['iqr_ms']:.2f})")
    return {"rows": rows, "reference": ref, "steps": -(-len(y) // cfg.batch_size), "samples": len(y),
            "model": f"{x.shape[1]}-{'-'.join(map(str, cfg.hidden))}-10", "batch": cfg.batch_size}


def _ratio(prefix):
    def cell(r):
        st = next((v for k, v in (r.get("ratios") or {}).items() if k.startswith(prefix)), None)
        return None if st is None else f"{st['median']:.2f}x [{st['iqr']:.2f}]"
    return cell


TRAIN_CPU_COLUMNS = [
    ("impl", "impl", None, "<"),
    ("ms / epoch (median)", "epoch_ms", ".2f", ">"),
    ("IQR ms", "iqr_ms", ".2f", ">"),
    ("vs gpugrad [IQR]", _ratio("gpugrad"), None, ">"),
    ("vs torch", _ratio("torch"), None, ">"),
    ("vs hand numpy", _ratio("hand numpy"), None, ">"),
    ("vs jax jit", _ratio("jax"), None, ">"),
    ("loss rel diff", lambda r: "ref" if r["check"] == "reference" else f"{r['loss_max_rel_diff']:.1e}", None, ">"),
    ("check", "check", None, "<"),
]
