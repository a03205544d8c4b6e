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


# -- nn.Embedding ------------------------------------------------------------------------------------
def test_embedding_gradient_accumulates_repeated_rows_and_skips_padding_as_pytorch():
    gg.manual_seed(0)
    emb = nn.Embedding(6, 3, padding_idx=1)
    assert np.all(emb.weight.numpy()[1] == 0)                      # the padding row starts at zero
    temb = torch.nn.Embedding(6, 3, padding_idx=1)
    with torch.no_grad():
        temb.weight.copy_(torch.from_numpy(emb.weight.numpy()))
    idx = np.array([[0, 1, 2, 2], [5, 2, 1, 0]])
    g = np.random.default_rng(1).standard_normal((2, 4, 3)).astype(np.float32)
    emb(gg.tensor(idx)).backward(gg.tensor(g))
    temb(torch.tensor(idx)).backward(torch.tensor(g))
    np.testing.assert_allclose(emb.weight.grad.numpy(), temb.weight.grad.numpy(), rtol=1e-6)
    assert np.all(emb.weight.grad.numpy()[1] == 0) and np.any(emb.weight.grad.numpy()[2] != 0)


def test_embedding_statistics_and_from_pretrained():
    gg.manual_seed(0)
    w = nn.Embedding(2000, 8).weight.numpy()
    assert abs(w.mean()) < 0.02 and abs(w.std() - 1) < 0.02         # N(0, 1), PyTorch's default
    pre = nn.Embedding.from_pretrained(gg.tensor([[1.0, 2.0], [3.0, 4.0]]))
    assert not pre.weight.requires_grad and pre(gg.tensor([1])).tolist() == [[3.0, 4.0]]
    assert nn.Embedding.from_pretrained(gg.ones(2, 2), freeze=False).weight.requires_grad
    assert "Embedding(6, 3, padding_idx=1)" in repr(nn.Embedding(6, 3, padding_idx=-5))


@pytest.mark.parametrize("bad, err, match", [
    (gg.tensor([0.0, 1.0]), TypeError, "integer tensor"),
    (gg.tensor([0, 6]), IndexError, r"\[0, 6\)"),
    (gg.tensor([-1]), IndexError, "out of range"),
])
def test_embedding_refuses_bad_indices_with_what_to_do(bad, err, match):
    with pytest.raises(err, match=match):
        nn.Embedding(6, 3)(bad)


def test_embedding_refuses_what_it_does_not_support():
    with pytest.raises(ValueError, match="max_norm"):
        nn.Embedding(4, 2, max_norm=1.0)
    with pytest.raises(ValueError, match="padding_idx"):
        nn.Embedding(4, 2, padding_idx=4)


# -- ordering and selection ---------------------------------------------------------------------------
def test_sort_is_stable_and_descending_keeps_the_order_of_ties():
    x = gg.tensor([2.0, 1.0, 2.0, 1.0, 3.0, 2.0])
    t = torch.tensor(x.numpy())
    for desc in (False, True):
        assert gg.sort(x, descending=desc).indices.tolist() == \
            torch.sort(t, descending=desc, stable=True).indices.tolist()
        assert gg.argsort(x, descending=desc).tolist() == torch.argsort(t, descending=desc, stable=True).tolist()


def test_sort_puts_nan_last_ascending_and_first_descending_as_pytorch():
    x = [1.0, float("nan"), -1.0]
    for desc in (False, True):
        got = gg.sort(gg.tensor(x), descending=desc)
        want = torch.sort(torch.tensor(x), descending=desc)
        np.testing.assert_array_equal(got.values.numpy(), want.values.numpy())
        assert got.indices.tolist() == want.indices.tolist()


def test_topk_gradient_reaches_only_the_selected_elements():
    x = gg.tensor([[0.5, 3.0, -1.0, 2.0]], requires_grad=True)
    values, indices = x.topk(2)
    values.sum().backward()
    assert indices.tolist() == [[1, 3]] and x.grad.tolist() == [[0.0, 1.0, 0.0, 1.0]]
    with pytest.raises(ValueError, match="k .5. out of range"):
        x.topk(5)


def test_gather_sums_the_gradient_of_repeated_indices_and_checks_its_index():
    x = gg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    out = gg.gather(x, 1, gg.tensor([[0, 0], [1, 0]]))
    assert out.tolist() == [[1.0, 1.0], [4.0, 3.0]]
    out.sum().backward()
    assert x.grad.tolist() == [[2.0, 0.0], [1.0, 1.0]]
    with pytest.raises(TypeError, match="index.long"):
        gg.gather(x, 1, gg.tensor([[0.0]]))
    with pytest.raises(IndexError, match="gather"):
        gg.gather(x, 1, gg.tensor([[2]]))


def test_split_chunk_unbind_return_pytorchs_pieces():
    x = gg.arange(10.0).reshape(5, 2)
    t = torch.arange(10.0).reshape(5, 2)
    for got, want in ((x.split(2), t.split(2)), (gg.split(x, [1, 4]), torch.split(t, [1, 4])),
                      (x.chunk(4), t.chunk(4)), (x.chunk(2, dim=1), t.chunk(2, dim=1)), (gg.unbind(x, 1), t.unbind(1))):
        assert [p.tolist() for p in got] == [p.tolist() for p in want]
    with pytest.raises(ValueError, match="add up to 5"):
        gg.split(x, [1, 2])


def test_unique_and_bincount_as_pytorch():
    x = gg.tensor([3, 1, 3, 0, 1, 3])
    vals, inv, counts = gg.unique(x, return_inverse=True, return_counts=True)
    tv, ti, tc = torch.unique(torch.tensor(x.numpy()), return_inverse=True, return_counts=True)
    assert (vals.tolist(), inv.tolist(), counts.tolist()) == (tv.tolist(), ti.tolist(), tc.tolist())
    assert gg.bincount(x, minlength=6).tolist() == torch.bincount(torch.tensor(x.numpy()), minlength=6).tolist()
    with pytest.raises(ValueError, match="non-negative"):
        gg.bincount(gg.tensor([-1, 2]))


# -- einsum, bmm, nan_to_num, full_like, clone ----------------------------------------------------------
def test_new_ops_refuse_mixed_dtypes_like_pytorch():
    a32, b64 = gg.ones(2, 2, dtype=gg.float32), gg.ones(2, 2, dtype=gg.float64)
    for fn in (lambda: gg.einsum("ij,jk->ik", a32, b64), lambda: gg.bmm(a32[None], b64[None]),
               lambda: F.prelu(a32, gg.ones(1, dtype=gg.float64)), lambda: F.cosine_similarity(a32, b64),
               lambda: F.kl_div(a32, b64, reduction="batchmean")):
        with pytest.raises(TypeError, match="float32.*float64|float64.*float32"):
            fn()
    with pytest.raises(RuntimeError):   # PyTorch refuses the same calls
        torch.einsum("ij,jk->ik", torch.ones(2, 2), torch.ones(2, 2, dtype=torch.float64))
    with pytest.raises(RuntimeError):
        torch.bmm(torch.ones(1, 2, 2), torch.ones(1, 2, 2, dtype=torch.float64))


def test_einsum_errors_name_the_equation():
    with pytest.raises(ValueError, match="size 2 in one operand and 3"):
        gg.einsum("ij,jk->ik", gg.ones(2, 2), gg.ones(3, 2))
    with pytest.raises(ValueError, match="2 operand"):
        gg.einsum("ij,jk->ik", gg.ones(2, 2))
    assert gg.einsum("ii", gg.eye(3)).item() == 3.0 and gg.einsum("ij->ji", [gg.ones(1, 2)]).shape == (2, 1)


def test_nan_to_num_full_like_clone():
    x = gg.tensor([float("nan"), float("inf"), -float("inf"), 1.5], requires_grad=True)
    y = gg.nan_to_num(x, nan=0.0, posinf=9.0)
    assert y.tolist()[:2] == [0.0, 9.0] and y.tolist()[2] == float(np.finfo(np.float32).min)
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.0, 1.0]
    f = gg.full_like(gg.ones(2, dtype=gg.float64), 7)
    assert f.dtype == gg.float64 and f.tolist() == [7.0, 7.0]
    c = gg.clone(x)
    assert c is not x and c.requires_grad and c.tolist()[3] == 1.5


# -- module forward hooks --------------------------------------------------------------------------
def test_forward_hooks_see_and_replace_inputs_and_outputs_and_remove():
    lin = nn.Linear(2, 2)
    seen = []
    h1 = lin.register_forward_pre_hook(lambda m, args: (args[0] * 0,))
    h2 = lin.register_forward_hook(lambda m, args, out: seen.append((m, out.shape)))
    h3 = lin.register_forward_hook(lambda m, args, out: out + 1)
    out = lin(gg.ones(3, 2))
    np.testing.assert_allclose(out.numpy(), np.broadcast_to(lin.bias.numpy() + 1, (3, 2)), rtol=1e-6)
    assert seen == [(lin, (3, 2))]
    for h in (h1, h2, h3):
        h.remove()
    h1.remove()                                       # again: a no-op, as PyTorch's handle
    np.testing.assert_allclose(lin(gg.ones(1, 2)).numpy(), (gg.ones(1, 2) @ lin.weight.T + lin.bias).numpy())
    assert len(seen) == 1 and "_forward_hooks" not in "".join(lin.state_dict())


def test_forward_hooks_order_kwargs_always_call_and_context_manager():
    class Echo(nn.Module):
        def forward(self, x, scale=1.0):
            if scale == 0:
                raise ValueError("no")
            return x * scale
    m, calls = Echo(), []
    m.register_forward_hook(lambda mod, a, o: calls.append("second"))
    m.register_forward_hook(lambda mod, a, o: calls.append("first"), prepend=True)
    m.register_forward_pre_hook(lambda mod, a, kw: (a, {"scale": 3.0}), with_kwargs=True)
    assert m(gg.ones(1), scale=2.0).tolist() == [3.0] and calls == ["first", "second"]
    m2 = Echo()
    m2.register_forward_hook(lambda mod, a, o: calls.append(("always", o)), always_call=True)
    with pytest.raises(ValueError, match="no"):
        m2(gg.ones(1), scale=0)
    assert calls[-1] == ("always", None)
    with m2.register_forward_hook(lambda mod, a, o: o * 10):
        assert m2(gg.ones(1)).tolist() == [10.0]
    assert m2(gg.ones(1)).tolist() == [1.0]


def test_the_hooks_match_pytorchs_for_a_feature_extraction_script():
    gg.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    tmodel = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    tmodel.load_state_dict({k: torch.from_numpy(v.numpy()) for k, v in model.state_dict().items()})
    feats, tfeats = {}, {}
    model[1].register_forward_hook(lambda m, a, o: feats.__setitem__("relu", o.detach()))
    tmodel[1].register_forward_hook(lambda m, a, o: tfeats.__setitem__("relu", o.detach()))
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    model(gg.tensor(x)), tmodel(torch.tensor(x))
    np.testing.assert_allclose(feats["relu"].numpy(), tfeats["relu"].numpy(), rtol=1e-5, atol=1e-6)


# -- PReLU, KLDivLoss, pad, normalize: the modules and their errors -------------------------------------
def test_prelu_module_matches_pytorch_and_learns_its_slope():
    m, tm = nn.PReLU(3), torch.nn.PReLU(3)
    x = np.random.default_rng(0).standard_normal((4, 3, 2)).astype(np.float32)
    out, tout = m(gg.tensor(x)), tm(torch.tensor(x))
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-6)
    out.sum().backward(), tout.sum().backward()
    np.testing.assert_allclose(m.weight.grad.numpy(), tm.weight.grad.numpy(), rtol=1e-5)
    with pytest.raises(ValueError, match="3 slopes"):
        m(gg.ones(2, 4))


def test_kl_div_loss_batchmean_and_log_target_match_pytorch():
    rng = np.random.default_rng(0)
    logq = np.log(rng.dirichlet(np.ones(4), 3)).astype(np.float32)
    p = rng.dirichlet(np.ones(4), 3).astype(np.float32)
    for kw in (dict(reduction="batchmean"), dict(reduction="sum"), dict(reduction="batchmean", log_target=True)):
        target = np.log(p) if kw.get("log_target") else p
        got = nn.KLDivLoss(**kw)(gg.tensor(logq), gg.tensor(target)).item()
        want = torch.nn.KLDivLoss(**kw)(torch.tensor(logq), torch.tensor(target)).item()
        assert got == pytest.approx(want, rel=1e-5)
    with pytest.raises(ValueError, match="batchmean"):
        nn.KLDivLoss(reduction="avg")


def test_pad_refuses_what_pytorch_refuses_with_the_reason():
    with pytest.raises(ValueError, match="smaller than the size"):
        F.pad(gg.ones(1, 2), (2, 0), mode="reflect")
    with pytest.raises(ValueError, match="2-D or 3-D"):
        F.pad(gg.ones(4), (1, 1), mode="replicate")
    with pytest.raises(ValueError, match="even length"):
        F.pad(gg.ones(4), (1,))
    assert F.pad(gg.ones(2), (1, -1), value=5.0).tolist() == [5.0, 1.0]


def test_normalize_and_cosine_similarity_are_finite_at_zero_vectors_in_float16():
    z = gg.zeros(2, 3, dtype=gg.float16, requires_grad=True)
    out = F.normalize(z, dim=1)
    assert out.dtype == gg.float16 and out.tolist() == [[0.0] * 3] * 2
    big = gg.full((1, 3), 300.0, dtype=gg.float16)   # 300^2 overflows float16; computed in float32 it does not
    np.testing.assert_allclose(F.normalize(big).numpy().astype(np.float64), 1 / np.sqrt(3), rtol=1e-3)
    cs = F.cosine_similarity(z, gg.ones(2, 3, dtype=gg.float16))
    assert cs.tolist() == [0.0, 0.0]
    (g,) = gg.grad(cs.sum(), [z])
    assert np.isfinite(g.numpy().astype(np.float32)).all() or g.dtype == gg.float16


def test_matrix_norms_that_need_an_svd_say_so():
    for ord in (2, -2, "nuc"):
        with pytest.raises(ValueError, match="singular values"):
            gg.linalg.matrix_norm(gg.ones(2, 2), ord=ord)
    assert gg.linalg.norm(gg.tensor([[1.0, -2.0], [3.0, 4.0]]), 1).item() == 6.0


def test_selu_and_celu_gradients_stay_finite_where_the_unused_exponential_overflows():
    for fn in (F.selu, lambda x: F.celu(x, 0.5)):
        x = gg.tensor([6.0, 20.0], dtype=gg.float16, requires_grad=True)
        (g,) = gg.grad(fn(x).sum(), [x])
        assert np.isfinite(g.numpy().astype(np.float32)).all()
