"""Creating tensors: zeros, ones, full, arange, randn, rand, *_like, from_numpy, from_dlpack, manual_seed."""
from __future__ import annotations

import contextlib
import threading

import numpy as np

from .backends import get_backend
from .device import as_device
from .dtypes import get_default_dtype, resolve_dtype
from .tensor import Tensor, tensor

_seed = None
_generators: dict[str, object] = {}
# A generator_scope active in this thread: (seed, {device: generator}); None outside any scope.
_scoped = threading.local()


def manual_seed(seed: int) -> None:
    """Seed gpugrad's global random generators (every device) for reproducible randn/rand/init.
    (``gg.manual_seed``, in torch_face/top_level.py, also returns a Generator holding the seed, as PyTorch's.)

    As in PyTorch, this is process-wide state for the user's own code; code inside a
    :func:`generator_scope` (such as ``gpugrad.commands.train.train``) draws from its own generators
    and neither reads nor changes these.
    """
    global _seed, _cuda_seed
    _seed = int(seed)
    _cuda_seed = None
    _generators.clear()


_cuda_seed = None   # set by gg.cuda.manual_seed_all: the CUDA generators' own seed


def manual_seed_cuda(seed: int) -> None:
    """Reseed only the CUDA devices' generators with the streams ``manual_seed(seed)`` gives them
    (``torch.cuda.manual_seed_all``); the CPU's stream is untouched. Nothing to do without a GPU."""
    global _cuda_seed
    _cuda_seed = int(seed)
    for key in [k for k in _generators if k.startswith("cuda")]:
        del _generators[key]


@contextlib.contextmanager
def generator_scope(seed: int):
    """Within this block, in this thread only, randn/rand/uniform/initialisers/dropout draw from
    private generators seeded with ``seed`` (the same streams ``manual_seed(seed)`` would give),
    leaving the global generators untouched. Scopes nest; each thread has its own.

    What a run needs when several share a process: two ``train()`` calls in two threads each
    get their own numbers, and the user's ``gg.manual_seed`` state is not disturbed.
    """
    prev = getattr(_scoped, "active", None)
    _scoped.active = (int(seed), {})
    try:
        yield
    finally:
        _scoped.active = prev


def _generator(device):
    """The random generator of ``device``'s array module, created from the seed on first use."""
    active = getattr(_scoped, "active", None)
    seed, table = active if active is not None else (_seed, _generators)
    if active is None and _cuda_seed is not None and device.type == "cuda":
        seed = _cuda_seed
    g = table.get(device._str)
    if g is None:
        xp = get_backend(device).xp
        if seed is None:
            seed = np.random.SeedSequence().entropy % (2 ** 63)
        g = xp.random.default_rng(seed + (device.index or 0) if device.type == "cuda" else seed)
        table[device._str] = g
    return g


def _shape(shape) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return tuple(int(s) for s in shape)


def _float_dtype(dtype, fn):
    d = get_default_dtype() if dtype is None else resolve_dtype(dtype)
    if d.kind != "f":
        raise TypeError(f"{fn}: random values need a floating dtype, got {d}")
    return d


def _draw(device, method, shape, dtype):
    """``method`` ("standard_normal" or "random") of ``device``'s generator in ``dtype``.

    NumPy's and CuPy's generators draw float32/float64 only: float16 is drawn in float32 and
    rounded (as PyTorch's half randn), so every floating dtype NumPy supports works.
    """
    draw_dtype = np.float32 if dtype == np.float16 else dtype
    arr = getattr(_generator(device), method)(shape, dtype=draw_dtype)
    if dtype == np.float16:
        arr = arr.astype(np.float16)
        if method == "random":  # rounding up to 1.0 would leave [0, 1): keep the largest half below 1
            xp = get_backend(device).xp
            arr = xp.minimum(arr, np.float16(1) - np.finfo(np.float16).epsneg)
    return arr


def _new(arr, device, requires_grad):
    t = Tensor._wrap(arr, device)
    if requires_grad:
        t.requires_grad = True
    return t


def zeros(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A tensor of zeros (default dtype float32)."""
    dev = as_device(device)
    d = get_default_dtype() if dtype is None else resolve_dtype(dtype)
    return _new(get_backend(dev).xp.zeros(_shape(shape), dtype=d), dev, requires_grad)


def ones(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A tensor of ones (default dtype float32)."""
    dev = as_device(device)
    d = get_default_dtype() if dtype is None else resolve_dtype(dtype)
    return _new(get_backend(dev).xp.ones(_shape(shape), dtype=d), dev, requires_grad)


def full(shape, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A tensor filled with ``fill_value`` (dtype from the value: float -> default float dtype)."""
    dev = as_device(device)
    if dtype is None:
        kind = np.asarray(fill_value).dtype.kind
        d = get_default_dtype() if kind == "f" else np.asarray(fill_value).dtype
    else:
        d = resolve_dtype(dtype)
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return _new(get_backend(dev).xp.full(shape, fill_value, dtype=d), dev, requires_grad)


def empty(*shape, dtype=None, device=None) -> Tensor:
    """An uninitialised tensor (for outputs that are written before being read)."""
    dev = as_device(device)
    d = get_default_dtype() if dtype is None else resolve_dtype(dtype)
    return Tensor._wrap(get_backend(dev).xp.empty(_shape(shape), dtype=d), dev)


_INT = np.dtype(np.int_)


def arange(start, stop=None, step=1, dtype=None, device=None) -> Tensor:
    """Evenly spaced values in [start, stop), as NumPy's arange: integer arguments give int64
    (NumPy's rule), any float argument gives the default float dtype (float32).

    The dtype is worked out from the arguments' types, without building a throwaway array:
    one allocation, the result's.
    """
    dev = as_device(device)
    if stop is None:
        start, stop = 0, start
    kinds = {type(start), type(stop), type(step)}
    if dtype is not None:
        d = resolve_dtype(dtype)
    elif kinds == {int}:                    # the common cases, without NumPy's type machinery
        d = _INT
    elif kinds <= {int, float}:
        d = get_default_dtype()
    else:
        # np.arange computes in at least the default integer; a float anywhere makes it float.
        d = np.result_type(np.dtype(np.int_), *(np.asarray(v).dtype for v in (start, stop, step)))
        if d.kind == "f":
            d = get_default_dtype()
        elif d.kind not in "iub":
            raise TypeError(f"arange: start, stop and step must be real numbers, got "
                            f"{type(start).__name__}, {type(stop).__name__}, {type(step).__name__}")
    return Tensor._wrap(get_backend(dev).xp.arange(start, stop, step, dtype=d), dev)


def randn(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Standard normal samples (seed with gg.manual_seed)."""
    dev = as_device(device)
    d = _float_dtype(dtype, "randn")
    arr = _draw(dev, "standard_normal", _shape(shape), d)
    return _new(arr, dev, requires_grad)


def rand(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Uniform samples in [0, 1) (seed with gg.manual_seed)."""
    dev = as_device(device)
    d = _float_dtype(dtype, "rand")
    arr = _draw(dev, "random", _shape(shape), d)
    return _new(arr, dev, requires_grad)


def uniform(low, high, shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Uniform samples in [low, high) (used by parameter initialisers)."""
    dev = as_device(device)
    d = _float_dtype(dtype, "uniform")
    arr = _draw(dev, "random", _shape((shape,) if isinstance(shape, int) else shape), d)
    arr = arr * d.type(high - low) + d.type(low)
    return _new(arr, dev, requires_grad)


def zeros_like(t: Tensor, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Zeros with ``t``'s shape, dtype and device (unless overridden)."""
    return zeros(t.shape, dtype=t.dtype if dtype is None else dtype,
                 device=t.device if device is None else device, requires_grad=requires_grad)


def ones_like(t: Tensor, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Ones with ``t``'s shape, dtype and device (unless overridden)."""
    return ones(t.shape, dtype=t.dtype if dtype is None else dtype,
                device=t.device if device is None else device, requires_grad=requires_grad)


def from_numpy(array: np.ndarray, requires_grad=False) -> Tensor:
    """A cpu tensor sharing memory with a NumPy array (its dtype kept as is)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    if array.dtype.kind not in "fiub":
        raise TypeError(f"from_numpy: unsupported dtype {array.dtype}")
    return _new(array, as_device("cpu"), requires_grad)


def from_dlpack(obj, requires_grad=False) -> Tensor:
    """A tensor sharing memory with any DLPack producer (NumPy, CuPy, PyTorch, JAX ...)."""
    dev_type, dev_id = obj.__dlpack_device__()
    if int(dev_type) == 1:          # kDLCPU
        arr = np.from_dlpack(obj)
        dev = as_device("cpu")
    elif int(dev_type) == 2:        # kDLCUDA
        import cupy
        arr = cupy.from_dlpack(obj)
        dev = as_device(f"cuda:{dev_id}")
    else:
        raise TypeError(f"from_dlpack: unsupported DLPack device type {dev_type}")
    return _new(arr, dev, requires_grad)


# -- PyTorch's creation functions (issue 12): randperm, randint, eye, linspace, as_tensor -------------
def randperm(n: int, dtype="int64", device=None, requires_grad=False) -> Tensor:
    """A random permutation of 0..n-1 (int64 by default), as ``torch.randperm``; seeded by
    ``gg.manual_seed``."""
    if int(n) < 0:
        raise ValueError(f"randperm: n must be >= 0, got {n}")
    dev = as_device(device)
    arr = _generator(dev).permutation(int(n)).astype(resolve_dtype(dtype))
    return _new(arr, dev, requires_grad)


def randint(low, high=None, size=None, dtype="int64", device=None, requires_grad=False) -> Tensor:
    """Integers uniform in [low, high), as ``torch.randint``: ``randint(high, size)`` or
    ``randint(low, high, size)``; ``size`` is a tuple. Seeded by ``gg.manual_seed``."""
    if size is None:                 # randint(high, size)
        if high is None:
            raise TypeError("randint: missing size; call randint(high, size) or randint(low, high, size)")
        low, high, size = 0, low, high
    if int(high) <= int(low):
        raise ValueError(f"randint: high ({high}) must be greater than low ({low})")
    dev = as_device(device)
    shape = (int(size),) if isinstance(size, (int, np.integer)) else _shape(tuple(size))
    arr = _generator(dev).integers(int(low), int(high), size=shape).astype(resolve_dtype(dtype))
    return _new(arr, dev, requires_grad)


def eye(n: int, m: int | None = None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """The n x m identity matrix (m = n by default), as ``torch.eye``; default float dtype."""
    dev = as_device(device)
    d = get_default_dtype() if dtype is None else resolve_dtype(dtype)
    return _new(get_backend(dev).xp.eye(int(n), None if m is None else int(m), dtype=d), dev, requires_grad)


def linspace(start, end, steps: int, dtype=None, device=None, requires_grad=False) -> Tensor:
    """``steps`` evenly spaced values from start to end inclusive, as ``torch.linspace``."""
    if int(steps) < 0:
        raise ValueError(f"linspace: steps must be >= 0, got {steps}")
    dev = as_device(device)
    d = get_default_dtype() if dtype is None else resolve_dtype(dtype)
    arr = np.linspace(float(start), float(end), int(steps), dtype=np.float64).astype(d)
    return _new(get_backend(dev).asarray(arr), dev, requires_grad)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """Like ``gg.tensor`` but without a copy when it can: a Tensor already of ``dtype`` and
    ``device`` is returned as is, and a NumPy array on the cpu is shared (as ``torch.as_tensor``)."""
    dev = as_device(device) if device is not None else (data.device if isinstance(data, Tensor) else None)
    if isinstance(data, Tensor):
        out = data if dev is None or dev == data.device else data.to(dev)
        return out if dtype is None else out.to(dtype)
    if isinstance(data, np.ndarray) and as_device(dev).type == "cpu" and data.dtype.kind in "fiub" and (
            dtype is None or resolve_dtype(dtype) == data.dtype):
        return _new(data, as_device("cpu"), False)
    return tensor(data, dtype=dtype, device=dev)
