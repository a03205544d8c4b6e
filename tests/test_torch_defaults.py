"""PyTorch's defaults (issue 25, item 2): nn.Linear starts where PyTorch's does from the same seed,
nn.init's uniform initialisers draw PyTorch's numbers, nn.MLP keeps He initialisation, mixed float
dtypes at a layer or a matrix product raise as in PyTorch, and the CPU generators' state round-trips
(get_rng_state / set_rng_state)."""
from __future__ import annotations

import math

import numpy as np
import pytest

import gpugrad as gg
import gpugrad.nn.functional as F

try:
    import torch
except ImportError:
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="compares with PyTorch's initial weights and errors")


def _weights(model):
    return {k: v.detach().numpy() if hasattr(v, "detach") else v.numpy() for k, v in model.state_dict().items()}


# -- nn.Linear's default and nn.init's uniform family: PyTorch's numbers, bit for bit ---------------
@needs_torch
@pytest.mark.parametrize("seed", [0, 1, 2 ** 32 + 7, -3])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_model_built_after_the_same_seed_has_pytorchs_weights(seed, dtype):
    def build(lib):
        lib.manual_seed(seed)
        nn = lib.nn
        kw = dict(dtype=getattr(lib, dtype))
        return nn.Sequential(nn.Linear(13, 64, **kw), nn.ReLU(), nn.Linear(64, 33, bias=False, **kw),
                             nn.Tanh(), nn.Linear(33, 1, **kw))
    want, got = _weights(build(torch)), _weights(build(gg))
    assert list(want) == list(got)
    for k in want:
        assert got[k].dtype == want[k].dtype and np.array_equal(got[k], want[k]), k


@needs_torch
@pytest.mark.parametrize("fill", [
    ("uniform_", dict(a=-0.3, b=2.0)),
    ("kaiming_uniform_", dict()),
    ("kaiming_uniform_", dict(a=math.sqrt(5))),
    ("kaiming_uniform_", dict(mode="fan_out", nonlinearity="relu")),
    ("xavier_uniform_", dict()),
    ("xavier_uniform_", dict(gain=5.0 / 3)),
], ids=lambda f: f"{f[0]}{f[1]}")
@pytest.mark.parametrize("shape", [(7, 5), (300, 129), (4, 3, 2)])
def test_nn_init_uniform_family_draws_pytorchs_numbers(fill, shape):
    name, kw = fill
    torch.manual_seed(11)
    t = torch.empty(shape)
    getattr(torch.nn.init, name)(t, **kw)
    t2 = getattr(torch.nn.init, name)(torch.empty(shape, dtype=torch.float64), **kw)   # the stream goes on
    gg.manual_seed(11)
    g = getattr(gg.nn.init, name)(gg.empty(shape), **kw)
    g2 = getattr(gg.nn.init, name)(gg.empty(shape, dtype="float64"), **kw)
    assert np.array_equal(g.numpy(), t.numpy()) and np.array_equal(g2.numpy(), t2.numpy())


def test_linear_default_is_pytorchs_distribution():
    """U(+-1/sqrt(in_features)) for weight and bias (kaiming_uniform a=sqrt(5)), not He's sqrt(6/fan_in)."""
    gg.manual_seed(0)
    layer = gg.nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    for p in (layer.weight.numpy(), layer.bias.numpy()):
        assert np.abs(p).max() <= bound and np.abs(p).max() > 0.98 * bound
        assert abs(p.mean()) < 0.1 * bound and abs(p.std() - bound / math.sqrt(3)) < 0.05 * bound
    assert layer.init == "torch"


def test_mlp_and_explicit_inits_keep_he_and_glorot():
    """nn.MLP (what gpugrad train builds) chooses He for ReLU layers and Glorot for the output layer,
    zero biases, drawn from NumPy's generator: the same numbers as before this change."""
    gg.manual_seed(3)
    mlp = gg.nn.MLP([64, 256, 10])
    w0, w1 = mlp[0].weight.numpy(), mlp[2].weight.numpy()
    assert mlp[0].init == "kaiming" and mlp[2].init == "xavier"
    assert np.abs(w0).max() <= math.sqrt(6 / 64) and np.abs(w0).max() > 0.95 * math.sqrt(6 / 64)
    assert np.abs(w1).max() <= math.sqrt(6 / 266) and np.abs(w1).max() > 0.9 * math.sqrt(6 / 266)
    assert not mlp[0].bias.numpy().any() and not mlp[2].bias.numpy().any()
    rng = np.random.default_rng(3)      # NumPy's generator, seeded as gg.manual_seed(3) seeds it
    want = rng.random((256, 64), dtype=np.float32) * np.float32(2 * math.sqrt(2) * math.sqrt(3 / 64)) \
        + np.float32(-math.sqrt(2) * math.sqrt(3 / 64))
    np.testing.assert_array_equal(w0, want)


def test_init_draws_are_private_to_a_generator_scope():
    """gpugrad train's generator_scope: its initialisers neither read nor move the user's stream."""
    from gpugrad.creation import generator_scope
    gg.manual_seed(5)
    first = gg.nn.Linear(4, 3).weight.numpy()
    gg.manual_seed(5)
    with generator_scope(99):
        gg.nn.Linear(4, 3)
    assert np.array_equal(gg.nn.Linear(4, 3).weight.numpy(), first)


@needs_torch
def test_an_import_swapped_regression_follows_pytorch_from_the_same_seed():
    """The issue's situation: only the imports change, no weights copied. Same seed -> same start,
    and 30 Adam steps later losses and weights agree within float32 noise."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 8)).astype(np.float32)
    y = (x @ rng.standard_normal((8, 1)) + 0.1 * rng.standard_normal((64, 1))).astype(np.float32)

    def run(lib):
        lib.manual_seed(0)
        nn = lib.nn
        model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1))
        opt = lib.optim.Adam(model.parameters(), lr=1e-2)
        xb, yb = lib.tensor(x), lib.tensor(y)
        losses = []
        for _ in range(30):
            opt.zero_grad()
            loss = nn.functional.mse_loss(model(xb), yb)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return losses, _weights(model)
    (lt, wt), (lg, wg) = run(torch), run(gg)
    assert lt[0] == pytest.approx(lg[0], rel=1e-6)
    np.testing.assert_allclose(lg, lt, rtol=1e-4)
    for k in wt:
        np.testing.assert_allclose(wg[k], wt[k], rtol=1e-4, atol=1e-5, err_msg=k)


# -- mixed float dtypes at a layer or a matrix product: an error naming both dtypes and the fix ------
D64 = np.ones((4, 3))
F32 = np.ones((4, 3), dtype=np.float32)
IDX = np.zeros(4, dtype=np.int64)
MIXED = [
    ("Linear", lambda L, d, f: L.nn.Linear(3, 2)(d(D64))),
    ("Linear+ReLU in Sequential", lambda L, d, f: L.nn.Sequential(L.nn.Linear(3, 2), L.nn.ReLU())(d(D64))),
    ("Linear+Sigmoid in Sequential", lambda L, d, f: L.nn.Sequential(L.nn.Linear(3, 2), L.nn.Sigmoid())(d(D64))),
    ("float64 Linear, float32 batch", lambda L, d, f: L.nn.Linear(3, 2, dtype=L.float64)(f(F32))),
    ("matmul 2-D", lambda L, d, f: d(D64) @ f(F32).T),
    ("matmul batched", lambda L, d, f: d(D64)[None] @ f(F32).T[None]),
    ("matmul vector", lambda L, d, f: d(D64[0]) @ f(F32[0])),
    ("matmul (n,k)@(k,)", lambda L, d, f: d(D64) @ f(F32[0])),
    ("LayerNorm", lambda L, d, f: L.nn.LayerNorm(3)(d(D64))),
    ("BatchNorm1d train", lambda L, d, f: L.nn.BatchNorm1d(3)(d(D64))),
    ("BatchNorm1d eval", lambda L, d, f: L.nn.BatchNorm1d(3).eval()(d(D64))),
    ("cross_entropy weight", lambda L, d, f: L.nn.functional.cross_entropy(f(F32), L.tensor(IDX), weight=d(D64[0]))),
    ("nll_loss weight", lambda L, d, f: L.nn.functional.nll_loss(f(F32), L.tensor(IDX), weight=d(D64[0]))),
    ("binary_cross_entropy", lambda L, d, f: L.nn.functional.binary_cross_entropy(d(D64 / 2), f(F32 / 2))),
]


def _gg_pair():
    return (lambda a: gg.tensor(a, dtype="float64")), (lambda a: gg.tensor(a, dtype="float32"))


@pytest.mark.parametrize("name, make", MIXED, ids=[m[0] for m in MIXED])
def test_mixed_float_dtypes_raise_naming_both_and_the_fix(name, make):
    d, f = _gg_pair()
    with pytest.raises(TypeError) as err:
        make(gg, d, f)
    assert isinstance(err.value, RuntimeError)      # what PyTorch raises: an except RuntimeError still works
    msg = str(err.value)
    assert "float64" in msg and "float32" in msg and ".float()" in msg and ".double()" in msg, msg


@needs_torch
@pytest.mark.parametrize("name, make", MIXED, ids=[m[0] for m in MIXED])
def test_pytorch_raises_on_the_same_mixes(name, make):
    with pytest.raises(RuntimeError):
        make(torch, lambda a: torch.tensor(a, dtype=torch.float64), lambda a: torch.tensor(a, dtype=torch.float32))


def test_bias_sigmoid_mix_raises():
    with pytest.raises(TypeError, match="bias_sigmoid: z is float32.*b is float64"):
        F.bias_sigmoid(gg.ones(2, 3), gg.ones(3, dtype="float64"))


@pytest.mark.parametrize("fn", [
    lambda d, f: d + f, lambda d, f: d * f, lambda d, f: F.mse_loss(d, f), lambda d, f: F.l1_loss(d, f),
    lambda d, f: F.cross_entropy(d, gg.tensor(IDX)),
])
def test_elementwise_ops_and_losses_promote_as_in_pytorch(fn):
    d, f = _gg_pair()
    assert fn(d(D64), f(F32)).dtype == np.float64


def test_a_converted_batch_runs():
    layer = gg.nn.Linear(3, 2)
    assert layer(gg.tensor(D64, dtype="float64").float()).dtype == np.float32
    assert layer.double()(gg.tensor(D64, dtype="float64")).dtype == np.float64


# -- get_rng_state / set_rng_state ----------------------------------------------------------------
def _draws():
    return (gg.randn(5).numpy(), gg.rand(3).numpy(), gg.nn.Linear(4, 2).weight.numpy(),
            gg.randperm(10).numpy())


@pytest.mark.parametrize("seeded", [True, False])
def test_rng_state_round_trip_repeats_every_kind_of_draw(tmp_path, seeded):
    if seeded:
        gg.manual_seed(123)
    gg.randn(7), gg.nn.Linear(3, 3)          # streams already moved
    state = gg.get_rng_state()
    assert state.dtype == np.uint8 and state.ndim == 1
    first = _draws()
    gg.save({"rng": state}, tmp_path / "rng.npz")
    gg.manual_seed(999)
    _draws()
    gg.set_rng_state(gg.load(tmp_path / "rng.npz")["rng"])
    for a, b in zip(first, _draws()):
        assert np.array_equal(a, b)


def test_rng_state_before_any_draw_after_a_seed():
    gg.manual_seed(8)
    state = gg.get_rng_state()
    first = _draws()
    gg.set_rng_state(state)
    assert all(np.array_equal(a, b) for a, b in zip(first, _draws()))


@pytest.mark.parametrize("bad", [gg.zeros(3, dtype="uint8"), np.arange(5, dtype=np.uint8), "state"])
def test_set_rng_state_refuses_what_is_not_a_state(bad):
    with pytest.raises(TypeError, match="set_rng_state: expected the uint8 tensor gg.get_rng_state"):
        gg.set_rng_state(bad)


@needs_torch
def test_set_rng_state_refuses_pytorchs_state_saying_why():
    with pytest.raises(TypeError, match="not PyTorch's"):
        gg.set_rng_state(torch.get_rng_state().numpy())
