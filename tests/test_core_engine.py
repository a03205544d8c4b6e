"""The backward engine: deep graphs, accumulation, freeing, retain_graph, create_graph, gg.grad,
grad modes, hooks, in-place detection, dtype rules and numerical stability."""
from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import gpugrad as gg
import gpugrad.nn.functional as F
from helpers import host


def test_chain_of_100k_ops_backpropagates_without_recursion(device):
    x = gg.ones(2, device=device, requires_grad=True)
    y = x
    for _ in range(50_000):
        y = y * 1.0
        y = y + 0.0
    y.sum().backward()
    np.testing.assert_array_equal(host(x.grad), [1.0, 1.0])


def test_tensor_used_several_times_accumulates(device):
    x = gg.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    y = x * x + x * 3.0 + x
    y.sum().backward()
    np.testing.assert_allclose(host(x.grad), 2 * np.array([1, 2, 3]) + 4)


def test_grad_accumulates_across_backward_calls_until_cleared(device):
    x = gg.tensor([1.0, -2.0], device=device, requires_grad=True)
    (x * 2).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_allclose(host(x.grad), [5.0, 5.0])
    x.grad = None
    (x * 4).sum().backward()
    np.testing.assert_allclose(host(x.grad), [4.0, 4.0])


def test_second_backward_through_freed_graph_says_retain_graph(device):
    x = gg.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward(device):
    x = gg.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    first = host(x.grad).copy()
    y.backward()
    np.testing.assert_allclose(host(x.grad), 2 * first)


def test_saved_arrays_are_released_after_backward(device):
    x = gg.randn(50, 50, device=device, requires_grad=True)
    h = x.tanh()
    saved = weakref.ref(h.grad_fn)
    y = (h * h).sum()
    node = y.grad_fn
    inner = node.parents[0]            # the sum's input: the mul node
    assert inner.saved[0] is not None
    y.backward()
    assert inner.saved is None and inner.ans is None and inner.freed
    assert saved() is not None and saved().saved is None


def test_intermediate_gradients_are_dropped_once_consumed(device):
    # Hooks see each intermediate gradient, from the output backwards. When the hook of h[i]
    # runs, the gradient of h[i+1] has been consumed by its VJP and must already be freed.
    x = gg.randn(1000, device=device, requires_grad=True)
    refs, alive_when_next_seen = [], []

    def hook(g):
        gc.collect()
        alive_when_next_seen.append([r() is not None for r in refs])
        refs.append(weakref.ref(g._data))

    h = x
    for _ in range(5):
        h = h.sin()
        h.register_hook(hook)
    h.sum().backward()
    assert len(refs) == 5
    assert alive_when_next_seen[1:] == [[False] * i for i in range(1, 5)]


def test_hvp_of_mlp_loss_agrees_with_finite_differences(device):
    gg.manual_seed(0)
    X = gg.randn(16, 5, dtype="float64", device=device)
    t = gg.tensor(np.random.default_rng(0).integers(0, 3, 16), device=device)
    W1 = gg.randn(8, 5, dtype="float64", device=device, requires_grad=True)
    W2 = gg.randn(3, 8, dtype="float64", device=device, requires_grad=True)

    def loss(w1, w2):
        return F.cross_entropy(F.linear(gg.tanh(F.linear(X, w1)), w2), t)

    v1 = gg.randn(8, 5, dtype="float64", device=device)
    v2 = gg.randn(3, 8, dtype="float64", device=device)
    g1, g2 = gg.grad(loss(W1, W2), [W1, W2], create_graph=True)
    h1, h2 = gg.grad((g1 * v1).sum() + (g2 * v2).sum(), [W1, W2])

    def grads_at(eps):
        a = gg.tensor(host(W1) + eps * host(v1), dtype="float64", device=device, requires_grad=True)
        b = gg.tensor(host(W2) + eps * host(v2), dtype="float64", device=device, requires_grad=True)
        return [host(g) for g in gg.grad(loss(a, b), [a, b])]

    eps = 1e-5
    plus, minus = grads_at(eps), grads_at(-eps)
    np.testing.assert_allclose(host(h1), (plus[0] - minus[0]) / (2 * eps), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(host(h2), (plus[1] - minus[1]) / (2 * eps), rtol=1e-5, atol=1e-7)


def test_second_derivative_through_fused_ops_and_backward_create_graph(device):
    x = gg.tensor([[0.3, -1.2]], dtype="float64", device=device, requires_grad=True)
    b = gg.tensor([0.1, 0.2], dtype="float64", device=device, requires_grad=True)
    y = F.bias_sigmoid(x, b).sum() + gg.relu(x).sum() * 0 + (x.exp() * x).sum()
    (gx,) = gg.grad(y, x, create_graph=True)
    (gxx,) = gg.grad(gx.sum(), x)
    s = 1 / (1 + np.exp(-(host(x) + host(b))))
    xv = host(x)
    expected = s * (1 - s) * (1 - 2 * s) + np.exp(xv) * (xv + 2)
    np.testing.assert_allclose(host(gxx), expected, rtol=1e-10)
    # backward(create_graph=True) leaves a differentiable .grad
    x.grad = None
    (x ** 3).sum().backward(create_graph=True)
    assert x.grad.requires_grad
    (gxx2,) = gg.grad(x.grad.sum(), x)
    np.testing.assert_allclose(host(gxx2), 6 * xv)


def test_grad_function_leaves_dot_grad_alone_and_handles_non_leaf_inputs(device):
    x = gg.tensor([1.0, 2.0], device=device, requires_grad=True)
    h = x * 3.0
    y = (h * h).sum()
    gh, gx = gg.grad(y, [h, x])
    assert x.grad is None
    np.testing.assert_allclose(host(gh), 2 * host(h))
    np.testing.assert_allclose(host(gx), 18 * host(x))
    z = gg.tensor([1.0], device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match="allow_unused"):
        gg.grad((x * 2).sum(), [x, z])
    assert gg.grad((x * 2).sum(), [x, z], allow_unused=True)[1] is None


def test_no_grad_and_enable_grad(device):
    x = gg.ones(3, device=device, requires_grad=True)
    with gg.no_grad():
        y = x * 2
        with gg.enable_grad():
            z = x * 2
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad

    @gg.no_grad()
    def f(t):
        return t * 2

    assert not f(x).requires_grad
    assert gg.is_grad_enabled()


def test_retain_grad_and_hooks(device):
    x = gg.tensor([1.0, 2.0], device=device, requires_grad=True)
    h = x * 2
    h.retain_grad()
    seen = []
    handle = h.register_hook(lambda g: seen.append(host(g)) or g * 10)
    (h * h).sum().backward()
    np.testing.assert_allclose(host(h.grad), 2 * host(h) * 10)   # retained grad sees the hook's result
    np.testing.assert_allclose(host(x.grad), 2 * 2 * host(h) * 10)
    np.testing.assert_allclose(seen[0], 2 * host(h))
    handle.remove()
    x.grad = None
    x.register_hook(lambda g: g * 0 + 1)
    (x * 5).sum().backward()
    np.testing.assert_allclose(host(x.grad), [1.0, 1.0])


def test_in_place_change_of_a_saved_input_is_detected(device):
    w = gg.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = (w * w).sum()
    with gg.no_grad():
        w -= 0.5
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()


def test_in_place_on_tensor_requiring_grad_outside_no_grad_is_refused(device):
    w = gg.tensor([1.0, 2.0], device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match="no_grad"):
        w += 1.0


@pytest.mark.parametrize("make", [
    lambda x: x * 2.5, lambda x: 2.5 * x, lambda x: x + 1, lambda x: x / 3.0, lambda x: x ** 2.0,
    lambda x: x * np.float64(2.0), lambda x: gg.exp(x) - 0.5, lambda x: x.mean(),
])
def test_float32_stays_float32_with_python_and_numpy_scalars(make, device):
    x = gg.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = make(x)
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


def test_integer_data_keeps_its_kind_and_int_division_gives_default_float(device):
    i = gg.tensor([1, 2, 3], device=device)
    assert i.dtype.kind == "i"
    assert (i / 2).dtype == np.float32
    assert gg.tensor([True, False], device=device).dtype == np.bool_
    assert gg.tensor(np.arange(3.0), device=device).dtype == np.float32
    assert gg.tensor([1.0], dtype="float64", device=device).dtype == np.float64


@pytest.mark.parametrize("fn", [
    lambda x: gg.sigmoid(x),
    lambda x: gg.log_softmax(x, axis=1),
    lambda x: gg.logsumexp(x, axis=1),
    lambda x: gg.softmax(x, axis=1),
    lambda x: F.cross_entropy(x, [0, 1]),
    lambda x: F.bias_sigmoid(x, gg.zeros(3, device=x.device)),
])
def test_numerically_stable_for_large_float32_inputs(fn, device):
    x = gg.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 3.0]], device=device, requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = fn(x)
        y.backward(gg.ones_like(y))
    assert np.isfinite(host(y)).all() and np.isfinite(host(x.grad)).all()


def test_detect_anomaly_names_the_op_and_the_users_line(device):
    x = gg.tensor([-1.0, 1.0], device=device, requires_grad=True)
    with gg.detect_anomaly():
        with np.errstate(invalid="ignore"):
            with pytest.raises(gg.AnomalyError, match=r"'log'.*test_core_engine.py"):
                gg.log(x)
        z = gg.tensor([0.0, 4.0], device=device, requires_grad=True)
        y = gg.sqrt(z).sum()          # finite forward, infinite gradient at 0
        with np.errstate(divide="ignore"):
            with pytest.raises(gg.AnomalyError, match=r"VJP.*'sqrt'.*test_core_engine.py"):
                y.backward()


def test_detach_cuts_the_graph(device):
    x = gg.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = (x.detach() * x).sum()
    y.backward()
    np.testing.assert_allclose(host(x.grad), [1.0, 2.0])
