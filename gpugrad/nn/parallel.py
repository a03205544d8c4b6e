"""``DistributedDataParallel``: PyTorch's data-parallel wrapper, over ``gg.distributed``.

Every rank holds a full replica of the model and runs forward and backward on its share of the
batch; the gradients are then averaged over the ranks, so every replica takes the same optimizer
step and stays identical. As in PyTorch:

* Wrapping broadcasts rank 0's parameters and buffers to every rank, after checking that every
  rank built the same model (names, shapes, dtypes, requires_grad) and the same gradient buckets;
  a mismatch is a ValueError naming the entry and the rank.
* Gradients travel in flat buckets of about ``bucket_cap_mb`` MB. Parameters are assigned to
  buckets in reverse registration order (roughly the order backward produces their gradients);
  a hook on each parameter copies its gradient into its bucket, and a bucket's all-reduce starts
  as soon as its last gradient has arrived, while backward goes on computing the earlier layers.
  Buckets start in index order on every rank (MPI needs one order of collectives). At the end of
  backward (``gg.autograd.queue_callback``) every all-reduce is waited for and each ``.grad``
  becomes the average over ranks.
* ``no_sync()``: backward passes inside it only accumulate ``.grad`` locally; the next backward
  outside it averages the accumulated gradients.
* Parameters a step did not use: after backward every ``.grad`` is what one process over the
  global batch would hold. A parameter no rank has a gradient for keeps ``.grad`` as it was (None
  stays None, so momentum, weight decay and Adam leave it alone on every rank, as in one
  process); one that some ranks used gets the average, the others counting zero. This is
  PyTorch's ``find_unused_parameters=True`` behaviour (PR #28883), always on: each bucket carries
  one "has a gradient" count per parameter after its gradients, summed by the same all-reduce,
  so it costs no extra collective (PyTorch all-reduces a separate bitmap). "Has a gradient"
  includes a ``.grad`` left from ``no_sync`` or ``zero_grad(set_to_none=False)``.

As in PyTorch, ``gg.grad`` on a wrapped model returns this rank's gradients unsynchronized and
leaves ``.grad`` alone; only ``backward()`` averages. Also as in PyTorch, every rank's backward
must reach the model's parameters (a rank whose loss does not depend on the model at all never
joins the all-reduce, and the others wait for it).
"""
from __future__ import annotations

import contextlib

from ..backends import get_backend as _array_backend
from ..tensor import Tensor
from .module import Module
from .. import distributed
from ..autograd import in_backward, queue_callback

__all__ = ["DistributedDataParallel"]


class _Bucket:
    """A flat buffer holding the gradients of ``params`` (same device and dtype) back to back,
    then one flag per parameter: 1 where this rank has a gradient for it. The all-reduce sums the
    flags with the gradients, so afterwards they count the ranks that had one (exact in float16
    up to 2048 ranks)."""

    def __init__(self, index, params, xp):
        self.index, self.params = index, params
        self.offsets, n = [], 0
        for p in params:
            self.offsets.append(n)
            n += p.size
        self.flat = xp.zeros(n + len(params), dtype=params[0].dtype)
        self.used = self.flat[n:]
        self.nbytes = n * self.flat.itemsize        # the gradients' bytes: what bucket_cap_mb bounds
        self.reset()

    def reset(self):
        self.arrived = [False] * len(self.params)
        self.count = 0
        self.handle = None
        self.local_used = None    # per-parameter flags when some parameter had no gradient here

    def slot(self, j):
        p, o = self.params[j], self.offsets[j]
        return self.flat[o:o + p.size].reshape(p.shape)


class DistributedDataParallel(Module):
    """Wrap ``module`` (same on every rank) for data-parallel training; call it like the module.

    Args:
        module: the model; its parameters are overwritten with rank 0's.
        bucket_cap_mb: bucket size in MB (PyTorch's default 25). Smaller buckets start their
            all-reduce earlier in backward; larger ones pay the per-call latency fewer times.
        broadcast_buffers: broadcast rank 0's buffers before every forward (PyTorch's default).
        process_group: the gg.distributed backend to use (default: the one ``init()`` made).

    Raises RuntimeError when gg.distributed is not initialized, ValueError when the ranks' models
    differ.

    >>> gg.distributed.init()
    >>> model = gg.nn.parallel.DistributedDataParallel(gg.nn.MLP([64, 256, 10]))
    >>> loss = gg.nn.functional.cross_entropy(model(x_shard), y_shard); loss.backward()
    >>> opt.step()                                    # every rank steps with the averaged gradient
    """

    def __init__(self, module: Module, bucket_cap_mb: float = 25.0, broadcast_buffers: bool = True,
                 process_group=None):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: expected a gg.nn.Module, got {type(module).__name__}")
        if process_group is None:
            process_group = distributed.get_backend()
        if not bucket_cap_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be > 0, got {bucket_cap_mb}")
        self.module = module
        object.__setattr__(self, "process_group", process_group)
        self.bucket_cap_mb = float(bucket_cap_mb)
        self.broadcast_buffers = bool(broadcast_buffers)
        self._require_sync = True
        self._in_backward = False
        self._next_launch = 0
        self._check_same_model()
        self._sync_state(buffers_only=False)
        self._params = _unique(p for p in module.parameters() if p.requires_grad)
        object.__setattr__(self, "_buckets", self._build_buckets())
        self._check_same_buckets()
        self._hook_handles = []
        for bi, b in enumerate(self._buckets):
            for j, p in enumerate(b.params):
                self._hook_handles.append(p.register_hook(self._make_hook(bi, j)))

    # -- setup ---------------------------------------------------------------------------------
    def _entries(self):
        return list(self.module.named_parameters()) + list(self.module.named_buffers())

    def _check_same_model(self):
        # requires_grad decides which parameters get buckets: ranks that disagree would all-reduce
        # misaligned buffers (garbage gradients), so it is checked with the names, shapes and dtypes.
        pg = self.process_group
        params = {id(p) for p in self.module.parameters()}
        mine = [(name, tuple(t.shape), str(t.dtype), id(t) in params and bool(t.requires_grad))
                for name, t in self._entries()]
        everyone = pg.all_gather_object(mine)
        ref = everyone[0]
        for r, theirs in enumerate(everyone[1:], start=1):
            if theirs == ref:
                continue
            for (n0, s0, d0, g0), (n1, s1, d1, g1) in zip(ref, theirs):
                if (n0, s0, d0) != (n1, s1, d1):
                    raise ValueError(f"DistributedDataParallel: parameter {n0!r} is {s0} {d0} on rank 0 "
                                     f"but {n1!r} is {s1} {d1} on rank {r}; every rank must build the same "
                                     f"model")
                if g0 != g1:
                    raise ValueError(f"DistributedDataParallel: parameter {n0!r} has requires_grad={g0} "
                                     f"on rank 0 but requires_grad={g1} on rank {r}; freeze the same "
                                     f"parameters on every rank before wrapping")
            raise ValueError(f"DistributedDataParallel: rank 0's model has {len(ref)} parameters and "
                             f"buffers, rank {r}'s has {len(theirs)}; every rank must build the same model")

    def _check_same_buckets(self):
        """Every rank must all-reduce the same bucket layout (sizes, dtypes), in the same order;
        a different ``bucket_cap_mb`` on one rank would pair unrelated gradients."""
        mine = [(b.flat.size, str(b.flat.dtype)) for b in self._buckets]
        everyone = self.process_group.all_gather_object((self.bucket_cap_mb, mine))
        for r, theirs in enumerate(everyone[1:], start=1):
            if theirs[1] != everyone[0][1]:
                raise ValueError(f"DistributedDataParallel: rank 0 has gradient buckets "
                                 f"{everyone[0][1]} (bucket_cap_mb={everyone[0][0]}) but rank {r} has "
                                 f"{theirs[1]} (bucket_cap_mb={theirs[0]}); pass the same bucket_cap_mb "
                                 f"on every rank")

    def _sync_state(self, buffers_only: bool):
        pg = self.process_group
        if pg.size == 1:
            return
        items = self.module.named_buffers() if buffers_only else self._entries()
        for _, t in items:
            if t is not None:
                pg.broadcast(t._data, 0)
                t._bump_version()

    def _build_buckets(self):
        cap = self.bucket_cap_mb * 2 ** 20
        buckets, current, size = [], [], 0
        for p in reversed(self._params):
            if current and (size + p._data.nbytes > cap or p.device != current[0].device
                            or p.dtype != current[0].dtype):
                buckets.append(current)
                current, size = [], 0
            current.append(p)
            size += p._data.nbytes
        if current:
            buckets.append(current)
        return [_Bucket(i, ps, _array_backend(ps[0].device).xp) for i, ps in enumerate(buckets)]

    @property
    def bucket_sizes(self) -> list:
        """Bytes of each bucket, in launch order."""
        return [b.nbytes for b in self._buckets]

    # -- forward / backward --------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        if self._in_backward:
            # The last backward raised before it ended (its callback was dropped): start clean.
            self._reset()
        if self.broadcast_buffers and self._require_sync:
            self._sync_state(buffers_only=True)
        return self.module(*args, **kwargs)

    @contextlib.contextmanager
    def no_sync(self):
        """Backward passes inside only accumulate ``.grad`` on this rank (no communication)."""
        old = self._require_sync
        self._require_sync = False
        try:
            yield
        finally:
            self._require_sync = old

    def _make_hook(self, bi, j):
        def hook(grad):
            self._on_grad(bi, j, grad)
        return hook

    def _on_grad(self, bi, j, grad):
        # Only backward() writes .grad; a gg.grad() walk (e.g. a gradient penalty) must neither
        # fill the buckets nor write .grad (PyTorch's reducer ignores autograd.grad too).
        if not self._require_sync or not in_backward():
            return
        if not self._in_backward:
            self._in_backward = True
            queue_callback(self._finish)
        b = self._buckets[bi]
        if b.arrived[j]:
            raise RuntimeError(f"DistributedDataParallel: parameter of shape {b.params[j].shape} got "
                               f"two gradients in one backward pass (hook fired twice)")
        p = b.params[j]
        g = grad._data if isinstance(grad, Tensor) else grad
        # The hook sees this backward's gradient before it is added into .grad; what was already
        # there (accumulated under no_sync) belongs in the average too.
        if p.grad is not None:
            b.slot(j)[...] = p.grad._data + g
        else:
            b.slot(j)[...] = g
        b.arrived[j] = True
        b.count += 1
        self._launch_ready()
        for other in self._buckets[:self._next_launch]:
            other.handle.test()   # MPICH advances a non-blocking collective only inside MPI calls

    def _launch_ready(self):
        while self._next_launch < len(self._buckets):
            b = self._buckets[self._next_launch]
            if b.count < len(b.params):
                return
            b.used.fill(1)                  # device-side writes only (no host copy: capturable)
            if b.local_used is not None:
                for j, used in enumerate(b.local_used):
                    if not used:
                        b.used[j] = 0
            b.handle = self.process_group.iall_reduce(b.flat)
            self._next_launch += 1

    def _finish(self):
        """End of backward: launch what is left, wait for everything, write the averages into .grad."""
        try:
            for b in self._buckets[self._next_launch:]:
                if b.count < len(b.params):
                    # No gradient this pass: what .grad holds (no_sync), else zero and flagged as
                    # unused here.
                    b.local_used = [1] * len(b.params)
                    for j, p in enumerate(b.params):
                        if not b.arrived[j]:
                            if p.grad is not None:
                                b.slot(j)[...] = p.grad._data
                            else:
                                b.slot(j)[...] = 0
                                b.local_used[j] = 0
                            b.arrived[j] = True
                            b.count += 1
            self._launch_ready()
            scale = 1.0 / self.process_group.size
            for b in self._buckets:
                b.handle.wait()
                if scale != 1.0:
                    b.flat *= b.flat.dtype.type(scale)
                # Where this rank used every parameter, every one is used globally: no need to
                # read the counts (on cuda that would wait for the device).
                counts = None if b.local_used is None or all(b.local_used) else b.used.tolist()
                for j, p in enumerate(b.params):
                    if counts is not None and not counts[j] > 0:
                        continue           # no rank had a gradient: .grad stays None everywhere
                    avg = b.slot(j)
                    if p.grad is not None and not p.grad.requires_grad:
                        p.grad._data[...] = avg
                    else:
                        p.grad = Tensor._wrap(avg.copy(), p.device)
        finally:
            self._reset()

    def _reset(self):
        self._in_backward = False
        self._next_launch = 0
        for b in self._buckets:
            b.reset()

    def extra_repr(self) -> str:
        return (f"world_size={self.process_group.size}, backend={self.process_group.name}, "
                f"buckets={len(self._buckets)}")


def _unique(params):
    seen, out = set(), []
    for p in params:
        if id(p) not in seen:
            seen.add(id(p))
            out.append(p)
    return out
