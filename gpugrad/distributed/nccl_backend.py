"""The ``nccl`` backend: collectives on CuPy arrays through CuPy's NCCL bindings (``cupy.cuda.nccl``).

As ChainerMN did: rank 0 makes an NCCL unique id, MPI broadcasts it, and every rank builds its
communicator with ``NcclCommunicator(world_size, unique_id, rank)`` on its own GPU. Every call is
enqueued on CuPy's current stream, so it is ordered after the kernels that produced the data and
before the ones that read it, without a host wait; under stream capture (``gg.cuda.graphed``) the
NCCL calls are captured into the graph with the rest of the step. NumPy arrays and Python objects
go through MPI. NCCL refuses two ranks on one GPU: give each rank its own device.

Written against ``cupy_backends/cuda/libs/nccl.pyx`` (CuPy 13/14): ``allReduce(sendbuf, recvbuf,
count, datatype, op, stream)``, ``bcast(buff, count, datatype, root, stream)``,
``allGather(sendbuf, recvbuf, count, datatype, stream)`` with raw device pointers and ``count`` in
elements, and ``abort()``. Untested on a GPU until ci/gpu.sh's ddp stage has run on one.
"""
from __future__ import annotations

import numpy as np

_DTYPES = {"float16": "NCCL_FLOAT16", "float32": "NCCL_FLOAT32", "float64": "NCCL_FLOAT64",
           "int8": "NCCL_INT8", "uint8": "NCCL_UINT8", "int32": "NCCL_INT32",
           "uint32": "NCCL_UINT32", "int64": "NCCL_INT64", "uint64": "NCCL_UINT64"}
_OPS = {"sum": "NCCL_SUM", "prod": "NCCL_PROD", "max": "NCCL_MAX", "min": "NCCL_MIN"}


def import_nccl():
    """(cupy, cupy.cuda.nccl), or a one-line ImportError saying what is missing."""
    try:
        import cupy
        from cupy.cuda import nccl
    except ImportError as exc:
        raise ImportError(f"gpugrad.distributed: the nccl backend needs CuPy ({exc}); install "
                          f"gpugrad[cuda13] or pick the mpi backend (GPUGRAD_DIST_BACKEND=mpi)") from None
    if not getattr(nccl, "available", False):
        raise ImportError("gpugrad.distributed: CuPy cannot load the NCCL library; pip install "
                          "nvidia-nccl-cu13 (or -cu12, matching CuPy), or pick the mpi backend "
                          "(GPUGRAD_DIST_BACKEND=mpi)")
    return cupy, nccl


class NCCLBackend:
    """NCCL for CuPy arrays; ``mpi`` (an MPIBackend) for bootstrap, NumPy arrays and objects.

    ``cupy``/``nccl`` can be injected (the tests drive the logic with stand-ins, no GPU needed).
    """

    name = "nccl"

    def __init__(self, mpi, cupy=None, nccl=None):
        if cupy is None or nccl is None:
            cupy, nccl = import_nccl()
        self.mpi, self.cupy, self.nccl = mpi, cupy, nccl
        self.rank, self.size = mpi.rank, mpi.size
        self.local_rank, self.local_size = mpi.local_rank, mpi.local_size
        uid = nccl.get_unique_id() if self.rank == 0 else None
        uid = mpi.broadcast_object(uid, src=0)
        self.comm = nccl.NcclCommunicator(self.size, uid, self.rank)

    def _is_device(self, arr) -> bool:
        return isinstance(arr, self.cupy.ndarray)

    def _dtype(self, arr, what: str):
        name = _DTYPES.get(np.dtype(arr.dtype).name)
        if name is None:
            raise TypeError(f"{what}: NCCL has no type for dtype {arr.dtype}; supported: "
                            f"{', '.join(_DTYPES)}")
        return getattr(self.nccl, name)

    def _check(self, arr, what: str):
        if not arr.flags.c_contiguous:
            raise ValueError(f"{what}: the nccl backend needs a C-contiguous array, got shape "
                             f"{tuple(arr.shape)} with strides {arr.strides}; pass a contiguous copy")

    def _stream(self) -> int:
        return self.cupy.cuda.get_current_stream().ptr

    def all_reduce(self, arr, op: str = "sum") -> None:
        if not self._is_device(arr):
            return self.mpi.all_reduce(arr, op)
        self._check(arr, "all_reduce")
        if op not in _OPS:
            raise ValueError(f"all_reduce: op must be one of {', '.join(_OPS)} (or 'mean'), got {op!r}")
        ptr = arr.data.ptr   # in place: NCCL allows sendbuf == recvbuf
        self.comm.allReduce(ptr, ptr, arr.size, self._dtype(arr, "all_reduce"),
                            getattr(self.nccl, _OPS[op]), self._stream())

    def _comm_stream(self):
        """The stream this rank's asynchronous all-reduces run on (made on first use, on the
        rank's device), so they overlap the backward kernels still queued on the current stream."""
        s = getattr(self, "_side", None)
        if s is None:
            s = self._side = self.cupy.cuda.Stream(non_blocking=True)
        return s

    def iall_reduce(self, arr):
        """Enqueue a sum of ``arr`` (in place) on the communication stream, after the work queued so
        far on the current stream (an event orders it: no host wait); ``wait()`` on the handle makes
        the current stream wait for the sum's event, again without a host wait. Under a CUDA graph
        capture the event pair forks the side stream into the graph and joins it back."""
        if not self._is_device(arr):
            return self.mpi.iall_reduce(arr)
        self._check(arr, "all_reduce")
        current = self.cupy.cuda.get_current_stream()
        side = self._comm_stream()
        side.wait_event(current.record())
        ptr = arr.data.ptr
        self.comm.allReduce(ptr, ptr, arr.size, self._dtype(arr, "all_reduce"), self.nccl.NCCL_SUM, side.ptr)
        return _OnStream(self.cupy, side.record())

    def broadcast(self, arr, src: int = 0) -> None:
        if not self._is_device(arr):
            return self.mpi.broadcast(arr, src)
        self._check(arr, "broadcast")
        self.comm.bcast(arr.data.ptr, arr.size, self._dtype(arr, "broadcast"), int(src), self._stream())

    def all_gather(self, arr):
        if not self._is_device(arr):
            return self.mpi.all_gather(arr)
        self._check(arr, "all_gather")
        out = self.cupy.empty((self.size,) + tuple(arr.shape), dtype=arr.dtype)
        self.comm.allGather(arr.data.ptr, out.data.ptr, arr.size, self._dtype(arr, "all_gather"),
                            self._stream())
        return out

    def barrier(self) -> None:
        self.cupy.cuda.get_current_stream().synchronize()   # NCCL work queued so far is done
        self.mpi.barrier()

    def broadcast_object(self, obj, src: int = 0):
        return self.mpi.broadcast_object(obj, src)

    def all_gather_object(self, obj) -> list:
        return self.mpi.all_gather_object(obj)

    def all_reduce_object(self, obj, op: str = "sum"):
        return self.mpi.all_reduce_object(obj, op)

    def all_failed(self, timeout: float) -> bool:
        return self.mpi.all_failed(timeout)

    def abort(self, code: int = 1) -> None:
        # Abort the NCCL communicator first: a kernel blocked in a collective would otherwise keep
        # this process (and the GPU) busy after MPI has told the job to end.
        try:
            self.comm.abort()
        finally:
            self.mpi.abort(code)


class _OnStream:
    """The handle of an all-reduce on the communication stream: its completion event."""

    def __init__(self, cupy, event):
        self.cupy, self.event = cupy, event

    def test(self) -> bool:
        return bool(self.event.done)

    def wait(self) -> None:
        # ordered on the device: later kernels of the current stream read the summed buffer
        self.cupy.cuda.get_current_stream().wait_event(self.event)


def select_device(local_rank: int, env=None, cuda_started=None) -> int | None:
    """Make this rank's GPU the process's only visible one, before CUDA starts: GPU ``local_rank``
    (mod the GPUs listed in CUDA_VISIBLE_DEVICES, when set) becomes "cuda:0" of this process, as
    gpugrad runs one GPU per process. Returns the GPU chosen (an index among those the host lists),
    or None when there is nothing to choose (one GPU; the launcher already pinned one).

    ``env`` (default os.environ) gets CUDA_VISIBLE_DEVICES; ``cuda_started()`` says whether this
    process has already initialised CUDA (then the choice comes too late: RuntimeError with the fix).
    """
    import os
    env = os.environ if env is None else env
    listed = env.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        ids = [d for d in listed.split(",") if d.strip()]
        if len(ids) <= 1:
            return None                     # pinned already (by the launcher or the user)
    else:
        ids = None
    if cuda_started is not None and cuda_started():
        raise RuntimeError(
            f"gg.distributed.init: this process already uses CUDA, so rank {local_rank} on this host can no "
            f"longer be given its own GPU; call gg.distributed.init() before any GPU work (gg.cuda, "
            f"tensors on 'cuda'), or set CUDA_VISIBLE_DEVICES per rank in the launcher")
    if ids is None:
        count = _gpu_count_without_cuda()
        if count is None or count <= 1:     # no GPU listed (a CPU host), or one: nothing to choose
            return None
        choice = str(local_rank % count)
    else:
        choice = ids[local_rank % len(ids)].strip()
    env["CUDA_VISIBLE_DEVICES"] = choice
    return int(choice) if choice.isdigit() else None


def _gpu_count_without_cuda(root="/proc/driver/nvidia/gpus"):
    """GPUs on this host from the driver's /proc listing (no CUDA initialisation), or None."""
    import os
    try:
        return len(os.listdir(root))
    except OSError:
        return None


#: the launchers' local-rank variables, read when MPI gives none (torchrun, Open MPI, MPICH/Hydra, Slurm)
LOCAL_RANK_VARS = ("LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID")


def launcher_local_rank(env=None):
    import os
    env = os.environ if env is None else env
    for var in LOCAL_RANK_VARS:
        if env.get(var, "").isdigit():
            return int(env[var])
    return None
