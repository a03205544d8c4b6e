"""The ReLU VJPs (relu, linear_relu) write into the upstream gradient only when the engine holds
the only reference to it (issue 15: no new array per step for them): whoever else holds that array
(another pending gradient, a hook, the user's grad_tensors, a retained .grad, a saved array) sees
it unchanged, and every gradient equals the allocating path's."""
from __future__ import annotations

import numpy as np
import pytest

import gpugrad as gg
from gpugrad.backends.cpu import CpuBackend


@pytest.fixture
def into_calls(monkeypatch):
    """Count the in-place VJP calls (the engine's choice), running the real one."""
    calls = []
    real = CpuBackend._relu_vjp_into_g

    def relu_into(g, y):
        calls.append(g.shape)
        return real(g, y)

    monkeypatch.setattr(CpuBackend, "_relu_vjp_into_g", staticmethod(relu_into))
    backend = gg.tensor([1.0]).device.backend
    backend.__dict__.pop("_raw_namespace_owns_g", None)      # namespaces cache the bound methods
    yield calls
    backend.__dict__.pop("_raw_namespace_owns_g", None)


def _x(shape=(5, 4), seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def test_mlp_step_uses_the_in_place_vjp_and_gets_the_same_gradients(into_calls):
    x0, w1, w2 = _x((6, 4)), _x((5, 4), 1), _x((3, 5), 2)
    b1 = _x((5,), 3)

    def grads():
        x = gg.tensor(x0)
        W1, B1, W2 = (gg.tensor(a, requires_grad=True) for a in (w1, b1, w2))
        h = gg.nn.functional.linear(x, W1, B1, activation="relu")     # linear_relu
        h2 = gg.relu(gg.nn.functional.linear(h, W2))                    # mm then relu
        (h2 * h2).sum().backward()
        return [t.grad.numpy().copy() for t in (W1, B1, W2)]

    got = grads()
    assert into_calls == [(6, 3), (6, 5)]    # relu's g, then linear_relu's (through bias_relu_vjp)
    # the reference: the same math in NumPy
    a1 = x0 @ w1.T + b1
    h1 = np.maximum(a1, 0)
    a2 = h1 @ w2.T
    g2 = 2 * np.maximum(a2, 0) * (a2 > 0)
    dW2 = g2.T @ h1
    g1 = (g2 @ w2) * (a1 > 0)
    for a, b in zip(got, [g1.T @ x0, g1.sum(0), dW2]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_gradient_shared_by_two_relus_is_not_overwritten_under_the_other(into_calls):
    # add's VJP hands the same array to both inputs: the first ReLU VJP must not write into it.
    a0, b0 = _x(), -_x(seed=1)
    a = gg.tensor(a0, requires_grad=True)
    b = gg.tensor(b0, requires_grad=True)
    # (... * 1.5): the gradient reaching add is a fresh array the engine made, not the user's
    ((gg.relu(a) + gg.relu(b)) * 1.5).backward(gg.tensor(np.full(a0.shape, 2.0, np.float32)))
    np.testing.assert_array_equal(a.grad.numpy(), 3.0 * (a0 > 0))
    np.testing.assert_array_equal(b.grad.numpy(), 3.0 * (b0 > 0))
    assert len(into_calls) <= 1          # at most the second one, once the first is done


def test_the_users_grad_tensor_is_never_written(into_calls):
    x0 = _x()
    x = gg.tensor(x0, requires_grad=True)
    g0 = np.full(x0.shape, 2.0, np.float32)
    g = gg.tensor(g0.copy())
    gg.relu(x).backward(g)
    np.testing.assert_array_equal(g.numpy(), g0)
    np.testing.assert_array_equal(x.grad.numpy(), 2.0 * (x0 > 0))
    assert into_calls == []


@pytest.mark.parametrize("watch", ["none", "hook", "retain_grad", "hook_keeps_tensor"])
def test_a_gradient_seen_by_a_hook_or_retained_is_left_intact(into_calls, watch):
    x0 = _x()
    x = gg.tensor(x0, requires_grad=True)
    r = gg.relu(x * 3.0)
    seen = []
    if watch == "hook":
        r.register_hook(lambda g: seen.append(g.numpy().copy()) or None)
    elif watch == "retain_grad":
        r.retain_grad()
    elif watch == "hook_keeps_tensor":
        r.register_hook(lambda g: seen.append(g) or None)
    (r * 2.0).sum().backward()          # r's gradient: a fresh array of 2s from mul's VJP
    np.testing.assert_allclose(x.grad.numpy(), 6.0 * (x0 > 0))
    if watch == "none":
        assert into_calls == [x0.shape]    # nobody else holds it: written in place
        return
    assert into_calls == []
    held = r.grad.numpy() if watch == "retain_grad" else np.asarray(
        seen[0].numpy() if watch == "hook_keeps_tensor" else seen[0])
    np.testing.assert_array_equal(held, np.full_like(x0, 2.0))    # not masked in place


def test_grad_of_a_relu_with_create_graph_still_differentiates(into_calls):
    x = gg.tensor(_x(), requires_grad=True)
    (gx,) = gg.grad((gg.relu(x) * x).sum(), x, create_graph=True)
    assert into_calls == []                                   # the Tensor path never writes in place
    np.testing.assert_allclose(gx.numpy(), 2.0 * np.maximum(x.numpy(), 0))
    (ggx,) = gg.grad(gx.sum(), x)
    np.testing.assert_array_equal(ggx.numpy(), 2.0 * (x.numpy() > 0))


def test_a_retained_graph_gives_the_same_gradients_twice(into_calls):
    x0 = _x()
    x = gg.tensor(x0, requires_grad=True)
    z = (gg.relu(x * 3.0) * 2.0).sum()
    z.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    x.grad = None
    z.backward()
    np.testing.assert_array_equal(x.grad.numpy(), first)
    np.testing.assert_array_equal(first, 6.0 * (x0 > 0))
    assert len(into_calls) == 2


def test_a_nan_unit_keeps_its_gradient_in_place_too(into_calls):
    x = gg.tensor([float("nan"), -1.0, 2.0], requires_grad=True)
    (gg.relu(x) * 2.0).sum().backward()
    assert into_calls == [(3,)]
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 0.0, 2.0])


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_the_in_place_relu_vjp_equals_the_formula_bit_for_bit(dtype):
    # the bitwise select: +0.0 where y <= 0 whatever g holds, g's bits elsewhere (NaN y included)
    rng = np.random.default_rng(0)
    y = np.concatenate([np.maximum(rng.standard_normal(50), 0), [0.0, -0.0, np.nan, np.inf, 1e-30]]).astype(dtype)
    g = np.concatenate([rng.standard_normal(50), [np.inf, np.nan, -np.inf, np.nan, -0.0]]).astype(dtype)
    want = np.where(y <= 0, np.zeros((), dtype), g)
    got = CpuBackend._relu_vjp_into_g(g.copy(), y)
    np.testing.assert_array_equal(got.view(f"u{g.itemsize}"), want.view(f"u{g.itemsize}"))
    strided = np.repeat(g, 2)[::2]                 # not contiguous: the masked-copy path
    np.testing.assert_array_equal(CpuBackend._relu_vjp_into_g(strided, y), want)
