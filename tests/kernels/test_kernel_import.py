"""``import gpugrad.kernels`` must need neither numba nor cupy nor a GPU (kernels compile lazily)."""
import subprocess
import sys

CODE = """
import sys
sys.modules['numba'] = None   # make any numba import fail
sys.modules['cupy'] = None
import gpugrad.kernels as K
specs = K.kernel_specs()
assert specs and all(s.register_budget > 0 for s in specs)
assert 'numba' not in [m.split('.')[0] for m in sys.modules if sys.modules[m] is not None]
print(len(specs))
"""


def test_import_needs_no_numba_or_cupy():
    r = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert int(r.stdout) > 0
