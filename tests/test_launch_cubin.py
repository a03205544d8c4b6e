"""The cubin launch path and its disk cache (issue 23), checked without a GPU: every kernel's
launch layout matches the parameters of its PTX entry; a second process loads the cubin from the
cache instead of compiling (target: its first kernel ready in <= 2 s of compile); host time of
packing one launch with a stand-in driver (benchmarks/launch_path.py reports the figure)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from gpugrad.kernels import _cubin, _launch

ENV = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}   # the real compiler

_FIRST_KERNEL = r"""
import json, sys, time
t0 = time.perf_counter()
from gpugrad.kernels import _cubin, kernel_specs
spec = next(s for s in kernel_specs() if s.name == sys.argv[1] and s.dtype == "float32")
k = _cubin.compile_cubin(spec, (9, 0))
print(json.dumps({"source": k.source, "seconds": time.perf_counter() - t0, "compile_s": k.seconds,
                  "bytes": len(k.cubin), "entry": k.entry}))
"""


def _first_kernel(tmp_path, name):
    env = dict(ENV, GPUGRAD_CACHE_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", _FIRST_KERNEL, name], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_second_process_loads_the_cubin_from_the_disk_cache(tmp_path):
    from gpugrad.kernels import kernel_specs
    name = next(s.name for s in kernel_specs() if s.name.startswith("matmul") and s.dtype == "float32")
    first = _first_kernel(tmp_path, name)
    second = _first_kernel(tmp_path, name)
    assert first["source"] == "compiled" and second["source"] == "cache"
    assert second["bytes"] == first["bytes"] and second["entry"] == first["entry"]
    assert second["compile_s"] < first["compile_s"]
    print(f"first process: {first['compile_s']:.2f} s to compile {name}; second: {second['compile_s']:.4f} s")


def test_the_launch_layout_matches_the_ptx_entry_of_every_kernel():
    """Numba's ABI as PreparedLaunch lays it out = the PTX entry's parameters, for every kernel
    (float32 and float64 share the layout; float32 here), in one subprocess (the real compiler)."""
    code = ("import json, re\nfrom numba import cuda\nfrom gpugrad.kernels import _cubin, _launch, kernel_specs\n"
            "out = {}\n"
            "for s in kernel_specs():\n"
            "    if s.dtype != 'float32': continue\n"
            "    ptx, _ = cuda.compile_ptx(s.build(), s.signature, cc=(9, 0), **_launch.JIT_OPTIONS)\n"
            "    e = re.search(r'\\.entry (\\S+)\\(', ptx).group(1)\n"
            "    out[s.name] = [_cubin.ptx_param_sizes(ptx, e), _cubin.param_sizes(s.signature)]\n"
            "print(json.dumps(out))\n")
    out = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(got) >= 5
    for name, (ptx, layout) in got.items():
        assert ptx == layout, name


def test_prepared_launch_packs_numbas_abi():
    p = _cubin.PreparedLaunch("void(float32[:, ::1], int64, float32)", pointer=lambda a: 0xABC0)
    a = np.zeros((3, 5), np.float32)
    packed = p.pack((a, 7, 0.5))
    assert [int(v) for v in packed[:9]] == [0, 0, 15, 4, 0xABC0, 3, 5, 20, 4]
    assert packed[9] == 7 and type(packed[9]) is int          # 8-byte: a Python int (CuPy: int64)
    assert packed[10] == np.float32(0.5) and packed[10].dtype == np.float32
    sizes = [8 if type(v) is int else np.asarray(v).itemsize for v in packed]
    assert sizes == _cubin.param_sizes("void(float32[:, ::1], int64, float32)")


def test_the_launch_path_is_chosen_by_GPUGRAD_LAUNCH(monkeypatch):
    monkeypatch.setenv("GPUGRAD_LAUNCH", "sideways")
    monkeypatch.delenv("NUMBA_ENABLE_CUDASIM", raising=False)
    with pytest.raises(ValueError, match="GPUGRAD_LAUNCH='sideways'"):
        _launch.launch_path()
    monkeypatch.setenv("GPUGRAD_LAUNCH", "cubin")
    assert _launch.launch_path() == "cubin"
    monkeypatch.setenv("NUMBA_ENABLE_CUDASIM", "1")
    assert _launch.launch_path() == "numba", "the simulator always runs Numba's dispatcher"
