"""The fused cross-entropy (issue 23): one kernel forward and one backward on the CUDA backends
(here cudasim: the real kernels in Numba's simulator), PyTorch's semantics for weight,
ignore_index and label_smoothing; ignored rows selected out at every order."""
from __future__ import annotations

import numpy as np
import pytest

import gpugrad as gg
import gpugrad.nn.functional as F
from gpugrad.nn import loss_fns

torch = pytest.importorskip("torch")



def _data(dtype=np.float32):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((7, 4)).astype(dtype)
    x[2] = -np.inf                         # a row of -inf logits, ignored
    t = np.array([0, 3, -100, 2, 1, -100, 3])
    w = (rng.random(4) + 0.5).astype(dtype)
    return x, t, w


def _ours(device, x, t, w, **kw):
    xt = gg.tensor(x, device=device, requires_grad=True)
    if w is not None:
        kw["weight"] = gg.tensor(w, device=device)
    loss = F.cross_entropy(xt, gg.tensor(t, device=device), **kw)
    loss.backward()
    return loss, float(loss.item()), np.asarray(xt.grad.numpy())


def _torch(x, t, w, **kw):
    xr = torch.tensor(x, requires_grad=True)
    if w is not None:
        kw["weight"] = torch.tensor(w)
    loss = torch.nn.functional.cross_entropy(xr, torch.tensor(t), **kw)
    loss.backward()
    return float(loss), xr.grad.numpy()


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("kw", [{}, {"label_smoothing": 0.1}, {"reduction": "sum", "label_smoothing": 0.2}])
@pytest.mark.parametrize("device", ["cudasim", "cpu"])
def test_cross_entropy_matches_pytorch_and_excludes_the_ignored_inf_row(device, weighted, kw):
    x, t, w = _data()
    w = w if weighted else None
    loss, value, grad = _ours(device, x, t, w, **kw)
    want, want_grad = _torch(x, t, w, **kw)
    if device == "cudasim":
        assert loss._node.op.name == "cross_entropy_fused", "the fused path ran"
    np.testing.assert_allclose(value, want, rtol=1e-6)
    keep = np.arange(len(t)) != 2
    np.testing.assert_allclose(grad[keep], want_grad[keep], rtol=1e-5, atol=1e-7)
    assert np.array_equal(grad[2], np.zeros(4)), "the ignored -inf row is selected out (PyTorch: NaN)"


@pytest.mark.parametrize("device", ["cudasim", "cpu"])
def test_an_all_ignored_batch_gives_nan_loss_and_zero_gradient(device):
    x, _, _ = _data()
    t = np.full(7, -100)
    _, value, grad = _ours(device, x, t, None)
    assert np.isnan(value)
    assert np.array_equal(grad, np.zeros_like(grad))


@pytest.mark.parametrize("device", ["cudasim", "cpu"])
def test_second_order_selects_the_ignored_rows_too(device):
    x, t, _ = _data(np.float64)
    xt = gg.tensor(x, device=device, requires_grad=True)
    loss = F.cross_entropy(xt, gg.tensor(t, device=device), label_smoothing=0.1)
    (g,) = gg.autograd.grad(loss, [xt], create_graph=True)
    (gg2,) = gg.autograd.grad((g * g).sum(), [xt])
    xr = torch.tensor(np.where(np.isinf(x), 0.0, x), requires_grad=True)   # torch: NaN on the -inf row
    lr = torch.nn.functional.cross_entropy(xr, torch.tensor(t), label_smoothing=0.1)
    (gr,) = torch.autograd.grad(lr, [xr], create_graph=True)
    (gr2,) = torch.autograd.grad((gr * gr).sum(), [xr])
    np.testing.assert_allclose(np.asarray(gg2.numpy()), gr2.numpy(), rtol=1e-5, atol=1e-10)
    assert np.array_equal(np.asarray(gg2.numpy())[2], np.zeros(4))


def test_float16_logits_take_the_composite_path():
    x, t, _ = _data(np.float16)
    xt = gg.tensor(x, device="cudasim", dtype=np.float16, requires_grad=True)
    assert xt.dtype == np.float16
    loss = F.cross_entropy(xt, gg.tensor(t, device="cudasim"))
    assert loss._node.op.name != "cross_entropy_fused"
    assert loss_fns._fused_cross_entropy(xt, gg.tensor(t, device="cudasim"),
                                         None, -100, "mean", 0.0) is None
