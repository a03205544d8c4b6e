"""Binary ops over Hypothesis-generated broadcastable shape pairs: forward and gradients."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import gpugrad as gg
from helpers import host, make_input

BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: (np.ones_like(a), np.ones_like(b))),
    "sub": (lambda a, b: a - b, lambda a, b: (np.ones_like(a), -np.ones_like(b))),
    "mul": (lambda a, b: a * b, lambda a, b: (b, a)),
    "div": (lambda a, b: a / b, lambda a, b: (1 / b, -a / b ** 2)),
    "maximum": (gg.maximum, lambda a, b: ((a > b) * 1.0, (b > a) * 1.0)),
}


def _unbroadcast(g, shape):
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for i, s in enumerate(shape):
        if s == 1 and g.shape[i] != 1:
            g = g.sum(axis=i, keepdims=True)
    return g


@pytest.mark.parametrize("name", sorted(BINARY))
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, max_dims=4, max_side=4), seed=st.integers(0, 99))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_binary_ops_broadcast_forward_and_backward(name, shapes, seed, device):
    fn, local = BINARY[name]
    rng = np.random.default_rng(seed)
    a_np = np.abs(rng.standard_normal(shapes.input_shapes[0])) + 0.5
    b_np = -(np.abs(rng.standard_normal(shapes.input_shapes[1])) + 0.5)   # a > b: no ties
    a, b = make_input(a_np, device), make_input(b_np, device)
    out = fn(a, b)
    assert out.shape == shapes.result_shape
    g = rng.standard_normal(shapes.result_shape)
    out.backward(gg.tensor(g, dtype="float64", device=device))
    da, db = local(np.broadcast_to(a_np, out.shape), np.broadcast_to(b_np, out.shape))
    np.testing.assert_allclose(host(a.grad), _unbroadcast(g * da, a_np.shape), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(host(b.grad), _unbroadcast(g * db, b_np.shape), rtol=1e-12, atol=1e-12)
