"""PyTorch habits a reviewer's scripts met (issue 12 follow-up): ``gg.device(...)``, f-strings of
tensors, ``copy.deepcopy`` of tensors/models/state_dicts, std/norm gradients at their edges, and
the common API that was missing. Each checked against PyTorch where it is installed."""
from __future__ import annotations

import copy
import importlib
import pickle

import numpy as np
import pytest

import gpugrad as gg


def _torch():
    return pytest.importorskip("torch", reason="PyTorch is the reference for these conventions")


# -- 1. gg.device is torch.device -----------------------------------------------------------------
@pytest.mark.parametrize("args, expected", [(("cpu",), "cpu"), (("cuda",), "cuda:0"), (("cuda:0",), "cuda:0"),
                                            (("cuda", 0), "cuda:0"), ((0,), "cuda:0"), (("cpu", 0), "cpu")])
def test_device_is_callable_with_torch_spellings(args, expected):
    d = gg.device(*args)
    assert isinstance(d, gg.Device) and str(d) == expected
    assert isinstance(d, gg.device)            # torch's isinstance(x, torch.device) idiom
    assert not isinstance("cpu", gg.device)


def test_device_result_is_accepted_everywhere_and_the_module_still_imports():
    dev = gg.device("cuda" if gg.cuda.is_available() else "cpu")   # the line that failed
    assert gg.tensor([1.0], device=dev).device == dev
    assert gg.zeros(2).to(dev).device == dev
    model = gg.nn.Linear(2, 3).to(dev)
    assert model.weight.device == dev
    mod = importlib.import_module("gpugrad.device")
    assert mod.as_device("cpu") is gg.device("cpu")
    from gpugrad.device import Device, as_device  # noqa: F401
    assert copy.deepcopy(dev) is dev and pickle.loads(pickle.dumps(dev)) == dev


@pytest.mark.parametrize("args, error", [(("tpu",), ValueError), (("cuda:0", 1), ValueError),
                                         (("cuda", -1), ValueError), ((1.5,), TypeError)])
def test_device_bad_input_raises_naming_it(args, error):
    with pytest.raises(error, match="device"):
        gg.device(*args)


# -- 2. f"{loss:.4f}" -------------------------------------------------------------------------------
def test_format_of_tensors_as_pytorch():
    torch = _torch()
    for spec in (".4f", "", "8.2e", ">10"):
        assert format(gg.tensor(1.234567), spec) == format(torch.tensor(1.234567), spec)
    assert format(gg.tensor(3, dtype=gg.long), "03d") == format(torch.tensor(3), "03d")
    assert f"{gg.tensor([1.0, 2.0])}" == str(gg.tensor([1.0, 2.0]))
    for shape in ((1,), (2,)):   # PyTorch formats only 0-d tensors with a spec
        with pytest.raises(TypeError):
            format(torch.zeros(shape), ".2f")
        with pytest.raises(TypeError, match=r"item\(\)"):
            format(gg.zeros(*shape), ".2f")


# -- 3. copy.deepcopy -------------------------------------------------------------------------------
def test_deepcopy_of_a_leaf_copies_data_grad_and_requires_grad():
    x = gg.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    y = copy.deepcopy(x)
    assert y.requires_grad and y.is_leaf and y.grad is not None
    np.testing.assert_array_equal(y.numpy(), [1.0, 2.0])
    np.testing.assert_array_equal(y.grad.numpy(), [2.0, 4.0])
    with gg.no_grad():
        x.add_(10.0)
        x.grad.zero_()
    np.testing.assert_array_equal(y.numpy(), [1.0, 2.0])      # own storage
    np.testing.assert_array_equal(y.grad.numpy(), [2.0, 4.0])
    shared = {"a": x, "b": x}
    twin = copy.deepcopy(shared)
    assert twin["a"] is twin["b"]                                # memo: one copy per tensor


def test_deepcopy_of_a_non_leaf_raises_as_pytorch():
    torch = _torch()
    with pytest.raises(RuntimeError, match="graph leaves"):
        copy.deepcopy(torch.ones(2, requires_grad=True) * 2)
    with pytest.raises(RuntimeError, match="graph leaves"):
        copy.deepcopy(gg.ones(2, requires_grad=True) * 2)


def test_deepcopy_of_a_model_and_its_state_dict_snapshots_the_best_model():
    gg.manual_seed(0)
    model = gg.nn.Sequential(gg.nn.Linear(3, 4), gg.nn.BatchNorm1d(4), gg.nn.ReLU(), gg.nn.Linear(4, 2))
    opt = gg.optim.SGD(model.parameters(), lr=0.1)
    x = gg.randn(8, 3)
    model(x).sum().backward()
    best, best_sd = copy.deepcopy(model), copy.deepcopy(model.state_dict())
    assert isinstance(best[0].weight, gg.nn.Parameter) and best[0].weight.grad is not None
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    opt.step()
    for k, v in best.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])
        np.testing.assert_array_equal(best_sd[k].numpy(), before[k])
    assert not np.array_equal(model[0].weight.numpy(), before["0.weight"])
    model.load_state_dict(best_sd)
    best.eval(); model.eval()
    np.testing.assert_array_equal(model(x).numpy(), best(x).numpy())
    best(x).sum().backward()                                     # the copy trains on its own


# -- helpers for comparing with PyTorch in float64 ----------------------------------------------------
def _pair(a, requires_grad=True):
    torch = _torch()
    a = np.asarray(a, dtype=np.float64)
    return (gg.tensor(a, dtype="float64", requires_grad=requires_grad),
            torch.tensor(a, dtype=torch.float64, requires_grad=requires_grad))


def _same(fn_gg, fn_torch, a, order2=True, atol=1e-10):
    """Same values, same first-order gradient of sum(out * w), and (order2) the same gradient of
    the sum of that gradient, i.e. a second-order check through create_graph."""
    torch = _torch()
    x, xt = _pair(a)
    out, out_t = fn_gg(x), fn_torch(xt)
    np.testing.assert_allclose(out.numpy(), out_t.detach().numpy(), atol=atol, rtol=1e-10)
    w = np.random.default_rng(1).standard_normal(out.shape)
    g, = gg.grad((out * gg.tensor(w, dtype="float64")).sum(), x, create_graph=order2)
    gt, = torch.autograd.grad((out_t * torch.tensor(w)).sum(), xt, create_graph=order2)
    np.testing.assert_allclose(g.numpy(), gt.detach().numpy(), atol=atol, rtol=1e-10)
    if order2 and gt.requires_grad:
        h, = gg.grad((g * g).sum(), x, allow_unused=True) if g.requires_grad else (None,)
        ht, = torch.autograd.grad((gt * gt).sum(), xt, allow_unused=True)
        h = np.zeros(x.shape) if h is None else h.numpy()
        ht = np.zeros(x.shape) if ht is None else ht.numpy(force=True)  # may be a ZeroTensor
        np.testing.assert_allclose(h, ht, atol=atol, rtol=1e-9)


# -- 4. std / var / norms of constant or zero input: gradient 0, not NaN ------------------------------
CONSTANT_CASES = [
    ("std()", lambda x: x.std(), [1.0, 1.0, 1.0]),
    ("std(dim=1)", lambda x: x.std(dim=1), [[2.0, 2.0, 2.0], [1.0, 2.0, 4.0]]),
    ("std(0, keepdim)", lambda x: x.std(0, keepdim=True), [[3.0, 1.0], [3.0, 2.0]]),
    ("std unbiased=False", lambda x: x.std(unbiased=False), [[5.0, 5.0]]),
    ("var()", lambda x: x.var(), [1.0, 1.0, 1.0]),
    ("norm()", lambda x: x.norm(), [0.0, 0.0, 0.0]),
    ("norm(dim=1)", lambda x: x.norm(dim=1), [[0.0, 0.0], [3.0, -4.0]]),
    ("norm(p=1)", lambda x: x.norm(p=1), [0.0, 0.0, 2.0]),
    ("norm(p=inf)", lambda x: x.norm(p=float("inf")), [0.0, 0.0]),
    ("norm(p=3)", lambda x: x.norm(p=3), [0.0, 0.0]),
]


@pytest.mark.parametrize("name, fn, a", CONSTANT_CASES, ids=[c[0] for c in CONSTANT_CASES])
def test_std_var_and_norms_at_their_edge_match_pytorch(name, fn, a):
    # first order everywhere; second order where PyTorch's own is finite (the 2-norm's Hessian at 0
    # is not: PyTorch masks only its first derivative, so second orders at 0 are compared for std/var)
    _same(fn, fn, a, order2=not name.startswith("norm"))
    x = gg.tensor(a, requires_grad=True)
    g, = gg.grad(fn(x).sum(), x, create_graph=True)
    assert np.isfinite(g.numpy()).all()
    if g.requires_grad:          # p=1 / p=inf: piecewise linear, the gradient is a constant
        h, = gg.grad(g.sum(), x, allow_unused=True)
        assert h is None or np.isfinite(h.numpy()).all()


# -- 5. the missing common API, each against PyTorch ---------------------------------------------------
X = [[1.5, -2.0, 3.0, 0.0], [4.0, 0.5, -6.0, 2.0], [-1.0, 0.25, 2.0, -3.5]]
DIFFERENTIABLE = [
    ("norm", lambda x: x.norm(), lambda x: x.norm()),
    ("norm dim keepdim", lambda x: x.norm(dim=0, keepdim=True), lambda x: x.norm(dim=0, keepdim=True)),
    ("norm p=1 dim", lambda x: x.norm(p=1, dim=1), lambda x: x.norm(p=1, dim=1)),
    ("norm p=inf", lambda x: gg.norm(x, p=float("inf")),
     lambda x: torch_mod().norm(x, p=float("inf"))),
    ("norm p=-inf dim", lambda x: x.norm(p=-float("inf"), dim=1), lambda x: x.norm(p=-float("inf"), dim=1)),
    ("norm p=3", lambda x: x.norm(p=3, dim=1), lambda x: x.norm(p=3, dim=1)),
    ("linalg.vector_norm", lambda x: gg.linalg.vector_norm(x, ord=2, dim=(0, 1)),
     lambda x: torch_mod().linalg.vector_norm(x, ord=2, dim=(0, 1))),
    ("linalg.norm", lambda x: gg.linalg.norm(x), lambda x: torch_mod().linalg.norm(x)),
    ("cumsum 0", lambda x: gg.cumsum(x, 0), lambda x: torch_mod().cumsum(x, 0)),
    ("cumsum -1", lambda x: x.cumsum(dim=-1), lambda x: x.cumsum(dim=-1)),
    ("prod", lambda x: x.prod(), lambda x: x.prod()),
    ("prod dim=1 (zeros)", lambda x: gg.prod(x, 1), lambda x: torch_mod().prod(x, 1)),
    ("prod dim=0 keepdim", lambda x: x.prod(dim=0, keepdim=True), lambda x: x.prod(dim=0, keepdim=True)),
    ("repeat", lambda x: x.repeat(2, 3), lambda x: x.repeat(2, 3)),
    ("repeat new dims", lambda x: x.repeat(2, 1, 2), lambda x: x.repeat(2, 1, 2)),
    ("add alpha", lambda x: x.add(x * x, alpha=-0.5), lambda x: x.add(x * x, alpha=-0.5)),
    ("sub alpha", lambda x: gg.sub(x, x.exp(), alpha=2.0), lambda x: torch_mod().sub(x, x.exp(), alpha=2.0)),
    ("remainder by scalar", lambda x: x % 1.5, lambda x: x % 1.5),
    ("remainder negative", lambda x: x % -1.25, lambda x: x % -1.25),
    ("remainder of tensors", lambda x: x % (x.abs() * 0.3 + 0.7), lambda x: x % (x.abs() * 0.3 + 0.7)),
    ("softplus", lambda x: gg.nn.functional.softplus(x), lambda x: torch_mod().nn.functional.softplus(x)),
    # beta * x never sits exactly at the threshold here: there PyTorch's second derivative uses
    # beta * x < threshold while its first uses beta * x > threshold (its two sides disagree).
    ("softplus beta threshold", lambda x: gg.nn.functional.softplus(x, beta=2.0, threshold=3.5),
     lambda x: torch_mod().nn.functional.softplus(x, beta=2.0, threshold=3.5)),
    ("Softplus", lambda x: gg.nn.Softplus(beta=0.5)(x * 9), lambda x: torch_mod().nn.Softplus(beta=0.5)(x * 9)),
]


def torch_mod():
    return _torch()


@pytest.mark.parametrize("name, fn_gg, fn_torch", DIFFERENTIABLE, ids=[c[0] for c in DIFFERENTIABLE])
def test_new_differentiable_api_matches_pytorch(name, fn_gg, fn_torch):
    _same(fn_gg, fn_torch, X)


def test_remainder_and_floor_divide_follow_the_divisor_sign_as_pytorch():
    torch = _torch()
    a = np.array([7, -7, 7, -7, 0]), np.array([3, 3, -3, -3, 5])
    for op in (lambda x, y: x % y, lambda x, y: x // y, lambda x, y: x % 2, lambda x, y: 9 // y,
               lambda x, y: x.remainder(y), lambda x, y: x.floor_divide(y)):
        got = op(gg.tensor(a[0]), gg.tensor(a[1]))
        want = op(torch.tensor(a[0]), torch.tensor(a[1]))
        np.testing.assert_array_equal(got.numpy(), want.numpy())
        assert got.dtype == np.int64
    f = gg.tensor([5.5, -5.5, 1.0], requires_grad=True)
    q = f // 2.0
    assert not q.requires_grad and q.tolist() == torch.floor_divide(torch.tensor([5.5, -5.5, 1.0]), 2.0).tolist()
    # number % tensor: PyTorch has no derivative for it; gpugrad's is -floor(x / y) as for tensors
    y = gg.tensor([1.5, -2.0, 4.0], dtype="float64", requires_grad=True)
    r = 5.0 % y
    np.testing.assert_array_equal(r.numpy(), (5.0 % torch.tensor([1.5, -2.0, 4.0], dtype=torch.float64)).numpy())
    g, = gg.grad(r.sum(), y)
    np.testing.assert_array_equal(g.numpy(), -np.floor(5.0 / np.array([1.5, -2.0, 4.0])))
    for op in (lambda x, y: x % y, lambda x, y: x // y):   # integer by 0 raises (NumPy gives 0)
        with pytest.raises(RuntimeError, match="ZeroDivisionError"):
            op(torch.tensor([3]), torch.tensor([0]))
        with pytest.raises(ZeroDivisionError, match="division by zero"):
            op(gg.tensor([3]), gg.tensor([0]))
        with pytest.raises(RuntimeError, match="division by zero"):
            op(gg.tensor([3]), 0)
        assert op(gg.zeros(0, dtype=gg.long), 0).shape == (0,)
    z = (gg.tensor([1.0, -1.0]) % 0.0).numpy()          # x % 0 is NaN for floats, as in PyTorch
    assert np.isnan(z).all()


def test_tests_of_values_where_nonzero_equal_and_is_cuda():
    torch = _torch()
    vals = [0.0, -1.5, float("inf"), -float("inf"), float("nan"), 2.0]
    x, xt = gg.tensor(vals), torch.tensor(vals)
    for name in ("isnan", "isinf", "isfinite"):
        got = getattr(gg, name)(x)
        assert got.dtype == np.bool_ and not got.requires_grad
        np.testing.assert_array_equal(got.numpy(), getattr(torch, name)(xt).numpy())
        np.testing.assert_array_equal(getattr(x, name)().numpy(), got.numpy())
    assert bool(gg.isnan(x).any()) is True
    m = np.array([[True, False, True], [False, False, True]])
    for got, want in zip(gg.where(gg.tensor(m)), torch.where(torch.tensor(m))):
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    np.testing.assert_array_equal(gg.tensor(m).nonzero().numpy(), torch.tensor(m).nonzero().numpy())
    np.testing.assert_array_equal(gg.where(gg.tensor(m), 1.0, 0.0).numpy(), m.astype(np.float32))
    with pytest.raises(TypeError, match="where"):
        gg.where(gg.tensor(m), 1.0)
    a = gg.tensor([1.0, 2.0])
    assert gg.equal(a, gg.tensor([1.0, 2.0])) is True
    assert gg.equal(a, gg.tensor([1.0, 3.0])) is False and gg.equal(a, gg.tensor([[1.0, 2.0]])) is False
    assert gg.equal(gg.tensor([float("nan")]), gg.tensor([float("nan")])) is \
        torch.equal(torch.tensor([float("nan")]), torch.tensor([float("nan")]))
    assert a.is_cuda is False


def test_prod_and_cumsum_dtypes_and_edges_as_pytorch():
    torch = _torch()
    ints = np.array([[1, 2, 3], [4, 0, 6]])
    for fn in (lambda t, m: t.prod(), lambda t, m: m.prod(t, 1), lambda t, m: m.cumsum(t, 0),
               lambda t, m: m.cumsum(t.bool(), 1)):
        got, want = fn(gg.tensor(ints), gg), fn(torch.tensor(ints), torch)
        np.testing.assert_array_equal(got.numpy(), want.numpy())
        assert str(got.dtype) == str(want.dtype).replace("torch.", "")
    assert gg.zeros(0).prod().item() == 1.0
    with pytest.raises(TypeError, match="cumsum: dim is required"):
        gg.cumsum(gg.zeros(3))
    with pytest.raises(ValueError, match="repeat"):
        gg.zeros(2, 3).repeat(2)


def test_random_like_seeds_and_threads():
    x = gg.zeros(2, 3, dtype=gg.float64)
    for fn in (gg.randn_like, gg.rand_like):
        r = fn(x)
        assert r.shape == (2, 3) and r.dtype == np.float64 and r.device == x.device
    assert gg.rand_like(x, dtype=gg.float32).dtype == np.float32
    g = gg.manual_seed(7)
    assert g.initial_seed() == 7 and isinstance(g, gg.Generator)   # torch.manual_seed returns one
    a = gg.randn(4).numpy().copy()
    gg.manual_seed(7)
    gg.cuda.manual_seed_all(123)                      # CUDA generators only: the CPU stream is kept
    np.testing.assert_array_equal(gg.randn(4).numpy(), a)
    pytest.importorskip("threadpoolctl", reason="set_num_threads limits BLAS threads through threadpoolctl")
    before = gg.get_num_threads()
    try:
        gg.set_num_threads(1)
        assert gg.get_num_threads() == 1
    finally:
        gg.set_num_threads(before)
    with pytest.raises(ValueError, match="set_num_threads"):
        gg.set_num_threads(0)
