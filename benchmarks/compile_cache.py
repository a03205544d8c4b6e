"""Time to a process's first kernel with and without the on-disk cubin cache (issue 23; target: a
second process reaches its first kernel with <= 2 s of compile). Two fresh processes, one cache
folder: the first compiles (NVVM, nvJitLink) and stores the cubin, the second loads it. No GPU needed.

    python benchmarks/compile_cache.py [--out benchmarks/results/launch-path] [--kernel NAME]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

_FIRST_KERNEL = r"""
import json, sys, time
t0 = time.perf_counter()
from gpugrad.kernels import _cubin, kernel_specs
spec = next(s for s in kernel_specs() if s.name == sys.argv[1] and s.dtype == "float32")
k = _cubin.compile_cubin(spec, (9, 0))
print(json.dumps({"source": k.source, "process_to_first_kernel_s": time.perf_counter() - t0,
                  "compile_or_load_s": k.seconds, "cubin_bytes": len(k.cubin)}))
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None)
    ap.add_argument("--kernel", default=None, help="kernel name (default: the first float32 matmul variant)")
    args = ap.parse_args(argv)
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    if args.kernel is None:
        from gpugrad.kernels import kernel_specs
        args.kernel = next(s.name for s in kernel_specs() if s.name.startswith("matmul") and s.dtype == "float32")
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        env["GPUGRAD_CACHE_DIR"] = cache
        for label in ("first process (compiles)", "second process (disk cache)"):
            out = subprocess.run([sys.executable, "-c", _FIRST_KERNEL, args.kernel], env=env, capture_output=True,
                                 text=True, check=True)
            row = dict(json.loads(out.stdout.strip().splitlines()[-1]), process=label, kernel=args.kernel)
            rows.append(row)
            print(f"{label:30s} {row['source']:8s} compile/load {row['compile_or_load_s']:.3f} s, "
                  f"process to first kernel {row['process_to_first_kernel_s']:.3f} s")
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "compile_cache.json"), "w") as f:
            json.dump({"target_s": 2.0, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
