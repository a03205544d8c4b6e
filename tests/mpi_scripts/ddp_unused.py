"""Run under mpiexec -n N: DDP with parameters some or all ranks leave unused vs one process.

The model routes each sample to one of four heads (a tied pair among them) and has a fifth head
no sample ever uses; which heads a step uses is drawn per step, so a head may be used on every
rank, on some, or on none in a step. Over several steps, for SGD (momentum, weight decay), Adam
(weight decay) and AdamW, several buckets and one, zero_grad to None and to zeros, and a no_sync
accumulation, every rank must end each backward with the one-process .grad pattern (None where it
is None there, the same values elsewhere), the same optimizer state keys, and the one-process
weights; the ranks must agree bit for bit. Prints one OK line per case on rank 0; any mismatch
raises, which aborts the job (non-zero exit).
"""
import numpy as np

import gpugrad as gg
from gpugrad.nn.functional import cross_entropy
from gpugrad.nn.parallel import DistributedDataParallel

pg = gg.distributed.init(backend="mpi")
N, rank = gg.distributed.get_world_size(), gg.distributed.get_rank()
rng = np.random.default_rng(0)
B, STEPS, HEADS = 12, 5, 4
x = rng.standard_normal((B * STEPS, 6)).astype(np.float32)
y = rng.integers(0, 3, B * STEPS)
# per step, the heads the samples may go to: sometimes all, sometimes one or two (so a head is
# unused in that step, or used by the samples of one rank only)
choices = [[0, 1, 2, 3], [0], [1, 3], [2], [0, 3]]
route = np.concatenate([rng.choice(choices[s], B) for s in range(STEPS)])


class Routed(gg.nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = gg.nn.Linear(6, 8)
        self.heads = gg.nn.ModuleList([gg.nn.Linear(8, 3) for _ in range(HEADS)])
        self.heads[3].weight = self.heads[2].weight          # tied: used when head 2 or 3 is
        self.never = gg.nn.Linear(8, 3)                      # no sample ever reaches it

    def forward(self, xb, rb, yb):
        """Sum of the per-sample losses; each sample goes through its head."""
        h = self.trunk(xb if isinstance(xb, gg.Tensor) else gg.tensor(xb)).relu()
        total = None
        for k in range(HEADS):
            idx = np.nonzero(rb == k)[0]
            if len(idx):
                part = cross_entropy(self.heads[k](h[idx]), gg.tensor(yb[idx]), reduction="sum")
                total = part if total is None else total + part
        return total


def make():
    gg.manual_seed(0)
    return Routed()


def optimizer(name, params):
    return {"sgd": lambda: gg.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=0.05),
            "adam": lambda: gg.optim.Adam(params, lr=1e-2, weight_decay=0.05),
            "adamw": lambda: gg.optim.AdamW(params, lr=1e-2, weight_decay=0.05)}[name]()


def shard(s):
    """This rank's part of step s's global batch (contiguous, near equal: np.array_split)."""
    rows = np.array_split(np.arange(s * B, (s + 1) * B), N)[rank]
    return x[rows], route[rows], y[rows]


def grads(model):
    return [None if p.grad is None else p.grad.numpy().copy() for p in model.parameters()]


def same_grads(mine, ref, what):
    for i, (a, b) in enumerate(zip(mine, ref)):
        if (a is None) != (b is None):
            raise AssertionError(f"{what}: parameter {i} has .grad {'None' if a is None else 'set'} under "
                                 f"DDP but {'None' if b is None else 'set'} in one process")
        if a is not None and not np.allclose(a, b, rtol=1e-5, atol=1e-6):
            raise AssertionError(f"{what}: parameter {i} gradient differs by {np.abs(a - b).max()}")


def run(name, cap, set_to_none):
    ref = make()
    ref_opt = optimizer(name, list(ref.parameters()))
    ddp = DistributedDataParallel(make(), bucket_cap_mb=cap)
    opt = optimizer(name, list(ddp.parameters()))
    for s in range(STEPS):
        ref_opt.zero_grad(set_to_none=set_to_none)
        rows = slice(s * B, (s + 1) * B)
        (ref(x[rows], route[rows], y[rows]) * (1.0 / B)).backward()
        opt.zero_grad(set_to_none=set_to_none)
        xb, rb, yb = shard(s)
        loss = ddp(gg.tensor(xb), rb, yb)
        if loss is None:          # no sample here (N > B): this rank still joins with a zero loss
            loss = (ddp.module.trunk(gg.tensor(xb)) * 0).sum()
        (loss * (N / B)).backward()
        same_grads(grads(ddp.module), grads(ref), f"{name} step {s}")
        opt.step()
        ref_opt.step()
        mine = sorted(i for i, p in enumerate(ddp.parameters()) if p in opt.state)
        theirs = sorted(i for i, p in enumerate(ref.parameters()) if p in ref_opt.state)
        assert mine == theirs, f"{name} step {s}: optimizer state for {mine}, one process {theirs}"
        everyone = gg.distributed.all_gather({"state": mine, "none": [g is None for g in grads(ddp.module)]})
        assert all(e == everyone[0] for e in everyone), f"{name} step {s}: ranks disagree: {everyone}"
    d = max(float(np.abs(p.numpy() - q.numpy()).max()) for p, q in zip(ddp.parameters(), ref.parameters()))
    assert d < 2e-5, f"{name} cap {cap}: weights differ from one process by {d}"
    assert ddp.module.never.weight.grad is None or not set_to_none
    flat = np.concatenate([p.numpy().ravel() for p in ddp.parameters()])
    assert all(np.array_equal(g.numpy(), flat) for g in gg.distributed.all_gather(gg.tensor(flat))), \
        "ranks diverged"
    layouts = gg.distributed.all_gather([(b.flat.size, str(b.flat.dtype)) for b in ddp._buckets])
    assert all(lay == layouts[0] for lay in layouts), "bucket layouts differ"
    if rank == 0:
        print(f"OK {name} cap={cap} none={set_to_none} N={N} buckets={len(ddp.bucket_sizes)} "
              f"max|dw|={d:.2e}", flush=True)


for name in ("sgd", "adam", "adamw"):
    for cap in (1e-6, 0.0005, 25.0):       # a bucket per parameter, a few, one
        run(name, cap, set_to_none=True)
run("sgd", 0.0005, set_to_none=False)

# no_sync: micro-batch 1 (heads 0 only) accumulated locally, micro-batch 2 (heads 1 and 3) synced:
# the average equals one process's gradient of both; heads 2/3's tie and `never` follow the rule.
ref = make()
ddp = DistributedDataParallel(make(), bucket_cap_mb=0.0005)
r1, r2 = np.zeros(B, int), np.where(np.arange(B) % 2, 1, 3)
(ref(x[:B], r1, y[:B]) * (1.0 / B) + ref(x[B:2 * B], r2, y[B:2 * B]) * (1.0 / B)).backward()
part = np.array_split(np.arange(B), N)[rank]
with ddp.no_sync():
    lo = ddp(gg.tensor(x[part]), r1[part], y[part])
    if lo is not None:
        (lo * (N / B)).backward()
lo = ddp(gg.tensor(x[B + part]), r2[part], y[B + part])
if lo is None:
    lo = (ddp.module.trunk(gg.tensor(x[B + part])) * 0).sum()
(lo * (N / B)).backward()
same_grads(grads(ddp.module), grads(ref), "no_sync")
if rank == 0:
    print(f"OK no_sync N={N}", flush=True)
