"""gg.distributed without MPI: the sharding sampler, DDP's bucketing and hook logic over a stand-in
process group, the end-of-backward callback, and the nccl backend's calls into CuPy's NCCL
bindings driven with stand-ins (no GPU, no NCCL library needed)."""
from __future__ import annotations

import numpy as np
import pytest

import gpugrad as gg
from gpugrad.autograd import queue_callback
from gpugrad.data import DataLoader, DistributedSampler, ShardedLoader
from gpugrad.distributed.nccl_backend import NCCLBackend
from gpugrad.nn.functional import cross_entropy
from gpugrad.nn.parallel import DistributedDataParallel


# -- the sampler -------------------------------------------------------------------------------
@pytest.mark.parametrize("n,batch,ranks", [(100, 24, 3), (10, 4, 2), (7, 3, 5), (64, 16, 4), (1, 1, 1)])
@pytest.mark.parametrize("epoch", [0, 3])
def test_sampler_parts_are_disjoint_near_equal_and_union_is_the_one_process_order(n, batch, ranks, epoch):
    samplers = [DistributedSampler(n, batch, ranks, r, seed=7) for r in range(ranks)]
    one = DataLoader(np.arange(n), np.arange(n), batch, shuffle=True, seed=7)
    one.set_epoch(epoch)
    one_batches = [xb.numpy() for xb, _ in one]
    parts = [s.batches(epoch) for s in samplers]
    assert all(len(p) == len(one_batches) == len(samplers[0]) for p in parts)
    for i, global_batch in enumerate(one_batches):
        pieces = [parts[r][i] for r in range(ranks)]
        assert np.array_equal(np.concatenate(pieces), global_batch)       # union, in order: exactly it
        sizes = [len(p) for p in pieces]
        assert max(sizes) - min(sizes) <= 1                                # equal (ragged: within one)
        if len(global_batch) % ranks == 0:
            assert len(set(sizes)) == 1
    every = np.concatenate([s.indices(epoch) for s in samplers])
    assert np.array_equal(np.sort(every), np.arange(n))                    # disjoint, nothing dropped
    assert samplers[0].global_batch_sizes() == [len(b) for b in one_batches]


def test_sampler_epochs_differ_and_are_reproducible():
    s = DistributedSampler(50, 10, 2, 1, seed=1)
    assert np.array_equal(s.indices(2), DistributedSampler(50, 10, 2, 1, seed=1).indices(2))
    assert not np.array_equal(s.indices(2), s.indices(3))
    assert np.array_equal(DistributedSampler(6, 4, 2, 0, shuffle=False).indices(0), [0, 1, 4])


@pytest.mark.parametrize("kwargs,match", [({"rank": 2}, "rank must be in 0..1"), ({"rank": -1}, "rank"),
                                          ({"batch_size": 0, "rank": 0}, "batch_size")])
def test_sampler_bad_arguments(kwargs, match):
    args = {"num_samples": 10, "batch_size": 4, "num_replicas": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        DistributedSampler(**args)


def test_sharded_loader_yields_this_ranks_parts_with_the_global_batch_size():
    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    y = np.arange(10)
    loader = ShardedLoader(x, y, 4, num_replicas=2, rank=1, seed=0)
    parts = DistributedSampler(10, 4, 2, 1, seed=0).batches(0)
    seen = []
    for (xb, yb), part in zip(loader, parts):
        assert np.array_equal(yb.numpy(), part) and np.array_equal(xb.numpy(), x[part])
        seen.append(loader.global_batch)
    assert seen == [4, 4, 2] and len(loader) == 3 and loader.epoch == 1


# -- the end-of-backward callback ----------------------------------------------------------------
def test_queued_callback_runs_once_after_backward_and_is_dropped_on_error():
    w = gg.tensor([1.0, 2.0], requires_grad=True)
    calls = []

    def hook(g):
        calls.append(("hook", w.grad is None))
        queue_callback(lambda: calls.append(("end", w.grad.numpy().tolist())))
    w.register_hook(hook)
    (w * 3).sum().backward()
    assert calls == [("hook", True), ("end", [3.0, 3.0])]    # after the gradient was accumulated
    calls.clear()
    (w * 1).sum().backward()
    assert calls == [("hook", False), ("end", [4.0, 4.0])]   # once per backward, not left queued

    bad = gg.tensor([1.0], requires_grad=True)
    bad.register_hook(lambda g: (queue_callback(lambda: calls.append("stale")), 1 / 0))
    calls.clear()
    with pytest.raises(ZeroDivisionError):
        (bad * 2).sum().backward()
    (w * 1).sum().backward()
    assert "stale" not in calls


# -- DDP over a stand-in process group ---------------------------------------------------------------
class RecordingGroup:
    """A one-rank process group that records every collective (and whether backward was running)."""

    name, rank, size, local_rank, local_size = "fake", 0, 1, 0, 1

    def __init__(self):
        self.calls, self.ddp = [], None

    def all_gather_object(self, obj):
        return [obj]

    def broadcast(self, arr, src=0):
        self.calls.append(("broadcast", arr.size))

    def iall_reduce(self, arr):
        self.calls.append(("iall_reduce", arr.size, self.ddp is not None and self.ddp._in_backward))
        group = self

        class Handle:
            done = False

            def test(self):
                return False

            def wait(self):
                group.calls.append(("wait", arr.size))
        return Handle()


def _mlp():
    gg.manual_seed(0)
    return gg.nn.MLP([6, 40, 30, 3])   # parameters: 240+40, 1200+30, 90+3 floats


@pytest.mark.parametrize("cap_mb,expected", [
    (25.0, [[3, 90, 30, 1200, 40, 240]]),                # one bucket, last layer first
    (4800 / 2 ** 20, [[3, 90, 30], [1200], [40, 240]]),  # 4800 B: a new bucket before overflowing
    (1e-6, [[3], [90], [30], [1200], [40], [240]]),      # smaller than any parameter: one each
])
def test_buckets_follow_reverse_parameter_order_within_the_cap(cap_mb, expected):
    ddp = DistributedDataParallel(_mlp(), bucket_cap_mb=cap_mb, process_group=RecordingGroup())
    assert [[p.size for p in b.params] for b in ddp._buckets] == expected
    assert ddp.bucket_sizes == [4 * sum(sizes) for sizes in expected]


def test_buckets_launch_during_backward_in_order_and_grads_equal_the_local_ones():
    group = RecordingGroup()
    ddp = DistributedDataParallel(_mlp(), bucket_cap_mb=1e-6, process_group=group)
    group.ddp = ddp
    ref = _mlp()
    x, y = gg.randn(5, 6), gg.tensor([0, 1, 2, 0, 1])
    cross_entropy(ddp(x), y).backward()
    cross_entropy(ref(x), y).backward()
    launches = [c for c in group.calls if c[0] == "iall_reduce"]
    assert [c[1] for c in launches] == [3 + 1, 90 + 1, 30 + 1, 1200 + 1, 40 + 1, 240 + 1]   # bucket
    # order; each bucket carries one "has a gradient" flag per parameter after its gradients
    assert all(c[2] for c in launches)                                  # each while backward ran
    assert [c[0] for c in group.calls[-6:]] == ["wait"] * 6            # waited at the end
    for p, q in zip(ddp.parameters(), ref.parameters()):
        np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())
    assert not ddp._in_backward


def test_no_sync_communicates_nothing_and_the_next_backward_carries_the_sum():
    group = RecordingGroup()
    ddp = DistributedDataParallel(_mlp(), process_group=group)
    ref = _mlp()
    x, y = gg.randn(4, 6), gg.tensor([0, 1, 2, 0])
    with ddp.no_sync():
        cross_entropy(ddp(x), y).backward()
    assert not [c for c in group.calls if c[0] == "iall_reduce"]
    cross_entropy(ddp(x * 2), y).backward()
    (cross_entropy(ref(x), y) + cross_entropy(ref(x * 2), y)).backward()
    assert len([c for c in group.calls if c[0] == "iall_reduce"]) == 1
    for p, q in zip(ddp.parameters(), ref.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-6, atol=1e-7)


def test_a_parameter_no_rank_used_keeps_grad_none_and_backward_still_completes():
    # One rank here: "no rank used it" is this rank not using it. Over several ranks, with the
    # optimizers: tests/test_trust_ddp_unused.py.
    class TwoHeads(gg.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = gg.nn.Linear(3, 2), gg.nn.Linear(3, 2)

        def forward(self, x):
            return self.a(x)
    group = RecordingGroup()
    ddp = DistributedDataParallel(TwoHeads(), process_group=group)
    ddp(gg.randn(2, 3)).sum().backward()
    assert ddp.module.b.weight.grad is None and ddp.module.b.bias.grad is None
    assert ddp.module.a.weight.grad is not None
    assert not ddp._in_backward


def test_gg_grad_on_a_wrapped_model_neither_writes_grad_nor_communicates():
    # A gradient penalty: gg.grad(create_graph=True) then backward() of loss + |g|^2. PyTorch's
    # reducer ignores autograd.grad, so .grad must end equal to the unwrapped model's.
    group = RecordingGroup()
    ddp = DistributedDataParallel(_mlp(), process_group=group)
    ref = _mlp()
    x = gg.randn(4, 6)
    for model, params in ((ddp, list(ddp.module.parameters())), (ref, list(ref.parameters()))):
        loss = model(x).pow(2).mean()
        g = gg.grad(loss, params, create_graph=True)
        if model is ddp:
            assert all(p.grad is None for p in params)
            assert not [c for c in group.calls if c[0] == "iall_reduce"] and not ddp._in_backward
        (loss + sum((gi * gi).sum() for gi in g)).backward()
    assert len([c for c in group.calls if c[0] == "iall_reduce"]) == 1   # the backward() only
    for p, q in zip(ddp.module.parameters(), ref.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_ddp_needs_an_initialized_process_group_and_a_module():
    with pytest.raises(RuntimeError, match="call gg.distributed.init"):
        DistributedDataParallel(_mlp())
    with pytest.raises(TypeError, match="gg.nn.Module"):
        DistributedDataParallel(lambda x: x, process_group=RecordingGroup())


def test_init_refuses_an_unknown_backend(monkeypatch):
    monkeypatch.setenv("GPUGRAD_DIST_BACKEND", "gloo")
    with pytest.raises(ValueError, match="backend must be 'mpi' or 'nccl', got 'gloo' "
                                         "\\(from GPUGRAD_DIST_BACKEND\\)"):
        gg.distributed.init()
    assert not gg.distributed.is_initialized() and gg.distributed.get_world_size() == 1


# -- the nccl backend, driven with stand-ins for CuPy and cupy.cuda.nccl ----------------------------
class FakeDeviceArray:
    """A NumPy array posing as a CuPy one: ``.data.ptr`` finds it again in the registry."""

    registry: dict = {}

    def __init__(self, a):
        self.a = np.ascontiguousarray(a)
        self.shape, self.dtype, self.size, self.flags = self.a.shape, self.a.dtype, self.a.size, self.a.flags
        self.strides = self.a.strides
        self.data = type("Ptr", (), {"ptr": id(self)})()
        FakeDeviceArray.registry[id(self)] = self


class FakeCupy:
    ndarray = FakeDeviceArray

    class cuda:
        class _Stream:
            ptr = 0xABC

            def synchronize(self):
                pass

        @staticmethod
        def get_current_stream():
            return FakeCupy.cuda._Stream()

    @staticmethod
    def empty(shape, dtype):
        return FakeDeviceArray(np.empty(shape, dtype))


class FakeNccl:
    NCCL_FLOAT16, NCCL_FLOAT32, NCCL_FLOAT64 = 6, 7, 8
    NCCL_INT8, NCCL_UINT8, NCCL_INT32, NCCL_UINT32, NCCL_INT64, NCCL_UINT64 = 0, 1, 2, 3, 4, 5
    NCCL_SUM, NCCL_PROD, NCCL_MAX, NCCL_MIN = 0, 1, 2, 3
    made = []

    @staticmethod
    def get_unique_id():
        return tuple(range(128))

    class NcclCommunicator:
        def __init__(self, ndev, uid, rank):
            FakeNccl.made.append((ndev, uid, rank))
            self.calls = []

        def allReduce(self, send, recv, count, dtype, op, stream):   # a world of 2 equal ranks
            self.calls.append(("allReduce", send, recv, count, dtype, op, stream))
            FakeDeviceArray.registry[recv].a[...] = FakeDeviceArray.registry[send].a * 2

        def bcast(self, buff, count, dtype, root, stream):
            self.calls.append(("bcast", buff, count, dtype, root, stream))

        def allGather(self, send, recv, count, dtype, stream):
            self.calls.append(("allGather", send, recv, count, dtype, stream))
            src, dst = FakeDeviceArray.registry[send].a, FakeDeviceArray.registry[recv].a
            dst[...] = src

        def abort(self):
            self.calls.append(("abort",))


class FakeMPI:
    name, size, local_rank, local_size = "mpi", 2, 0, 1

    def __init__(self, rank):
        self.rank, self.log = rank, []

    def broadcast_object(self, obj, src=0):
        self.log.append(("bcast_object", obj, src))
        return tuple(range(128))          # what rank 0 sent

    def all_reduce(self, arr, op):
        self.log.append(("host all_reduce", op))

    def abort(self, code):
        self.log.append(("abort", code))


@pytest.mark.parametrize("rank", [0, 1])
def test_nccl_communicator_is_built_from_rank_0s_unique_id_broadcast_over_mpi(rank):
    FakeNccl.made.clear()
    mpi = FakeMPI(rank)
    NCCLBackend(mpi, cupy=FakeCupy, nccl=FakeNccl)
    assert mpi.log == [("bcast_object", tuple(range(128)) if rank == 0 else None, 0)]
    assert FakeNccl.made == [(2, tuple(range(128)), rank)]


def test_nccl_calls_carry_pointer_count_type_op_and_cupys_stream():
    b = NCCLBackend(FakeMPI(0), cupy=FakeCupy, nccl=FakeNccl)
    x = FakeDeviceArray(np.arange(6, dtype=np.float32).reshape(2, 3))
    b.all_reduce(x, "sum")
    assert b.comm.calls[-1] == ("allReduce", x.data.ptr, x.data.ptr, 6, FakeNccl.NCCL_FLOAT32,
                                FakeNccl.NCCL_SUM, 0xABC)
    assert x.a.tolist() == [[0, 2, 4], [6, 8, 10]]
    h = b.iall_reduce(FakeDeviceArray(np.ones(4, np.float64)))
    h.wait()
    assert b.comm.calls[-1][3:6] == (4, FakeNccl.NCCL_FLOAT64, FakeNccl.NCCL_SUM)
    b.all_reduce(FakeDeviceArray(np.ones(2, np.int64)), "max")
    assert b.comm.calls[-1][4:6] == (FakeNccl.NCCL_INT64, FakeNccl.NCCL_MAX)
    b.broadcast(x, src=1)
    assert b.comm.calls[-1] == ("bcast", x.data.ptr, 6, FakeNccl.NCCL_FLOAT32, 1, 0xABC)
    g = b.all_gather(FakeDeviceArray(np.ones(3, np.float16)))
    assert g.shape == (2, 3) and b.comm.calls[-1][3:] == (3, FakeNccl.NCCL_FLOAT16, 0xABC)
    host = np.ones(3)
    b.all_reduce(host, "sum")                     # host arrays go through MPI
    assert b.mpi.log[-1] == ("host all_reduce", "sum")
    b.abort(3)
    assert b.comm.calls[-1] == ("abort",) and b.mpi.log[-1] == ("abort", 3)


def test_nccl_refuses_what_it_cannot_send():
    b = NCCLBackend(FakeMPI(0), cupy=FakeCupy, nccl=FakeNccl)
    with pytest.raises(TypeError, match="NCCL has no type for dtype bool"):
        b.all_reduce(FakeDeviceArray(np.ones(2, bool)))
    with pytest.raises(ValueError, match="op must be one of"):
        b.all_reduce(FakeDeviceArray(np.ones(2, np.float32)), "avg")
    strided = FakeDeviceArray(np.ones(4, np.float32))
    strided.flags = np.ones(8, np.float32)[::2].flags
    with pytest.raises(ValueError, match="C-contiguous"):
        b.broadcast(strided)
