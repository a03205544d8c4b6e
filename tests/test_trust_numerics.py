"""Trust in numerics (issue 21, items 1-3): each handed case of the issue, then a test over each kind.

1. Masks: what a loss or reduction masks, clamps or weights to zero is selected away, never
   multiplied by a 0/1 mask, so a discarded inf/NaN reaches neither the forward nor any order of
   the gradient (0 * inf = NaN).
2. Half precision: float16 reductions and normalisations accumulate in float32 and round once,
   forward and backward; optimizers keep float32 state for float16 parameters.
3. Tails: log1p/expm1 forms wherever a function has a tail near 0, checked against exact values.

The conformance suite (tests/conformance_table.py, NUMERIC_CASES) holds the same kinds as columns
against PyTorch on drawn inputs; here are the cases PyTorch itself gets wrong or where an exact
value is the reference.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import gpugrad as gg
import gpugrad.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def t(a, dtype="float32", grad=False):
    return gg.tensor(np.asarray(a), dtype=dtype, requires_grad=grad)


def grads(loss, xs, create_graph=False):
    return gg.grad(loss, xs, create_graph=create_graph, allow_unused=True)


def second_order(loss, x):
    """The gradient of sum(dloss/dx * v) for a fixed v: the second order through create_graph."""
    (g,) = grads(loss, [x], create_graph=True)
    v = gg.tensor(np.linspace(0.5, 1.5, x.size).reshape(x.shape), dtype=x.dtype)
    s = (g * v).sum()
    if not s.requires_grad:
        return np.zeros(x.shape)
    (h,) = grads(s, [x])
    return np.zeros(x.shape) if h is None else h.numpy()


# == 1. masks ==========================================================================================
def test_bce_at_probabilities_exactly_0_and_1_has_pytorchs_finite_gradient():
    """Handed case: p = 0 or 1 (a float32 sigmoid above ~17) gave NaN gradients; PyTorch clamps."""
    p_np, t_np = np.array([0.0, 1.0, 0.5, 1.0, 0.0], np.float32), np.array([0.0, 1.0, 1.0, 0.0, 1.0], np.float32)
    p = t(p_np, grad=True)
    loss = F.binary_cross_entropy(p, t(t_np))
    (g,) = grads(loss, [p])
    tp = torch.tensor(p_np, requires_grad=True)
    tl = TF.binary_cross_entropy(tp, torch.tensor(t_np))
    tl.backward()
    np.testing.assert_allclose(loss.item(), tl.item(), rtol=1e-6)
    np.testing.assert_allclose(g.numpy(), tp.grad.numpy(), rtol=1e-6)
    assert np.isfinite(second_order(F.binary_cross_entropy(p, t(t_np)), p)).all()


def test_a_saturated_sigmoid_into_bce_keeps_the_weights_finite_after_a_step():
    lin = gg.nn.Linear(2, 1)
    opt = gg.optim.SGD(lin.parameters(), lr=0.1)
    x = t([[30.0, 30.0], [-30.0, -30.0]])          # sigmoid saturates to exactly 1 and ~0
    with gg.no_grad():
        lin.weight._data[...] = 1.0
    loss = F.binary_cross_entropy(gg.sigmoid(lin(x)).reshape(-1), t([0.0, 1.0]))
    loss.backward()
    opt.step()
    assert all(np.isfinite(p.numpy()).all() for p in lin.parameters())


@pytest.mark.parametrize("kw", [{}, {"weight": True}, {"label_smoothing": 0.1},
                                {"weight": True, "label_smoothing": 0.2}], ids=str)
def test_cross_entropy_with_every_target_ignored_is_nan_with_zero_gradient(kw):
    """Handed case: a fully padded batch. PyTorch: NaN loss, gradient 0; gpugrad gave NaN gradients."""
    x_np = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    targets = np.array([-100, -100, -100])
    x = t(x_np, grad=True)
    gkw = dict(kw, weight=t([1.0, 2.0, 0.5, 1.0])) if "weight" in kw else kw
    loss = F.cross_entropy(x, gg.tensor(targets), **gkw)
    (g,) = grads(loss, [x])
    assert np.isnan(loss.item())
    assert np.array_equal(g.numpy(), np.zeros_like(x_np))
    tkw = dict(kw, weight=torch.tensor([1.0, 2.0, 0.5, 1.0])) if "weight" in kw else kw
    tx = torch.tensor(x_np, requires_grad=True)
    TF.cross_entropy(tx, torch.tensor(targets), **tkw).backward()
    assert np.array_equal(g.numpy(), tx.grad.numpy())
    assert np.array_equal(second_order(F.cross_entropy(x, gg.tensor(targets), **gkw), x), np.zeros_like(x_np))


@pytest.mark.parametrize("kw", [{}, {"label_smoothing": 0.1}, {"reduction": "sum"}, {"reduction": "none"}], ids=str)
def test_an_ignored_row_of_minus_inf_logits_is_excluded(kw):
    """Handed case: a padded row of all -inf logits whose target is ignored. PyTorch's loss is over
    the other rows (its gradient of that row NaN); gpugrad's loss is the same and the row's gradient 0."""
    x_np = np.array([[1.0, 2.0, 3.0, 0.5], [-np.inf] * 4, [0.2, -1.0, 0.0, 4.0]], np.float32)
    targets = np.array([1, -100, 3])
    x = t(x_np, grad=True)
    loss = F.cross_entropy(x, gg.tensor(targets), **kw)
    tx = torch.tensor(x_np, requires_grad=True)
    tl = TF.cross_entropy(tx, torch.tensor(targets), **kw)
    np.testing.assert_allclose(loss.numpy(), tl.detach().numpy(), rtol=1e-6)
    assert np.isfinite(loss.numpy()).all()
    (g,) = grads(loss.sum(), [x])
    tl.sum().backward()
    assert np.array_equal(g.numpy()[1], np.zeros(4))
    np.testing.assert_allclose(g.numpy()[[0, 2]], tx.grad.numpy()[[0, 2]], rtol=1e-5, atol=1e-7)
    h = second_order(F.cross_entropy(x, gg.tensor(targets), **kw).sum(), x)
    assert np.isfinite(h).all() and np.array_equal(h[1], np.zeros(4))


def _masked_losses():
    """Every loss with a mask, weight, ignore_index or clamp, at inputs the mask must keep out:
    (name, build(x) -> loss, x, where the gradient must be exactly 0 (bool mask) or None)."""
    padded = np.array([[2.0, -1.0, 0.0], [-np.inf, -np.inf, -np.inf], [1e4, -1e4, 0.0]], np.float32)
    tg = gg.tensor(np.array([0, -100, 1]))
    row = np.zeros((3, 3), bool)
    row[1] = True
    logp = np.array([[-0.1, -np.inf, -3.0], [np.nan, -np.inf, -np.inf], [-np.inf, -0.2, -5.0]], np.float32)
    w3 = t([1.0, 0.0, 2.0])
    cases = []
    for red in ("mean", "sum", "none"):
        for kw in ({}, {"weight": w3}, {"label_smoothing": 0.1}, {"weight": w3, "label_smoothing": 0.3}):
            cases.append((f"cross_entropy-{red}-{sorted(kw)}",
                          lambda x, red=red, kw=kw: F.cross_entropy(x, tg, reduction=red, **kw).sum(), padded, row))
        for kw in ({}, {"weight": w3}):
            cases.append((f"nll_loss-{red}-{sorted(kw)}",
                          lambda x, red=red, kw=kw: F.nll_loss(x, tg, reduction=red, **kw).sum(), logp, row))
        p = np.array([0.0, 1.0, 1e-30, 1.0 - 1e-7, 0.5], np.float32)
        tt = t([1.0, 0.0, 1.0, 0.0, 0.5])
        cases.append((f"binary_cross_entropy-{red}",
                      lambda x, red=red: F.binary_cross_entropy(x, tt, reduction=red).sum(), p, None))
        cases.append((f"binary_cross_entropy-weighted-{red}",
                      lambda x, red=red: F.binary_cross_entropy(x, tt, weight=t([0.0, 1.0, 0.0, 2.0, 1.0]),
                                                                reduction=red).sum(), p, None))
        z = np.array([-100.0, 100.0, -40.0, 40.0, 0.0], np.float32)
        cases.append((f"bce_with_logits-weighted-{red}", lambda x, red=red: F.binary_cross_entropy_with_logits(
            x, tt, weight=t([0.0, 1.0, 0.0, 2.0, 1.0]), pos_weight=t(3.0), reduction=red).sum(), z, None))
    return cases


@pytest.mark.parametrize("name,build,x_np,zero", _masked_losses(), ids=[c[0] for c in _masked_losses()])
def test_every_masked_loss_keeps_discarded_values_out_of_every_order(name, build, x_np, zero):
    """The kind: each loss with masks/weights/ignore_index/clamps, every reduction; the forward is
    finite, the first and second order are finite, and exactly 0 where the input was discarded."""
    x = t(x_np, grad=True)
    loss = build(x)
    assert np.isfinite(loss.item()), name
    (g,) = grads(build(x), [x])
    h = second_order(build(x), x)
    for what, v in (("first", g.numpy()), ("second", h)):
        assert np.isfinite(v).all(), f"{name}: {what} order {v}"
        if zero is not None:
            assert np.array_equal(v[zero], np.zeros(zero.sum())), f"{name}: {what} order leaks {v[zero]}"


def _selecting_ops():
    """Reductions and clamps whose gradient keeps only some positions: (name, fn, x, kept positions)."""
    x = np.array([-5.0, -1.0, 0.5, 3.0, 3.0, 7.0], np.float32)
    return [
        ("max", lambda v: gg.max(v), x, x == 7.0),
        ("min", lambda v: gg.min(v), x, x == -5.0),
        ("maximum", lambda v: gg.maximum(v, 0.5), x, x >= 0.5),
        ("minimum", lambda v: gg.minimum(v, 0.5), x, x <= 0.5),
        ("clip", lambda v: gg.clip(v, -1.0, 3.0), x, (x >= -1) & (x <= 3)),
        ("clamp_tensor_bounds", lambda v: gg.clamp(v, min=t(-1.0), max=t(3.0)), x, (x >= -1) & (x <= 3)),
        ("hardtanh", lambda v: F.hardtanh(v, -1.0, 3.0), x, (x > -1) & (x < 3)),
        ("relu6", lambda v: F.relu6(v), x, (x > 0) & (x < 6)),
        ("hardsigmoid", lambda v: F.hardsigmoid(v), x, (x > -3) & (x < 3)),
        ("relu", lambda v: F.relu(v), x, x > 0),
    ]


@pytest.mark.parametrize("name,fn,x_np,kept", _selecting_ops(), ids=[c[0] for c in _selecting_ops()])
def test_a_selecting_gradient_sends_an_inf_upstream_gradient_only_where_it_selects(name, fn, x_np, kept):
    """g = inf upstream: the positions not selected get exactly 0 (inf * 0 would be NaN), at the
    first order and through create_graph."""
    x = t(x_np, grad=True)
    for create in (False, True):
        out = fn(x)
        (g,) = gg.grad(out, [x], grad_outputs=[gg.full(out.shape, np.inf, dtype="float32")],
                       create_graph=create)
        g = g.numpy()
        assert np.array_equal(g[~kept], np.zeros((~kept).sum())), f"{name}: {g}"
        assert not np.isnan(g).any(), f"{name}: {g}"


def test_logsumexp_of_a_fully_masked_slice_has_zero_gradient_at_every_order():
    x = t([[-np.inf, -np.inf, -np.inf], [0.0, -np.inf, 1.0]], grad=True)
    out = gg.logsumexp(x, axis=1)
    assert out.numpy()[0] == -np.inf
    (g,) = grads(out.sum(), [x])
    assert np.array_equal(g.numpy()[0], np.zeros(3)) and np.isfinite(g.numpy()).all()
    assert np.isfinite(second_order(gg.logsumexp(x, axis=1).sum(), x)).all()


def test_cross_entropy_with_class_probabilities_skips_classes_without_mass():
    """A -inf logit for a class of target probability 0 contributes 0 (0 log 0), not NaN."""
    x = t([[0.0, -np.inf, 1.0]], grad=True)
    target = t([[0.3, 0.0, 0.7]])
    loss = F.cross_entropy(x, target)
    (g,) = grads(loss, [x])
    assert np.isfinite(loss.item()) and np.isfinite(g.numpy()).all()
    ref = -(0.3 * math.log(math.exp(0) / (1 + math.e)) + 0.7 * math.log(math.e / (1 + math.e)))
    np.testing.assert_allclose(loss.item(), ref, rtol=1e-6)


# == 2. half precision =================================================================================
def _activations(shape, seed=0):
    return (np.random.default_rng(seed).standard_normal(shape) * 300).astype(np.float16)


def test_layer_norm_half_on_activations_of_300_is_not_zero():
    """Handed case: nn.LayerNorm(8).half() on activations ~300 returned all zeros."""
    a = _activations((4, 8))
    out = gg.nn.LayerNorm(8).half()(t(a, "float16"))
    ref = TF.layer_norm(torch.tensor(a, dtype=torch.float32), (8,)).numpy().astype(np.float16)
    assert out.dtype == np.float16
    np.testing.assert_allclose(out.numpy().astype(np.float32), ref.astype(np.float32), rtol=2e-3, atol=2e-3)


def test_batch_norm_half_on_activations_of_300_keeps_a_finite_running_var():
    """Handed case: nn.BatchNorm1d(2).half(): all-zero output and running_var = inf."""
    a = _activations((8, 2))
    bn = gg.nn.BatchNorm1d(2).half()
    out = bn(t(a, "float16"))
    tbn = torch.nn.BatchNorm1d(2)
    ref = tbn(torch.tensor(a, dtype=torch.float32)).detach().numpy()
    np.testing.assert_allclose(out.numpy().astype(np.float32), ref, rtol=2e-3, atol=2e-3)
    assert np.isfinite(bn.running_var.numpy()).all()
    np.testing.assert_allclose(bn.running_var.numpy().astype(np.float32), tbn.running_var.numpy(), rtol=1e-3)
    np.testing.assert_allclose(bn.running_mean.numpy().astype(np.float32), tbn.running_mean.numpy(), rtol=1e-3,
                               atol=1e-2)


def test_std_of_float16_0_and_400_is_pytorchs_282_75():
    """Handed case: std of float16 [0, 400] was inf (40000 + 40000 overflows float16)."""
    x = t([0.0, 400.0], "float16", grad=True)
    s = gg.std(x)
    assert s.dtype == np.float16 and s.item() == float(torch.tensor([0.0, 400.0]).half().std())  # 282.75
    (g,) = grads(s, [x])
    np.testing.assert_allclose(g.numpy().astype(np.float32), [-1 / math.sqrt(2), 1 / math.sqrt(2)], rtol=2e-3)


def _half_members():
    """Every reduction and normalisation, as (name, fn(x) with x float16 or float32)."""
    w = np.linspace(0.5, 1.5, 16).astype(np.float16)

    def wt(x):
        return gg.tensor(w, dtype=x.dtype)

    return [
        ("sum", lambda x: x.sum(axis=1)),
        ("mean", lambda x: x.mean(axis=1)),
        ("var", lambda x: gg.var(x, 1)),
        ("std", lambda x: gg.std(x, 1)),
        ("norm", lambda x: gg.norm(x, 2, 1)),
        ("norm_p3", lambda x: gg.norm(x, 3, 1)),
        ("logsumexp", lambda x: gg.logsumexp(x * 0.1, axis=1)),
        ("softmax", lambda x: gg.softmax(x * 0.01, axis=1)),
        ("log_softmax", lambda x: gg.log_softmax(x * 0.01, axis=1)),
        ("prod", lambda x: gg.prod(x * 0.004 + 1, 1)),
        ("layer_norm", lambda x: F.layer_norm(x, (16,), wt(x), wt(x))),
        ("batch_norm", lambda x: F.batch_norm(x, None, None, wt(x), wt(x), training=True)),
        ("mse_loss", lambda x: F.mse_loss(x, x * 0.5)),
        ("l1_loss", lambda x: F.l1_loss(x, x * 0.5, reduction="sum")),
        ("huber_loss", lambda x: F.huber_loss(x, x * 0.5, reduction="sum")),
        ("smooth_l1_loss", lambda x: F.smooth_l1_loss(x, x * 0.5, reduction="sum")),
        ("cross_entropy", lambda x: F.cross_entropy(x * 0.01, gg.tensor(np.arange(3)), weight=wt(x))),
        ("cross_entropy_sum", lambda x: F.cross_entropy(x * 0.01, gg.tensor(np.arange(3)), reduction="sum")),
        ("nll_loss", lambda x: F.nll_loss(x, gg.tensor(np.arange(3)), reduction="sum")),
        ("bce_with_logits", lambda x: F.binary_cross_entropy_with_logits(x, x * 0 + 1.0, reduction="sum")),
        ("binary_cross_entropy", lambda x: F.binary_cross_entropy(gg.sigmoid(x * 0.01), x * 0 + 1.0,
                                                                  reduction="sum")),
    ]


@pytest.mark.parametrize("name,fn", _half_members(), ids=[m[0] for m in _half_members()])
def test_every_half_reduction_is_its_float32_value_rounded_once(name, fn):
    """The kind: float16 forward = the float32 computation on the same float16 values, rounded
    once (so within an ulp or two of float16), and so is the gradient. Activations ~300 (squares
    overflow float16) on rows of 16."""
    a = _activations((3, 16), seed=1)
    x16, x32 = t(a, "float16", grad=True), t(a.astype(np.float32), "float32", grad=True)
    y16, y32 = fn(x16), fn(x32)
    assert y16.dtype == np.float16, name
    want = y32.numpy().astype(np.float16).astype(np.float32)
    np.testing.assert_allclose(y16.numpy().astype(np.float32), want, rtol=2e-3, atol=1e-3, err_msg=name)
    seed = np.random.default_rng(2).standard_normal(y32.shape).astype(np.float16)
    (g16,) = gg.grad(y16, [x16], grad_outputs=[gg.tensor(seed, dtype="float16")])
    (g32,) = gg.grad(y32, [x32], grad_outputs=[gg.tensor(seed.astype(np.float32), dtype="float32")])
    assert g16.dtype == np.float16
    gw = g32.numpy()
    np.testing.assert_allclose(g16.numpy().astype(np.float32), gw, rtol=1e-2, atol=2e-3 * np.abs(gw).max() + 1e-6,
                               err_msg=name)


def test_batch_norm_module_half_running_stats_match_float32_over_steps():
    bn16, bn32 = gg.nn.BatchNorm1d(3).half(), gg.nn.BatchNorm1d(3)
    for step in range(4):
        a = _activations((16, 3), seed=10 + step)
        bn16(t(a, "float16"))
        bn32(t(a.astype(np.float32)))
    for name in ("running_mean", "running_var"):
        got, want = getattr(bn16, name).numpy(), getattr(bn32, name).numpy()
        assert got.dtype == np.float16 and np.isfinite(got).all()
        np.testing.assert_allclose(got.astype(np.float32), want, rtol=3e-3, atol=0.1)


def _optimizers():
    return [
        ("Adam", lambda ps: gg.optim.Adam(ps, lr=1e-3)),
        ("Adam-amsgrad", lambda ps: gg.optim.Adam(ps, lr=1e-3, amsgrad=True, weight_decay=0.01)),
        ("AdamW", lambda ps: gg.optim.AdamW(ps, lr=1e-3)),
        ("RMSprop", lambda ps: gg.optim.RMSprop(ps, lr=1e-3)),
        ("RMSprop-centered-momentum", lambda ps: gg.optim.RMSprop(ps, lr=1e-3, momentum=0.9, centered=True)),
        ("Adagrad", lambda ps: gg.optim.Adagrad(ps, lr=1e-2)),
        ("SGD-momentum", lambda ps: gg.optim.SGD(ps, lr=1e-2, momentum=0.9, nesterov=True)),
    ]


@pytest.mark.parametrize("name,make", _optimizers(), ids=[o[0] for o in _optimizers()])
def test_every_stateful_optimizer_steps_float16_parameters_in_float32(name, make):
    """Beyond PyTorch (whose Adam gives NaN here: eps=1e-8 rounds to 0 in float16, 0/0 at a zero
    gradient): state in float32, the update computed in float32 and rounded once into the float16
    parameter, so float16 parameters follow the float32 run on the same gradients to float16's ulp."""
    p0 = np.linspace(-1, 1, 6).astype(np.float16)
    p16 = t(p0, "float16", grad=True)
    p32 = t(p0.astype(np.float32), "float32", grad=True)
    o16, o32 = make([p16]), make([p32])
    rng = np.random.default_rng(3)
    for _ in range(5):
        g = (rng.standard_normal(6) * 1e-4).astype(np.float16)
        g[0] = 0.0                                           # a parameter this step did not move
        p16.grad, p32.grad = t(g, "float16"), t(g.astype(np.float32))
        o16.step()
        o32.step()
        with gg.no_grad():                                   # the float32 run sees float16 values too
            p32._data[...] = p32._data.astype(np.float16)
    assert p16.dtype == np.float16 and np.isfinite(p16.numpy()).all()
    assert all(v.dtype == np.float32 for v in o16.state[p16].values() if hasattr(v, "dtype") and v.ndim)
    np.testing.assert_array_equal(p16.numpy(), p32.numpy().astype(np.float16))
    # a state_dict round trip keeps the state in float32
    o16b = make([p16])
    o16b.load_state_dict(o16.state_dict())
    assert all(v.dtype == np.float32 for v in o16b.state[p16].values() if hasattr(v, "dtype") and v.ndim)


def test_adam_on_float16_with_a_zero_gradient_is_not_nan():
    """The handed case beyond PyTorch: PyTorch's float16 Adam gives NaN (eps rounds to 0)."""
    p = t([1.0, 2.0], "float16", grad=True)
    opt = gg.optim.Adam([p], lr=1e-3, eps=1e-8)
    p.grad = t([0.0, 1e-5], "float16")
    opt.step()
    assert np.isfinite(p.numpy()).all() and p.numpy()[0] == 1.0 and p.numpy()[1] < 2.0


# == 3. tails ==========================================================================================
def test_softplus_of_minus_20_in_float32_is_2_06e_9():
    """Handed case: it was 0, so log(softplus(x)) was -inf."""
    x = t(-20.0, grad=True)
    y = F.softplus(x)
    np.testing.assert_allclose(y.item(), 2.0611536e-9, rtol=1e-6)
    assert np.isfinite(gg.log(y).item())
    (g,) = grads(gg.log(F.softplus(x)), [x])
    np.testing.assert_allclose(g.item(), 1.0, rtol=1e-6)       # d/dx log softplus(x) -> 1 as x -> -inf


def test_bce_with_logits_of_40_and_1_in_float64_is_4_25e_18():
    """Handed case: it was 0.0."""
    loss = F.binary_cross_entropy_with_logits(t(40.0, "float64"), t(1.0, "float64"))
    np.testing.assert_allclose(loss.item(), 4.248354255291589e-18, rtol=1e-12)


def _log1pexp(z):
    """log(1 + e^z) exactly (math.log1p of math.exp, in float64 over the ranges below)."""
    return z + math.log1p(math.exp(-z)) if z > 0 else math.log1p(math.exp(z))


SELU_A, SELU_S = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def _tail_members():
    """(name, gpugrad fn, exact fn on a Python float, points in the tails)."""
    return [
        ("softplus", lambda x: F.softplus(x), _log1pexp, [-80.0, -30.0, -20.0, -1e-6, 1e-6, 15.0]),
        ("softplus_beta2", lambda x: F.softplus(x, beta=2.0), lambda z: _log1pexp(2 * z) / 2, [-30.0, -9.0, 5.0]),
        ("logsigmoid", lambda x: F.logsigmoid(x), lambda z: -_log1pexp(-z), [-80.0, -20.0, 0.0, 20.0, 30.0, 80.0]),
        ("bce_with_logits_t1", lambda x: F.binary_cross_entropy_with_logits(x, x * 0 + 1, reduction="none"),
         lambda z: _log1pexp(-z), [20.0, 40.0, 80.0, -1e-6]),
        ("bce_with_logits_t0", lambda x: F.binary_cross_entropy_with_logits(x, x * 0, reduction="none"),
         lambda z: _log1pexp(z), [-20.0, -40.0, -80.0, 1e-6]),
        ("bce_with_logits_pos_weight", lambda x: F.binary_cross_entropy_with_logits(
            x, x * 0 + 1, reduction="none", pos_weight=gg.tensor(3.0, dtype=x.dtype)),
         lambda z: 3 * _log1pexp(-z), [20.0, 40.0]),
        ("elu", lambda x: F.elu(x), math.expm1, [-1e-8, -1e-5, -1e-3]),
        ("selu", lambda x: F.selu(x), lambda z: SELU_S * SELU_A * math.expm1(z), [-1e-8, -1e-5]),
        ("celu", lambda x: F.celu(x, 2.0), lambda z: 2.0 * math.expm1(z / 2.0), [-1e-8, -1e-5]),
        ("log1p", lambda x: gg.ops.log1p(x), math.log1p, [1e-10, -1e-10, 1e-5]),
        ("expm1", lambda x: gg.ops.expm1(x), math.expm1, [1e-10, -1e-10, 1e-5]),
        ("logsumexp", lambda x: gg.logsumexp(gg.stack([x * 0, x]), axis=0), lambda z: math.log1p(math.exp(z)),
         [-20.0, -40.0, -80.0]),
    ]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,fn,exact,points", _tail_members(), ids=[m[0] for m in _tail_members()])
def test_every_function_with_a_tail_keeps_its_digits_there(name, fn, exact, points, dtype):
    """The kind, against exact values with relative tolerance only (a 2e-9 must not pass as 0)."""
    tiny = np.finfo(dtype).tiny
    for z in points:
        want = exact(z)
        if abs(want) < tiny:   # below the dtype's normal range: nothing to keep
            continue
        got = fn(t(z, dtype)).item()
        np.testing.assert_allclose(got, want, rtol=2e-6 if dtype == "float32" else 1e-13,
                                   err_msg=f"{name}({z}) in {dtype}")


@pytest.mark.parametrize("where", ["sum_axis0", "mean_axis0", "broadcast_undo", "linear_bias", "linear_relu_bias",
                                   "bias_sigmoid_bias", "softmax_vjp_long_row"])
def test_float16_sums_over_a_long_axis_accumulate_in_float32(where):
    """NumPy sums a float16 array along axis 0 in float16: 4096 ones give 2048 (each + 1 rounds
    back to 2048). Every reduction gpugrad runs, forward or backward (the engine's broadcast undo, a
    bias gradient over the batch, a VJP's row sums), accumulates in float32 and rounds once."""
    n = 4096
    if where in ("sum_axis0", "mean_axis0"):
        x = t(np.ones((n, 3)), "float16")
        out = x.sum(axis=0) if where == "sum_axis0" else x.mean(axis=0) * n
        assert out.numpy().tolist() == [n] * 3
        return
    if where == "softmax_vjp_long_row":
        x = t(np.zeros((n, 3)), "float16", grad=True)      # along a strided axis 0: NumPy's float16 sum
        (g,) = gg.grad(gg.softmax(x, axis=0), [x], grad_outputs=[t(np.ones((n, 3)), "float16")])
        # s (g - sum(g s)) with s = 2^-12 exactly: sum(g s) = 1, so 0; summed in float16 it sticks at 0.5
        assert np.array_equal(g.numpy(), np.zeros((n, 3), np.float16))
        assert np.all(gg.softmax(x, axis=0).numpy() == np.float16(1.0 / n))   # a float16 sum gives 1/2048
        return
    b = t(np.zeros(3), "float16", grad=True)
    ones = t(np.ones((n, 3)), "float16")
    if where == "broadcast_undo":
        out = ones + b
    elif where == "bias_sigmoid_bias":
        out = gg.bias_sigmoid(t(np.zeros((n, 3)), "float16"), b)
    else:
        w = t(np.eye(3), "float16")
        out = F.linear(ones, w, b) if where == "linear_bias" else F.linear_relu(ones, w, b)
    (gb,) = gg.grad(out, [b], grad_outputs=[t(np.ones(out.shape), "float16")])
    want = n * (0.25 if where == "bias_sigmoid_bias" else 1.0)
    assert gb.dtype == np.float16 and gb.numpy().tolist() == [want] * 3, gb.numpy()


@pytest.mark.parametrize("name,args", [("SELU", ()), ("CELU", (0.5,)), ("LogSigmoid", ()), ("Hardtanh", (-2.0, 2.0)),
                                       ("ReLU6", ()), ("Hardsigmoid", ())])
def test_the_new_activation_modules_match_pytorchs(name, args):
    x_np = np.array([-50.0, -3.0, -1e-7, 0.0, 1.5, 3.0, 6.0, 40.0], np.float64)
    x = t(x_np, "float64", grad=True)
    y = getattr(gg.nn, name)(*args)(x)
    tx = torch.tensor(x_np, requires_grad=True)
    ty = getattr(torch.nn, name)(*args)(tx)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12, atol=0)
    (g,) = grads(y.sum(), [x])
    ty.sum().backward()
    np.testing.assert_allclose(g.numpy(), tx.grad.numpy(), rtol=1e-7, atol=1e-12)


def test_soft_targets_of_zero_mass_still_get_their_gradient():
    """The select is on 0 * -inf only: a target probability of 0 at a finite logit keeps its
    gradient -log p (distillation with learnt targets), as in PyTorch."""
    x_np = np.array([[0.5, -1.0, 2.0]], np.float32)
    tgt_np = np.array([[0.2, 0.0, 0.8]], np.float32)
    x, tgt = t(x_np, grad=True), t(tgt_np, grad=True)
    gx, gt = grads(F.cross_entropy(x, tgt, label_smoothing=0.0), [x, tgt])
    tx, tt = torch.tensor(x_np, requires_grad=True), torch.tensor(tgt_np, requires_grad=True)
    TF.cross_entropy(tx, tt).backward()
    np.testing.assert_allclose(gx.numpy(), tx.grad.numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(gt.numpy(), tt.grad.numpy(), rtol=1e-6, atol=1e-7)


def test_half_results_beyond_float16_are_inf_without_a_warning():
    """A float16 sum or cast whose value exceeds 65504 is inf, as PyTorch's, and does not print
    NumPy's 'overflow encountered in cast' (found by a new user's float16 sum of 200,000 values)."""
    import warnings
    x = gg.tensor(np.linspace(0, 400, 200_000).astype(np.float16), dtype=gg.float16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isposinf(x.sum().item())
        assert np.isposinf(gg.tensor(np.array([1e6]), dtype=gg.float32).to(gg.float16).item())
        assert x.mean().item() == pytest.approx(200.0, rel=1e-3)
