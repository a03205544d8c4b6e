"""ci/gpu.sh's own logic, run here without a GPU: stage selection, the per-invocation time budget,
and failing loudly when a stage cannot run (never a silent pass)."""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("bash") is None or shutil.which("timeout") is None,
                                reason="needs bash and coreutils' timeout")


def _gpu_sh(tmp_path, *stages, budget=570):
    env = dict(os.environ, OUT=str(tmp_path), GPU_SH_BUDGET=str(budget), PYTHON=sys.executable,
               PATH="/usr/bin:/bin:" + os.path.dirname(sys.executable))   # no compute-sanitizer
    proc = subprocess.run(["bash", str(ROOT / "ci" / "gpu.sh"), *stages], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    return proc, (tmp_path / "gpu_log.txt").read_text()


def test_env_stage_logs_versions_and_succeeds(tmp_path):
    proc, log = _gpu_sh(tmp_path, "env")
    assert proc.returncode == 0, log
    assert "numpy " in log and "gpugrad cuda available:" in log and "done, status 0" in log


def test_a_stage_without_time_left_is_skipped_and_fails_the_run(tmp_path):
    proc, log = _gpu_sh(tmp_path, "env", "tests", budget=30)
    assert proc.returncode == 1
    assert "tests skipped" in log and "run it in a command of its own" in log


# where ci/gpu.sh looks for compute-sanitizer besides the PATH
SANITIZER_GLOBS = ("/usr/local/cuda*/bin/compute-sanitizer", "/usr/local/cuda*/compute-sanitizer/compute-sanitizer",
                   "/opt/nvidia/*/compute-sanitizer", "/opt/nvidia/*/*/compute-sanitizer")


@pytest.mark.skipif(any(glob.glob(p) for p in SANITIZER_GLOBS),
                    reason="this machine has compute-sanitizer (the stage would really run)")
def test_missing_compute_sanitizer_fails_the_run(tmp_path):
    proc, log = _gpu_sh(tmp_path, "memcheck")
    assert proc.returncode == 1 and "memcheck NOT RUN" in log
