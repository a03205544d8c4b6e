"""Every kernel variant compiled for sm_90 with no GPU: PTX from NVVM, cubin from nvJitLink.

Catches what the simulator can't: code that won't compile for the device, float64 creeping
into float32 kernels, register spills, registers beyond what the launch config allows, and
static shared memory over 48 KB. The simulator replaces ``compile_ptx``, so the compiles run
in subprocesses with NUMBA_ENABLE_CUDASIM unset (two in parallel, one per dtype).
"""
import importlib.util
import json
import os
import subprocess
import sys

import pytest

from gpugrad.kernels import kernel_specs

SPECS = kernel_specs()


def _have_toolchain():
    return all(importlib.util.find_spec(m) is not None for m in ("numba_cuda", "cuda.core", "cuda.bindings"))


@pytest.fixture(scope="module")
def report():
    if not _have_toolchain():
        pytest.skip("numba-cuda[cu13] (NVVM, nvJitLink, cuda.core) is not installed: pip install -e .[test]")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    procs = [subprocess.Popen([sys.executable, "-m", "gpugrad.kernels._resource_check", "--dtype", dt],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for dt in ("float32", "float64")]
    rows = {}
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, f"resource check failed:\n{err[-4000:]}"
        for line in out.splitlines():
            r = json.loads(line)
            rows[(r["name"], r["dtype"])] = r
    return rows


@pytest.mark.parametrize("spec", SPECS, ids=[f"{s.name}-{s.dtype}" for s in SPECS])
def test_kernel_resources_for_sm90(report, spec):
    r = report[(spec.name, spec.dtype)]
    where = f"{spec.name} [{spec.dtype}]: {r}"
    assert r["spill_stores"] == 0 and r["spill_loads"] == 0, f"register spills in {where}"
    assert r["stack"] == 0 and r.get("lmem", 0) == 0, f"local memory (stack) in {where}"
    assert r["registers"] <= spec.register_budget, (
        f"{r['registers']} registers > {spec.register_budget} allowed for {spec.threads_per_block} threads x "
        f"{spec.min_blocks_per_sm} blocks/SM in {where}")
    assert r["smem"] <= 48 * 1024, f"static shared memory over 48 KB in {where}"
    if spec.dtype == "float32":
        assert not r["f64_in_ptx"], f"float64 instructions in a float32 kernel: {where}"


def test_every_family_is_registered():
    names = {s.name.split("_")[0] for s in SPECS} | {s.name for s in SPECS}
    for family in ("matmul", "relu", "relu_vjp", "bias_sigmoid", "bias_sigmoid_vjp", "column_sum"):
        assert family in names
