"""The kernels as cubins: compiled once per machine and cached on disk, launched through CuPy.

Why (issue 23):

* **Never hand PTX to the driver.** numba-cuda's NVVM (13.5 from pip) writes PTX ISA 9.5; driver
  580 (CUDA 13.0) JITs at most 9.0. Here PTX is linked to a cubin for the device by nvJitLink
  (cuda.core's Linker), with no driver involved, and the cubin is what gets loaded.
* **Compile once per machine, not per process.** A matmul variant costs 1.0-1.6 s of NVVM; the
  cubin is cached under ``GPUGRAD_CACHE_DIR`` (default ``~/.cache/gpugrad/kernels``), keyed by
  the numba-cuda, NVVM and nvJitLink versions, the device's compute capability, the JIT options,
  the signature and the source of the kernel's module. A second process loads it (milliseconds).
* **A cheaper launch.** Numba's dispatcher types every argument, exports each CuPy array through
  DLPack and packs 5 + 2*ndim fields per array on every launch. ``PreparedLaunch`` lays out the
  argument list once per kernel (Numba's ABI: meminfo, parent, nitems, itemsize, data, shape...,
  strides... per array; scalars by value) and fills in the pointers and sizes per launch; the
  cubin is launched as a ``cupy.RawKernel`` on CuPy's current stream (one stream, as before).

``GPUGRAD_LAUNCH=cubin`` routes the kernels' launches here (``GPUGRAD_LAUNCH=numba``, the default
until this path has run on a GPU, keeps Numba's dispatcher); ``compile_cubin`` works without a
GPU (tests, and `gpugrad doctor`).
"""
from __future__ import annotations

import hashlib
import inspect
import json
import os
import re
import sys
import time

import numpy as np

from . import _launch as L

_ARRAY_RE = re.compile(r"^(float16|float32|float64|int32|int64|uint8|bool_)\[(.*)\]$")
_SCALAR_SIZE = {"int32": 4, "int64": 8, "float32": 4, "float64": 8, "uint32": 4, "uint64": 8}
_SCALAR_NP = {"int32": np.int32, "int64": np.int64, "float32": np.float32, "float64": np.float64,
              "uint32": np.uint32, "uint64": np.uint64}


def cache_dir() -> str:
    return os.environ.get("GPUGRAD_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "gpugrad", "kernels")


def _split_signature(signature: str) -> list[str]:
    """'void(float32[::1], int64)' -> ['float32[::1]', 'int64'] (commas inside [] kept)."""
    inner = signature[signature.index("(") + 1: signature.rindex(")")]
    out, depth, cur = [], 0, ""
    for ch in inner:
        depth += ch == "["
        depth -= ch == "]"
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def param_layout(signature: str) -> list[tuple]:
    """Numba's kernel ABI for ``signature``: per argument ("array", ndim) or ("scalar", type name),
    in order. An array is 5 + 2*ndim 8-byte parameters, a scalar one of its size."""
    layout = []
    for arg in _split_signature(signature):
        m = _ARRAY_RE.match(arg)
        if m:
            layout.append(("array", len(m.group(2).split(","))))
        elif arg in _SCALAR_SIZE:
            layout.append(("scalar", arg))
        else:
            raise ValueError(f"gpugrad.kernels: no launch layout for argument type {arg!r} in {signature}")
    return layout


def param_sizes(signature: str) -> list[int]:
    """The byte size of every kernel parameter, flattened as the PTX ``.entry`` lists them."""
    sizes = []
    for kind, what in param_layout(signature):
        sizes += [8] * (5 + 2 * what) if kind == "array" else [_SCALAR_SIZE[what]]
    return sizes


def ptx_param_sizes(ptx: str, entry: str) -> list[int]:
    """The byte sizes of the ``.param`` list of ``entry`` in ``ptx``."""
    head = ptx[ptx.index(f".entry {entry}("):]
    head = head[: head.index(")")]
    return [int(bits) // 8 for bits in re.findall(r"\.param \.[a-z](\d+) ", head)]


def _versions() -> dict:
    """The toolchain's versions, read from the installed distributions (importing numba.cuda's NVVM
    binding to ask it would cost 1.3 s, most of what the cache saves). A system CUDA's libNVVM (no
    wheel) is keyed by CUDA_HOME/CUDA_PATH."""
    v = {d: L.distribution_version(d) for d in ("numba-cuda", "cuda-core", "cuda-bindings", "nvidia-nvvm",
                                                  "nvidia-nvjitlink", "nvidia-cuda-nvcc")}
    v["cuda_home"] = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH")
    return v


def cache_key(spec: L.KernelSpec, cc: tuple) -> str:
    """Hash of everything the cubin depends on: toolchain versions, device, options, signature, source."""
    module = sys.modules[spec.build.__module__] if spec.build.__module__ in sys.modules else None
    try:
        source = inspect.getsource(module) if module is not None else inspect.getsource(spec.build)
    except (OSError, TypeError):
        source = repr(spec.build)
    blob = json.dumps({"versions": _versions(), "cc": list(cc), "options": L.JIT_OPTIONS, "name": spec.name,
                       "dtype": spec.dtype, "signature": spec.signature, "source": source}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


class CompiledKernel:
    """A cubin and the name of its kernel entry, with where it came from ("cache" or "compiled")."""

    def __init__(self, cubin: bytes, entry: str, source: str, seconds: float):
        self.cubin, self.entry, self.source, self.seconds = cubin, entry, source, seconds


def compile_cubin(spec: L.KernelSpec, cc: tuple = (9, 0), use_cache: bool = True) -> CompiledKernel:
    """The cubin of ``spec`` for sm_``cc``: from the disk cache, or compiled (NVVM to PTX, nvJitLink to
    a cubin; no driver) and cached. Raises RuntimeError naming the kernel when linking fails."""
    t0 = time.perf_counter()
    key = cache_key(spec, cc)
    folder = cache_dir()
    path = os.path.join(folder, f"{spec.name}-{spec.dtype}-sm{cc[0]}{cc[1]}-{key}")
    if use_cache and os.path.exists(path + ".json") and os.path.exists(path + ".cubin"):
        with open(path + ".json") as f:
            meta = json.load(f)
        with open(path + ".cubin", "rb") as f:
            return CompiledKernel(f.read(), meta["entry"], "cache", time.perf_counter() - t0)
    from numba import cuda
    ptx, _ = cuda.compile_ptx(spec.build(), spec.signature, cc=cc, **L.JIT_OPTIONS)
    entry = re.search(r"\.entry (\S+)\(", ptx).group(1)
    sizes = ptx_param_sizes(ptx, entry)
    if sizes != param_sizes(spec.signature):
        raise RuntimeError(f"gpugrad.kernels.{spec.name} ({spec.dtype}): the PTX entry takes parameters of "
                           f"{sizes} bytes, the launch layout of {spec.signature} gives "
                           f"{param_sizes(spec.signature)}; launch it through Numba (GPUGRAD_LAUNCH=numba)")
    try:
        from cuda.core import Linker, LinkerOptions, ObjectCode
        cubin = Linker(ObjectCode.from_ptx(ptx.encode()),
                       options=LinkerOptions(arch=f"sm_{cc[0]}{cc[1]}")).link("cubin").code
    except Exception as exc:
        raise RuntimeError(f"gpugrad.kernels.{spec.name}: linking the PTX to a cubin for sm_{cc[0]}{cc[1]} "
                           f"failed ({type(exc).__name__}: {exc}); `gpugrad doctor` checks nvJitLink") from exc
    cubin = bytes(cubin)
    if use_cache:
        os.makedirs(folder, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            f.write(cubin)
        os.replace(tmp, path + ".cubin")            # atomic: a concurrent reader sees all or nothing
        with open(tmp, "w") as f:
            json.dump({"entry": entry, "signature": spec.signature, "cc": list(cc)}, f)
        os.replace(tmp, path + ".json")
    return CompiledKernel(cubin, entry, "compiled", time.perf_counter() - t0)


class PreparedLaunch:
    """The argument list of one kernel, laid out once (Numba's ABI); ``pack`` fills one launch's.

    Every 8-byte parameter goes as a Python int (CuPy passes it as a 64-bit integer); 4-byte
    scalars as NumPy scalars of their type. ``pointer`` gives an array's device address
    (``a.data.ptr`` for CuPy)."""

    def __init__(self, signature: str, pointer=None):
        self.layout = param_layout(signature)
        self.pointer = pointer
        # per argument: None for an 8-byte scalar (a Python int or float goes as is), else its type
        self._kinds = [("a", None) if kind == "array" else
                       ("s", None if what in ("int64", "uint64") else _SCALAR_NP[what]) for kind, what in self.layout]

    def pack(self, args) -> tuple:
        out = []
        ptr = self.pointer
        for (kind, cast), a in zip(self._kinds, args):
            if kind == "a":
                # meminfo, parent (no NRT: zero), nitems, itemsize, data, shape..., strides...
                out += (0, 0, a.size, a.itemsize, a.data.ptr if ptr is None else ptr(a))
                out += a.shape
                out += a.strides
            elif cast is None:
                out.append(int(a))
            else:
                out.append(cast(a))
        return tuple(out)


_loaded: dict = {}


def cupy_kernel(spec: L.KernelSpec, device_id: int, cc: tuple):
    """(cupy.RawKernel of ``spec``'s cubin on ``device_id``, its PreparedLaunch), loaded once."""
    key = (spec.name, spec.dtype, device_id)
    k = _loaded.get(key)
    if k is None:
        import cupy
        compiled = compile_cubin(spec, cc)
        folder = os.path.join(cache_dir(), "loaded")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"{spec.name}-{spec.dtype}-{os.getpid()}.cubin")
        with open(path, "wb") as f:
            f.write(compiled.cubin)
        with cupy.cuda.Device(device_id):
            fn = cupy.RawModule(path=path).get_function(compiled.entry)
        os.unlink(path)
        k = _loaded[key] = (fn, PreparedLaunch(spec.signature))
    return k


_cupy = None


def launch(spec: L.KernelSpec, grid: tuple, block: tuple, args) -> None:
    """Launch ``spec`` on CuPy's current stream with Numba's argument layout (GPUGRAD_LAUNCH=cubin)."""
    global _cupy
    if _cupy is None:
        import cupy
        _cupy = cupy
    dev = _cupy.cuda.runtime.getDevice()
    k = _loaded.get((spec.name, spec.dtype, dev))
    fn, prepared = k if k is not None else cupy_kernel(spec, dev, L.device_cc(dev))
    stream = _cupy.cuda.get_current_stream()
    if _cuda_runtime.capture_watch() is not None:
        _cuda_runtime.note_launch_stream(stream.ptr, f"the kernel {spec.name}")
    fn(grid, block, prepared.pack(args), stream=stream)


from gpugrad.backends import cuda_runtime as _cuda_runtime  # noqa: E402  (light: imports nothing of gpugrad)


class _CubinDispatcher:
    """``kernel[grid, block, stream](*args)`` like Numba's, launching the cached cubin through CuPy on
    CuPy's current stream (the stream Numba would have been given). The launcher of each launch
    configuration is made once (a small dict of them per kernel)."""

    def __init__(self, spec: L.KernelSpec):
        self.spec = spec
        self._launch = launch
        self._configs: dict = {}

    def __getitem__(self, config):
        key = (config[0], config[1])
        fn = self._configs.get(key)
        if fn is None:
            grid = config[0] if isinstance(config[0], tuple) else (config[0],)
            block = config[1] if isinstance(config[1], tuple) else (config[1],)
            spec, launch = self.spec, self._launch

            def fn(*args):
                launch(spec, grid, block, args)

            if len(self._configs) > 256:      # (grids follow shapes: keep the dict bounded)
                self._configs.clear()
            self._configs[key] = fn
        return fn


L.cubin_dispatcher = _CubinDispatcher
