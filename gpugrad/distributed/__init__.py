"""``gg.distributed``: data-parallel processes over MPI (CPU arrays) and NCCL (GPU arrays).

Start one process per CPU/GPU with ``mpiexec -n N python script.py`` and call :func:`init` in
each; then :func:`all_reduce`, :func:`broadcast`, :func:`all_gather` and :func:`barrier` work on
gpugrad Tensors (in place where PyTorch's ``torch.distributed`` works in place) and on small
Python objects (returned). Backends (``GPUGRAD_DIST_BACKEND`` or ``init(backend=...)``):

* ``mpi``: mpi4py on host arrays; CuPy arrays are staged through the host. Default on cpu.
* ``nccl``: CuPy's NCCL bindings on CuPy arrays, on CuPy's current stream; communicator built
  from a unique id that rank 0 broadcasts over MPI. Default on cuda.

>>> import gpugrad as gg
>>> gg.distributed.init()                     # under mpiexec -n 2
>>> t = gg.tensor([float(gg.distributed.get_rank())])
>>> gg.distributed.all_reduce(t)              # tensor([1.]) on both ranks
>>> gg.distributed.all_gather({"rank": gg.distributed.get_rank()})
[{'rank': 0}, {'rank': 1}]

Faults: after ``init``, an uncaught exception on any rank prints that rank's traceback and aborts
the whole job (MPI_Abort, as ``python -m mpi4py`` does), so the other ranks never wait forever in
a collective. A rank killed by a signal is detected by ``mpiexec``, which ends the others.
"""
from __future__ import annotations

import numbers
import os
import sys
import time

import numpy as np

from ..tensor import Tensor
from .launch import launched_world_size
from ..backends.cuda_runtime import is_available
from ..cuda import default_device

__all__ = ["init", "is_initialized", "get_rank", "get_world_size", "get_local_rank", "get_backend",
           "all_reduce", "broadcast", "all_gather", "barrier", "abort", "launched_world_size"]

_backend = None


def init(backend: str | None = None, device: str | None = None):
    """Join the job started by ``mpiexec`` and return its backend (idempotent).

    ``backend``: "mpi" or "nccl"; default ``GPUGRAD_DIST_BACKEND``, else "nccl" when ``device``
    (default: ``gg.cuda.default_device()``) is cuda and "mpi" on cpu. With GPUs, each rank first
    gets its own (``nccl_backend.select_device``: GPU local_rank of the host, from MPI's
    shared-memory split or the launcher's local-rank variable, becomes the process's "cuda:0",
    on which NCCL's communicator is then built); call it before any GPU work. Run outside ``mpiexec``,
    it is a job of one process. Raises ImportError (mpi4py, or CuPy's NCCL, missing, with what to
    install) or ValueError (an unknown backend).
    """
    global _backend
    if _backend is not None:
        return _backend
    name = backend or os.environ.get("GPUGRAD_DIST_BACKEND") or None
    if name not in (None, "mpi", "nccl"):
        raise ValueError(f"gg.distributed.init: backend must be 'mpi' or 'nccl', got {name!r} "
                         f"(from {'the argument' if backend else 'GPUGRAD_DIST_BACKEND'})")
    from .mpi_backend import MPIBackend
    b = MPIBackend()
    # Each rank its own GPU, chosen before CUDA starts (asking default_device() starts it): the
    # local rank from MPI's shared-memory split, else the launcher's variable.
    if name != "mpi" and (device is None or str(device).startswith("cuda")):
        from .nccl_backend import launcher_local_rank, select_device
        local = b.local_rank if getattr(b, "local_size", 1) > 1 else launcher_local_rank()
        if local is not None:
            select_device(local, cuda_started=lambda: is_available.cache_info().currsize > 0)
    if name is None:
        if device is None:
            device = default_device()
        name = "nccl" if str(device).startswith("cuda") else "mpi"
    if name == "nccl":
        from .nccl_backend import NCCLBackend
        b = NCCLBackend(b)
    _backend = b
    from .faults import install_excepthook
    install_excepthook(b)
    return b


def is_initialized() -> bool:
    return _backend is not None


def get_backend():
    """The backend :func:`init` made; RuntimeError if it was not called."""
    if _backend is None:
        raise RuntimeError("gg.distributed: not initialized; call gg.distributed.init() first (in "
                           "every process started by mpiexec)")
    return _backend


def get_rank() -> int:
    """This process's rank, 0..world_size-1 (0 when not initialized, like a one-process job)."""
    return _backend.rank if _backend is not None else 0


def get_world_size() -> int:
    return _backend.size if _backend is not None else 1


def get_local_rank() -> int:
    """This process's rank among those on the same host (which GPU it should use)."""
    return _backend.local_rank if _backend is not None else 0


def _raw(t: Tensor):
    return t._data


# What every backend can reduce/move: MPI has no SUM on bool and no MAX on complex, NCCL has
# neither type. Refused on each rank before any communication, so every rank raises alike.
_DTYPES = ("float16", "float32", "float64", "int8", "uint8", "int32", "uint32", "int64", "uint64")
_REDUCE_OPS = ("sum", "mean", "prod", "max", "min")
_PY_REDUCE = {"sum": lambda a, b: a + b, "mean": lambda a, b: a + b, "prod": lambda a, b: a * b,
              "max": max, "min": min}


def _check_op(api, op):
    if op not in _REDUCE_OPS:
        raise ValueError(f"{api}: op must be one of {', '.join(_REDUCE_OPS)}, got {op!r}")


def _check_dtype(api, dtype):
    if np.dtype(dtype).name not in _DTYPES:
        raise TypeError(f"{api}: cannot communicate dtype {np.dtype(dtype).name}; supported: "
                        f"{', '.join(_DTYPES)} (cast first, e.g. t.to(gg.int32) for bool)")


def _check_agree(api, b, arr, extra=()):
    """Exchange (shape, dtype, *extra) and raise the same ValueError on every rank if they differ.

    A buffer collective with mismatched shapes truncates (an MPI abort) or reads garbage; one small
    allgather of the metadata first turns that into one readable error everywhere.
    """
    mine = (tuple(int(n) for n in arr.shape), np.dtype(arr.dtype).name) + tuple(extra)
    everyone = b.all_gather_object(mine)
    if any(e != everyone[0] for e in everyone[1:]):
        what = ", ".join(f"rank {i}: {_describe(e)}" for i, e in enumerate(everyone))
        names = ["shape", "dtype"] + [k for k, _ in extra]
        raise ValueError(f"{api}: the ranks passed different tensors ({what}); every rank must pass "
                         f"the same {', '.join(names[:-1])} and {names[-1]}")


def _describe(meta):
    if not isinstance(meta, tuple):    # that rank called all_reduce with a number, not a tensor
        return f"a {type(meta).__name__}, not a tensor"
    shape, dtype, *extra = meta
    return " ".join([str(shape), dtype] + [f"{k}={v!r}" for k, v in extra])


def all_reduce(obj, op: str = "sum"):
    """Reduce over all ranks: a Tensor in place (returned too); a number or NumPy array returned.

    ``op``: "sum", "mean", "prod", "max", "min". Every rank must call it, in the same order, with
    the same shape, dtype and op (checked: a ValueError on every rank naming each rank's shape).
    Raises TypeError for bool/complex dtypes or a non-numeric object, ValueError for an unknown
    op, on every rank and before any communication (``torch.distributed.all_reduce``'s contract).
    """
    b = get_backend()
    _check_op("all_reduce", op)
    if isinstance(obj, (Tensor, np.ndarray)):
        data = _raw(obj) if isinstance(obj, Tensor) else np.array(obj, copy=True, order="C")
        _check_dtype("all_reduce", data.dtype)
        _check_agree("all_reduce", b, data, (("op", op),))
        b.all_reduce(data, "sum" if op == "mean" else op)
        if isinstance(obj, np.ndarray):
            return data / b.size if op == "mean" else data
        if op == "mean":
            data[...] = data / b.size   # ints floor-divide, as NumPy casts back into data's dtype
        obj._bump_version()
        return obj
    # Gather then reduce on every rank: a value that cannot be reduced fails on every rank alike
    # (an MPI object reduction would fail on one rank and leave the others waiting).
    values = b.all_gather_object(obj)
    bad = [(i, type(v).__name__) for i, v in enumerate(values) if not isinstance(v, numbers.Real)]
    if bad:
        raise TypeError(f"all_reduce: rank {bad[0][0]} passed a {bad[0][1]}; expected a Tensor, NumPy "
                        f"array or real number on every rank (all_gather takes other objects)")
    out = values[0]
    for v in values[1:]:
        out = _PY_REDUCE[op](out, v)
    return out / b.size if op == "mean" else out


def broadcast(obj, src: int = 0):
    """Rank ``src``'s value on every rank: a Tensor in place (same shape and dtype on every rank,
    checked: a ValueError on every rank naming each rank's shape), any other (picklable) object
    returned."""
    b = get_backend()
    _check_src(src, b)
    if isinstance(obj, Tensor):
        _check_dtype("broadcast", obj.dtype)
        _check_agree("broadcast", b, _raw(obj), (("src", int(src)),))
        b.broadcast(_raw(obj), src)
        obj._bump_version()
        return obj
    return b.broadcast_object(obj, src)


def all_gather(obj) -> list:
    """Every rank's value, in rank order: Tensors (same shape and dtype on every rank, checked as
    in :func:`broadcast`) as a list of Tensors on this rank's device; other (picklable) objects as
    a list of objects."""
    b = get_backend()
    if isinstance(obj, Tensor):
        _check_dtype("all_gather", obj.dtype)
        _check_agree("all_gather", b, _raw(obj))
        stacked = b.all_gather(np.ascontiguousarray(_raw(obj)) if isinstance(_raw(obj), np.ndarray)
                               else _raw(obj))
        return [Tensor._wrap(stacked[i], obj.device) for i in range(b.size)]
    return b.all_gather_object(obj)


def barrier() -> None:
    """Wait until every rank has reached this call."""
    get_backend().barrier()


def abort(code: int = 1) -> None:
    """End every rank of the job now with exit status ``code`` (a plain exit otherwise)."""
    if _backend is None:
        sys.exit(code)
    sys.stdout.flush()
    sys.stderr.flush()
    # mpiexec forwards each rank's output asynchronously; the abort kills every rank at once, so
    # give it a moment to pass on what this rank just printed (the error the user needs to see).
    time.sleep(0.5)
    _backend.abort(code)


def _check_src(src, b):
    if not 0 <= int(src) < b.size:
        raise ValueError(f"broadcast: src={src} is not a rank of this job (world size {b.size})")
