"""gg.arange follows NumPy's arange (values; int64 for integer arguments, the default float dtype
for any float argument) and allocates only its result: no throwaway array to pick the dtype."""
from __future__ import annotations

import itertools
import tracemalloc

import numpy as np
import pytest

import gpugrad as gg

VALUES = [0, 3, -2, 7, 2.5, np.float32(1.5), np.int32(2), np.int8(1), np.uint8(4), np.int64(5), True]
STEPS = [1, 2, -1, 0.5, np.int32(1), np.float32(0.5), np.uint8(1)]


def test_dtype_and_values_follow_numpy():
    checked = 0
    for start, stop, step in itertools.product(VALUES, VALUES, STEPS):
        with np.errstate(all="ignore"):
            try:
                ref = np.arange(start, stop, step)
            except (ValueError, TypeError, OverflowError):
                continue
            got = gg.arange(start, stop, step)
            want_dtype = np.float32 if ref.dtype.kind == "f" else ref.dtype
            assert got.dtype == want_dtype, (start, stop, step)
            assert got.shape == ref.shape, (start, stop, step)
            assert np.array_equal(got.numpy(), np.arange(start, stop, step, dtype=want_dtype))
        checked += 1
    assert checked > 500
    assert gg.arange(5).dtype == np.int64 and gg.arange(5.0).dtype == np.float32
    assert gg.arange(3, dtype="float64").dtype == np.float64


def test_refuses_non_numbers():
    with pytest.raises(TypeError, match="arange"):
        gg.arange("a", "b")


@pytest.mark.parametrize("args", [(1_000_000,), (0.0, 1_000_000.0, 1.0)])
def test_allocates_only_its_result(args):
    gg.arange(*args)  # warm-up: first-call imports and caches are not the op's cost
    tracemalloc.start()
    t = gg.arange(*args)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1.1 * t.numpy().nbytes + 64 * 1024, (peak, t.numpy().nbytes)
