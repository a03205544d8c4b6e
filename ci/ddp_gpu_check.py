"""ci/gpu.sh's ddp stage: the nccl backend on one GPU (NCCL allows one rank per GPU).

Run as ``mpiexec -n 1 python ci/ddp_gpu_check.py`` (or plainly: a one-process MPI job). Checks:
the collectives on CuPy arrays through NCCL; DistributedDataParallel over NCCL ends with the same
weights as over the mpi backend (host staging) after several SGD-momentum steps; and the same
step captured by gg.cuda.graphed (NCCL calls inside the graph) gives the eager numbers.
Prints one OK line per check; exits non-zero on the first failure.
"""
import sys

import numpy as np

import gpugrad as gg
from gpugrad.distributed.mpi_backend import MPIBackend
from gpugrad.distributed.nccl_backend import NCCLBackend
from gpugrad.nn.functional import cross_entropy
from gpugrad.nn.parallel import DistributedDataParallel

if not gg.cuda.is_available():
    sys.exit("ddp_gpu_check: no usable GPU")
mpi = MPIBackend()
nccl = NCCLBackend(MPIBackend())
print(f"nccl backend up: rank {nccl.rank} of {nccl.size}", flush=True)

import cupy  # noqa: E402

a = cupy.arange(6, dtype=cupy.float32)
nccl.all_reduce(a, "sum")
nccl.broadcast(a, 0)
g = nccl.all_gather(a)
cupy.cuda.get_current_stream().synchronize()
assert g.shape == (nccl.size, 6) and np.array_equal(g.get()[0], np.arange(6) * nccl.size)
print("OK collectives on CuPy arrays", flush=True)

rng = np.random.default_rng(0)
x = gg.tensor(rng.standard_normal((64, 32)).astype(np.float32), device="cuda")
y = gg.tensor(rng.integers(0, 10, 64), device="cuda")


def train(group, graphed=False, steps=8):
    gg.manual_seed(0)
    model = gg.nn.MLP([32, 64, 64, 10], device="cuda")
    ddp = DistributedDataParallel(model, bucket_cap_mb=0.01, process_group=group)
    opt = gg.optim.SGD(list(ddp.parameters()), lr=0.1, momentum=0.9)

    def step(xb, yb):
        opt.zero_grad()
        loss = cross_entropy(ddp(xb), yb)
        loss.backward()
        opt.step()
        return loss
    run = gg.cuda.graphed(step, x, y) if graphed else step
    for _ in range(steps):
        run(x, y)
    return np.concatenate([p.numpy().ravel() for p in model.parameters()])


w_nccl, w_mpi = train(nccl), train(mpi)
d = float(np.abs(w_nccl - w_mpi).max())
assert d < 1e-5, f"nccl and mpi backends disagree by {d}"
print(f"OK DDP same weights, nccl vs mpi backend: max|dw| {d:.2e}", flush=True)
w_graph = train(nccl, graphed=True)
d = float(np.abs(w_graph - w_nccl).max())
assert d < 1e-5, f"graphed DDP step differs from eager by {d}"
print(f"OK DDP step under gg.cuda.graphed (NCCL captured): max|dw| {d:.2e}", flush=True)
