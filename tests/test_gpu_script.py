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


def _gpu_sh(tmp_path, *stages, budget=540):
    env = dict(os.environ, OUT=str(tmp_path), GPU_SH_BUDGET=str(budget), PYTHON=sys.executable,
               PATH="/usr/bin:/bin:" + os.path.dirname(sys.executable))   # no compute-sanitizer
    proc = subprocess.run(["bash", str(ROOT / "ci" / "gpu.sh"), *stages], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    return proc, (tmp_path / "gpu_log.txt").read_text()


def test_doctor_stage_logs_versions_and_succeeds(tmp_path):
    proc, log = _gpu_sh(tmp_path, "doctor")
    assert proc.returncode == 0, log
    assert "Python 3" in log and "numba-cuda: " in log and "gpugrad doctor: 0 failed" in log and "done, status 0" in log


def test_a_stage_without_time_left_is_skipped_and_fails_the_run(tmp_path):
    proc, log = _gpu_sh(tmp_path, "tests", budget=30)
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


# --- issue 23: the plan fits one task's device time ------------------------------------------------
MACHINE_START_S = 120
DEVICE_TIME_S = 900
COMMAND_LIMIT_S = 540


def _plan():
    import re
    text = (ROOT / "ci" / "gpu.sh").read_text()
    block = re.search(r"^PLAN=\(\n(.*?)^\)", text, re.S | re.M).group(1)
    return [(name, int(cap), int(cmd)) for name, cap, cmd in re.findall(r'"(\S+) (\d+) (\d+)"', block)]


def test_the_planned_stages_fit_the_device_time_with_a_machine_start():
    plan = _plan()
    assert [name for name, _, _ in plan][:2] == ["doctor", "smoke"], "doctor, then the smoke stage, first"
    assert dict((n, c) for n, c, _ in plan)["smoke"] <= 90
    per_command = {}
    for _, cap, cmd in plan:
        per_command[cmd] = per_command.get(cmd, 0) + cap
    assert all(total <= COMMAND_LIMIT_S for total in per_command.values()), per_command
    assert MACHINE_START_S + sum(per_command.values()) <= DEVICE_TIME_S, per_command
    assert {"doctor", "smoke", "bench-kernels", "bench-mlp", "tests", "memcheck", "train", "ddp"} == {
        n for n, _, _ in plan}


def test_command_1_runs_doctor_then_smoke_first_and_a_failing_smoke_leaves_its_json(tmp_path):
    # here there is no GPU: the smoke stage fails (never a silent pass), its JSON says why
    proc, log = _gpu_sh(tmp_path, "doctor", "smoke")
    assert log.index("gpugrad doctor") < log.index("smoke:")
    assert proc.returncode == 1
    import json
    doc = json.loads((tmp_path / "smoke.json").read_text())
    assert any("no GPU" in f for f in doc["failed"]) and doc["doctor"], doc


def test_ddp_without_an_mpi_runtime_is_skipped_with_the_reason(tmp_path):
    env_path = "/usr/bin:/bin"            # no mpiexec on this PATH
    env = dict(os.environ, OUT=str(tmp_path), PYTHON=sys.executable, PATH=env_path)
    proc = subprocess.run(["bash", str(ROOT / "ci" / "gpu.sh"), "ddp"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    log = (tmp_path / "gpu_log.txt").read_text()
    if os.path.exists(os.path.join(os.path.dirname(sys.executable), "mpiexec")):
        pytest.skip("this venv has mpiexec beside its python (the stage would really run)")
    assert "ddp skipped: no MPI runtime here" in log and proc.returncode == 0, log


def test_compare_train_fails_when_the_capture_fell_back_to_eager():
    sys.path.insert(0, str(ROOT / "ci"))
    try:
        import compare_train
    finally:
        sys.path.pop(0)
    assert compare_train.fell_back("CUDA graph capture failed, training on eagerly (--graph off skips the capture)")
    assert compare_train.fell_back("graphed: the step first made ... Refused 3 times: it runs eagerly from now on.")
    assert not compare_train.fell_back("epoch 3: loss 0.12")
