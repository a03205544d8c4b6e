"""PyTorch's Tensor methods and top-level names (issue 12), each checked against PyTorch itself
(forward and, where differentiable, gradients in float64), and NumPy's spellings still working."""
from __future__ import annotations

import numpy as np
import pytest

import gpugrad as gg

torch = pytest.importorskip("torch", reason="PyTorch is the reference for these conventions")


def pair(a, requires_grad=True):
    """The same float64 values as a gpugrad tensor and a torch tensor (both leaves)."""
    a = np.asarray(a, dtype=np.float64)
    return (gg.tensor(a, dtype="float64", requires_grad=requires_grad),
            torch.tensor(a, dtype=torch.float64, requires_grad=requires_grad))


def check(fn_gg, fn_torch, shape=(3, 4), seed=0, grad=True):
    """fn on both libraries: same values; same gradient of sum(out * w) for a random w."""
    x_np = np.random.default_rng(seed).standard_normal(shape)
    x, xt = pair(x_np, requires_grad=grad)
    out, out_t = fn_gg(x), fn_torch(xt)
    np.testing.assert_allclose(np.asarray(out.numpy(), dtype=np.float64), out_t.detach().numpy(),
                               rtol=1e-12, atol=1e-12)
    assert out.shape == tuple(out_t.shape)
    if grad and out.dtype.kind == "f":
        w = np.random.default_rng(seed + 1).standard_normal(out.shape)
        (out * gg.tensor(w, dtype="float64")).sum().backward()
        (out_t * torch.tensor(w)).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12, atol=1e-12)


DIFFERENTIABLE = [
    ("sum_dim", lambda x: x.sum(dim=1), lambda x: x.sum(dim=1)),
    ("sum_dim_keepdim", lambda x: x.sum(dim=0, keepdim=True), lambda x: x.sum(dim=0, keepdim=True)),
    ("mean_dims", lambda x: x.mean(dim=(0, 1)), lambda x: x.mean(dim=(0, 1))),
    ("softmax_dim", lambda x: x.softmax(dim=0), lambda x: x.softmax(dim=0)),
    ("log_softmax_dim", lambda x: gg.log_softmax(x, dim=1), lambda x: torch.log_softmax(x, dim=1)),
    ("logsumexp_dim", lambda x: gg.logsumexp(x, dim=1), lambda x: torch.logsumexp(x, dim=1)),
    ("max_values", lambda x: x.max(dim=1).values, lambda x: x.max(dim=1).values),
    ("max_positional", lambda x: x.max(1)[0], lambda x: x.max(1)[0]),
    ("min_keepdim", lambda x: x.min(dim=0, keepdim=True).values, lambda x: x.min(dim=0, keepdim=True).values),
    ("torch_max_pair", lambda x: gg.max(x, x * 0.5), lambda x: torch.max(x, x * 0.5)),
    ("unsqueeze_dim", lambda x: x.unsqueeze(dim=1), lambda x: x.unsqueeze(dim=1)),
    ("squeeze_dim", lambda x: x.unsqueeze(0).squeeze(dim=0), lambda x: x.unsqueeze(0).squeeze(dim=0)),
    ("cat_dim", lambda x: gg.cat([x, x * 2], dim=1), lambda x: torch.cat([x, x * 2], dim=1)),
    ("stack_dim", lambda x: gg.stack([x, x * 2], dim=2), lambda x: torch.stack([x, x * 2], dim=2)),
    ("t", lambda x: x.t(), lambda x: x.t()),
    ("permute", lambda x: x.reshape(2, 3, 2).permute(2, 0, 1), lambda x: x.reshape(2, 3, 2).permute(2, 0, 1)),
    ("transpose_pair", lambda x: x.reshape(2, 3, 2).transpose(0, 2), lambda x: x.reshape(2, 3, 2).transpose(0, 2)),
    ("mm", lambda x: x.mm(x.t()), lambda x: x.mm(x.t())),
    ("view", lambda x: x.view(2, -1), lambda x: x.view(2, -1)),
    ("flatten", lambda x: x.reshape(2, 3, 2).flatten(1), lambda x: x.reshape(2, 3, 2).flatten(1)),
    ("flatten_range", lambda x: x.reshape(2, 3, 2, 1).flatten(start_dim=1, end_dim=2),
     lambda x: x.reshape(2, 3, 2, 1).flatten(start_dim=1, end_dim=2)),
    ("expand", lambda x: x[:1].expand(3, -1), lambda x: x[:1].expand(3, -1)),
    ("clamp", lambda x: x.clamp(-0.5, 0.3), lambda x: x.clamp(-0.5, 0.3)),
    ("clamp_min", lambda x: x.clamp(min=0.1), lambda x: x.clamp(min=0.1)),
    ("clamp_tensor", lambda x: x.clamp(max=x * 0 + 0.2), lambda x: x.clamp(max=x * 0 + 0.2)),
    ("masked_fill", lambda x: x.masked_fill(x < 0, -1.5), lambda x: x.masked_fill(x < 0, -1.5)),
    ("float_cast", lambda x: x.float().double(), lambda x: x.float().double()),
    ("to_dtype", lambda x: x.to(gg.float32).to("cpu", gg.float64), lambda x: x.to(torch.float32).to("cpu", torch.float64)),
    ("type_as", lambda x: x.type_as(x), lambda x: x.type_as(x)),
    ("methods", lambda x: x.mul(2).add(x).sub(1).div(3).pow(2), lambda x: x.mul(2).add(x).sub(1).div(3).pow(2)),
]


@pytest.mark.parametrize("name,f,ft", DIFFERENTIABLE, ids=[c[0] for c in DIFFERENTIABLE])
def test_method_matches_torch(name, f, ft):
    check(f, ft)


NONDIFF = [
    ("argmax", lambda x: x.argmax(), lambda x: x.argmax()),
    ("argmax_dim", lambda x: x.argmax(dim=1), lambda x: x.argmax(dim=1)),
    ("argmin_keepdim", lambda x: x.argmin(dim=0, keepdim=True), lambda x: x.argmin(dim=0, keepdim=True)),
    ("max_indices", lambda x: x.max(dim=1).indices, lambda x: x.max(dim=1).indices),
    ("top_argmax", lambda x: gg.argmax(x, 1), lambda x: torch.argmax(x, 1)),
    ("all_dim", lambda x: (x > -1).all(dim=1), lambda x: (x > -1).all(dim=1)),
    ("any", lambda x: (x > 1).any(), lambda x: (x > 1).any()),
    ("long", lambda x: (x * 3).long(), lambda x: (x * 3).long()),
    ("int_bool", lambda x: (x > 0).int(), lambda x: (x > 0).int()),
]


@pytest.mark.parametrize("name,f,ft", NONDIFF, ids=[c[0] for c in NONDIFF])
def test_nondifferentiable_method_matches_torch(name, f, ft):
    x_np = np.random.default_rng(5).standard_normal((3, 4))
    out, out_t = f(gg.tensor(x_np, dtype="float64")), ft(torch.tensor(x_np))
    np.testing.assert_array_equal(out.numpy(), out_t.numpy())
    assert out.dtype == np.dtype(str(out_t.dtype).replace("torch.", ""))
    assert not out.requires_grad


def test_size_is_numpy_int_and_torch_method():
    x = gg.zeros(3, 4)
    assert x.size == 12 and x.size * 2 == 24 and isinstance(x.size, int)       # NumPy
    assert x.size() == (3, 4) and x.size(0) == 3 and x.size(-1) == 4          # PyTorch
    assert x.numel() == 12 and x.dim() == 2 and gg.numel(x) == 12
    with pytest.raises(IndexError, match="out of range for a tensor of shape"):
        x.size(2)


def test_numpy_spellings_keep_working_and_both_spellings_refused():
    x = gg.tensor(np.arange(12.0).reshape(3, 4))
    assert x.sum(axis=1, keepdims=True).shape == (3, 1)
    assert x.max(axis=1).shape == (3,)                 # NumPy: values only
    assert x.transpose((1, 0)).shape == (4, 3) and x.transpose().shape == (4, 3)
    assert gg.concatenate([x, x], axis=0).shape == (6, 4)
    for call in (lambda: x.sum(axis=0, dim=1), lambda: x.mean(keepdims=True, keepdim=True),
                 lambda: gg.cat([x], dim=0, axis=0), lambda: x.argmax(axis=0, dim=0)):
        with pytest.raises(TypeError, match="both"):
            call()


def test_long_float_requires_grad_follows_torch():
    x = gg.randn(3, requires_grad=True)
    assert x.float().requires_grad and not x.long().requires_grad and not x.bool().requires_grad
    assert x.double().dtype == gg.float64


def test_view_shares_storage_and_errors_where_torch_does():
    x = gg.zeros(2, 3)
    v = x.view(6)
    v[1] = 5.0
    assert x.numpy()[0, 1] == 5.0                      # a write through the view is seen
    with pytest.raises(RuntimeError, match=r"view: .*Use .reshape"):
        x.t().view(6)
    with pytest.raises(RuntimeError):                  # PyTorch refuses the same view
        torch.zeros(2, 3).t().view(6)
    assert x.t().reshape(6).shape == (6,)              # reshape copies instead
    with pytest.raises(TypeError, match="view"):
        x.view(gg.float64)


def test_to_parses_device_dtype_and_tensor():
    x = gg.randn(2, 2)
    assert x.to(gg.float64).dtype == np.float64 and x.to("float64").dtype == np.float64
    assert x.to("cpu", gg.float16).dtype == np.float16
    assert x.to(dtype=gg.double, device="cpu").dtype == np.float64
    assert x.to(gg.zeros(1, dtype="float64")).dtype == np.float64
    assert x.to(gg.float32) is x and x.to(gg.float32, copy=True) is not x
    with pytest.raises(TypeError, match="neither a device"):
        x.to("banana")


def test_errors_speak_pytorch():
    x = gg.randn(2, 3, 4)
    with pytest.raises(ValueError, match="t: expects a tensor with <= 2 dimensions"):
        x.t()
    with pytest.raises(ValueError, match="mm: both operands must be 2-D"):
        x.mm(x)
    with pytest.raises(ValueError, match="permute: got 2 dims"):
        x.permute(1, 0)
    with pytest.raises(TypeError, match="masked_fill: mask must be a bool tensor"):
        x.masked_fill(x, 0.0)


def test_top_level_names():
    gg.manual_seed(0)
    p = gg.randperm(10)
    assert p.dtype == gg.int64 and sorted(p.tolist()) == list(range(10))
    r = gg.randint(3, 7, (50,))
    assert r.dtype == gg.long and 3 <= r.numpy().min() and r.numpy().max() < 7
    assert gg.randint(5, (2, 3)).shape == (2, 3)
    np.testing.assert_array_equal(gg.eye(3, 2).numpy(), torch.eye(3, 2).numpy())
    np.testing.assert_allclose(gg.linspace(-1, 2, 7).numpy(), torch.linspace(-1, 2, 7).numpy())
    assert gg.is_tensor(gg.zeros(1)) and not gg.is_tensor(np.zeros(1))
    assert gg.allclose(gg.ones(3), gg.ones(3) + 1e-9) and not gg.allclose(gg.ones(3), gg.zeros(3))
    a = np.arange(3.0, dtype=np.float32)
    t = gg.as_tensor(a)
    a[0] = 7
    assert t.numpy()[0] == 7                           # as_tensor shares a NumPy array
    assert gg.as_tensor(t) is t
    for name in ("float16", "half", "float32", "float", "float64", "double", "int32", "int", "int64",
                 "long", "bool", "uint8", "int8", "int16"):
        assert getattr(gg, name) == getattr(torch, name).__repr__().replace("torch.", "")


def test_grad_modes():
    x = gg.randn(2, requires_grad=True)
    with gg.inference_mode():
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad

    @gg.inference_mode()
    def f(v):
        return v * 2

    assert not f(x).requires_grad
    @gg.no_grad                                         # bare decorators, as PyTorch 2.x
    def g(v):
        return v * 2

    @gg.inference_mode
    def h(v):
        return v * 2

    assert not g(x).requires_grad and not h(x).requires_grad and gg.is_grad_enabled()
    with gg.no_grad():
        with gg.enable_grad():
            assert (x * 2).requires_grad
    prev = gg.set_grad_enabled(False)                   # applies at once, as in PyTorch
    try:
        assert not gg.is_grad_enabled() and not (x * 2).requires_grad
    finally:
        gg.set_grad_enabled(True)
    assert gg.is_grad_enabled()
    with gg.set_grad_enabled(False):
        assert not gg.is_grad_enabled()
    assert gg.is_grad_enabled() and prev is not None


def test_gradient_of_a_0d_tensor_used_twice_is_an_array():
    """Two gradient contributions to a 0-d leaf are summed; NumPy would return a scalar there,
    which broke x.grad.numpy() (found by the issue-12 op-table rows on 0-d inputs)."""
    x = gg.tensor(0.5, requires_grad=True)
    (x * x).backward()
    assert x.grad.numpy().shape == () and float(x.grad.numpy()) == 1.0
