"""The ``mpi`` backend: collectives through mpi4py on host (NumPy) arrays.

Buffer calls (``Allreduce``, ``Bcast``, ``Allgather``, ``Iallreduce``: capitalised in mpi4py) move
NumPy arrays without pickling; Python objects go through the lower-case, pickling calls. CuPy arrays
are staged through the host (a copy down, the collective, a copy back): correct but slow, which is
why the default on cuda is the ``nccl`` backend.
"""
from __future__ import annotations

import time

import numpy as np

_OPS = ("sum", "prod", "max", "min")


def import_mpi():
    """mpi4py's MPI module, or a one-line ImportError saying what to install."""
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise ImportError(f"gpugrad.distributed: mpi4py is not installed ({exc}); install it with "
                          f"pip install 'gpugrad[distributed]' (mpi4py and the mpich wheels)") from None
    return MPI


def _is_cupy(a) -> bool:
    return type(a).__module__.split(".")[0] == "cupy"


class MPIBackend:
    """Collectives over an MPI communicator (default: a duplicate of COMM_WORLD).

    The duplicate keeps gpugrad's messages apart from any the user's own code sends on COMM_WORLD.
    """

    name = "mpi"

    def __init__(self, comm=None):
        MPI = import_mpi()
        self.MPI = MPI
        self.comm = (comm if comm is not None else MPI.COMM_WORLD).Dup()
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        # Ranks on this host: their order picks each rank's GPU, and their count bounds it.
        local = self.comm.Split_type(MPI.COMM_TYPE_SHARED, key=self.rank)
        self.local_rank, self.local_size = local.Get_rank(), local.Get_size()
        local.Free()
        self._ops = {"sum": MPI.SUM, "prod": MPI.PROD, "max": MPI.MAX, "min": MPI.MIN}
        # A communicator of its own for all_failed(): its barrier can never be matched with a
        # collective that healthy ranks are blocked in on self.comm.
        self._fault_comm = self.comm.Dup()

    # -- arrays (in place) -------------------------------------------------------------------
    def _op(self, op: str):
        try:
            return self._ops[op]
        except KeyError:
            raise ValueError(f"all_reduce: op must be one of {', '.join(_OPS)} (or 'mean'), "
                             f"got {op!r}") from None

    def all_reduce(self, arr, op: str = "sum") -> None:
        """Reduce ``arr`` over all ranks, in place (NumPy or CuPy array)."""
        mop = self._op(op)
        host, put_back = _host_buffer(arr)
        self.comm.Allreduce(self.MPI.IN_PLACE, host, op=mop)
        put_back(host)

    def iall_reduce(self, arr):
        """Start summing ``arr`` over all ranks in place; returns a handle with ``test()``/``wait()``."""
        host, put_back = _host_buffer(arr)
        return _Request(self.comm.Iallreduce(self.MPI.IN_PLACE, host, op=self.MPI.SUM), host, put_back)

    def broadcast(self, arr, src: int = 0) -> None:
        host, put_back = _host_buffer(arr)
        self.comm.Bcast(host, root=src)
        put_back(host)

    def all_gather(self, arr):
        """A new array of shape (size, *arr.shape): every rank's ``arr`` in rank order."""
        host, _ = _host_buffer(arr)
        out = np.empty((self.size,) + host.shape, dtype=host.dtype)
        self.comm.Allgather(host, out)
        if _is_cupy(arr):
            import cupy
            return cupy.asarray(out)
        return out

    def barrier(self) -> None:
        self.comm.Barrier()

    # -- small Python objects (pickled) --------------------------------------------------------
    def broadcast_object(self, obj, src: int = 0):
        return self.comm.bcast(obj, root=src)

    def all_gather_object(self, obj) -> list:
        return self.comm.allgather(obj)

    def all_reduce_object(self, obj, op: str = "sum"):
        return self.comm.allreduce(obj, op=self._op(op))

    def all_failed(self, timeout: float) -> bool:
        """True when every rank calls this within ``timeout`` seconds (all failed alike, e.g. on a
        bad setting): then none is blocked in a collective and each may exit normally. False when
        some rank is elsewhere (the caller aborts the job). A non-blocking barrier, polled."""
        req = self._fault_comm.Ibarrier()
        deadline = time.monotonic() + timeout
        while not req.Test():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def abort(self, code: int = 1) -> None:
        """End every rank of the job now (MPI_Abort); never returns."""
        self.MPI.COMM_WORLD.Abort(int(code))


def _host_buffer(arr):
    """(a contiguous NumPy array holding ``arr``'s values, a function writing it back into ``arr``)."""
    if _is_cupy(arr):
        host = np.ascontiguousarray(arr.get())

        def put_back(h):
            arr[...] = h   # CuPy copies a host array into the device array
        return host, put_back
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"gpugrad.distributed: expected a NumPy or CuPy array, got {type(arr).__name__}")
    if arr.flags.c_contiguous:
        return arr, lambda h: None
    host = np.ascontiguousarray(arr)

    def put_back(h):
        arr[...] = h
    return host, put_back


class _Request:
    """A started MPI Iallreduce: ``test()`` advances it (MPICH progresses only inside MPI calls),
    ``wait()`` finishes it and writes a staged result back."""

    def __init__(self, req, host, put_back):
        self._req, self._host, self._put_back, self.done = req, host, put_back, False

    def test(self) -> bool:
        if not self.done and self._req.Test():
            self._finish()
        return self.done

    def wait(self) -> None:
        if not self.done:
            self._req.Wait()
            self._finish()

    def _finish(self):
        self.done = True
        self._put_back(self._host)
