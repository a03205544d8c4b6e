"""The kernels judged by their sm_90 machine code (SASS), without a GPU (issue 22).

Each registered kernel is compiled with the launcher's options, linked to a cubin and
disassembled with nvdisasm (kernels/_sass.py); its loops are a label plus a backward branch.
Asserted per kernel (``_sass.violations``): float32 matmul, every layout and config: innermost
loop FFMA share >= 80%, one K tile >= 70%; float32 elementwise loops: >= 4 global loads before
the first store, <= 20 instructions per element for relu/relu_vjp and <= 30 for bias_sigmoid,
its VJP and bias_relu_vjp; every kernel: no spills, no local memory, no float64 in float32 code.
The static figures predict, they do not time: see benchmarks/results/static-sm90-2026-12-07/.
"""
import os

import pytest

from gpugrad.kernels import _sass, kernel_specs

SPECS = kernel_specs()
HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.mark.parametrize("spec", SPECS, ids=[f"{s.name}-{s.dtype}" for s in SPECS])
def test_kernel_meets_its_machine_code_figures(sm90_figures, spec):
    figs = sm90_figures[(spec.name, spec.dtype)]
    assert _sass.violations(figs) == []


def test_every_float32_matmul_layout_and_config_is_checked(sm90_figures):
    from gpugrad.kernels.matmul import DTYPE_CONFIGS
    seen = {(r["name"].split("_")[1], r["name"].split("_")[2]) for r in sm90_figures.values()
            if r["kind"] == "matmul" and r["dtype"] == "float32"}
    for layout in ("nn", "tn", "nt"):
        for cfg in DTYPE_CONFIGS["float32"]:
            assert (layout, cfg) in seen
    for r in sm90_figures.values():
        if r["kind"] == "matmul" and r["dtype"] == "float32":
            # the whole BK loop is unrolled into the K-tile loop, and shared memory is read 128 bits wide
            assert r["bk_unrolled"], r["name"]
            assert r["lds_widths"] == [128], r["name"]


def test_elementwise_kernels_are_measured(sm90_figures):
    names = {r["name"] for r in sm90_figures.values() if r["kind"] == "elementwise"}
    assert set(_sass.INSTR_PER_ELEMENT) <= names


@pytest.fixture(scope="module")
def bad_figures(sm90_compile):
    return sm90_compile("--specs-from", os.path.join(HERE, "_bad_kernels.py"))


@pytest.mark.parametrize("name, expect", [
    ("bad_rolled_matmul", "innermost loop FFMA share"),
    ("bad_aliasing_relu", "global loads before the first store"),
    ("bad_f64_relu", "float64 in a float32 kernel"),
])
def test_checker_fails_deliberately_bad_kernels(bad_figures, name, expect):
    found = _sass.violations(bad_figures[(name, "float32")])
    assert any(expect in v for v in found), found


# --- the SASS parser on hand-written listings (no compiler needed)

LISTING = """
        /*0000*/                   MOV R1, c[0x0][0x28] ;
.L_x_0:
        /*0010*/                   LDG.E R2, desc[UR4][R4.64] ;
        /*0020*/                   LDG.E R3, desc[UR4][R6.64] ;
.L_x_1:
        /*0030*/                   FFMA R8, R2, R3, R8 ;
        /*0040*/                   FFMA R9, R2, R3, R9 ;
        /*0050*/               @P0 BRA `(.L_x_1) ;
        /*0060*/                   STG.E desc[UR4][R4.64], R8 ;
        /*0070*/                   LDG.E R2, desc[UR4][R4.64] ;
        /*0080*/              @!P1 BRA `(.L_x_0) ;
        /*0090*/                   EXIT ;
.L_x_2:
        /*00a0*/                   BRA `(.L_x_2);
"""


def test_parser_finds_nested_loops_and_counts():
    code, labels = _sass.parse(LISTING)
    assert [x.op for x in code][:3] == ["MOV", "LDG", "LDG"]
    loops = _sass.find_loops(code, labels)
    assert [(lp.label, lp.innermost) for lp in loops] == [(".L_x_0", False), (".L_x_1", True)]
    outer, inner = (_sass.loop_figures(code, lp) for lp in loops)
    assert inner["instructions"] == 3 and inner["ffma"] == 2
    assert outer["ldg_before_first_stg"] == 2 and outer["ldg"] == 3 and outer["stg"] == 1


def test_nvdisasm_is_found_from_the_wheel():
    path = _sass.nvdisasm_path()
    assert os.path.basename(path) == "nvdisasm" and os.access(path, os.X_OK)


# --- gpugrad bench kernels --static: its bookkeeping, on figures made up here

def _fake_rows():
    ok = dict(name="relu", dtype="float32", kind="elementwise", loops=[{}], ldg_before_first_stg=4,
              instructions_per_element=7.75, f64=[], local=[], registers=26, spill_stores=0, spill_loads=0,
              stack=0, lmem=0, ldg_widths=[32])
    bad = dict(ok, name="relu_vjp", ldg_before_first_stg=1)
    return [ok, bad]


def test_bench_static_writes_the_figures_and_fails_on_a_miss(monkeypatch, tmp_path):
    import argparse
    import json

    from gpugrad.commands.bench import cli, kernels as kb
    monkeypatch.setattr(kb, "static_figures", lambda **kw: _fake_rows())
    args = argparse.Namespace(static=True, quiet=True, quick=False, out=str(tmp_path), json=None, plots=None)
    rc = kb.run_kernels_cli(args, cli._outputs(args, "kernels-static"), cli._write_outputs, cli.BenchError)
    assert rc == 1
    data = json.loads((tmp_path / "bench-kernels-static.json").read_text())
    assert [r["name"] for r in data["rows"]] == ["relu", "relu_vjp"]
    assert list(data["missed"]) == ["relu_vjp [float32]"]
    assert "not a GPU timing" in data["notes"][0]
    assert {(g["layer"], g["gemm"]) for g in data["mlp_gemms"]} == {
        (i, g) for i in (1, 2, 3) for g in ("forward", "dX", "dW")}


def test_bench_static_mlp_plan_counts_blocks():
    from gpugrad.commands.bench import kernels as kb
    rows = {(r["layer"], r["gemm"]): r for r in kb.static_mlp_plan(132)}
    fwd1 = rows[(1, "forward")]
    assert (fwd1["M"], fwd1["N"], fwd1["K"]) == (128, 256, 784)
    assert fwd1["blocks"] == fwd1["tiles"] * fwd1["splits"] >= 132
