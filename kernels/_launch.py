"""Shared launch plumbing for the hand-written kernels.

Everything here is cheap to import: numba (and cupy) are imported on first use, so
``import gpugrad.kernels`` works on a machine with neither installed.

Two execution modes, decided once per process:

* **device**: a real GPU. Arrays must be CuPy arrays; kernels launch on CuPy's *current*
  stream (wrapped once per stream pointer with ``numba.cuda.external_stream``) and the host
  never synchronises.
* **simulator**: ``NUMBA_ENABLE_CUDASIM=1`` (set by the test conftest when there is no GPU).
  Arrays are NumPy arrays and kernels run in Numba's CUDA simulator, one Python thread per
  CUDA thread. Grids are capped to a couple of blocks there (the kernels are grid-stride
  loops), because each simulated block costs ~0.5 s.

The registry at the bottom lists every kernel with its per-dtype signatures and launch
shape, so ``_resource_check`` can compile each one for sm_90 without a GPU.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

#: dtypes every kernel is written for (compiled lazily, once per dtype).
SUPPORTED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

#: Streaming multiprocessors assumed when the device can't be asked (H100 SXM).
DEFAULT_SM_COUNT = 132


def simulator_enabled() -> bool:
    """True when Numba's CUDA simulator is (or will be) in use."""
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


_numba_checked = False

#: The oldest numba-cuda with the DLPack-first launch path gpugrad relies on (CuPy arrays zero-copy,
#: no CUDA-array-interface sync per launch).
MIN_NUMBA_CUDA = (0, 30)


def distribution_version(dist: str) -> str | None:
    """The installed version of distribution ``dist`` (e.g. "numba-cuda"), or None."""
    from importlib import metadata
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def numba_cuda_version_error(version: str | None) -> str | None:
    """Why this numba-cuda cannot run gpugrad's kernels (None when it can)."""
    import re
    if version is None:
        return "numba-cuda is not installed: pip install 'numba-cuda[cu13]>=0.30,<0.31'"
    if tuple(int(x) for x in re.findall(r"\d+", version)[:2]) < MIN_NUMBA_CUDA:
        return (f"numba-cuda {version} is older than {'.'.join(map(str, MIN_NUMBA_CUDA))}, which gpugrad "
                f"needs for launching on CuPy arrays through DLPack (older ones go through the CUDA array "
                f"interface and wait for the host on every launch): pip install "
                f"'numba-cuda[cu13]>=0.30,<0.31'")
    return None


def numba_cuda():
    """Import ``numba.cuda`` on first use, with an actionable error if it is missing or older than
    the DLPack-first launch path (gpugrad/commands/doctor.py, MIN_NUMBA_CUDA)."""
    global _numba_checked
    if not _numba_checked:
        err = numba_cuda_version_error(distribution_version("numba-cuda"))
        if err is not None:
            raise ImportError(f"gpugrad.kernels: {err} (or pip install 'gpugrad[cuda13]'; "
                              f"`gpugrad doctor` checks the whole toolchain)")
        _numba_checked = True
    try:
        from numba import cuda
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "gpugrad.kernels needs numba-cuda: pip install 'gpugrad[cuda13]' "
            "(or 'numba-cuda[cu13]>=0.30,<0.31')") from exc
    _quiet_low_occupancy_warnings()
    _no_array_interface_sync()
    return cuda


def _no_array_interface_sync() -> None:
    """gpugrad launches every kernel on the stream that made its operands (CuPy's current one), so
    Numba's synchronisation of the producer's stream on each CUDA-array-interface import is a host
    wait per array per launch for nothing: turn it off unless the user set it."""
    os.environ.setdefault("NUMBA_CUDA_ARRAY_INTERFACE_SYNC", "0")
    try:
        from numba.cuda.core import config
    except ImportError:  # other numba-cuda layouts
        from numba.core import config
    config.CUDA_ARRAY_INTERFACE_SYNC = int(os.environ["NUMBA_CUDA_ARRAY_INTERFACE_SYNC"])


def _quiet_low_occupancy_warnings() -> None:
    """Numba warns on every launch of fewer than 128 blocks (~6.5 us of host time each); small
    grids are deliberate here (small MLP layers, the skinny-shape tile), so turn that check off."""
    os.environ.setdefault("NUMBA_CUDA_LOW_OCCUPANCY_WARNINGS", "0")  # survives a config reload
    try:
        from numba.cuda.core import config
    except ImportError:  # other numba-cuda layouts
        from numba.core import config
    config.CUDA_LOW_OCCUPANCY_WARNINGS = int(os.environ["NUMBA_CUDA_LOW_OCCUPANCY_WARNINGS"])


# ---------------------------------------------------------------------------------------
# validation

def _describe(x) -> str:
    shape = getattr(x, "shape", None)
    dtype = getattr(x, "dtype", None)
    if shape is None or dtype is None:
        return f"a {type(x).__module__}.{type(x).__qualname__}"
    return f"{type(x).__module__.split('.')[0]} array shape={tuple(shape)} dtype={dtype}"


def _is_cupy_array(x) -> bool:
    # isinstance, not hasattr(x, "__cuda_array_interface__"): on a CuPy array that attribute is a
    # computed property (it builds a dict and looks up the current stream), and this check runs for
    # every array of every launch. CuPy is imported only for objects of a cupy type.
    if type(x).__module__.split(".")[0] != "cupy":
        return False
    import cupy
    return isinstance(x, cupy.ndarray)


def array_module(kernel: str, *arrays):
    """Validate that ``arrays`` are arrays this process can launch on, and return their module.

    numpy under the simulator, cupy on a real GPU; all arrays must come from the same module
    (and, for CuPy, the same device). Raises TypeError naming the kernel otherwise.
    """
    sim = simulator_enabled()
    for x in arrays:
        if isinstance(x, np.ndarray):
            if not sim:
                raise TypeError(
                    f"gpugrad.kernels.{kernel}: got a NumPy array ({_describe(x)}), but the kernels run "
                    f"on the GPU. Move it to the device first with cupy.asarray(x) (or run under the "
                    f"CUDA simulator with NUMBA_ENABLE_CUDASIM=1).")
        elif _is_cupy_array(x):
            if sim:
                raise TypeError(
                    f"gpugrad.kernels.{kernel}: got a CuPy array ({_describe(x)}) while Numba's CUDA "
                    f"simulator is on (NUMBA_ENABLE_CUDASIM=1); the simulator runs on NumPy arrays: "
                    f"pass cupy.asnumpy(x), or unset NUMBA_ENABLE_CUDASIM to use the GPU.")
        else:
            raise TypeError(
                f"gpugrad.kernels.{kernel}: expected a {'NumPy' if sim else 'CuPy'} array, got "
                f"{_describe(x)}.")
    if sim:
        return np
    import cupy
    dev = arrays[0].device.id
    for x in arrays[1:]:
        if x.device.id != dev:
            raise ValueError(
                f"gpugrad.kernels.{kernel}: arrays are on different GPUs "
                f"({', '.join(f'{_describe(a)} on cuda:{a.device.id}' for a in arrays)}); "
                f"move them to one device with cupy.asarray inside `with cupy.cuda.Device(i):`.")
    return cupy


def check_dtype(kernel: str, *arrays) -> np.dtype:
    """All arrays share one supported floating dtype; return it."""
    dt = np.dtype(arrays[0].dtype)
    if dt not in SUPPORTED_DTYPES or any(np.dtype(x.dtype) != dt for x in arrays[1:]):
        got = ", ".join(_describe(x) for x in arrays)
        raise TypeError(
            f"gpugrad.kernels.{kernel}: inputs must all be float32 or all float64, got {got}. "
            f"Cast with x.astype(numpy.float32) before calling.")
    return dt


def check_contiguous(kernel: str, name: str, x) -> None:
    if not x.flags.c_contiguous:
        raise ValueError(
            f"gpugrad.kernels.{kernel}: '{name}' ({_describe(x)}, strides={x.strides}) is not "
            f"C-contiguous; the kernels read it in place and will not copy silently. Pass "
            f"xp.ascontiguousarray({name}).")


def check_out(kernel: str, out, shape, dtype, xp):
    """Return ``out`` after checking it, or a fresh ``xp.empty(shape, dtype)``."""
    shape = tuple(shape)
    if out is None:
        return xp.empty(shape, dtype=dtype)
    array_module(kernel, out)
    if tuple(out.shape) != shape or np.dtype(out.dtype) != np.dtype(dtype):
        raise ValueError(
            f"gpugrad.kernels.{kernel}: out has shape={tuple(out.shape)} dtype={out.dtype}, "
            f"expected shape={shape} dtype={np.dtype(dtype)}.")
    check_contiguous(kernel, "out", out)
    return out


# ---------------------------------------------------------------------------------------
# launching

_streams: dict = {}
_sm_counts: dict = {}


def launch_stream(xp, like=None):
    """The Numba stream to launch on: CuPy's current stream on a GPU, 0 under the simulator."""
    if xp is np:
        return 0
    import cupy
    ptr = cupy.cuda.get_current_stream().ptr
    dev = cupy.cuda.runtime.getDevice()
    key = (dev, ptr)
    s = _streams.get(key)
    if s is None:
        # the cubin path launches through CuPy on its current stream: no Numba stream is needed
        s = _streams[key] = ptr if launch_path() == "cubin" else numba_cuda().external_stream(ptr)
    rt = _runtime()
    if rt.capture_watch() is not None:
        rt.note_launch_stream(ptr, "a Numba kernel")
    return s


_rt = None


def _runtime():
    """gpugrad.backends.cuda_runtime, imported once (an import statement per launch costs ~1 us)."""
    global _rt
    if _rt is None:
        from gpugrad.backends import cuda_runtime
        _rt = cuda_runtime
    return _rt


def device_guard(xp, x):
    """Context manager making ``x``'s device current (Numba launches on the current context)."""
    if xp is np:
        import contextlib
        return contextlib.nullcontext()
    return x.device


def sm_count(xp) -> int:
    if xp is np:
        return DEFAULT_SM_COUNT
    import cupy
    dev = cupy.cuda.runtime.getDevice()
    n = _sm_counts.get(dev)
    if n is None:
        n = _sm_counts[dev] = int(cupy.cuda.Device(dev).attributes["MultiProcessorCount"])
    return n


_dummies: dict = {}


def dummy_vector(xp, dtype):
    """A cached 1-element zero vector: the placeholder for an optional array argument.

    Never pass an alias of another argument instead: the simulator copies each argument back
    after the launch, and a stale alias would overwrite the output.
    """
    dev = None if xp is np else xp.cuda.runtime.getDevice()
    key = (xp.__name__, np.dtype(dtype).name, dev)
    d = _dummies.get(key)
    if d is None:
        d = _dummies[key] = xp.zeros(1, dtype=dtype)
    return d


def cap_blocks(xp, blocks: int, device_cap: int) -> int:
    """Grid size for a grid-stride kernel: enough to fill the GPU, a couple under the simulator."""
    if xp is np:
        return max(1, min(blocks, 2))
    return max(1, min(blocks, device_cap))


# ---------------------------------------------------------------------------------------
# registry: every kernel, for the resource check and for introspection

NUMBA_TYPE = {"float32": "float32", "float64": "float64"}


@dataclass(frozen=True)
class KernelSpec:
    """One compiled kernel variant: how to build it and how it is launched."""
    name: str                                  # e.g. "matmul_nn_128x128_even"
    dtype: str                                 # "float32" | "float64"
    build: Callable[[], Callable]              # returns the plain Python kernel function
    signature: str                             # Numba signature string
    threads_per_block: int
    min_blocks_per_sm: int = 1                 # occupancy the launch config is designed for
    static_smem_limit: int = 48 * 1024
    meta: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def register_budget(self) -> int:
        return min(255, 65536 // (self.threads_per_block * self.min_blocks_per_sm))


_REGISTRY: list[Callable[[], list[KernelSpec]]] = []


def register(provider: Callable[[], list[KernelSpec]]):
    """Register a function listing a kernel family's variants (decorator)."""
    _REGISTRY.append(provider)
    return provider


def kernel_specs() -> list[KernelSpec]:
    """Every kernel variant of every family, for compile/resource checks."""
    import importlib
    importlib.import_module(__package__)   # the package imports every family; importing one registers it
    specs = []
    for provider in _REGISTRY:
        specs.extend(provider())
    return specs


#: Compile options of every kernel and device function, whatever the environment says:
#: NUMBA_CUDA_DEBUGINFO=1 would otherwise compile with exception checking, whose every launch
#: memsets a flag and copies it back to the host (a sync per launch, and an error inside CUDA-graph
#: capture); NUMBA_OPT=0 would compile unoptimised (and NVVM refuses debug with optimisation).
JIT_OPTIONS = {"debug": False, "opt": True}

_jitted: dict = {}


def launch_path() -> str:
    """"numba" (Numba's dispatcher, the default) or "cubin" (the cached cubin launched through CuPy,
    kernels/_cubin.py), from GPUGRAD_LAUNCH; the simulator always uses Numba's."""
    path = os.environ.get("GPUGRAD_LAUNCH", "numba")
    if path not in ("numba", "cubin"):
        raise ValueError(f"GPUGRAD_LAUNCH={path!r}: use 'numba' or 'cubin'")
    return "numba" if simulator_enabled() else path


def device_cc(dev: int) -> tuple:
    """The compute capability of CUDA device ``dev`` (cached)."""
    cc = _ccs.get(dev)
    if cc is None:
        import cupy
        props = cupy.cuda.runtime.getDeviceProperties(dev)
        cc = _ccs[dev] = (int(props["major"]), int(props["minor"]))
    return cc


_ccs: dict = {}


#: Makes the launcher of a kernel on the cubin path (set by kernels/_cubin.py when it loads, which
#: jit_kernel asks for by name: _cubin builds on this module, not the other way round).
cubin_dispatcher = None


def jit_kernel(spec: KernelSpec):
    """The ``cuda.jit`` dispatcher for ``spec``, compiled on first use and cached (or, with
    GPUGRAD_LAUNCH=cubin, a launcher of its cached cubin)."""
    k = _jitted.get((spec.name, spec.dtype))
    if k is None and launch_path() == "cubin":
        if cubin_dispatcher is None:
            import importlib
            importlib.import_module(f"{__package__}._cubin")   # registers cubin_dispatcher
        k = _jitted[(spec.name, spec.dtype)] = cubin_dispatcher(spec)
    if k is None:
        cuda = numba_cuda()
        k = _jitted[(spec.name, spec.dtype)] = cuda.jit(spec.signature, **JIT_OPTIONS)(spec.build())
    return k
