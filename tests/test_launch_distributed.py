"""Several GPUs (issue 23): each rank picks its local rank's GPU before CUDA starts, and the
asynchronous all-reduce runs on its own stream ordered by events (stand-ins, no GPU)."""
from __future__ import annotations

import numpy as np
import pytest

from gpugrad.distributed import nccl_backend
from gpugrad.distributed.nccl_backend import NCCLBackend, launcher_local_rank, select_device


@pytest.fixture
def four_gpus(monkeypatch):
    monkeypatch.setattr(nccl_backend, "_gpu_count_without_cuda", lambda: 4)


@pytest.mark.parametrize("local,visible,want", [(0, None, "0"), (3, None, "3"), (5, None, "1"),
                                                (1, "4,6", "6"), (2, "4,6", "4")])
def test_the_local_ranks_gpu_becomes_the_process_cuda_0(four_gpus, local, visible, want):
    env = {} if visible is None else {"CUDA_VISIBLE_DEVICES": visible}
    select_device(local, env=env, cuda_started=lambda: False)
    assert env["CUDA_VISIBLE_DEVICES"] == want


def test_a_pinned_or_single_gpu_is_left_alone(monkeypatch):
    env = {"CUDA_VISIBLE_DEVICES": "2"}
    assert select_device(1, env=env) is None and env == {"CUDA_VISIBLE_DEVICES": "2"}
    monkeypatch.setattr(nccl_backend, "_gpu_count_without_cuda", lambda: None)   # a CPU host
    env = {}
    assert select_device(1, env=env) is None and env == {}


def test_too_late_to_choose_says_what_to_do(four_gpus):
    with pytest.raises(RuntimeError, match="before any GPU work.*CUDA_VISIBLE_DEVICES per rank"):
        select_device(1, env={}, cuda_started=lambda: True)


def test_launcher_local_rank_variables():
    assert launcher_local_rank({"OMPI_COMM_WORLD_LOCAL_RANK": "2"}) == 2
    assert launcher_local_rank({"MPI_LOCALRANKID": "1"}) == 1
    assert launcher_local_rank({"LOCAL_RANK": "3", "SLURM_LOCALID": "0"}) == 3
    assert launcher_local_rank({}) is None


def test_iall_reduce_runs_on_its_own_stream_ordered_by_events():
    log = []

    class Event:
        def __init__(self, where):
            self.where, self.done = where, False

    class Stream:
        def __init__(self, ptr):
            self.ptr = ptr

        def record(self):
            log.append(("record", self.ptr))
            return Event(self.ptr)

        def wait_event(self, e):
            log.append(("wait", self.ptr, e.where))

    current = Stream(0x1)

    class Cupy:
        class ndarray:
            def __init__(self, n):
                self.size, self.dtype = n, np.dtype(np.float32)
                self.flags = np.ones(1).flags
                self.data = type("P", (), {"ptr": 0xD00D})()

        class cuda:
            get_current_stream = staticmethod(lambda: current)
            Stream = staticmethod(lambda non_blocking=False: Stream(0x2))

    class Comm:
        def allReduce(self, s, r, n, dt, op, stream):
            log.append(("allReduce", stream))

    class Nccl:
        NCCL_FLOAT32, NCCL_SUM = 7, 0
        get_unique_id = staticmethod(lambda: 1)
        NcclCommunicator = staticmethod(lambda *a: Comm())

    class Mpi:
        rank, size, local_rank, local_size = 0, 2, 0, 1

        def broadcast_object(self, o, src=0):
            return o

    b = NCCLBackend(Mpi(), cupy=Cupy, nccl=Nccl)
    h = b.iall_reduce(Cupy.ndarray(8))
    assert log == [("record", 0x1), ("wait", 0x2, 0x1), ("allReduce", 0x2), ("record", 0x2)]
    h.wait()
    assert log[-1] == ("wait", 0x1, 0x2), "the current stream waits for the sum on the device"
