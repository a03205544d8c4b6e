"""Run under mpiexec -n N: DDP over N ranks vs one process (computed on every rank), same weights.

For SGD with momentum and Adam, several epochs, a ragged last batch, small and default buckets;
and no_sync gradient accumulation. Prints one OK line per case on rank 0; any mismatch raises,
which aborts the job (non-zero exit).
"""
import numpy as np

import gpugrad as gg
from gpugrad.data import DataLoader, ShardedLoader
from gpugrad.nn.functional import cross_entropy
from gpugrad.nn.parallel import DistributedDataParallel

pg = gg.distributed.init(backend="mpi")
N, rank = gg.distributed.get_world_size(), gg.distributed.get_rank()
rng = np.random.default_rng(0)
x = rng.standard_normal((100, 12)).astype(np.float32)
y = rng.integers(0, 5, 100)
B, EPOCHS = 24, 3          # 100 = 4 x 24 + 4: a ragged last batch of 4 (parts 2,1,1 with N = 3)


def make(seed):
    gg.manual_seed(seed)
    return gg.nn.MLP([12, 32, 16, 5])


def optimizer(name, params):
    return (gg.optim.SGD(params, lr=0.1, momentum=0.9) if name == "sgd"
            else gg.optim.Adam(params, lr=1e-2))


def reference(name):
    model = make(0)
    opt = optimizer(name, list(model.parameters()))
    loader = DataLoader(x, y, B, shuffle=True, seed=3)
    for epoch in range(EPOCHS):
        loader.set_epoch(epoch)
        for xb, yb in loader:
            opt.zero_grad()
            cross_entropy(model(xb), yb).backward()
            opt.step()
    return model


def data_parallel(name, cap):
    model = make(rank + 1)            # different on purpose: DDP must broadcast rank 0's
    ddp = DistributedDataParallel(make(0) if rank == 0 else model, bucket_cap_mb=cap)
    opt = optimizer(name, list(ddp.parameters()))
    loader = ShardedLoader(x, y, B, N, rank, shuffle=True, seed=3)
    for epoch in range(EPOCHS):
        loader.set_epoch(epoch)
        for xb, yb in loader:
            opt.zero_grad()
            (cross_entropy(ddp(xb), yb, reduction="sum") * (N / loader.global_batch)).backward()
            opt.step()
    return ddp, ddp.module


def max_diff(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return max(float(np.abs(sa[k].numpy() - sb[k].numpy()).max()) for k in sa)


for name in ("sgd", "adam"):
    ref = reference(name)
    for cap in (0.002, 25.0):            # 2 KB: several buckets; 25 MB: one
        ddp, model = data_parallel(name, cap)
        d = max_diff(ref, model)
        assert d < 2e-5, f"{name} cap {cap}: weights differ from one process by {d}"
        # every rank ends with the same weights, bit for bit
        mine = np.concatenate([p.numpy().ravel() for p in model.parameters()])
        gathered = gg.distributed.all_gather(gg.tensor(mine))
        assert all(np.array_equal(g.numpy(), mine) for g in gathered), "ranks diverged"
        if rank == 0:
            print(f"OK {name} N={N} buckets={len(ddp.bucket_sizes)} max|dw|={d:.2e}", flush=True)

# no_sync: two micro-batches accumulated locally, averaged once, equal the one-process gradient
# of the mean over both (each rank's micro-batches are its parts of two global batches).
ref = make(0)
xa, ya, xb_, yb_ = x[:12 * N], y[:12 * N], x[12 * N:24 * N], y[12 * N:24 * N]
(cross_entropy(ref(gg.tensor(xa)), gg.tensor(ya)) + cross_entropy(ref(gg.tensor(xb_)), gg.tensor(yb_))).backward()
ddp = DistributedDataParallel(make(0), bucket_cap_mb=0.002)
part = slice(12 * rank, 12 * (rank + 1))
with ddp.no_sync():
    cross_entropy(ddp(gg.tensor(xa[part])), gg.tensor(ya[part])).backward()
local = [p.grad.numpy().copy() for p in ddp.parameters()]
cross_entropy(ddp(gg.tensor(xb_[part])), gg.tensor(yb_[part])).backward()
d = max(float(np.abs(p.grad.numpy() - q.grad.numpy()).max()) for p, q in zip(ddp.parameters(), ref.parameters()))
assert d < 1e-5, f"no_sync: accumulated gradients differ by {d}"
if N > 1:   # inside no_sync nothing was averaged: the local gradient differs from the average
    assert any(not np.allclose(a, p.grad.numpy()) for a, p in zip(local, ddp.parameters()))
if rank == 0:
    print(f"OK no_sync N={N} max|dg|={d:.2e}", flush=True)
