"""The op table's second-order column: for every op, the gradient of its VJP (create_graph=True)
checked by central differences in float64, as HIPS autograd's check_grads(order=2) and Chainer's
double-backward checks do, on every device, for contiguous and strided inputs."""
from __future__ import annotations

import numpy as np
import pytest

import gpugrad as gg
from helpers import make_input
from op_table import ALL, sample



def _zero_d_gradients_wrap_numpy_scalars() -> bool:
    """Issue 10 kind 4, fixed in the engine on its own branch: a 0-d gradient that wraps a NumPy
    scalar fails in .numpy() (which gradcheck reads). Until that fix is merged the 0-d rows of this
    column may fail (those whose VJP multiplies 0-d arrays); once it is, the probe is False and
    they run, unmarked, as every other row."""
    x = gg.tensor(2.0, requires_grad=True)
    try:
        gg.grad(x * x, x)[0].numpy()
    except ValueError:
        return True
    return False


_KIND4 = pytest.mark.xfail(_zero_d_gradients_wrap_numpy_scalars(), strict=False,
                           reason="issue 10 kind 4: 0-d gradients wrap NumPy scalars (engine fix pending)")
# The rows whose VJPs multiply 0-d NumPy arrays (which yields NumPy scalars) on the CPU.
_KIND4_OPS = {"exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "pow_scalar", "pow_half",
              "rdiv_scalar", "rpow_scalar", "mul", "div", "pow"}
CASES = [pytest.param(c, s, id=f"{c.name}-{'x'.join(map(str, s))}",
                      marks=[_KIND4] if () in s and c.name in _KIND4_OPS else [])
         for c in ALL if c.order2 for s in c.shapes]


def _first_order(case, seed):
    """x -> the VJPs of case.fn at x for a fixed upstream gradient, recorded (create_graph=True)."""
    def fn(*xs):
        # gradcheck's finite differences call fn on plain tensors: give those a graph to differentiate.
        xs = [x if x.requires_grad else x.detach().requires_grad_() for x in xs]
        out = case.fn(*xs)
        w = gg.tensor(np.random.default_rng(seed).standard_normal(out.shape), dtype=out.dtype,
                      device=out.device)
        grads = gg.grad(out, xs, grad_outputs=w, create_graph=True, allow_unused=True)
        # The zero-weighted anchor keeps the output tied to the inputs when the VJP is a constant
        # (a linear op): gradcheck then checks that its derivative is 0.
        anchor = sum((x * 0).sum() for x in xs)
        return [g + anchor if g is not None else anchor for g in grads]
    return fn


@pytest.mark.parametrize("contiguous", [True, False], ids=["contig", "strided"])
@pytest.mark.parametrize("case,shapes", CASES)
def test_second_order_gradcheck(case, shapes, contiguous, device):
    rng = np.random.default_rng(5)
    xs = [make_input(sample(s, case.domain, rng), device, contiguous) for s in shapes]
    assert gg.gradcheck(_first_order(case, seed=6), xs, eps=1e-6, atol=1e-6, rtol=1e-5)
