"""Special functions: erf (for the exact GELU). Forward beside VJP, as in the rest of the table."""
from __future__ import annotations

import math

import numpy as np

from ..op import defop

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _erf_array(backend, x):
    xp = backend.xp
    if xp is np:
        try:
            from scipy.special import erf as scipy_erf   # fast and exact when SciPy is installed
            out = scipy_erf(x)
        except ImportError:                              # math.erf is exact too, one element at a time
            out = np.vectorize(math.erf, otypes=[np.float64])(x)
        return np.asarray(out).astype(x.dtype, copy=False)
    from cupyx.scipy.special import erf as cupy_erf     # CuPy ships erf as an elementwise kernel
    return cupy_erf(x)


erf = defop("erf", _erf_array, save=(0,), derivs=("2/√π·exp(-x²)",))
erf.defvjp(lambda ns, g, ans, x: g * (_TWO_OVER_SQRT_PI * ns.exp(-(x * x))))
