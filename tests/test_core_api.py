"""The Tensor API: creation, attributes, conversion, printing, seeding, DLPack, and graph drawing."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

import gpugrad as gg
import gpugrad.nn.functional as F
from helpers import host


def test_issue_example_runs_and_gives_numpy_gradients_of_w_dtype():
    x = gg.tensor(np.random.randn(64, 100), requires_grad=True)
    W = gg.randn(100, 10, requires_grad=True)
    b = gg.zeros(10, requires_grad=True)
    H = F.bias_sigmoid(x @ W, b)
    loss = (H ** 2).mean()
    loss.backward()
    assert isinstance(W.grad.numpy(), np.ndarray) and W.grad.numpy().dtype == W.dtype == np.float32
    assert x.dtype == np.float32 and x.device == "cpu"


@pytest.mark.parametrize("make,shape,kind", [
    (lambda d: gg.zeros(2, 3, device=d), (2, 3), "f"),
    (lambda d: gg.ones((4,), device=d), (4,), "f"),
    (lambda d: gg.full((2, 2), 7, device=d), (2, 2), "i"),
    (lambda d: gg.full((2, 2), 0.5, device=d), (2, 2), "f"),
    (lambda d: gg.arange(5, device=d), (5,), "i"),
    (lambda d: gg.arange(0.0, 1.0, 0.25, device=d), (4,), "f"),
    (lambda d: gg.randn(3, 2, device=d), (3, 2), "f"),
    (lambda d: gg.rand(3, device=d), (3,), "f"),
    (lambda d: gg.zeros_like(gg.ones(2, 5, device=d)), (2, 5), "f"),
    (lambda d: gg.ones_like(gg.arange(3, device=d)), (3,), "i"),
])
def test_creation_functions(make, shape, kind, device):
    t = make(device)
    assert t.shape == shape and t.dtype.kind == kind and t.device == device
    if kind == "f":
        assert t.dtype == np.float32


def test_default_dtype_can_change():
    gg.set_default_dtype("float64")
    try:
        assert gg.tensor([1.0]).dtype == np.float64 and gg.randn(2).dtype == np.float64
    finally:
        gg.set_default_dtype("float32")
    with pytest.raises(TypeError):
        gg.set_default_dtype("int32")


def test_manual_seed_reproduces(device):
    gg.manual_seed(123)
    a = host(gg.randn(5, device=device))
    gg.manual_seed(123)
    b = host(gg.randn(5, device=device))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, host(gg.randn(5, device=device)))


def test_attributes_and_conversions(device):
    t = gg.tensor([[1.0, 2.0], [3.0, 4.0]], device=device, requires_grad=True)
    assert (t.shape, t.ndim, t.size, t.is_leaf, t.requires_grad) == ((2, 2), 2, 4, True, True)
    assert t.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert t[1, 0].item() == 3.0
    y = t * 2
    assert not y.is_leaf and y.grad_fn.name == "mul"
    assert y.detach().grad_fn is None and not y.detach().requires_grad
    assert t.cpu().device == "cpu"
    assert t.to(dtype="float64").dtype == np.float64


def test_numpy_is_a_read_only_view_on_cpu():
    t = gg.tensor([1.0, 2.0])
    a = t.numpy()
    with pytest.raises(ValueError):
        a[0] = 5
    assert t.tolist() == [1.0, 2.0]


def test_from_numpy_shares_memory_and_keeps_dtype():
    a = np.arange(4, dtype=np.float64)
    t = gg.from_numpy(a)
    assert t.dtype == np.float64
    a[0] = 9
    assert t[0].item() == 9


def test_dlpack_round_trip():
    t = gg.tensor([[1.0, 2.0]])
    back = gg.from_dlpack(t)
    np.testing.assert_array_equal(back.numpy(), t.numpy())
    np.testing.assert_array_equal(np.from_dlpack(t), t.numpy())


def test_repr_is_readable():
    t = gg.tensor([1.0, 2.0], requires_grad=True)
    assert repr(t) == "tensor([1., 2.], requires_grad=True)"
    assert "grad_fn=<mul>" in repr(t * 2)
    assert "dtype=float64" in repr(gg.tensor([1.0], dtype="float64"))


def test_grad_is_none_until_backward_and_numpy_of_grad():
    w = gg.randn(3, requires_grad=True)
    assert w.grad is None
    (w * w).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), 2 * w.numpy(), rtol=1e-6)


def test_to_device_round_trip_is_differentiable(device):
    x = gg.tensor([1.0, 2.0], requires_grad=True)
    y = x.to(device)
    (y * 3).sum().backward()
    np.testing.assert_allclose(host(x.grad), [3.0, 3.0])


def test_viz_to_dot_draws_bias_sigmoid_graph_with_derivative_labels():
    X = gg.randn(4, 3)
    X.name = "X"
    W = gg.randn(3, 2, requires_grad=True)
    W.name = "W"
    B = gg.zeros(2, requires_grad=True)
    H = F.bias_sigmoid(X @ W, B)
    dot = gg.viz.to_dot(H, names={B: "B"})
    assert dot.startswith("digraph")
    for needle in ["matmul", "bias_sigmoid", "W\\n(3, 2)", "B\\n(2,)", "H(1-H)", "Xᵀ dZ", "Σrows dZ"]:
        assert needle in dot, needle


def test_viz_render_says_which_program_is_missing(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="Graphviz program 'dot'"):
        gg.viz.render(gg.ones(2, requires_grad=True) * 2, str(tmp_path / "g.svg"))


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' not installed")
def test_viz_render_writes_an_svg(tmp_path):
    x = gg.randn(2, 2, requires_grad=True)
    out = gg.viz.render((x.exp() * x).sum(), str(tmp_path / "g.svg"))
    assert open(out).read().lstrip().startswith(("<?xml", "<svg"))
