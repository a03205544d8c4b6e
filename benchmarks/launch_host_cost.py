"""Host time per kernel launch on the cubin path, with a stand-in for CuPy and the driver (issue 23).

Everything gpugrad does for a launch runs for real: the wrapper's checks (array module, dtype,
contiguity, output), the tile choice, the spec lookup, the stream and capture-watch lookups, and
packing Numba's argument layout (kernels/_cubin.py); the cubin is really compiled (or loaded from
the disk cache) once. Only the last step is a stand-in: ``RawKernel.__call__``, CuPy's Cython
argument packing and cuLaunchKernel, which CuPy documents at a few microseconds. Numba's own
dispatcher cannot be timed without a GPU (it needs a context to type and launch), so the
"before" figure is not measured here; issue 23 read it from the sources at ~25-45 us.

    python benchmarks/launch_host_cost.py [--out benchmarks/results/launch-path]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time
import types

import numpy as np


class FakeArray:
    """Shaped like a CuPy array for gpugrad's checks: shape, dtype, strides, flags, data.ptr."""
    __module__ = "cupy"

    def __init__(self, shape, dtype=np.float32, _ptr=[0x7000_0000]):
        self._a = np.lib.stride_tricks.as_strided(np.zeros(1, dtype), shape=shape, strides=(0,) * len(shape))
        self.shape, self.dtype, self.ndim = tuple(shape), np.dtype(dtype), len(shape)
        self.size = int(np.prod(shape)) if shape else 1
        self.itemsize = self.dtype.itemsize
        st, acc = [], self.itemsize
        for d in reversed(self.shape):
            st.append(acc)
            acc *= d
        self.strides = tuple(reversed(st))
        self.flags = types.SimpleNamespace(c_contiguous=True, f_contiguous=self.ndim <= 1)
        _ptr[0] += 1 << 20
        self.data = types.SimpleNamespace(ptr=_ptr[0])
        self.device = contextlib.nullcontext()
        self.device.id = 0

    def reshape(self, *shape):
        return self

    @property
    def T(self):  # noqa: N802
        t = FakeArray(tuple(reversed(self.shape)), self.dtype)
        t.flags = types.SimpleNamespace(c_contiguous=self.ndim <= 1, f_contiguous=True)
        return t


def fake_cupy():
    launches = []

    class Stream:
        ptr = 0x1234

    class RawModule:
        def __init__(self, path=None, code=None):
            assert open(path, "rb").read(4) == b"\x7fELF", "a cubin (ELF), never PTX, is loaded"

        def get_function(self, name):
            return lambda grid, block, args, stream=None: launches.append(len(args))

    dev = types.SimpleNamespace(attributes={"MultiProcessorCount": 132})
    cuda = types.SimpleNamespace(
        get_current_stream=lambda: Stream, Device=lambda i=0: types.SimpleNamespace(
            attributes=dev.attributes, __enter__=lambda s: s, __exit__=lambda *a: None),
        runtime=types.SimpleNamespace(getDevice=lambda: 0, getDeviceProperties=lambda d: {"major": 9, "minor": 0}))

    class _Dev(contextlib.nullcontext):
        attributes = dev.attributes

    cuda.Device = lambda i=0: _Dev()
    mod = types.ModuleType("cupy")
    mod.ndarray = FakeArray
    mod.cuda = cuda
    mod.RawModule = RawModule
    mod.empty = lambda shape, dtype=np.float32: FakeArray(tuple(np.atleast_1d(shape)) if not isinstance(shape, tuple) else shape, dtype)
    mod.zeros = mod.empty
    mod.launches = launches
    return mod


def measure(n=2000) -> dict:
    os.environ["GPUGRAD_LAUNCH"] = "cubin"
    os.environ.pop("NUMBA_ENABLE_CUDASIM", None)
    cp = fake_cupy()
    sys.modules["cupy"] = cp
    from gpugrad import kernels
    from gpugrad.kernels import _cubin
    x, out = FakeArray((128, 256)), FakeArray((128, 256))
    a, w, b = FakeArray((128, 784)), FakeArray((256, 784)), FakeArray((256,))
    mm_out = FakeArray((128, 256))
    cases = {
        "relu (2 arrays, 1 scalar)": lambda: kernels.relu(x, out=out),
        "matmul linear+relu (4 arrays, 5 scalars)": lambda: kernels.matmul(a, w, trans_b=True, bias=b, relu=True,
                                                                           out=mm_out),
    }
    rows = {}
    for name, fn in cases.items():
        t0 = time.perf_counter()
        fn()                                   # compile (or load from the disk cache) and load once
        first = time.perf_counter() - t0
        samples = []
        for _ in range(7):
            t = time.perf_counter()
            for _ in range(n):
                fn()
            samples.append((time.perf_counter() - t) / n * 1e6)
        rows[name] = {"us_per_launch_median": statistics.median(samples), "us_per_launch_min": min(samples),
                      "us_samples": samples,
                      "first_call_s": first, "params_packed": cp.launches[-1]}
    prepared = _cubin.PreparedLaunch("void(float32[:, ::1], float32[:, ::1], float32[:, ::1], float32[::1], "
                                     "int64, int64, int64, int32, int32)")
    args = (a, w, mm_out, b, 128, 256, 784, np.int32(1), np.int32(1))
    t = time.perf_counter()
    for _ in range(n):
        prepared.pack(args)
    rows["pack only (matmul's 37 parameters)"] = {"us_per_launch_median": (time.perf_counter() - t) / n * 1e6}
    # this machine's speed at plain Python calls, to scale the figures to another host's
    f = (lambda: None)
    t = time.perf_counter()
    for _ in range(100 * n):
        f()
    rows["calibration: one empty Python call"] = {"us_per_launch_median": (time.perf_counter() - t) / (100 * n) * 1e6}
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    rows = measure()
    for k, v in rows.items():
        low = f" (fastest sample {v['us_per_launch_min']:.2f})" if "us_per_launch_min" in v else ""
        print(f"{k:45s} {v['us_per_launch_median']:6.2f} us/launch median{low}")
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "launch_host_cost.json"), "w") as f:
            json.dump({"target_us": 10, "rows": rows, "python": sys.version.split()[0],
                       "loadavg": open("/proc/loadavg").read().split()[:3], "cpus": os.cpu_count()}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
