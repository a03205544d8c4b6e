"""Running test jobs under mpiexec (shared by the distributed tests)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = os.path.join(ROOT, "tests", "mpi_scripts")


def _mpiexec():
    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")   # the mpich wheel's
    return beside if os.path.exists(beside) else shutil.which("mpiexec")


MPIEXEC = _mpiexec()


def mpirun(n, *args, timeout=60, cwd=ROOT):
    """Run ``python *args`` as n ranks; (returncode, stdout, stderr, seconds)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("GPUGRAD_DIST_BACKEND", None)
    t0 = time.perf_counter()
    p = subprocess.run([MPIEXEC, "-n", str(n), sys.executable, *args], capture_output=True, text=True,
                       timeout=timeout, env=env, cwd=cwd)
    return p.returncode, p.stdout, p.stderr, time.perf_counter() - t0
