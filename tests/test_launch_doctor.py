"""`gpugrad doctor` (issue 23): runs on a CPU-only machine, says what it checked and what needs a
GPU, and every failure is one line with its fix; too old a numba-cuda is refused with the fix."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from gpugrad.commands import doctor
from gpugrad.kernels import _launch


def test_doctor_runs_here_and_says_what_needs_a_gpu(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    out = tmp_path / "doctor.json"
    proc = subprocess.run([sys.executable, "-m", "gpugrad", "doctor", "--json", str(out)], env=env,
                          capture_output=True, text=True, timeout=300)
    lines = proc.stdout.splitlines()
    names = {line.split("] ", 1)[1].split(":", 1)[0] for line in lines if line.startswith("[")}
    assert {"numba-cuda", "cupy", "cuda-core", "nvJitLink", "NVVM", "libNVVM path", "GPU", "kernel compile",
            "DLPack launch path", "NUMBA_CUDA_ARRAY_INTERFACE_SYNC"} <= names, proc.stdout
    assert all("fix:" in line for line in lines if line.startswith("[FAIL]")), proc.stdout
    assert proc.returncode == (1 if any(line.startswith("[FAIL]") for line in lines) else 0), proc.stdout
    if "[skip] GPU" in proc.stdout:     # a CPU-only machine: says so, and still compiles for sm_90
        assert "need a GPU" in proc.stdout
    assert "registers" in next(line for line in lines if "kernel compile" in line), proc.stdout
    assert out.exists()


def test_a_failed_check_is_one_line_with_its_fix():
    line = doctor.Check("NVVM", "FAIL", "not loadable", "pip install x").line()
    assert line == "[FAIL] NVVM: not loadable -> fix: pip install x" and "\n" not in line


@pytest.mark.parametrize("version,ok", [("0.29.2", False), ("0.30.0", True), ("0.30.4", True), (None, False)])
def test_too_old_a_numba_cuda_is_refused_with_the_fix(version, ok):
    err = _launch.numba_cuda_version_error(version)
    assert (err is None) == ok
    if not ok:
        assert "pip install 'numba-cuda[cu13]>=0.30,<0.31'" in err


def test_the_kernels_refuse_an_old_numba_cuda_before_the_first_launch(monkeypatch):
    monkeypatch.setattr(_launch, "_numba_checked", False)
    monkeypatch.setattr(_launch, "distribution_version", lambda dist: "0.28.1")
    with pytest.raises(ImportError, match=r"numba-cuda 0.28.1 is older than 0.30.*gpugrad doctor"):
        _launch.numba_cuda()
