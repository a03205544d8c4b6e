"""gg.optim.lr_scheduler against torch.optim.lr_scheduler: the same lr sequence, step by step, for
every scheduler, over several param groups (one of them added after the scheduler was built),
plus state_dict round trips through gg.save and the errors. Needs PyTorch for the comparisons."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import gpugrad as gg
from gpugrad import optim
from gpugrad.optim import lr_scheduler

try:
    import torch
except ImportError:  # the comparisons skip; the tests of gpugrad alone still run
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="the scheduler conformance tests compare with PyTorch")

STEPS = 40

# (name, optimizer kind, factory(lr_scheduler module, optimizer) -> scheduler)
SCHEDULES = [
    ("lambda", "sgd", lambda m, o: m.LambdaLR(o, lambda e: 0.95 ** e + 0.01 * (e % 3))),
    ("multiplicative", "sgd", lambda m, o: m.MultiplicativeLR(o, lambda e: 0.9 if e % 2 else 0.97)),
    ("step", "sgd", lambda m, o: m.StepLR(o, step_size=3, gamma=0.5)),
    ("multistep", "sgd", lambda m, o: m.MultiStepLR(o, milestones=[2, 5, 5, 11], gamma=0.3)),
    ("exponential", "sgd", lambda m, o: m.ExponentialLR(o, gamma=0.93)),
    ("linear", "sgd", lambda m, o: m.LinearLR(o, start_factor=0.2, end_factor=0.9, total_iters=7)),
    ("cosine", "sgd", lambda m, o: m.CosineAnnealingLR(o, T_max=9, eta_min=0.001)),  # past T_max too
    ("onecycle-sgd", "sgd", lambda m, o: m.OneCycleLR(o, max_lr=[0.5, 0.2], total_steps=STEPS + 1)),
    ("onecycle-adam-linear-3phase", "adam",
     lambda m, o: m.OneCycleLR(o, max_lr=0.3, epochs=4, steps_per_epoch=11, pct_start=0.25,
                               anneal_strategy="linear", three_phase=True)),
    ("sequential", "sgd", lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.1, total_iters=4), m.ExponentialLR(o, gamma=0.9),
            m.CosineAnnealingLR(o, T_max=6)], milestones=[5, 12])),
    # -- issue 25 ---------------------------------------------------------------------------------
    ("constant", "sgd", lambda m, o: m.ConstantLR(o, factor=0.25, total_iters=6)),
    ("polynomial", "sgd", lambda m, o: m.PolynomialLR(o, total_iters=17, power=1.7)),
    ("warm-restarts", "sgd", lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=5, eta_min=0.001)),
    ("warm-restarts-tmult", "adam", lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2)),
    ("cyclic-triangular-sgd", "sgd", lambda m, o: m.CyclicLR(o, base_lr=[0.01, 0.001], max_lr=0.1,
                                                            step_size_up=4, step_size_down=7)),
    ("cyclic-triangular2-adam", "adam", lambda m, o: m.CyclicLR(o, base_lr=0.001, max_lr=[0.1, 0.05],
                                                               step_size_up=3, mode="triangular2",
                                                               base_momentum=0.7, max_momentum=0.95)),
    ("cyclic-exp-range", "sgd", lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=0.2, step_size_up=5,
                                                       mode="exp_range", gamma=0.97, cycle_momentum=False)),
    ("cyclic-scale-fn", "sgd", lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=0.2, step_size_up=2,
                                                      scale_fn=lambda x: 1 / (1 + x), scale_mode="iterations")),
    ("chained", "sgd", lambda m, o: m.ChainedScheduler([m.ConstantLR(o, factor=0.1, total_iters=3),
                                                        m.ExponentialLR(o, gamma=0.9)])),
    ("chained-cosine-poly", "adam", lambda m, o: m.ChainedScheduler([m.CosineAnnealingLR(o, T_max=7),
                                                                     m.PolynomialLR(o, total_iters=30)], o)),
]


def _optimizer(lib, kind, lrs=(0.1, 0.02)):
    """An optimizer of ``lib`` (torch or gg) with one group per lr (no gradients: step() is a no-op)."""
    params = [lib.nn.Parameter(lib.ones(2)) for _ in lrs]
    groups = [{"params": [p], "lr": lr} for p, lr in zip(params, lrs)]
    if kind == "sgd":
        return lib.optim.SGD(groups, lr=0.1, momentum=0.9)
    return lib.optim.Adam(groups, lr=0.1)


def _trace(lib, kind, factory, steps=STEPS, add_group_at=None):
    opt = _optimizer(lib, kind)
    sched = factory(lib.optim.lr_scheduler, opt)
    out = [list(sched.get_last_lr())]
    for t in range(steps):
        if t == add_group_at:
            opt.add_param_group({"params": [lib.nn.Parameter(lib.ones(1))], "lr": 0.3})
        opt.step()
        sched.step()
        extra = [g.get("momentum", g.get("betas", (None,))[0]) for g in opt.param_groups]
        out.append(list(sched.get_last_lr()) + [g["lr"] for g in opt.param_groups] + extra)
    return out


def _compare(got, want):
    assert len(got) == len(want)
    for t, (a, b) in enumerate(zip(got, want)):
        assert len(a) == len(b), f"step {t}: {a} vs {b}"
        np.testing.assert_allclose(np.array(a, dtype=float), np.array(b, dtype=float), rtol=1e-12, atol=1e-15,
                                   err_msg=f"step {t}")


@needs_torch
@pytest.mark.parametrize("name, kind, factory", SCHEDULES, ids=[s[0] for s in SCHEDULES])
def test_lr_sequence_matches_pytorch(name, kind, factory):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = _trace(torch, kind, factory)
    _compare(_trace(gg, kind, factory), want)


# The chainable schedules follow a group added mid-run in PyTorch too; compare those. (PyTorch's
# MultiplicativeLR keeps one lambda per group from construction and raises on the new group;
# gpugrad applies the single lambda to it: test_every_scheduler_applies_to_groups_added_later.)
CHAINABLE = [s for s in SCHEDULES if s[0] in ("step", "multistep", "exponential",
                                              "linear", "cosine", "constant", "polynomial", "chained")]


@needs_torch
@pytest.mark.parametrize("add_at", [0, 6])
@pytest.mark.parametrize("name, kind, factory", CHAINABLE, ids=[s[0] for s in CHAINABLE])
def test_group_added_later_is_scheduled_like_pytorch(name, kind, factory, add_at):
    # PyTorch's cosine raises at its restart (epoch T_max + 1) when a group was added: stop before
    steps = 9 if name == "cosine" else STEPS
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = _trace(torch, kind, factory, steps=steps, add_group_at=add_at)
    _compare(_trace(gg, kind, factory, steps=steps, add_group_at=add_at), want)


def test_issue_10_kind_8_step_lr_applies_to_a_group_added_later():
    """The issue's case: SGD([a], lr=1), StepLR(1, 0.5), add a group with lr 0.2, two steps:
    PyTorch gives [0.25, 0.05] (gpugrad used to give [0.25, 0.2])."""
    a, b = gg.nn.Parameter(gg.ones(1)), gg.nn.Parameter(gg.ones(1))
    opt = optim.SGD([a], lr=1.0)
    sched = lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    opt.add_param_group({"params": [b], "lr": 0.2})
    sched.step(), sched.step()
    assert sched.get_last_lr() == [0.25, 0.05]
    assert [g["lr"] for g in opt.param_groups] == [0.25, 0.05]


@pytest.mark.parametrize("make, lr_of_new", [
    (lambda o: lr_scheduler.LambdaLR(o, lambda e: 0.5 ** e), lambda e: 0.3 * 0.5 ** e),
    (lambda o: lr_scheduler.MultiplicativeLR(o, lambda e: 0.5), lambda e: 0.3 * 0.5 ** (e - 3)),
    (lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=10),
     lambda e: 0.3 * (1 + math.cos(math.pi * e / 10)) / (1 + math.cos(math.pi * 3 / 10))),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=20, cycle_momentum=False), None),
])
def test_every_scheduler_applies_to_groups_added_later(make, lr_of_new):
    """Groups added after 3 steps are scheduled from their own lr (LambdaLR: from it as initial_lr)."""
    opt = optim.SGD([gg.nn.Parameter(gg.ones(1))], lr=0.1, momentum=0.9)
    sched = make(opt)
    for _ in range(3):
        sched.step()
    opt.add_param_group({"params": [gg.nn.Parameter(gg.ones(1))], "lr": 0.3})
    for e in range(4, 9):
        sched.step()
        new = opt.param_groups[1]["lr"]
        if lr_of_new is not None:
            assert new == pytest.approx(lr_of_new(e), rel=1e-12)
        else:  # OneCycleLR: the new group follows the same cycle as the first (same max_lr)
            assert new == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12)
        assert len(sched.get_last_lr()) == 2


def test_per_group_lambdas_refuse_an_unmatched_new_group():
    opt = optim.SGD([gg.nn.Parameter(gg.ones(1))], lr=0.1)
    sched = lr_scheduler.LambdaLR(opt, [lambda e: 1.0])
    opt.add_param_group({"params": [gg.nn.Parameter(gg.ones(1))]})
    with pytest.raises(ValueError, match="2 param groups but 1 lr_lambdas"):
        sched.step()
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.1]     # nothing half-changed


METRICS = [1.0, 0.9, 0.95, 0.95, 0.94, 0.96, 0.97, 0.8, 0.81, 0.82, 0.83, 0.84, 0.85, 0.86, 0.9, 0.7,
           0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.69999, 0.6]


@needs_torch
@pytest.mark.parametrize("kwargs", [
    dict(patience=2), dict(mode="max", factor=0.5, patience=1, cooldown=2),
    dict(threshold_mode="abs", threshold=0.02, patience=1, min_lr=[0.05, 0.001]),
    dict(patience=0, factor=0.5, min_lr=0.004, eps=1e-4)], ids=["min", "max-cooldown", "abs-minlrs", "eps"])
def test_reduce_on_plateau_matches_pytorch(kwargs):
    def trace(lib, add_at=None):
        opt = _optimizer(lib, "sgd")
        sched = lib.optim.lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
        out = []
        for t, m in enumerate(METRICS):
            if t == add_at:
                opt.add_param_group({"params": [lib.nn.Parameter(lib.ones(1))], "lr": 0.3})
            opt.step()
            sched.step(m)
            out.append(list(sched.get_last_lr()) + [sched.num_bad_epochs, sched.cooldown_counter])
        return out
    _compare(trace(gg), trace(torch))
    if not isinstance(kwargs.get("min_lr"), list):
        _compare(trace(gg, add_at=5), trace(torch, add_at=5))
    # a 0-d tensor works as the metric, as in PyTorch
    opt = _optimizer(gg, "sgd")
    lr_scheduler.ReduceLROnPlateau(opt).step(gg.tensor(0.5))


@pytest.mark.parametrize("name, kind, factory", SCHEDULES, ids=[s[0] for s in SCHEDULES])
def test_state_dict_resume_through_a_file_continues_exactly(tmp_path, name, kind, factory):
    """Run 15 steps, gg.save optimizer + scheduler state, resume in fresh objects: the remaining rates
    are those of the uninterrupted run, bit for bit."""
    straight = _trace(gg, kind, factory, steps=30)
    opt = _optimizer(gg, kind)
    sched = factory(lr_scheduler, opt)
    for _ in range(15):
        sched.step()
    gg.save({"opt": opt.state_dict(), "sched": sched.state_dict()}, tmp_path / "s.npz")
    saved = gg.load(tmp_path / "s.npz")
    opt2 = _optimizer(gg, kind)
    sched2 = factory(lr_scheduler, opt2)
    opt2.load_state_dict(saved["opt"])
    sched2.load_state_dict(saved["sched"])
    assert sched2.get_last_lr() == straight[15][:2]
    for t in range(16, 31):
        sched2.step()
        extra = [g.get("momentum", g.get("betas", (None,))[0]) for g in opt2.param_groups]
        assert list(sched2.get_last_lr()) + [g["lr"] for g in opt2.param_groups] + extra == straight[t]


def test_loading_the_scheduler_alone_restores_the_rates():
    opt = _optimizer(gg, "sgd")
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    for _ in range(4):
        sched.step()
    opt2 = _optimizer(gg, "sgd")
    sched2 = lr_scheduler.CosineAnnealingLR(opt2, T_max=10)
    sched2.load_state_dict(sched.state_dict())
    assert [g["lr"] for g in opt2.param_groups] == [g["lr"] for g in opt.param_groups]
    sched.step(), sched2.step()
    assert sched2.get_last_lr() == sched.get_last_lr()


def test_bad_arguments():
    opt = _optimizer(gg, "sgd")
    with pytest.raises(TypeError, match="StepLR: expected a gpugrad Optimizer"):
        lr_scheduler.StepLR(object(), 1)
    with pytest.raises(ValueError, match="lr_lambda has 3 values but the optimizer has 2 param groups"):
        lr_scheduler.LambdaLR(opt, [lambda e: 1] * 3)
    with pytest.raises(ValueError, match="OneCycleLR: give total_steps"):
        lr_scheduler.OneCycleLR(opt, max_lr=1.0)
    sched = lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=2)
    sched.step(), sched.step()
    with pytest.raises(ValueError, match="stepped 3 times but total_steps is 2"):
        sched.step()
    with pytest.raises(ValueError, match="2 schedulers need 1 milestones"):
        lr_scheduler.SequentialLR(opt, [lr_scheduler.StepLR(opt, 1), lr_scheduler.StepLR(opt, 1)], [])
    with pytest.raises(ValueError, match="different optimizer"):
        lr_scheduler.SequentialLR(opt, [lr_scheduler.StepLR(_optimizer(gg, "sgd"), 1)], [])
    with pytest.raises(ValueError, match="factor must be < 1"):
        lr_scheduler.ReduceLROnPlateau(opt, factor=1.5)
    with pytest.raises(ValueError, match="unknown entry 'T_max'"):
        lr_scheduler.StepLR(opt, 1).load_state_dict(lr_scheduler.CosineAnnealingLR(opt, 3).state_dict())
    with pytest.raises(KeyError, match="no 'initial_lr'"):
        lr_scheduler.StepLR(_optimizer(gg, "sgd"), 1, last_epoch=3)


def test_reduce_on_plateau_state_round_trips_through_a_file(tmp_path):
    def run(split=None):
        opt = _optimizer(gg, "sgd")
        sched = lr_scheduler.ReduceLROnPlateau(opt, patience=1, cooldown=1, factor=0.5)
        out = []
        for t, m in enumerate(METRICS):
            if t == split:
                gg.save({"o": opt.state_dict(), "s": sched.state_dict()}, tmp_path / "p.npz")
                saved = gg.load(tmp_path / "p.npz")
                opt = _optimizer(gg, "sgd")
                opt.load_state_dict(saved["o"])
                sched = lr_scheduler.ReduceLROnPlateau(opt)
                sched.load_state_dict(saved["s"])
            sched.step(m)
            out.append(sched.get_last_lr())
        return out
    assert run(split=9) == run()


@needs_torch
def test_step_with_an_epoch_uses_the_closed_form_like_pytorch():
    def trace(lib):
        opt = _optimizer(lib, "sgd")
        sched = lib.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
        out = []
        for e in (3, 7, 1, 4):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sched.step(e)
            out.append(list(sched.get_last_lr()))
        return out
    _compare(trace(gg), trace(torch))


@needs_torch
@pytest.mark.parametrize("t_mult", [1, 2, 3])
def test_warm_restarts_with_fractional_epochs_match_pytorch(t_mult):
    """PyTorch's documented per-batch use: scheduler.step(epoch + i / iters), then a jump back."""
    def trace(lib):
        opt = _optimizer(lib, "sgd")
        sched = lib.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=3, T_mult=t_mult, eta_min=0.01)
        out = []
        for epoch in range(12):
            for i in range(5):
                sched.step(epoch + i / 5)
                out.append(list(sched.get_last_lr()) + [sched.T_cur, sched.T_i, sched.last_epoch])
        sched.step(2.5)
        sched.step()
        out.append(list(sched.get_last_lr()) + [sched.T_cur, sched.T_i, sched.last_epoch])
        return out
    _compare(trace(gg), trace(torch))


@needs_torch
@pytest.mark.parametrize("make", [
    lambda m, o: m.ConstantLR(o, factor=0.5, total_iters=4),
    lambda m, o: m.PolynomialLR(o, total_iters=6, power=2.0),
    lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=3),
])
def test_new_schedulers_step_with_an_epoch_like_pytorch(make):
    def trace(lib):
        opt = _optimizer(lib, "sgd")
        sched = make(lib.optim.lr_scheduler, opt)
        out = []
        for e in (3, 7, 1, 4, 9):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sched.step(e)
            out.append(list(sched.get_last_lr()))
        return out
    _compare(trace(gg), trace(torch))


def test_new_schedulers_bad_arguments():
    opt = _optimizer(gg, "sgd")
    with pytest.raises(ValueError, match="ConstantLR: factor must be in"):
        lr_scheduler.ConstantLR(opt, factor=1.5)
    with pytest.raises(ValueError, match="T_0 must be a positive integer"):
        lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=0)
    with pytest.raises(ValueError, match="T_mult must be an integer >= 1"):
        lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=1.5)
    with pytest.raises(ValueError, match="epoch must be >= 0"):
        lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=2).step(-1)
    with pytest.raises(ValueError, match="CyclicLR: mode must be"):
        lr_scheduler.CyclicLR(opt, 0.01, 0.1, mode="square")
    with pytest.raises(ValueError, match="max_lr has 3 values but the optimizer has 2 param groups"):
        lr_scheduler.CyclicLR(opt, 0.01, [0.1] * 3)
    plain = gg.optim.Adagrad([gg.nn.Parameter(gg.ones(1))])
    with pytest.raises(ValueError, match="cycle_momentum=True needs an optimizer with momentum or betas"):
        lr_scheduler.CyclicLR(plain, 0.01, 0.1)
    with pytest.raises(ValueError, match="ChainedScheduler: schedulers\\[0\\] is a ReduceLROnPlateau"):
        lr_scheduler.ChainedScheduler([lr_scheduler.ReduceLROnPlateau(opt)])
    with pytest.raises(ValueError, match="drives a different optimizer"):
        lr_scheduler.ChainedScheduler([lr_scheduler.StepLR(opt, 1), lr_scheduler.StepLR(_optimizer(gg, "sgd"), 1)])
    cyc = lr_scheduler.CyclicLR(opt, 0.01, 0.1)
    opt.add_param_group({"params": [gg.nn.Parameter(gg.ones(1))], "lr": 0.3})
    with pytest.raises(ValueError, match="CyclicLR: the optimizer now has 3 param groups"):
        cyc.step()
