"""Every op in the table: forward against NumPy float64, backward by gradcheck, over shape families
(scalars, broadcasting pairs), dtypes (float32, float64), contiguous and strided inputs, devices."""
from __future__ import annotations

import numpy as np
import pytest

import gpugrad as gg
from gpugrad.backends import get_backend
from gpugrad.device import as_device
from helpers import TOL, host, make_input
from op_table import ALL, sample

CASES = [pytest.param(c, s, id=f"{c.name}-{'x'.join(map(str, s))}") for c in ALL for s in c.shapes]


def _inputs(case, shapes, dtype, device, contiguous, seed=0):
    rng = np.random.default_rng(seed)
    hosts = [sample(s, case.domain, rng).astype(dtype) for s in shapes]
    return hosts, [make_input(h, device, contiguous) for h in hosts]


@pytest.mark.parametrize("contiguous", [True, False], ids=["contig", "strided"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case,shapes", CASES)
def test_forward_matches_numpy_float64(case, shapes, dtype, contiguous, device):
    hosts, xs = _inputs(case, shapes, dtype, device, contiguous)
    out = case.fn(*xs)
    expected = case.ref(*[h.astype(np.float64) for h in hosts])
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(host(out), expected, **TOL[dtype])
    if case.name != "astype64":
        assert out.dtype == np.dtype(dtype), f"{case.name} changed dtype {dtype} -> {out.dtype}"


@pytest.mark.parametrize("contiguous", [True, False], ids=["contig", "strided"])
@pytest.mark.parametrize("case,shapes", CASES)
def test_gradcheck(case, shapes, contiguous, device):
    _, xs = _inputs(case, shapes, "float64", device, contiguous, seed=1)
    assert gg.gradcheck(case.fn, xs, eps=1e-6, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case,shapes", CASES)
def test_backward_keeps_dtype_matches_float64_and_mutates_nothing(case, shapes, dtype, device):
    hosts, xs = _inputs(case, shapes, dtype, device, contiguous=True, seed=2)
    before = [host(x) for x in xs]
    out = case.fn(*xs)
    g_np = np.random.default_rng(3).standard_normal(out.shape).astype(dtype)
    g = make_input(g_np, device, requires_grad=False)
    out.backward(g)
    for x, b in zip(xs, before):
        np.testing.assert_array_equal(host(x), b)          # forward/backward never write inputs
    np.testing.assert_array_equal(host(g), g_np)           # nor the upstream gradient
    # The same computation in float64 is the reference for the float32 gradients.
    _, xs64 = _inputs(case, shapes, "float64", device, contiguous=True, seed=2)
    case.fn(*xs64).backward(make_input(g_np.astype(np.float64), device, requires_grad=False))
    tol = TOL[dtype] if dtype == "float64" else dict(rtol=1e-4, atol=1e-4)
    for x, x64 in zip(xs, xs64):
        assert x.grad is not None and x.grad.dtype == x.dtype and x.grad.shape == x.shape
        np.testing.assert_allclose(host(x.grad), host(x64.grad), **tol)
    # Gradients are never views of each other or of the upstream gradient.
    xp = get_backend(as_device(device)).xp
    arrays = [x.grad._data for x in xs] + [g._data]
    for i in range(len(arrays)):
        for j in range(i + 1, len(arrays)):
            assert not xp.shares_memory(arrays[i], arrays[j])
