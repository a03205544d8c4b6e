"""gg.optim against reference formulas in NumPy float64: SGD (momentum, dampening, Nesterov,
weight decay), Adam and AdamW (bias correction, decoupled decay), the schedules, clip_grad_norm_,
in-place updates, and state_dict round trips. Runs on every device."""
from __future__ import annotations

import math

import numpy as np
import pytest

import gpugrad as gg
from gpugrad import optim
from gpugrad.optim import lr_scheduler

STEPS = 5
SHAPES = [(3, 4), (5,)]


def host(t):
    return np.asarray(t.numpy(), dtype=np.float64)


def grads_for(step):
    rng = np.random.default_rng(100 + step)
    return [rng.standard_normal(s) for s in SHAPES]


def make_params(device, dtype="float64"):
    rng = np.random.default_rng(0)
    return [gg.nn.Parameter(gg.tensor(rng.standard_normal(s), dtype=dtype, device=device)) for s in SHAPES]


def run(opt_factory, device, dtype="float64", steps=STEPS):
    params = make_params(device, dtype)
    opt = opt_factory(params)
    storage = [p._data for p in params]
    for t in range(steps):
        for p, g in zip(params, grads_for(t)):
            p.grad = gg.tensor(g, dtype=dtype, device=device)
        opt.step()
    assert all(p._data is s for p, s in zip(params, storage)), "updates must be in place"
    return [host(p) for p in params]


# -- reference formulas (PyTorch's documented updates), float64 --------------------------------
def ref_sgd(lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, steps=STEPS):
    rng = np.random.default_rng(0)
    ps = [rng.standard_normal(s) for s in SHAPES]
    bufs = [None] * len(ps)
    for t in range(steps):
        for i, g in enumerate(grads_for(t)):
            d = g + weight_decay * ps[i]
            if momentum:
                bufs[i] = d.copy() if bufs[i] is None else momentum * bufs[i] + (1 - dampening) * d
                d = d + momentum * bufs[i] if nesterov else bufs[i]
            ps[i] = ps[i] - lr * d
    return ps


def ref_adam(lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False, steps=STEPS):
    rng = np.random.default_rng(0)
    ps = [rng.standard_normal(s) for s in SHAPES]
    m = [np.zeros(s) for s in SHAPES]
    v = [np.zeros(s) for s in SHAPES]
    b1, b2 = betas
    for t in range(1, steps + 1):
        for i, g in enumerate(grads_for(t - 1)):
            if decoupled:
                ps[i] = ps[i] * (1 - lr * weight_decay)
            else:
                g = g + weight_decay * ps[i]
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            m_hat = m[i] / (1 - b1 ** t)
            v_hat = v[i] / (1 - b2 ** t)
            ps[i] = ps[i] - lr * m_hat / (np.sqrt(v_hat) + eps)
    return ps


CASES = [
    ("sgd plain", lambda p: optim.SGD(p, lr=0.1), lambda: ref_sgd(0.1)),
    ("sgd momentum", lambda p: optim.SGD(p, lr=0.1, momentum=0.9), lambda: ref_sgd(0.1, 0.9)),
    ("sgd dampening", lambda p: optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.3),
     lambda: ref_sgd(0.1, 0.9, dampening=0.3)),
    ("sgd nesterov", lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
     lambda: ref_sgd(0.1, 0.9, nesterov=True)),
    ("sgd weight decay", lambda p: optim.SGD(p, lr=0.1, momentum=0.5, weight_decay=0.01),
     lambda: ref_sgd(0.1, 0.5, weight_decay=0.01)),
    ("adam", lambda p: optim.Adam(p, lr=0.01), lambda: ref_adam(0.01)),
    ("adam betas eps", lambda p: optim.Adam(p, lr=0.05, betas=(0.8, 0.99), eps=1e-3),
     lambda: ref_adam(0.05, (0.8, 0.99), 1e-3)),
    ("adam l2", lambda p: optim.Adam(p, lr=0.01, weight_decay=0.1),
     lambda: ref_adam(0.01, weight_decay=0.1)),
    ("adamw", lambda p: optim.AdamW(p, lr=0.01, weight_decay=0.1),
     lambda: ref_adam(0.01, weight_decay=0.1, decoupled=True)),
]


@pytest.mark.parametrize("name, factory, reference", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_update_matches_formula(device, name, factory, reference, dtype):
    got = run(factory, device, dtype)
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == "float64" else dict(rtol=2e-5, atol=2e-6)
    for a, b in zip(got, reference()):
        np.testing.assert_allclose(a, b, **tol)


def test_adam_first_step_is_lr_times_sign():
    # With bias correction the first Adam step is lr * g / (|g| + eps'): about lr per coordinate.
    p = gg.nn.Parameter(gg.tensor([1.0, -2.0, 3.0], dtype="float64"))
    p.grad = gg.tensor([0.5, -4.0, 1e-3], dtype="float64")
    optim.Adam([p], lr=0.1, eps=0.0).step()
    np.testing.assert_allclose(host(p), [0.9, -1.9, 2.9], rtol=1e-12)


def test_adamw_default_weight_decay_and_state():
    p = gg.nn.Parameter(gg.ones(2))
    opt = optim.AdamW([p])
    assert opt.param_groups[0]["weight_decay"] == 1e-2
    opt.step()                      # no grad yet: nothing happens
    assert opt.state == {} and np.all(host(p) == 1)


def test_params_without_grad_are_skipped_and_zero_grad():
    a, b = gg.nn.Parameter(gg.ones(2)), gg.nn.Parameter(gg.ones(2))
    a.grad = gg.ones(2)
    opt = optim.SGD([a, b], lr=0.5)
    opt.step()
    assert np.all(host(a) == 0.5) and np.all(host(b) == 1)
    opt.zero_grad(set_to_none=False)
    assert np.all(host(a.grad) == 0)
    opt.zero_grad()
    assert a.grad is None


def test_bad_arguments():
    p = [gg.nn.Parameter(gg.ones(2))]
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="nesterov"):
        optim.SGD(p, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="betas"):
        optim.Adam(p, betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="requires_grad=True"):
        optim.SGD([gg.ones(2)], lr=0.1)
    with pytest.warns(UserWarning, match="duplicate parameters"):     # PyTorch warns too
        assert len(optim.SGD(p + p, lr=0.1).param_groups[0]["params"]) == 1
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": p}, {"params": p}], lr=0.1)


@pytest.mark.parametrize("factory", [lambda p: optim.SGD(p, lr=0.1, momentum=0.9),
                                     lambda p: optim.Adam(p, lr=0.01),
                                     lambda p: optim.AdamW(p, lr=0.01)], ids=["sgd", "adam", "adamw"])
def test_state_dict_resume_is_exact(device, factory, tmp_path):
    """Steps 0-2, save, a fresh optimizer loads it, steps 3-4: the same as 5 straight steps."""
    straight = run(factory, device, "float32")
    params = make_params(device, "float32")
    opt = factory(params)
    for t in range(3):
        for p, g in zip(params, grads_for(t)):
            p.grad = gg.tensor(g, device=device)
        opt.step()
    gg.save({"opt": opt.state_dict(), "params": [p.detach() for p in params]}, tmp_path / "o.npz")
    saved = gg.load(tmp_path / "o.npz")
    params2 = make_params(device, "float32")
    for p, s in zip(params2, saved["params"]):
        p._data[...] = s._data
    opt2 = factory(params2)
    opt2.load_state_dict(saved["opt"])
    for t in range(3, STEPS):
        for p, g in zip(params2, grads_for(t)):
            p.grad = gg.tensor(g, device=device)
        opt2.step()
    for a, b in zip(straight, params2):
        assert np.array_equal(a, host(b))


def test_load_state_dict_rejects_mismatch():
    opt = optim.Adam([gg.nn.Parameter(gg.ones(2))])
    other = optim.Adam([gg.nn.Parameter(gg.ones(3))])
    other.param_groups[0]["params"][0].grad = gg.ones(3)
    other.step()
    with pytest.raises(ValueError, match="shape"):
        opt.load_state_dict(other.state_dict())
    two = optim.Adam([gg.nn.Parameter(gg.ones(2)), gg.nn.Parameter(gg.ones(2))])
    with pytest.raises(ValueError, match="group 0 holds 2"):
        opt.load_state_dict(two.state_dict())


# -- schedules ------------------------------------------------------------------------------------
def _lrs(sched_factory, epochs, base=0.1):
    opt = optim.SGD([gg.nn.Parameter(gg.ones(1))], lr=base)
    sched = sched_factory(opt)
    out = []
    for _ in range(epochs):
        out.append(opt.param_groups[0]["lr"])
        sched.step()
    return out, sched, opt


def test_cosine_schedule_matches_formula():
    lrs, _, _ = _lrs(lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=0.01), 11)
    ref = [0.01 + (0.1 - 0.01) * (1 + math.cos(math.pi * t / 10)) / 2 for t in range(11)]
    np.testing.assert_allclose(lrs, ref, rtol=1e-15)
    assert lrs[0] == 0.1 and lrs[10] == pytest.approx(0.01)


def test_step_schedule_matches_formula():
    lrs, _, _ = _lrs(lambda o: lr_scheduler.StepLR(o, step_size=3, gamma=0.5), 10)
    np.testing.assert_allclose(lrs, [0.1 * 0.5 ** (t // 3) for t in range(10)], rtol=1e-15)


def test_schedule_state_dict_round_trip():
    _, sched, opt = _lrs(lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=10), 4)
    opt2 = optim.SGD([gg.nn.Parameter(gg.ones(1))], lr=0.1)
    sched2 = lr_scheduler.CosineAnnealingLR(opt2, T_max=10)
    sched2.load_state_dict(sched.state_dict())
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    sched.step(), sched2.step()
    assert sched2.get_last_lr() == sched.get_last_lr()


# -- clipping ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf")])
def test_clip_grad_norm(device, max_norm, norm_type):
    params = make_params(device, "float64")
    gs = grads_for(0)
    for p, g in zip(params, gs):
        p.grad = gg.tensor(g, dtype="float64", device=device)
    flat = np.concatenate([g.ravel() for g in gs])
    ref = np.linalg.norm(flat, ord=norm_type)
    total = optim.clip_grad_norm_(params, max_norm, norm_type=norm_type)
    assert float(total) == pytest.approx(ref, rel=1e-12)
    scale = min(1.0, max_norm / (ref + 1e-6))
    for p, g in zip(params, gs):
        np.testing.assert_allclose(host(p.grad), g * scale, rtol=1e-12)
    after = np.linalg.norm(np.concatenate([host(p.grad).ravel() for p in params]), ord=norm_type)
    assert after <= max_norm * (1 + 1e-6) or scale == 1.0


def test_clip_grad_norm_nonfinite():
    p = gg.nn.Parameter(gg.ones(2))
    p.grad = gg.tensor([float("inf"), 1.0])
    with pytest.raises(RuntimeError, match="total norm"):
        optim.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)


def test_adam_state_with_a_device_step_counter_round_trips():
    # On CUDA the step count lives on the device as a 1-element array (for CUDA-graph replay);
    # state_dict must store it as a plain count, and load_state_dict must accept it.
    p = gg.tensor([[1.0, -2.0, 3.0], [0.5, 0.25, -1.0]], requires_grad=True)
    opt = gg.optim.Adam([p], lr=0.1)
    (p * p).sum().backward()
    opt.step()
    opt.state[p]["step"] = np.full((1,), opt.state[p]["step"], dtype=np.int64)
    sd = opt.state_dict()
    assert sd["state"][0]["step"] == 1 and isinstance(sd["state"][0]["step"], int)
    q = gg.tensor(p.numpy(), requires_grad=True)
    opt2 = gg.optim.Adam([q], lr=0.1)
    opt2.load_state_dict(sd)
    assert opt2.state[q]["step"] == 1


def test_cuda_adam_moves_a_numpy_scalar_step_count_to_the_device(monkeypatch):
    # NumPy 2 scalars have a .device attribute too; the CUDA backend must still turn such a count
    # into a 1-element device array (advanced in place, so graph replays see it). NumPy stands in
    # for CuPy, and the fused kernel only records the step count it is given.
    import types

    from gpugrad.optim.adam import adam_update
    seen = []
    backend = types.SimpleNamespace(xp=np, fuses_elementwise=True,
                                    elementwise=lambda name: lambda g, step, *rest: seen.append(step.copy()))
    state = {"step": np.int64(3), "exp_avg": np.zeros(2), "exp_avg_sq": np.zeros(2)}
    for _ in range(2):
        adam_update(backend, np.zeros(2), np.ones(2), state, 0.1, 0.9, 0.999, 1e-8, 0.0, False)
    assert isinstance(state["step"], np.ndarray) and state["step"].tolist() == [5]
    assert [s.tolist() for s in seen] == [[4], [5]]
