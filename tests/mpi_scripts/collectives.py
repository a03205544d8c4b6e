"""Run under mpiexec -n N (N >= 2): gg.distributed's collectives on tensors and objects, and
DistributedDataParallel refusing models that differ across ranks."""
import numpy as np

import gpugrad as gg
import gpugrad.distributed as dist

dist.init(backend="mpi")
N, r = dist.get_world_size(), dist.get_rank()
assert N >= 2

t = gg.tensor([float(r), 1.0])
assert dist.all_reduce(t) is t and t.numpy().tolist() == [N * (N - 1) / 2, N]
t = gg.tensor([float(r)]); dist.all_reduce(t, op="max"); assert t.item() == N - 1
t = gg.tensor([float(r)]); dist.all_reduce(t, op="mean"); assert abs(t.item() - (N - 1) / 2) < 1e-6
assert dist.all_reduce(r + 1) == N * (N + 1) // 2                       # a Python number
assert np.array_equal(dist.all_reduce(np.arange(3) * r), np.arange(3) * N * (N - 1) // 2)
t = gg.tensor(np.full((2, 3), r, np.float32)); dist.broadcast(t, src=1); assert (t.numpy() == 1).all()
assert dist.broadcast({"from": r}, src=N - 1) == {"from": N - 1}
parts = dist.all_gather(gg.tensor(np.arange(4, dtype=np.float32)[::2] + r))   # a strided view
assert [p.numpy().tolist() for p in parts] == [[i, i + 2] for i in range(N)]
assert dist.all_gather(("rank", r)) == [("rank", i) for i in range(N)]
dist.barrier()
try:
    dist.broadcast(gg.tensor([1.0]), src=N)
except ValueError as exc:
    assert "src=" in str(exc)
else:
    raise AssertionError("broadcast from a rank outside the job was accepted")

# Bad arguments: the same one-line error on every rank, and no rank left waiting in a collective.
def raises(exc_type, fn, *needles):
    try:
        fn()
    except exc_type as exc:
        for needle in needles:
            assert needle in str(exc), (needle, str(exc))
    else:
        raise AssertionError(f"no {exc_type.__name__}")
    dist.barrier()          # every rank got here: nobody is stuck in the failed collective


raises(TypeError, lambda: dist.all_reduce({"a": r}), "rank 0 passed a dict", "real number")
raises(TypeError, lambda: dist.all_reduce(r if r != 1 else {"a": 1}), "rank 1 passed a dict")   # one rank
raises(TypeError, lambda: dist.all_reduce(gg.tensor([True, False])), "dtype bool", "cast")
raises(ValueError, lambda: dist.all_reduce(gg.tensor([1.0]), op="prod2"), "op must be one of")
raises(ValueError, lambda: dist.all_gather(gg.zeros(r + 1)), "rank 0: (1,) float32", "rank 1: (2,) float32",
       f"rank {N - 1}: ({N},) float32")
raises(ValueError, lambda: dist.broadcast(gg.zeros(2 + r), src=0), "broadcast", "rank 1: (3,) float32")
raises(ValueError, lambda: dist.all_reduce(gg.zeros(2, dtype=gg.float64 if r == 1 else gg.float32)),
       "rank 1: (2,) float64", "rank 0: (2,) float32")
raises(ValueError, lambda: dist.all_reduce(gg.zeros(2), op="max" if r == 2 else "sum"), "op='max'")
assert dist.all_reduce(2.5, op="max") == 2.5 and dist.all_reduce(r, op="mean") == (N - 1) / 2

# DDP: a model whose shapes differ across ranks is refused, naming the parameter.
gg.manual_seed(0)
model = gg.nn.MLP([8, 16 if r == 0 else 17, 3])
try:
    gg.nn.parallel.DistributedDataParallel(model)
except ValueError as exc:
    msg = str(exc)
    assert "'0.weight' is (16, 8) float32 on rank 0 but '0.weight' is (17, 8)" in msg, msg
    assert "rank 1" in msg, msg
else:
    raise AssertionError("DDP accepted models of different shapes")

# DDP: requires_grad differing across ranks (buckets would pair different parameters) is refused,
# naming the parameter and the rank; so is a different bucket layout.
gg.manual_seed(0)
model = gg.nn.MLP([8, 16, 3])
if r == 2:
    model[0].weight.requires_grad_(False)
try:
    gg.nn.parallel.DistributedDataParallel(model)
except ValueError as exc:
    msg = str(exc)
    assert "'0.weight' has requires_grad=True on rank 0 but requires_grad=False on rank 2" in msg, msg
else:
    raise AssertionError("DDP accepted models whose requires_grad differs across ranks")
model[0].weight.requires_grad_(True)
try:
    gg.nn.parallel.DistributedDataParallel(model, bucket_cap_mb=25.0 if r == 0 else 1e-6)
except ValueError as exc:
    assert "gradient buckets" in str(exc) and "rank 1" in str(exc), str(exc)
else:
    raise AssertionError("DDP accepted different bucket layouts across ranks")
if r == 0:
    print("OK collectives", flush=True)
