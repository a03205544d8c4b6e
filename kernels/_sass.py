"""Judge a kernel by its sm_90 machine code (SASS), without a GPU.

Compile with the launcher's options (``_launch.JIT_OPTIONS``) to PTX with NVVM, link it to a
cubin with nvJitLink (``cuda.core``), disassemble it with ``nvdisasm -c`` (the pip wheel
``nvidia-cuda-nvdisasm``), then read the instruction stream:

* a **loop** is a label ``.L_x_N:`` with a later backward branch ``BRA .L_x_N`` (the same test
  the CUDA tools use); the **innermost** loops are those that contain no other loop;
* the **FFMA share** of a loop is the fraction of its instructions that are ``FFMA`` (Hopper
  issues one warp-instruction per clock per scheduler, so that share caps the FP32 throughput);
* **loads before the first store** counts the global loads (``LDG``) a loop issues, from its
  label on, before its first global store (``STG``): the loads a warp can have in flight;
* **instructions per element** is a loop's instruction count over the elements one trip
  handles (the kernel's declared ``elements_per_trip``).

Run as ``python -m gpugrad.kernels._sass [--only SUBSTRING] [--dtype float32] [--json]``; it
needs NUMBA_ENABLE_CUDASIM unset (the simulator has no ``compile_ptx``). ``tests/kernels/
test_sass_checks.py`` runs it in a subprocess and asserts the figures; ``gpugrad bench kernels
--static`` writes them to JSON.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from functools import lru_cache

#: Opcodes that are float64 arithmetic/conversion on sm_90 (``F2F.F64.F32`` etc. show as F2F
#: with a .F64 modifier, checked separately).
_F64_OPS = {"DADD", "DMUL", "DFMA", "DSETP", "DMNMX", "DSET", "DRCP", "DMMA"}

_LABEL = re.compile(r"^\s*(\.L_x_\d+):")
# "        /*0120*/                   FFMA R4, R5, R6, R4 ;"   (optionally "@P0 " / "@!P0 " predicated)
_INSTR = re.compile(r"^\s*/\*([0-9a-f]{4,})\*/\s+(?:@!?U?P[T0-9]+\s+)?([A-Z][A-Z0-9_]*)((?:\.[A-Z0-9_]+)*)\s*(.*?)\s*;")


@lru_cache(maxsize=None)
def nvdisasm_path() -> str:
    """The ``nvdisasm`` binary of the installed ``nvidia-cuda-nvdisasm`` wheel (else one on PATH)."""
    try:
        dist = importlib.metadata.distribution("nvidia-cuda-nvdisasm")
    except importlib.metadata.PackageNotFoundError:
        dist = None
    if dist is not None:
        for f in dist.files or ():
            if f.name == "nvdisasm":
                path = str(dist.locate_file(f))
                if os.path.exists(path):
                    return path
    found = shutil.which("nvdisasm")
    if found:
        return found
    raise RuntimeError("nvdisasm not found: pip install nvidia-cuda-nvdisasm (in the 'kernels' and 'test' "
                       "extras: pip install -e .[test]) or put a CUDA toolkit's bin/ on PATH")


@dataclasses.dataclass
class Instr:
    addr: int
    op: str          # "FFMA"
    mods: str        # ".E.128" etc.
    operands: str
    text: str        # the whole line, for a listing


@dataclasses.dataclass
class Loop:
    label: str
    start: int       # index of the first instruction after the label
    end: int         # index of the backward branch (inclusive)
    innermost: bool = True

    def instrs(self, code):
        return code[self.start:self.end + 1]


def parse(sass: str):
    """(instructions, {label: index of the instruction after it}) from ``nvdisasm -c`` output."""
    code, labels = [], {}
    for line in sass.splitlines():
        m = _LABEL.match(line)
        if m:
            labels[m.group(1)] = len(code)
            continue
        m = _INSTR.match(line)
        if m:
            code.append(Instr(int(m.group(1), 16), m.group(2), m.group(3), m.group(4), line.strip()))
    return code, labels


def find_loops(code, labels):
    """Every loop: a label with a later ``BRA`` back to it (the last such branch closes it)."""
    loops = {}
    for i, ins in enumerate(code):
        if ins.op == "BRA":
            m = re.search(r"(\.L_x_\d+)", ins.operands)
            if m and m.group(1) in labels and labels[m.group(1)] <= i:
                lab = m.group(1)
                start = labels[lab]
                if lab not in loops or loops[lab].end < i:
                    loops[lab] = Loop(lab, start, i)
    # `.L_x_9: BRA .L_x_9` after the last EXIT is the assembler's end-of-code idle loop, not a loop
    out = sorted((lp for lp in loops.values() if lp.end > lp.start), key=lambda lp: lp.start)
    for lp in out:
        lp.innermost = not any(o is not lp and lp.start <= o.start and o.end <= lp.end for o in out)
    return out


def opcode_counts(instrs) -> dict:
    counts: dict = {}
    for ins in instrs:
        counts[ins.op] = counts.get(ins.op, 0) + 1
    return counts


def loop_figures(code, loop, fma: str = "FFMA") -> dict:
    """One loop's figures; ``fma`` is the opcode counted as "ffma" (DFMA for a float64 kernel)."""
    ins = loop.instrs(code)
    counts = opcode_counts(ins)
    n = len(ins)
    loads_before_store = 0
    for x in ins:
        if x.op == "STG":
            break
        if x.op == "LDG":
            loads_before_store += 1
    return dict(label=loop.label, instructions=n, innermost=loop.innermost,
                ffma=counts.get(fma, 0), ffma_share=counts.get(fma, 0) / n if n else 0.0,
                ldg=counts.get("LDG", 0), stg=counts.get("STG", 0), lds=counts.get("LDS", 0),
                ldg_before_first_stg=loads_before_store,
                ldg_widths=sorted({_width(x) for x in ins if x.op == "LDG"}),
                lds_widths=sorted({_width(x) for x in ins if x.op == "LDS"}),
                opcodes=dict(sorted(counts.items(), key=lambda kv: -kv[1])))


def _width(ins) -> int:
    m = re.search(r"\.(64|128)\b", ins.mods)
    return int(m.group(1)) if m else 32


def f64_instructions(code) -> list:
    """Instructions doing float64 work: D* arithmetic, or conversions to/from .F64."""
    return [x.text for x in code if x.op in _F64_OPS or (x.op in ("F2F", "F2I", "I2F", "MUFU") and ".F64" in x.mods)]


def local_memory_instructions(code) -> list:
    return [x.text for x in code if x.op in ("LDL", "STL")]


# ---------------------------------------------------------------------------------------------
# compiling

def compile_ptx(spec, cc=(9, 0)) -> str:
    from numba import cuda

    from ._launch import JIT_OPTIONS
    ptx, _ = cuda.compile_ptx(spec.build(), spec.signature, cc=cc, **JIT_OPTIONS)
    return ptx


def link_cubin(ptx: str, arch: str = "sm_90") -> bytes:
    from cuda.core import Linker, LinkerOptions, ObjectCode
    linker = Linker(ObjectCode.from_ptx(ptx.encode()), options=LinkerOptions(arch=arch))
    return bytes(linker.link("cubin").code)


def disassemble(cubin: bytes) -> str:
    with tempfile.NamedTemporaryFile(suffix=".cubin", delete=False) as f:
        f.write(cubin)
    try:
        r = subprocess.run([nvdisasm_path(), "-c", f.name], capture_output=True, text=True, check=True)
        return r.stdout
    finally:
        os.unlink(f.name)


def sass_of(spec, cc=(9, 0)) -> str:
    return disassemble(link_cubin(compile_ptx(spec, cc), f"sm_{cc[0]}{cc[1]}"))


# ---------------------------------------------------------------------------------------------
# the figures of one kernel

def analyse(sass: str, meta: dict | None = None, dtype: str = "float32") -> dict:
    """The figures of one kernel's SASS (see the module docstring). ``meta`` is the spec's meta:
    ``kind`` ("matmul" | "elementwise" | other), ``elements_per_trip`` for elementwise loops,
    ``config`` (BM, BN, BK, TM, TN) for matmul. In a float64 kernel the "ffma" figures count DFMA."""
    meta = meta or {}
    code, labels = parse(sass)
    loops = find_loops(code, labels)
    fma = "DFMA" if dtype == "float64" else "FFMA"
    figs = [loop_figures(code, lp, fma) for lp in loops]
    out = dict(instructions=len(code), loops=figs, f64=f64_instructions(code),
               local=local_memory_instructions(code), kind=meta.get("kind", "other"))
    kind = out["kind"]
    if kind == "matmul" and figs:
        # The innermost loop with the most FFMA is the K loop's body (or, when the BK loop is rolled,
        # the k-step loop); the K-tile loop is the outermost loop that holds the most FFMA.
        inner = max((f for f in figs if f["innermost"]), key=lambda f: f["ffma"])
        tile = max(figs, key=lambda f: (f["ffma"], f["instructions"]))
        TM, TN, BK = meta["config"][3], meta["config"][4], meta["config"][2]
        per_tile = TM * TN * BK
        # A rolled BK loop: its body holds one k-step; the tile is then the loop around it.
        out.update(inner_ffma_share=inner["ffma_share"], inner_instructions=inner["instructions"],
                   inner_ffma=inner["ffma"],
                   tile_ffma_share=_tile_share(figs, loops, code, per_tile),
                   bk_unrolled=inner["ffma"] >= per_tile,
                   lds_widths=inner["lds_widths"], ldg_widths=tile["ldg_widths"])
    elif kind == "elementwise" and figs:
        main = max(figs, key=lambda f: f["ldg"])
        ept = meta.get("elements_per_trip", 1)
        out.update(main_loop=main["label"], ldg_before_first_stg=main["ldg_before_first_stg"],
                   instructions_per_element=main["instructions"] / ept, elements_per_trip=ept,
                   ldg_widths=main["ldg_widths"])
    return out


def _tile_share(figs, loops, code, per_tile) -> float:
    """FFMA share over one whole K tile: the smallest loop holding >= ``per_tile`` FFMA, counting
    an inner loop's instructions once per trip (a rolled BK loop runs ``per_tile / its FFMA`` trips)."""
    by_label = {f["label"]: f for f in figs}
    best = None
    for lp in loops:
        f = by_label[lp.label]
        inner = [o for o in loops if o is not lp and lp.start <= o.start and o.end <= lp.end]
        if not inner:
            if f["ffma"] >= per_tile:
                cand = (f["instructions"], f["ffma"])
            else:
                continue
        else:
            # expand each directly nested loop by its trip count (FFMA per tile / FFMA per trip)
            n_in = sum(o.end - o.start + 1 for o in inner if o.innermost)
            ffma_in = sum(by_label[o.label]["ffma"] for o in inner if o.innermost)
            if ffma_in == 0:
                continue
            trips = max(1, (per_tile - (f["ffma"] - ffma_in)) // ffma_in)
            cand = (f["instructions"] - n_in + trips * n_in, f["ffma"] - ffma_in + trips * ffma_in)
        if best is None or cand[0] < best[0]:
            best = cand
    return best[1] / best[0] if best else 0.0


#: The figures a kernel must reach (issue 22), per kind; float32 kernels only for the speed ones.
FFMA_SHARE_INNER = 0.80      # innermost matmul loop
FFMA_SHARE_TILE = 0.70       # one whole K tile
LOADS_BEFORE_STORE = 4       # global loads an elementwise loop issues before its first store
INSTR_PER_ELEMENT = {"relu": 20, "relu_vjp": 20, "bias_sigmoid": 30, "bias_sigmoid_vjp": 30,
                     "bias_relu_vjp": 30}


def _cache_key(spec, cc) -> str:
    """What the figures depend on: the kernel sources (every file of this package), the spec, the
    launch options and the tool versions. Any edit to a kernel file changes the key."""
    import hashlib
    import inspect

    from ._launch import JIT_OPTIONS
    h = hashlib.sha256()
    here = os.path.dirname(os.path.abspath(__file__))
    for name in sorted(os.listdir(here)):
        if name.endswith(".py"):
            with open(os.path.join(here, name), "rb") as f:
                h.update(name.encode() + f.read())
    try:   # a kernel built outside the package (the tests' bad kernels): its own source too
        h.update(inspect.getsource(inspect.getmodule(spec.build)).encode())
    except (TypeError, OSError):
        pass
    versions = [importlib.metadata.version(d) for d in ("numba-cuda", "nvidia-cuda-nvdisasm")
                if _has_dist(d)]
    h.update(repr((spec.name, spec.dtype, spec.signature, spec.threads_per_block, spec.min_blocks_per_sm,
                   sorted(spec.meta.items()), cc, sorted(JIT_OPTIONS.items()), versions)).encode())
    return h.hexdigest()[:32]


def _has_dist(name) -> bool:
    try:
        importlib.metadata.distribution(name)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def cache_dir():
    """Where compiled figures are kept between runs: $GPUGRAD_SASS_CACHE, else ~/.cache/gpugrad/sass;
    GPUGRAD_SASS_CACHE=off turns the cache off."""
    d = os.environ.get("GPUGRAD_SASS_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "gpugrad", "sass"))
    return None if d in ("", "0", "off") else d


def spec_figures(spec, cc=(9, 0)) -> dict:
    """``_compile_figures`` through the on-disk cache (keyed by ``_cache_key``): a compile costs
    1-5 s of NVVM per matmul variant, and the suite and the benchmark ask for the same ones."""
    d = cache_dir()
    path = os.path.join(d, _cache_key(spec, cc) + ".json") if d else None
    if path and os.path.exists(path):
        try:
            with open(path) as f:
                return json.load(f)
        except (OSError, ValueError):
            pass
    figs = _compile_figures(spec, cc)
    if path:
        try:
            os.makedirs(d, exist_ok=True)
            tmp = f"{path}.{os.getpid()}.tmp"
            with open(tmp, "w") as f:
                json.dump(figs, f)
            os.replace(tmp, path)     # atomic: two processes may write the same entry
        except OSError:
            pass
    return figs


def _compile_figures(spec, cc=(9, 0)) -> dict:
    """Compile ``spec`` for ``cc`` (the launcher's options) and return its SASS figures plus its
    resource log (registers, spills, stack, local and shared memory, float64 in the PTX)."""
    from ._resource_check import _link_log, _parse_log
    ptx = compile_ptx(spec, cc)
    arch = f"sm_{cc[0]}{cc[1]}"
    res = _parse_log(_link_log(ptx, arch))
    figs = analyse(disassemble(link_cubin(ptx, arch)), spec.meta, spec.dtype)
    figs.update(name=spec.name, dtype=spec.dtype, signature=spec.signature,
                threads_per_block=spec.threads_per_block, min_blocks_per_sm=spec.min_blocks_per_sm,
                register_budget=spec.register_budget, static_smem_limit=spec.static_smem_limit,
                registers=res.get("registers"), spill_stores=res.get("spill_stores", 0),
                spill_loads=res.get("spill_loads", 0), stack=res.get("stack", 0), lmem=res.get("lmem", 0),
                smem=res.get("smem", 0),
                f64_in_ptx=bool(re.search(r"\.f64\b", ptx)), local_in_ptx=bool(re.search(r"\.local\b", ptx)))
    return figs


def violations(figs: dict) -> list:
    """What ``figs`` (one kernel's ``spec_figures``) misses of the targets, as messages; [] if none.

    Every kernel: no spills, no stack or local memory (no LDL/STL), and a float32 kernel has no
    float64 instruction. float32 matmul: innermost loop FFMA share >= FFMA_SHARE_INNER, K tile >=
    FFMA_SHARE_TILE. float32 elementwise: >= LOADS_BEFORE_STORE loads before the first store, at most
    INSTR_PER_ELEMENT[name] instructions per element (the speed targets are float32 ones)."""
    out = []
    where = f"{figs['name']} [{figs['dtype']}]"
    if figs.get("spill_stores") or figs.get("spill_loads"):
        out.append(f"{where}: register spills ({figs['spill_stores']} B stored, {figs['spill_loads']} B loaded)")
    if figs.get("stack") or figs.get("lmem") or figs["local"]:
        out.append(f"{where}: local memory (stack {figs.get('stack')}, lmem {figs.get('lmem')}, "
                   f"{len(figs['local'])} LDL/STL: {figs['local'][:3]})")
    f32 = figs["dtype"] == "float32"
    if f32 and (figs["f64"] or figs.get("f64_in_ptx")):
        out.append(f"{where}: float64 in a float32 kernel ({len(figs['f64'])} SASS instructions: "
                   f"{figs['f64'][:3]}; .f64 in the PTX: {figs.get('f64_in_ptx')})")
    if not f32:
        return out
    if figs["kind"] == "matmul":
        if not figs.get("loops"):
            out.append(f"{where}: no loop found")
        else:
            if figs["inner_ffma_share"] < FFMA_SHARE_INNER:
                out.append(f"{where}: innermost loop FFMA share {figs['inner_ffma_share']:.1%} < "
                           f"{FFMA_SHARE_INNER:.0%} ({figs['inner_ffma']} FFMA of {figs['inner_instructions']})")
            if figs["tile_ffma_share"] < FFMA_SHARE_TILE:
                out.append(f"{where}: K-tile FFMA share {figs['tile_ffma_share']:.1%} < {FFMA_SHARE_TILE:.0%}")
    elif figs["kind"] == "elementwise":
        if not figs.get("loops"):
            out.append(f"{where}: no loop found")
        else:
            if figs["ldg_before_first_stg"] < LOADS_BEFORE_STORE:
                out.append(f"{where}: {figs['ldg_before_first_stg']} global loads before the first store "
                           f"(< {LOADS_BEFORE_STORE}): loads wait on stores")
            limit = INSTR_PER_ELEMENT.get(figs["name"])
            if limit is not None and figs["instructions_per_element"] > limit:
                out.append(f"{where}: {figs['instructions_per_element']:.1f} instructions per element > {limit}")
    return out


#: "FMA": FFMA in float32 kernels, DFMA in float64 ones.
TABLE_COLUMNS = ("kernel", "dtype", "FMA inner", "FMA K-tile", "loop instr", "LDG<STG", "instr/elem",
                 "LDS/LDG bits", "regs", "spill B", "f64", "ok")


def table_row(f: dict) -> tuple:
    pct = lambda k: f"{f[k]:.1%}" if k in f else "-"  # noqa: E731
    widths = "/".join(",".join(map(str, f.get(k) or [])) or "-" for k in ("lds_widths", "ldg_widths"))
    return (f["name"], f["dtype"], pct("inner_ffma_share"), pct("tile_ffma_share"),
            str(f.get("inner_instructions", "-")), str(f.get("ldg_before_first_stg", "-")),
            f"{f['instructions_per_element']:.2f}" if "instructions_per_element" in f else "-",
            widths, str(f.get("registers")), str(f.get("spill_stores", 0) + f.get("spill_loads", 0)),
            str(len(f["f64"])), "yes" if not violations(f) else "NO")


def format_table(rows) -> str:
    """A fixed-width table of ``spec_figures`` rows (one line per kernel)."""
    body = [TABLE_COLUMNS] + [table_row(f) for f in rows]
    w = [max(len(r[i]) for r in body) for i in range(len(TABLE_COLUMNS))]
    return "\n".join("  ".join(c.ljust(w[i]) for i, c in enumerate(r)) for r in body)


def _specs_from(path: str):
    """``specs()`` of a Python file (the tests' deliberately bad kernels)."""
    import importlib.util
    mod_spec = importlib.util.spec_from_file_location("_sass_specs", path)
    mod = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(mod)
    return mod.specs()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default="", help="only kernels whose name contains this")
    p.add_argument("--dtype", default="", help="only this dtype")
    p.add_argument("--specs-from", default="", help="a Python file whose specs() lists the kernels instead")
    p.add_argument("--sass", action="store_true", help="print each kernel's SASS (to stderr)")
    p.add_argument("--table", action="store_true", help="print a table instead of JSON lines")
    args = p.parse_args(argv)
    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):
        print("unset NUMBA_ENABLE_CUDASIM: the simulator has no compile_ptx", file=sys.stderr)
        return 2
    if args.specs_from:
        specs = _specs_from(args.specs_from)
    else:
        from gpugrad.kernels import kernel_specs
        specs = kernel_specs()
    rows = []
    for spec in specs:
        if args.only in spec.name and args.dtype in spec.dtype:
            if args.sass:
                print(f"// {spec.name} [{spec.dtype}]\n{sass_of(spec)}", file=sys.stderr)
            f = spec_figures(spec)
            rows.append(f)
            if not args.table:
                print(json.dumps(f), flush=True)
    if args.table:
        print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
