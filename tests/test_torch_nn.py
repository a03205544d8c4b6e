"""gg.nn's PyTorch names (issue 12) against PyTorch itself, in float64: activations, norms and
losses (forward and gradients), BatchNorm1d's running statistics, containers, Module methods,
state_dict keys, repr, init and nn.utils."""
from __future__ import annotations

import math
import os

import numpy as np
import pytest

import gpugrad as gg
from gpugrad import nn
import gpugrad.nn.functional as F

torch = pytest.importorskip("torch", reason="PyTorch is the reference for gg.nn's PyTorch names")
tnn, TF = torch.nn, torch.nn.functional
TOL = dict(rtol=1e-10, atol=1e-12)


def _leaves(arrays, rg):
    gs = [gg.tensor(a, dtype=a.dtype if a.dtype.kind != "f" else "float64", requires_grad=rg and a.dtype.kind == "f")
          for a in arrays]
    ts = [torch.tensor(a, requires_grad=rg and a.dtype.kind == "f") for a in arrays]
    return gs, ts


def compare(f, ft, *arrays, grad=True, seed=0):
    """Same outputs, and same gradients of sum(out * w) for every floating input."""
    arrays = [np.asarray(a) for a in arrays]
    gs, ts = _leaves(arrays, grad)
    out, out_t = f(*gs), ft(*ts)
    np.testing.assert_allclose(np.asarray(out.numpy(), np.float64), out_t.detach().numpy(), **TOL)
    if not grad:
        return
    w = np.random.default_rng(seed).standard_normal(out.shape)
    (out * gg.tensor(w, dtype="float64")).sum().backward()
    (out_t * torch.tensor(w)).sum().backward()
    for g, t in zip(gs, ts):
        if t.requires_grad:
            np.testing.assert_allclose(g.grad.numpy(), t.grad.numpy(), **TOL)


rng = np.random.default_rng(0)
X = rng.standard_normal((6, 5))
X[0, 0] = 25.0       # a large value: elu/gelu/softplus must not overflow into NaN gradients
X[1, 1] = -30.0

ACTIVATIONS = [
    ("leaky_relu", lambda x: F.leaky_relu(x, 0.2), lambda x: TF.leaky_relu(x, 0.2)),
    ("gelu", F.gelu, TF.gelu),
    ("gelu_tanh", lambda x: F.gelu(x, approximate="tanh"), lambda x: TF.gelu(x, approximate="tanh")),
    ("silu", F.silu, TF.silu),
    ("elu", lambda x: F.elu(x, 0.7), lambda x: TF.elu(x, 0.7)),
    ("softmax", lambda x: F.softmax(x, dim=0), lambda x: TF.softmax(x, dim=0)),
    ("log_softmax", lambda x: F.log_softmax(x, dim=1), lambda x: TF.log_softmax(x, dim=1)),
    ("dropout_eval", lambda x: F.dropout(x, 0.5, training=False), lambda x: TF.dropout(x, 0.5, training=False)),
    ("layer_norm", lambda x: F.layer_norm(x, (5,)), lambda x: TF.layer_norm(x, (5,))),
    ("layer_norm_2d", lambda x: F.layer_norm(x.reshape(2, 3, 5), (3, 5)),
     lambda x: TF.layer_norm(x.reshape(2, 3, 5), (3, 5))),
]


@pytest.mark.parametrize("name,f,ft", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_activation_matches_torch(name, f, ft):
    compare(f, ft, X)


CURVED = [a for a in ACTIVATIONS if a[0] not in ("leaky_relu", "dropout_eval")]   # others: Hessian 0


@pytest.mark.parametrize("name,f,ft", CURVED, ids=[a[0] for a in CURVED])
def test_activation_second_order_matches_torch(name, f, ft):
    """Composites of differentiable ops: the gradient of <grad f, w> (a Hessian-vector product)
    matches PyTorch's double backward."""
    x_np = rng.standard_normal((6, 5)) + 0.05
    w = np.random.default_rng(2).standard_normal((6, 5))
    x, xt = gg.tensor(x_np, dtype="float64", requires_grad=True), torch.tensor(x_np, requires_grad=True)
    out, out_t = f(x), ft(xt)
    r = np.random.default_rng(3).standard_normal(out.shape)
    (g,) = gg.grad((out * gg.tensor(r, dtype="float64")).sum(), [x], create_graph=True)
    (gt,) = torch.autograd.grad((out_t * torch.tensor(r)).sum(), [xt], create_graph=True)
    (g * gg.tensor(w, dtype="float64")).sum().backward()
    (gt * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-9, atol=1e-11)


def test_layer_norm_and_batch_norm_affine_grads():
    w, b = rng.standard_normal(5), rng.standard_normal(5)
    compare(lambda x, w, b: F.layer_norm(x, (5,), w, b, eps=1e-3),
            lambda x, w, b: TF.layer_norm(x, (5,), w, b, eps=1e-3), X, w, b)
    rm, rv = rng.standard_normal(5), rng.random(5) + 0.5
    compare(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
            lambda x, w, b: TF.batch_norm(x, None, None, w, b, training=True), X, w, b)
    compare(lambda x, w, b: F.batch_norm(x, gg.tensor(rm, dtype="float64"), gg.tensor(rv, dtype="float64"),
                                         w, b, training=False),
            lambda x, w, b: TF.batch_norm(x, torch.tensor(rm), torch.tensor(rv), w, b, training=False), X, w, b)
    x3 = rng.standard_normal((4, 5, 3))
    compare(lambda x: F.batch_norm(x, None, None, training=True),
            lambda x: TF.batch_norm(x, None, None, training=True), x3)


LOGITS = rng.standard_normal((7, 4))
TARGETS = np.array([0, 3, 1, 1, 2, 3, 0])
IGNORED = np.array([0, 3, -100, 1, 2, -100, 0])
PROBS = np.random.default_rng(1).dirichlet(np.ones(4), size=7)
W4 = np.array([0.5, 2.0, 1.0, 1.5])

CE = [
    ("plain", {}, TARGETS),
    ("sum", dict(reduction="sum"), TARGETS),
    ("none", dict(reduction="none"), TARGETS),
    ("weight", dict(weight=W4), TARGETS),
    ("ignore", dict(ignore_index=-100), IGNORED),
    ("ignore_2", dict(ignore_index=3), TARGETS),
    ("smooth", dict(label_smoothing=0.1), TARGETS),
    ("all", dict(weight=W4, label_smoothing=0.2), IGNORED),
    ("all_sum", dict(weight=W4, label_smoothing=0.2, reduction="sum"), IGNORED),
    ("all_none", dict(weight=W4, label_smoothing=0.2, reduction="none"), IGNORED),
    ("probs", {}, PROBS),
    ("probs_w_smooth", dict(weight=W4, label_smoothing=0.3), PROBS),
]


@pytest.mark.parametrize("name,kw,target", CE, ids=[c[0] for c in CE])
def test_cross_entropy_and_nll_match_torch(name, kw, target):
    def kwargs(lib):
        k = dict(kw)
        if "weight" in k:
            k["weight"] = gg.tensor(k["weight"], dtype="float64") if lib == "gg" else torch.tensor(k["weight"])
        return k
    tt = target
    compare(lambda x, t: F.cross_entropy(x, t, **kwargs("gg")), lambda x, t: TF.cross_entropy(x, t, **kwargs("t")),
            LOGITS, tt)
    m, mt = nn.CrossEntropyLoss(**kwargs("gg")), tnn.CrossEntropyLoss(**kwargs("t"))
    compare(lambda x, t: m(x, t), lambda x, t: mt(x, t), LOGITS, tt)
    if target.dtype.kind == "i" and "label_smoothing" not in kw:
        nk = {k: v for k, v in kwargs("gg").items()}
        nkt = {k: v for k, v in kwargs("t").items()}
        compare(lambda x, t: F.nll_loss(F.log_softmax(x, dim=1), t, **nk),
                lambda x, t: TF.nll_loss(TF.log_softmax(x, dim=1), t, **nkt), LOGITS, tt)
        compare(lambda x, t: nn.NLLLoss(**nk)(x, t), lambda x, t: tnn.NLLLoss(**nkt)(x, t), LOGITS, tt)


A = rng.standard_normal((4, 3))
B = A + rng.standard_normal((4, 3)) * 1.5      # a mix of small and large differences
P = 1 / (1 + np.exp(-A))
T01 = (rng.random((4, 3)) > 0.5).astype(np.float64)
PW = np.array([0.5, 2.0, 3.0])
REGRESSION = [
    ("mse", F.mse_loss, TF.mse_loss, nn.MSELoss, tnn.MSELoss, {}),
    ("l1", F.l1_loss, TF.l1_loss, nn.L1Loss, tnn.L1Loss, {}),
    ("smooth_l1", F.smooth_l1_loss, TF.smooth_l1_loss, nn.SmoothL1Loss, tnn.SmoothL1Loss, dict(beta=0.7)),
    ("huber", F.huber_loss, TF.huber_loss, nn.HuberLoss, tnn.HuberLoss, dict(delta=0.8)),
]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name,f,ft,M,Mt,kw", REGRESSION, ids=[r[0] for r in REGRESSION])
def test_regression_losses_match_torch(name, f, ft, M, Mt, kw, reduction):
    compare(lambda a, b: f(a, b, reduction=reduction, **kw), lambda a, b: ft(a, b, reduction=reduction, **kw), A, B)
    compare(lambda a, b: M(reduction=reduction, **kw)(a, b), lambda a, b: Mt(reduction=reduction, **kw)(a, b), A, B)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_losses_match_torch(reduction):
    w = rng.random((4, 3)) + 0.5
    compare(lambda p, t: F.binary_cross_entropy(p, t, reduction=reduction),
            lambda p, t: TF.binary_cross_entropy(p, t, reduction=reduction), P, T01)
    wg, wt = gg.tensor(w, dtype="float64"), torch.tensor(w)
    pwg, pwt = gg.tensor(PW, dtype="float64"), torch.tensor(PW)
    compare(lambda p, t: nn.BCELoss(weight=wg, reduction=reduction)(p, t),
            lambda p, t: tnn.BCELoss(weight=wt, reduction=reduction)(p, t), P, T01)
    compare(lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction=reduction),
            lambda x, t: TF.binary_cross_entropy_with_logits(x, t, reduction=reduction), A * 8, T01)
    compare(lambda x, t: nn.BCEWithLogitsLoss(weight=wg, pos_weight=pwg, reduction=reduction)(x, t),
            lambda x, t: tnn.BCEWithLogitsLoss(weight=wt, pos_weight=pwt, reduction=reduction)(x, t),
            A * 8, T01)


def test_loss_errors_are_clear():
    x = gg.randn(3, 4)
    with pytest.raises(ValueError, match=r"cross_entropy: target class out of range: targets span \[0, 4\] but "
                                         r"the input has 4 classes"):
        F.cross_entropy(x, gg.tensor([0, 4, 1]))
    with pytest.raises(TypeError, match="targets must be integer class indices.*targets.long"):
        F.nll_loss(x, gg.tensor([0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="reduction must be"):
        nn.MSELoss(reduction="avg")
    with pytest.raises(ValueError, match="apply sigmoid first"):
        F.binary_cross_entropy(x, gg.zeros(3, 4))
    with pytest.raises(ValueError, match="weight must be a tensor of shape \\(4,\\)"):
        F.cross_entropy(x, gg.tensor([0, 1, 1]), weight=gg.ones(3))


def _copy_params(src_torch, dst_gg):
    dst_gg.load_state_dict({k: v.detach().numpy() for k, v in src_torch.state_dict().items()})


@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("dims", [2, 3])
def test_batchnorm1d_running_stats_train_eval_match_torch(momentum, dims):
    bn, bnt = nn.BatchNorm1d(3, momentum=momentum, dtype="float64"), tnn.BatchNorm1d(3, momentum=momentum).double()
    with torch.no_grad():
        bnt.weight.uniform_(0.5, 1.5)
        bnt.bias.uniform_(-0.5, 0.5)
    _copy_params(bnt, bn)
    shape = (5, 3) if dims == 2 else (5, 3, 4)
    for step in range(3):
        x = np.random.default_rng(step).standard_normal(shape) * (step + 1) + step
        compare(lambda v: bn(v), lambda v: bnt(v), x)
    assert list(bn.state_dict()) == list(bnt.state_dict())
    for k, v in bnt.state_dict().items():
        np.testing.assert_allclose(bn.state_dict()[k].numpy(), v.numpy(), **TOL)
    assert bn.num_batches_tracked.dtype == gg.int64 and int(bn.num_batches_tracked.item()) == 3
    bn.eval(), bnt.eval()
    compare(lambda v: bn(v), lambda v: bnt(v), np.random.default_rng(9).standard_normal(shape))


def test_batchnorm1d_options_match_torch():
    for kw in (dict(affine=False), dict(track_running_stats=False), dict(eps=1e-2, momentum=0.3),
               dict(bias=False)):
        bn, bnt = nn.BatchNorm1d(4, dtype="float64", **kw), tnn.BatchNorm1d(4, **kw).double()
        assert list(bn.state_dict()) == list(bnt.state_dict())
        for mode in (True, False):
            bn.train(mode), bnt.train(mode)
            compare(lambda v: bn(v), lambda v: bnt(v), np.random.default_rng(1).standard_normal((6, 4)))
    with pytest.raises(ValueError, match=r"BatchNorm1d\(4\): expected input of shape \(N, 4\)"):
        nn.BatchNorm1d(4)(gg.randn(2, 3))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(4)(gg.randn(1, 4))


def test_layernorm_module_matches_torch():
    ln, lnt = nn.LayerNorm(5, dtype="float64"), tnn.LayerNorm(5).double()
    with torch.no_grad():
        lnt.weight.uniform_(0.5, 1.5)
        lnt.bias.uniform_(-0.5, 0.5)
    _copy_params(lnt, ln)
    compare(lambda v: ln(v), lambda v: lnt(v), X)
    assert list(nn.LayerNorm((2, 3), bias=False).state_dict()) == list(tnn.LayerNorm((2, 3), bias=False).state_dict())


def _pair_models():
    """The same architecture in both libraries, for keys and repr."""
    def build(lib):
        m = lib.nn.Sequential(lib.nn.Linear(4, 8), lib.nn.BatchNorm1d(8), lib.nn.GELU(), lib.nn.Dropout(0.1),
                              lib.nn.Linear(8, 8), lib.nn.LayerNorm(8), lib.nn.LeakyReLU(0.1), lib.nn.SiLU(),
                              lib.nn.ELU(), lib.nn.Tanh(), lib.nn.Sigmoid(), lib.nn.ReLU(), lib.nn.Identity(),
                              lib.nn.Flatten(), lib.nn.Linear(8, 3), lib.nn.LogSoftmax(dim=1), lib.nn.Softmax(dim=1))
        heads = lib.nn.ModuleDict({"a": lib.nn.Linear(3, 2), "b": lib.nn.ModuleList([lib.nn.Linear(2, 2)] * 1)})
        return lib.nn.ModuleList([m, heads])
    return build(gg), build(torch)


def test_containers_state_dict_keys_and_repr_match_torch():
    g, t = _pair_models()
    assert list(g.state_dict()) == list(t.state_dict())
    assert [n for n, _ in g.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in g.named_buffers()] == [n for n, _ in t.named_buffers()]
    assert [n for n, _ in g.named_modules()] == [n for n, _ in t.named_modules()]
    assert repr(g) == repr(t)
    for lossname in ("CrossEntropyLoss", "MSELoss", "BCEWithLogitsLoss", "HuberLoss"):
        assert repr(getattr(nn, lossname)()) == repr(getattr(tnn, lossname)())


def test_module_list_and_dict_behave_like_lists_and_dicts():
    ml = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    ml.append(nn.ReLU())
    ml.insert(0, nn.Tanh())
    assert len(ml) == 5 and isinstance(ml[0], nn.Tanh) and isinstance(ml[-1], nn.ReLU)
    assert isinstance(ml[1:3], nn.ModuleList) and len(ml[1:3]) == 2
    del ml[0]
    assert [k for k in ml._modules] == ["0", "1", "2", "3"] and len(list(ml.parameters())) == 6
    with pytest.raises(TypeError, match="not a Module"):
        ml.append(3)
    md = nn.ModuleDict({"x": nn.Linear(2, 3)})
    md["y"] = nn.ReLU()
    assert list(md) == ["x", "y"] and "x" in md and len(md) == 2
    assert isinstance(md.pop("y"), nn.ReLU) and list(md.keys()) == ["x"]
    with pytest.raises(KeyError, match="no module 'z'"):
        md["z"]


class WithBuffers(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 2)
        self.register_buffer("scale", gg.ones(2))
        self.register_buffer("cache", gg.zeros(2), persistent=False)

    def forward(self, x):
        return self.lin(x) * self.scale


def test_module_methods():
    m = WithBuffers()
    assert list(m.state_dict()) == ["scale", "lin.weight", "lin.bias"]   # PyTorch order: own first
    assert [n for n, _ in m.named_buffers()] == ["scale", "cache"] and len(list(m.buffers())) == 2
    missing, unexpected = m.load_state_dict({"scale": np.full(2, 3.0), "extra": np.zeros(1)}, strict=False)
    assert missing == ["lin.weight", "lin.bias"] and unexpected == ["extra"]
    assert m.scale.numpy().tolist() == [3.0, 3.0]
    with pytest.raises(RuntimeError, match="missing keys: lin.weight, lin.bias"):
        m.load_state_dict({"scale": np.ones(2)})
    seen = []
    assert m.apply(lambda mod: seen.append(type(mod).__name__)) is m
    assert seen == ["Linear", "WithBuffers"]                              # children first
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())
    m.requires_grad_()
    bn = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)).to(gg.float64)
    assert bn[0].weight.dtype == gg.float64 and bn[1].running_mean.dtype == gg.float64
    assert bn[1].num_batches_tracked.dtype == gg.int64                   # integer buffers keep theirs
    assert bn.cpu() is bn and bn.float()[0].weight.dtype == gg.float32
    with pytest.raises(TypeError, match="only floating dtypes"):
        bn.to(gg.int64)
    assert m.get_submodule("lin") is m.lin


@pytest.mark.parametrize("nonlinearity,param", [("linear", None), ("sigmoid", None), ("tanh", None), ("relu", None),
                                                ("leaky_relu", None), ("leaky_relu", 0.2), ("selu", None)])
def test_calculate_gain_matches_torch(nonlinearity, param):
    assert nn.init.calculate_gain(nonlinearity, param) == pytest.approx(
        tnn.init.calculate_gain(nonlinearity, param))


INITS = [
    ("kaiming_uniform_", {}, "uniform", lambda fi, fo: math.sqrt(2) * math.sqrt(3 / fi)),
    ("kaiming_uniform_", dict(a=math.sqrt(5)), "uniform", lambda fi, fo: 1 / math.sqrt(fi)),   # Linear's default
    ("kaiming_uniform_", dict(mode="fan_out", nonlinearity="relu"), "uniform", lambda fi, fo: math.sqrt(6 / fo)),
    ("kaiming_normal_", {}, "normal", lambda fi, fo: math.sqrt(2 / fi)),
    ("xavier_uniform_", dict(gain=2.0), "uniform", lambda fi, fo: 2 * math.sqrt(6 / (fi + fo))),
    ("xavier_normal_", {}, "normal", lambda fi, fo: math.sqrt(2 / (fi + fo))),
]


@pytest.mark.parametrize("name,kw,kind,scale", INITS)
def test_init_distributions_follow_torch_formulas(name, kw, kind, scale):
    gg.manual_seed(0)
    w = nn.Parameter(gg.empty(300, 200))
    out = getattr(nn.init, name)(w, **kw)
    assert out is w
    a = w.numpy()
    s = scale(200, 300)
    tw = torch.empty(300, 200)
    getattr(tnn.init, name)(tw, **kw)
    if kind == "uniform":     # the same bound as PyTorch's draw, and filled up to it
        assert np.abs(a).max() <= s and np.abs(a).max() > 0.99 * s
        assert abs(np.abs(tw.numpy()).max() - np.abs(a).max()) < 0.01 * s
    else:
        assert abs(a.std() / s - 1) < 0.02 and abs(tw.numpy().std() / s - 1) < 0.02
    nn.init.constant_(w, 0.25)
    assert (w.numpy() == 0.25).all() and w.requires_grad and w.grad_fn is None
    with pytest.raises(ValueError, match="mode must be"):
        nn.init.kaiming_uniform_(w, mode="fan")


def test_nn_utils_match_torch():
    def grads(lib, m):
        out = m(lib.tensor(np.arange(6.0).reshape(2, 3), dtype=lib.float64))
        (out * out).sum().backward()
    g, t = nn.Linear(3, 4, dtype="float64"), tnn.Linear(3, 4).double()
    _copy_params(t, g)
    grads(gg, g), grads(torch, t)
    n, nt = nn.utils.clip_grad_norm_(g.parameters(), 1.5), tnn.utils.clip_grad_norm_(t.parameters(), 1.5)
    np.testing.assert_allclose(float(n.item()), float(nt), rtol=1e-12)
    for p, pt in zip(g.parameters(), t.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), pt.grad.numpy(), **TOL)
    nn.utils.clip_grad_value_(g.parameters(), 0.05)
    tnn.utils.clip_grad_value_(t.parameters(), 0.05)
    for p, pt in zip(g.parameters(), t.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), pt.grad.numpy(), **TOL)
    v, vt = nn.utils.parameters_to_vector(g.parameters()), tnn.utils.parameters_to_vector(t.parameters())
    np.testing.assert_allclose(v.numpy(), vt.detach().numpy(), **TOL)
    assert v.requires_grad
    nn.utils.vector_to_parameters(v * 2, g.parameters())
    np.testing.assert_allclose(g.weight.numpy(), 2 * t.weight.detach().numpy(), **TOL)
    with pytest.raises(ValueError, match="vector has 3 elements but the parameters have 16"):
        nn.utils.vector_to_parameters(gg.zeros(3), g.parameters())
    np.testing.assert_allclose(g.weight.numpy(), 2 * t.weight.detach().numpy(), **TOL)   # nothing changed


def test_batchnorm_checkpoint_round_trip_keeps_0d_buffer(tmp_path):
    """num_batches_tracked is 0-d; gg.save/gg.load must keep it 0-d (it came back as shape (1,))."""
    m = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    m(gg.randn(5, 3))
    gg.save(m.state_dict(), tmp_path / "bn.npz")
    m2 = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    m2.load_state_dict(gg.load(tmp_path / "bn.npz"))
    assert m2[1].num_batches_tracked.shape == () and int(m2[1].num_batches_tracked.item()) == 1
    np.testing.assert_array_equal(m2[1].running_var.numpy(), m[1].running_var.numpy())


OTHER_DEVICE = "cudasim" if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0") else "cuda"
ON_DEVICE = [
    ("gelu", lambda x, d: F.gelu(x)),
    ("elu_silu_leaky", lambda x, d: F.elu(x) + F.silu(x) + F.leaky_relu(x)),
    ("layer_norm", lambda x, d: F.layer_norm(x, (4,))),
    ("batch_norm", lambda x, d: nn.BatchNorm1d(4, dtype="float64", device=d)(x)),
    ("cross_entropy_options", lambda x, d: F.cross_entropy(
        x, gg.tensor([1, -100, 3, 0, 2, 1], device=d), label_smoothing=0.1,
        weight=gg.tensor([1.0, 2.0, 0.5, 1.0], dtype="float64", device=d))),
    ("bce_logits", lambda x, d: F.binary_cross_entropy_with_logits(x, (x > 0).double())),
    ("reductions", lambda x, d: x.max(dim=1).values + x.var(dim=1) + x.clamp(-0.5, 0.5).sum(dim=1)),
]


@pytest.mark.skipif(OTHER_DEVICE == "cuda" and not gg.cuda.is_available(), reason="no GPU and no simulator")
@pytest.mark.parametrize("name,f", ON_DEVICE, ids=[c[0] for c in ON_DEVICE])
def test_new_functions_on_the_cuda_backend_match_cpu(name, f):
    """The same functions through the CUDA backend's dispatch (cudasim without a GPU) give the cpu's
    values and gradients."""
    x_np = np.random.default_rng(4).standard_normal((6, 4))
    results = []
    for d in ("cpu", OTHER_DEVICE):
        x = gg.tensor(x_np, dtype="float64", device=d, requires_grad=True)
        out = f(x, d)
        out.sum().backward()
        assert out.device == d and x.grad.device == d
        results.append((np.asarray(out.to("cpu").numpy()), np.asarray(x.grad.to("cpu").numpy())))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
