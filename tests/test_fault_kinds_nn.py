"""Issue 10 kind 1 (derivatives at the boundary of their formula) in gg.nn.functional's losses,
found by the PyTorch conformance suite: each fails on the code before its fix."""
import numpy as np
import pytest

import gpugrad as gg
import gpugrad.nn.functional as F


@pytest.mark.parametrize("t", [0.0, 1.0, 0.3])
@pytest.mark.parametrize("pos_weight", [None, 2.0])
def test_bce_with_logits_gradient_at_logit_zero(t, pos_weight):
    # d/dx = (1 + (pw - 1) t) sigmoid(x) - pw t; at x = 0, sigmoid = 1/2. Was 2x off: the
    # subgradients of |x| and max(-x, 0) at 0 did not cancel.
    x = gg.tensor([0.0, 1e-3, -1e-3], dtype="float64", requires_grad=True)
    y = gg.tensor([t, t, t], dtype="float64")
    pw = None if pos_weight is None else gg.tensor([pos_weight], dtype="float64")
    F.binary_cross_entropy_with_logits(x, y, reduction="sum", pos_weight=pw).backward()
    w = 1.0 if pos_weight is None else pos_weight
    sig = 1 / (1 + np.exp(-x.numpy()))
    np.testing.assert_allclose(x.grad.numpy(), (1 + (w - 1) * t) * sig - w * t, rtol=1e-9)


def test_bce_with_logits_extreme_logits_finite_at_every_order():
    x = gg.tensor([-1e4, -50.0, 0.0, 50.0, 1e4], dtype="float64", requires_grad=True)
    y = gg.tensor([1.0, 0.0, 1.0, 1.0, 0.0], dtype="float64")
    loss = F.binary_cross_entropy_with_logits(x, y, reduction="sum")
    assert np.isfinite(loss.item())
    (g,) = gg.grad(loss, x, create_graph=True)
    (h,) = gg.grad(g.sum(), x)
    assert np.isfinite(g.numpy()).all() and np.isfinite(h.numpy()).all()
    np.testing.assert_allclose(h.numpy()[2], 0.25)     # sigmoid'(0)


def test_huber_second_derivative_at_delta_is_the_outer_piece():
    # |d| = delta: value and slope agree on both pieces; PyTorch's second derivative there is 0.
    x = gg.tensor([1.0], dtype="float64", requires_grad=True)
    (g,) = gg.grad(F.huber_loss(x, gg.zeros(1, dtype="float64"), reduction="sum", delta=1.0), x,
                   create_graph=True)
    (h,) = gg.grad(g.sum(), x)
    assert g.item() == 1.0 and h.item() == 0.0


@pytest.mark.parametrize("upstream", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("create_graph", [False, True])
def test_relu_gradient_at_a_dead_unit_is_zero_whatever_arrives(upstream, create_graph):
    # PyTorch and the CUDA kernels select (y <= 0 ? 0 : g); the CPU formula multiplied by the mask,
    # so a NaN/inf upstream gradient gave NaN at a dead unit on the CPU only.
    x = gg.tensor([-1.0, 2.0], dtype="float64", requires_grad=True)
    y = gg.relu(x)
    (g,) = gg.grad(y, x, grad_outputs=gg.tensor([upstream, 1.0], dtype="float64"),
                   create_graph=create_graph)
    np.testing.assert_array_equal(g.numpy(), [0.0, 1.0])
    (g2,) = gg.grad(F.linear_relu(x.reshape(1, 2), gg.eye(2, dtype="float64"), gg.zeros(2, dtype="float64")), x,
                    grad_outputs=gg.tensor([[upstream, 1.0]], dtype="float64"), create_graph=create_graph)
    np.testing.assert_array_equal(g2.numpy(), [0.0, 1.0])


@pytest.mark.parametrize("create_graph", [False, True])
def test_relu_gradient_at_a_nan_input_passes_through_as_in_pytorch(create_graph):
    # PyTorch's threshold_backward is (y <= 0 ? 0 : g): NaN <= 0 is false, so a NaN unit passes its
    # gradient; the select (y > 0 ? g : 0) gave 0 there.
    torch = pytest.importorskip("torch")
    values, upstream = [float("nan"), -1.0, 0.0, 2.0], [5.0, 6.0, 7.0, 8.0]
    xt = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    torch.relu(xt).backward(torch.tensor(upstream, dtype=torch.float64))
    x = gg.tensor(values, dtype="float64", requires_grad=True)
    (g,) = gg.grad(gg.relu(x), x, grad_outputs=gg.tensor(upstream, dtype="float64"), create_graph=create_graph)
    np.testing.assert_array_equal(g.numpy(), xt.grad.numpy())
    # the fused linear_relu: the NaN unit comes from the bias (a NaN input would spread through x W^T)
    bias = [float("nan"), 0.0, 0.0, 0.0]
    wt = torch.tensor([1.0, -1.0, 0.0, 2.0], dtype=torch.float64, requires_grad=True)
    torch.relu(torch.nn.functional.linear(wt.reshape(1, 4), torch.eye(4, dtype=torch.float64),
                                          torch.tensor(bias, dtype=torch.float64))).backward(
        torch.tensor([upstream], dtype=torch.float64))
    w = gg.tensor([1.0, -1.0, 0.0, 2.0], dtype="float64", requires_grad=True)
    (g2,) = gg.grad(F.linear_relu(w.reshape(1, 4), gg.eye(4, dtype="float64"), gg.tensor(bias, dtype="float64")), w,
                    grad_outputs=gg.tensor([upstream], dtype="float64"), create_graph=create_graph)
    np.testing.assert_array_equal(g2.numpy(), wt.grad.numpy())
    assert g2.numpy()[0] == 5.0
