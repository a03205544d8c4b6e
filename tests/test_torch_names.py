"""Issue 25's names beyond the conformance table: behaviour PyTorch users rely on that a single
forward/VJP comparison does not show (errors, stability, hooks, modules, the all-ignored batch)."""
from __future__ import annotations

import numpy as np
import pytest

import gpugrad as gg
import gpugrad.nn as nn
import gpugrad.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def test_cross_entropy_of_a_batch_whose_targets_are_all_ignored_is_nan_with_zero_gradients_as_pytorch():
    for shape, tshape in (((3, 4), (3,)), ((2, 4, 3), (2, 3)), ((4,), ())):
        x = np.random.default_rng(0).standard_normal(shape)
        t = np.full(tshape, -100)
        xg = gg.tensor(x, dtype=gg.float64, requires_grad=True)
        xt = torch.tensor(x, requires_grad=True)
        for fn, tfn in ((F.cross_entropy, TF.cross_entropy), (F.nll_loss, TF.nll_loss)):
            lg, lt = fn(xg, gg.tensor(t)), tfn(xt, torch.tensor(t))
            assert np.isnan(lg.item()) and np.isnan(lt.item())
            (gx,), (tx,) = gg.grad(lg, [xg]), torch.autograd.grad(lt, [xt])
            np.testing.assert_array_equal(gx.numpy(), tx.numpy())   # zeros, not NaN
