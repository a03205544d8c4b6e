"""Compile every kernel for a real GPU target without a GPU and report its resources.

Run as ``python -m gpugrad.kernels._resource_check [--cc 9.0] [--only SUBSTRING]``; prints
one JSON object per line, one per kernel variant::

    {"name": ..., "dtype": ..., "registers": 172, "spill_stores": 0, "spill_loads": 0,
     "stack": 0, "lmem": 0, "smem": 17920, "f64_in_ptx": false, "register_budget": 255, ...}

It needs ``numba-cuda[cu13]`` (NVVM for PTX, nvJitLink through ``cuda.core`` for the cubin
and its verbose resource log); no driver or device. Numba's CUDA simulator replaces
``compile_ptx``, so this must run with ``NUMBA_ENABLE_CUDASIM`` unset (the tests call it in a
subprocess). If nvJitLink is unusable it falls back to ``ptxas -v`` from a CUDA toolkit on PATH.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile


def _parse_log(log: str) -> dict:
    out = {}
    m = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", log)
    if m:
        out["stack"], out["spill_stores"], out["spill_loads"] = map(int, m.groups())
    m = re.search(r"[Uu]sed (\d+) registers", log)
    if m:
        out["registers"] = int(m.group(1))
    m = re.search(r"(\d+) bytes smem", log)
    out["smem"] = int(m.group(1)) if m else 0
    m = re.search(r"(\d+) bytes lmem", log)
    if m:
        out["lmem"] = int(m.group(1))
    return out


def _link_log(ptx: str, arch: str) -> str:
    try:
        from cuda.core import Linker, LinkerOptions, ObjectCode
        linker = Linker(ObjectCode.from_ptx(ptx.encode()), options=LinkerOptions(arch=arch, verbose=True))
        linker.link("cubin")
        return linker.get_info_log()
    except Exception as exc:  # fall back to a toolkit's ptxas
        ptxas = shutil.which("ptxas")
        if ptxas is None:
            raise RuntimeError(f"cannot link PTX: cuda.core failed ({exc!r}) and no ptxas on PATH") from exc
        with tempfile.NamedTemporaryFile("w", suffix=".ptx", delete=False) as f:
            f.write(ptx)
        try:
            r = subprocess.run([ptxas, "-v", f"-arch={arch}", f.name, "-o", os.devnull],
                               capture_output=True, text=True, check=True)
            return r.stdout + r.stderr
        finally:
            os.unlink(f.name)


def check(spec, cc=(9, 0)) -> dict:
    from numba import cuda

    from ._launch import JIT_OPTIONS
    # The options jit_kernel launches with, so the report describes the code that really runs.
    ptx, _ = cuda.compile_ptx(spec.build(), spec.signature, cc=cc, **JIT_OPTIONS)
    info = _parse_log(_link_log(ptx, f"sm_{cc[0]}{cc[1]}"))
    info.update(
        name=spec.name, dtype=spec.dtype, signature=spec.signature,
        threads_per_block=spec.threads_per_block, min_blocks_per_sm=spec.min_blocks_per_sm,
        register_budget=spec.register_budget, static_smem_limit=spec.static_smem_limit,
        f64_in_ptx=bool(re.search(r"\.f64\b", ptx)),
        local_in_ptx=bool(re.search(r"\.local\b", ptx)),
    )
    return info


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cc", default="9.0", help="compute capability, e.g. 9.0")
    p.add_argument("--only", default="", help="only kernels whose name contains this")
    p.add_argument("--dtype", default="", help="only this dtype")
    args = p.parse_args(argv)
    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):
        print("unset NUMBA_ENABLE_CUDASIM: the simulator has no compile_ptx", file=sys.stderr)
        return 2
    cc = tuple(int(x) for x in args.cc.split("."))
    from gpugrad.kernels import kernel_specs
    for spec in kernel_specs():
        if args.only in spec.name and args.dtype in spec.dtype:
            print(json.dumps(check(spec, cc)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
