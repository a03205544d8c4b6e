"""Adversarial checks of the issue-15 engine changes (review): ``_run_plain`` (backward()) against
``_run`` (gg.grad, create_graph), ops that keep an input only when a gradient reads it
(``vjp_reads``), the ReLU VJP written into its upstream gradient, and PyTorch CPU as the reference."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import gpugrad as gg

from op_table import ALL, BINARY_SHAPES, OpCase, sample

# Ops with ``vjp_reads`` that the op table lacks (remainder; the batched product; linear_relu without bias).
EXTRA = [
    OpCase("remainder", lambda x, y: x % y, np.remainder, [((3, 4), (3, 4)), ((2, 3), ())], domain="positive"),
    OpCase("bmm", lambda x, y: x @ y, np.matmul, [((2, 3, 4), (2, 4, 5))]),
    OpCase("linear_relu_nobias", lambda x, w: gg.nn.functional.linear(x, w, activation="relu"),
           lambda x, w: np.maximum(x @ w.T, 0), [((3, 4), (5, 4))], domain="linear_relu"),
    OpCase("pow_bcast", lambda x, y: x ** y, np.power, BINARY_SHAPES[2:4], domain="positive"),
]


def _subsets(n):
    return [s for r in range(1, n + 1) for s in itertools.combinations(range(n), r)]


@pytest.mark.parametrize("case", ALL + EXTRA, ids=lambda c: c.name)
def test_any_subset_of_inputs_wanting_a_gradient_gets_the_same_gradients(case):
    """An op may keep an input only when the VJP of an input that wants a gradient reads it; the
    gradients of any subset of inputs must equal those with every input wanting one (pow once read
    its unsaved exponent for the exponent's own gradient: TypeError on Meta), on both walks."""
    rng = np.random.default_rng(0)
    for shapes in case.shapes[:2]:
        arrays = [sample(s, case.domain, rng) for s in shapes]
        full = [gg.tensor(a, requires_grad=True) for a in arrays]
        case.fn(*full).sum().backward()
        for subset in _subsets(len(arrays)):
            for walk in ("backward", "grad"):
                ts = [gg.tensor(a, requires_grad=i in subset) for i, a in enumerate(arrays)]
                out = case.fn(*ts).sum()
                wanted = [ts[i] for i in subset]
                if walk == "backward":
                    out.backward()
                    got = [t.grad for t in wanted]
                else:
                    got = gg.grad(out, wanted)
                for i, g in zip(subset, got):
                    np.testing.assert_array_equal(g.numpy(), full[i].grad.numpy(),
                                                  err_msg=f"{case.name} {shapes} subset {subset} {walk}")


def test_writing_the_output_of_remainder_in_place_keeps_its_gradient():
    """remainder's VJPs read x and y, never the output (PyTorch saves no result for it): an
    in-place write to x % y after the op (under no_grad) must not raise 'modified in place'."""
    torch = pytest.importorskip("torch")
    x0, y0 = np.array([5.5, -3.0, 7.25]), np.array([2.0, 2.5, -3.0])
    x, y = gg.tensor(x0, dtype=np.float64, requires_grad=True), gg.tensor(y0, dtype=np.float64, requires_grad=True)
    z = (x * 1.0) % (y * 1.0)
    with gg.no_grad():
        z.mul_(3.0)
    z.backward(gg.ones_like(z))
    tx, ty = torch.tensor(x0, requires_grad=True), torch.tensor(y0, requires_grad=True)
    tz = (tx * 1.0) % (ty * 1.0)
    with torch.no_grad():
        tz.mul_(3.0)
    tz.backward(torch.ones_like(tz))
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())
    np.testing.assert_array_equal(y.grad.numpy(), ty.grad.numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_remainder_of_an_integer_tensor_by_a_float_one_same_gradient_with_create_graph(dtype):
    """x % y with x an integer Tensor: y's gradient -floor(x / y) is a float; under create_graph it
    was cast to x's integer dtype (2**63 - 1 from an overflow, or the quotient truncated), so
    gg.grad(create_graph=True) disagreed with backward() and PyTorch."""
    torch = pytest.importorskip("torch")
    x0 = np.array([7, -3, 1, 1000000])
    y0 = np.array([0.3, 2.5, 1e-30, 0.7], dtype=dtype)
    t_y = torch.tensor(y0, requires_grad=True)
    (torch.tensor(x0) % t_y).sum().backward()
    y = gg.tensor(y0, dtype=dtype, requires_grad=True)
    (gg.tensor(x0) % y).sum().backward()
    g_graph, = gg.grad((gg.tensor(x0) % y).sum(), y, create_graph=True)
    assert g_graph.dtype == y.dtype
    np.testing.assert_allclose(y.grad.numpy(), t_y.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(g_graph.numpy(), t_y.grad.numpy(), rtol=1e-6)
