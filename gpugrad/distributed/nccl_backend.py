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

    def iall_reduce(self, arr):
        """Enqueue a sum on the current stream; the stream orders it, so the handle has nothing to wait for."""
        if not self._is_device(arr):
            return self.mpi.iall_reduce(arr)
        self.all_reduce(arr, "sum")
        return _Enqueued()

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


class _Enqueued:
    done = True

    def test(self) -> bool:
        return True

    def wait(self) -> None:
        pass
