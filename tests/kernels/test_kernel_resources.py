"""Every kernel variant compiled for sm_90 with no GPU: PTX from NVVM, cubin from nvJitLink.

Catches what the simulator can't: code that won't compile for the device, float64 creeping
into float32 kernels, register spills, registers beyond what the launch config allows, and
static shared memory over 48 KB. The compiles (shared with test_sass_checks.py through the
session fixture ``sm90_figures``) run in subprocesses with NUMBA_ENABLE_CUDASIM unset.
"""
import pytest

from gpugrad.kernels import kernel_specs

SPECS = kernel_specs()


@pytest.mark.parametrize("spec", SPECS, ids=[f"{s.name}-{s.dtype}" for s in SPECS])
def test_kernel_resources_for_sm90(sm90_figures, spec):
    r = sm90_figures[(spec.name, spec.dtype)]
    where = f"{spec.name} [{spec.dtype}]: " + str({k: v for k, v in r.items() if k not in ("loops", "f64", "local")})
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
    for family in ("matmul", "relu", "relu_vjp", "bias_sigmoid", "bias_sigmoid_vjp", "column_sum",
                   "matmul_splitk_reduce"):
        assert family in names
