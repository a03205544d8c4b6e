"""Test-suite setup shared by every test module.

Numba's CUDA simulator must be switched on *before numba is first imported* (setting the
variable later silently does nothing), so the decision "is there a real GPU" is made here,
at collection start, without importing numba: CuPy answers it cleanly with no driver.
"""
import os


def _real_gpu_present() -> bool:
    try:
        import cupy
        return bool(cupy.cuda.is_available())
    except Exception:  # no CuPy, no driver, or a broken install: all mean "no GPU"
        return False


HAS_GPU = _real_gpu_present()
if not HAS_GPU:
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")


import pytest  # noqa: E402


def available_devices() -> list[str]:
    """cpu always; cuda when a real GPU is present."""
    return ["cpu", "cuda"] if HAS_GPU else ["cpu"]


@pytest.fixture(params=available_devices())
def device(request):
    """Every device-aware test runs once per available device."""
    return request.param
