"""gg.cuda.graphed: the static-buffer contract, on every device (a real CUDA graph on "cuda")."""
from __future__ import annotations

import numpy as np
import pytest

import gpugrad as gg
import gpugrad.nn.functional as F
from helpers import host


def _model(device):
    gg.manual_seed(0)
    rng = np.random.default_rng(0)
    w1 = gg.tensor(rng.standard_normal((8, 5)) * 0.5, device=device, requires_grad=True)
    b1 = gg.zeros(8, device=device, requires_grad=True)
    w2 = gg.tensor(rng.standard_normal((3, 8)) * 0.5, device=device, requires_grad=True)
    return [w1, b1, w2]


def _step_fn(params, lr=0.1):
    w1, b1, w2 = params

    def step(x, y):
        for p in params:
            p.grad = None
        loss = F.cross_entropy(F.linear(F.linear_relu(x, w1, b1), w2), y)
        loss.backward()
        with gg.no_grad():
            for p in params:
                p -= lr * p.grad
        return loss

    return step


def test_graphed_step_gives_the_same_numbers_as_the_eager_step(device):
    rng = np.random.default_rng(1)
    batches = [(gg.tensor(rng.standard_normal((6, 5)), device=device),
                gg.tensor(rng.integers(0, 3, 6), device=device)) for _ in range(5)]
    eager_params, graph_params = _model(device), _model(device)
    eager, fast = _step_fn(eager_params), None
    losses_eager, losses_graph = [], []
    for x, y in batches:
        losses_eager.append(eager(x, y).item())
        if fast is None:
            fast = gg.cuda.graphed(_step_fn(graph_params), x, y)
        losses_graph.append(fast(x, y).item())
    np.testing.assert_allclose(losses_graph, losses_eager, rtol=1e-6)
    for a, b in zip(eager_params, graph_params):
        np.testing.assert_allclose(host(b), host(a), rtol=1e-6, atol=1e-7)


def test_graphed_step_refuses_inputs_of_another_shape(device):
    x = gg.ones(4, 5, device=device)
    y = gg.tensor([0, 1, 2, 0], device=device)
    fast = gg.cuda.graphed(_step_fn(_model(device)), x, y)
    fast(x, y)
    with pytest.raises(ValueError, match=r"input 0 has shape \(3, 5\).*\(4, 5\).*drop_last"):
        fast(gg.ones(3, 5, device=device), y)
    with pytest.raises(TypeError, match="2 inputs"):
        fast(x)
