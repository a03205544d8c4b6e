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
