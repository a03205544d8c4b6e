"""gg.nn: module registration and traversal, Linear vs NumPy, initialisers, the fused
Linear+Sigmoid path, Dropout, and state_dict round trips and errors. Runs on every device."""
from __future__ import annotations

import math
import os

import numpy as np
import pytest

import gpugrad as gg
from gpugrad import nn


def host(t):
    return np.asarray(t.numpy(), dtype=np.float64)


def graph_ops(t) -> list[str]:
    """Names of every op in the graph that produced ``t``."""
    names, stack, seen = [], [t.grad_fn], set()
    while stack:
        n = stack.pop()
        if n is None or isinstance(n, gg.Tensor) or id(n) in seen:
            continue
        seen.add(id(n))
        names.append(n.op.name)
        stack.extend(n.parents)
    return names


class TwoLayer(nn.Module):
    def __init__(self, device):
        super().__init__()
        self.fc1 = nn.Linear(3, 4, device=device)
        self.act = nn.Tanh()
        self.fc2 = nn.Linear(4, 2, bias=False, device=device)
        self.scale = nn.Parameter(gg.ones(2, device=device))

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x))) * self.scale


def test_registration_and_traversal(device):
    m = TwoLayer(device)
    assert [n for n, _ in m.named_parameters()] == ["scale", "fc1.weight", "fc1.bias", "fc2.weight"]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in m.parameters())
    assert [type(c).__name__ for c in m.children()] == ["Linear", "Tanh", "Linear"]
    assert len(list(m.modules())) == 4
    m.fc2 = nn.Linear(4, 2, device=device)          # replacing re-registers
    assert "fc2.bias" in dict(m.named_parameters())
    m.note = "plain attribute"                       # not registered
    assert "note" not in m.state_dict()
    shared = nn.Sequential(m.fc1, m.fc1)             # a shared parameter appears once
    assert len(list(shared.parameters())) == 2


def test_module_requires_super_init():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(gg.ones(1))

    with pytest.raises(RuntimeError, match=r"super\(\)\.__init__\(\)"):
        Bad()


def test_train_eval_and_zero_grad(device):
    m = TwoLayer(device)
    assert m.eval() is m and not any(x.training for x in m.modules())
    m.train()
    assert all(x.training for x in m.modules())
    m(gg.randn(5, 3, device=device)).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad(set_to_none=False)
    assert all(np.all(host(p.grad) == 0) for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_numpy(device, dtype, bias):
    gg.manual_seed(1)
    layer = nn.Linear(5, 3, bias=bias, device=device, dtype=dtype)
    x = gg.randn(4, 5, device=device, dtype=dtype, requires_grad=True)
    y = layer(x)
    W = host(layer.weight)
    ref = host(x) @ W.T + (host(layer.bias) if bias else 0)
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(host(y), ref, rtol=tol, atol=tol)
    g = np.random.default_rng(0).standard_normal((4, 3))
    y.backward(gg.tensor(g, dtype=dtype, device=device))
    np.testing.assert_allclose(host(x.grad), g @ W, rtol=tol, atol=tol)
    np.testing.assert_allclose(host(layer.weight.grad), g.T @ host(x), rtol=tol, atol=tol)
    if bias:
        np.testing.assert_allclose(host(layer.bias.grad), g.sum(0), rtol=tol, atol=tol)


@pytest.mark.parametrize("init, gain, bound", [
    ("kaiming", 1.0, lambda fi, fo: math.sqrt(6.0 / fi)),
    ("xavier", 1.0, lambda fi, fo: math.sqrt(6.0 / (fi + fo))),
    ("xavier", 5 / 3, lambda fi, fo: 5 / 3 * math.sqrt(6.0 / (fi + fo))),
    ("torch", 1.0, lambda fi, fo: 1 / math.sqrt(fi)),
])
def test_linear_init_bounds_and_spread(init, gain, bound):
    gg.manual_seed(0)
    layer = nn.Linear(400, 300, init=init, gain=gain)
    w = host(layer.weight)
    b = bound(400, 300)
    assert w.min() >= -b and w.max() <= b
    assert abs(w.std() - b / math.sqrt(3)) < 0.02 * b            # U(-b, b) has std b/sqrt(3)
    if init != "torch":
        assert np.all(host(layer.bias) == 0)


def test_init_is_seeded():
    gg.manual_seed(7)
    a = host(nn.Linear(8, 8).weight)
    gg.manual_seed(7)
    b = host(nn.Linear(8, 8).weight)
    assert np.array_equal(a, b)


def test_init_normal_variants():
    gg.manual_seed(0)
    w = gg.empty(500, 400)
    nn.init.kaiming_normal_(w)
    assert abs(host(w).std() - math.sqrt(2 / 400)) < 0.01 * math.sqrt(2 / 400) * 5
    nn.init.xavier_normal_(w)
    assert abs(host(w).std() - math.sqrt(2 / 900)) < 0.05 * math.sqrt(2 / 900)
    assert nn.init.calculate_gain("tanh") == pytest.approx(5 / 3)
    with pytest.raises(ValueError, match="unknown nonlinearity"):
        nn.init.calculate_gain("swish")


def test_sequential_fuses_linear_sigmoid(device):
    gg.manual_seed(0)
    seq = nn.Sequential(nn.Linear(3, 4, device=device), nn.Sigmoid())
    x = gg.randn(5, 3, device=device)
    y = seq(x)
    assert y.grad_fn.op.name == "bias_sigmoid"
    ref = 1 / (1 + np.exp(-(host(x) @ host(seq[0].weight).T + host(seq[0].bias))))
    np.testing.assert_allclose(host(y), ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("activation, op", [("sigmoid", "bias_sigmoid"), ("relu", "linear_relu"),
                                            ("tanh", "tanh")])
def test_mlp_structure_and_ops(device, activation, op):
    gg.manual_seed(0)
    mlp = nn.MLP([6, 5, 4, 3], activation=activation, device=device)
    assert [type(m).__name__ for m in mlp] == ["Linear", type(mlp[1]).__name__, "Linear",
                                               type(mlp[1]).__name__, "Linear"]
    y = mlp(gg.randn(7, 6, device=device))
    assert y.shape == (7, 3)
    ops = graph_ops(y)
    assert ops.count(op) == 2
    if activation == "sigmoid":
        assert "sigmoid" not in ops                   # no unfused sigmoid left
    if activation == "relu":
        assert "relu" not in ops                      # Linear+ReLU fused into one op
    # the gradient of the fused model matches an unfused forward of the same weights
    gg.manual_seed(1)
    x = gg.randn(7, 6, device=device, dtype="float64")
    mlp64 = nn.MLP([6, 5, 3], activation=activation, device=device, dtype="float64")
    mlp64(x).sum().backward()
    fused = [host(p.grad) for p in mlp64.parameters()]
    mlp64.zero_grad()
    h = x
    for m in mlp64:
        h = m(h)                                      # module by module: no fusion
    h.sum().backward()
    for a, p in zip(fused, mlp64.parameters()):
        np.testing.assert_allclose(a, host(p.grad), rtol=1e-10, atol=1e-12)


def test_mlp_rejects_bad_arguments():
    with pytest.raises(ValueError, match="activation must be one of"):
        nn.MLP([2, 2], activation="gelu")
    with pytest.raises(ValueError, match="at least an input and an output"):
        nn.MLP([2])


def test_dropout_train_and_eval(device):
    gg.manual_seed(3)
    drop = nn.Dropout(0.25)
    x = gg.ones(200, 50, device=device, requires_grad=True)
    y = drop(x)
    v = host(y)
    assert set(np.unique(v)) <= {0.0, float(np.float32(1 / 0.75))}
    assert abs((v == 0).mean() - 0.25) < 0.02
    y.sum().backward()
    np.testing.assert_array_equal(host(x.grad), v)    # d/dx of x * mask/(1-p) is the scaled mask
    gg.manual_seed(3)
    assert np.array_equal(host(drop(x)), v)           # seeded
    drop.eval()
    assert drop(x) is x
    assert np.all(host(nn.Dropout(1.0)(x)) == 0)
    with pytest.raises(ValueError, match="probability"):
        nn.Dropout(1.5)


def test_state_dict_round_trip(device):
    gg.manual_seed(0)
    a = nn.MLP([4, 8, 3], device=device)
    gg.manual_seed(1)
    b = nn.MLP([4, 8, 3], device=device)
    sd = a.state_dict()
    assert list(sd) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    x = gg.randn(2, 4, device=device)
    stale = b(x).sum()                               # saves b's weights for backward
    storage = [p._data for p in b.parameters()]
    b.load_state_dict(sd)
    for (k, pa), pb, arr in zip(a.named_parameters(), b.parameters(), storage):
        assert np.array_equal(host(pa), host(pb)), k
        assert pb._data is arr                          # loaded in place
    with pytest.raises(RuntimeError, match="modified in place"):
        stale.backward()                             # the version bump made the graph stale
    # NumPy arrays are accepted as values too
    b.load_state_dict({k: v.numpy() for k, v in sd.items()})


def test_load_state_dict_errors_name_every_entry():
    m = nn.MLP([4, 8, 3])
    sd = dict(m.state_dict())
    del sd["2.bias"]
    sd["9.weight"] = gg.zeros(1)
    sd["0.weight"] = gg.zeros(8, 5)
    with pytest.raises(RuntimeError) as e:
        m.load_state_dict(sd)
    msg = str(e.value)
    assert "missing keys: 2.bias" in msg and "unexpected keys: 9.weight" in msg
    assert "0.weight: checkpoint has shape (8, 5), model has (8, 4)" in msg
    sd["0.weight"] = gg.zeros(8, 4)
    missing, unexpected = m.load_state_dict(sd, strict=False)
    assert missing == ["2.bias"] and unexpected == ["9.weight"]


def test_module_to_keeps_parameter_objects():
    m = nn.Linear(3, 2)
    params = list(m.parameters())
    m.to("cpu", dtype="float64")
    assert list(m.parameters())[0] is params[0] and params[0].dtype == np.float64


@pytest.mark.skipif(os.environ.get("NUMBA_ENABLE_CUDASIM", "0") in ("", "0"),
                    reason="the cudasim device needs Numba's CUDA simulator (on only without a GPU)")
def test_module_to_another_numpy_backed_device_moves_the_parameters():
    # cpu -> cudasim keeps NumPy storage: the array may stay the same object, the device must not.
    m = nn.Linear(3, 2)
    m.to("cudasim")
    assert m.weight.device == "cudasim" and m.bias.device == "cudasim"
    m.to("cpu")
    assert m.weight.device == "cpu"


def test_assigning_a_tensor_to_a_buffer_keeps_it_registered():
    class Stats(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("running_mean", gg.zeros(3))

    m = Stats()
    m.running_mean = m.running_mean * 0.9 + 1.0
    assert list(m.state_dict()) == ["running_mean"]
    np.testing.assert_allclose(m.state_dict()["running_mean"].numpy(), [1.0, 1.0, 1.0])


def test_assigning_a_plain_tensor_to_a_parameter_name_is_refused():
    lin = nn.Linear(3, 2)
    with pytest.raises(TypeError, match=r"weight.*Parameter"):
        lin.weight = gg.randn(2, 3)
    assert [n for n, _ in lin.named_parameters()] == ["weight", "bias"]


def test_register_parameter_refuses_a_plain_tensor():
    m = nn.Module()
    with pytest.raises(TypeError, match=r"register_parameter.*'w'.*Parameter"):
        m.register_parameter("w", gg.ones(3, requires_grad=True))
