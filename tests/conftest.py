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


# -- Hypothesis profiles -----------------------------------------------------------------------------
# "ci" (env CI=true): bounded and derandomized, so the suite's time and its examples are the same
# on every run; "dev" (the default): as bounded, with fresh examples each run; "thorough"
# (HYPOTHESIS_PROFILE=thorough): many more examples, for a local hunt. Tests that pin their own
# max_examples keep it; the PyTorch conformance suite takes its count from the profile.
def _register_hypothesis_profiles():
    try:
        from hypothesis import settings
    except ImportError:  # the tests that need Hypothesis skip on their own
        return
    settings.register_profile("ci", max_examples=12, deadline=None, derandomize=True,
                              print_blob=True)
    settings.register_profile("dev", max_examples=12, deadline=None)
    settings.register_profile("thorough", max_examples=300, deadline=None)
    default = "ci" if os.environ.get("CI", "").lower() in ("1", "true", "yes") else "dev"
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", default))


_register_hypothesis_profiles()
