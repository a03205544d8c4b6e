"""Review of gg.cuda.graphed on the CPU as a PyTorch user would train with it: each case runs the same
steps eagerly and graphed, and requires the graphed run to give the eager bits, or to fall back to
eager with one warning (gpugrad/cpu_graph.py's promise: never a silent wrong answer)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import gpugrad as gg
import gpugrad.nn.functional as F
from gpugrad import cpu_graph


def _bits(a):
    return np.ascontiguousarray(a).view(np.uint8).tobytes()


def _batches(n, dtype=None, seed=1):
    rng = np.random.default_rng(seed)
    return [(gg.tensor(rng.standard_normal((5, 6)), dtype=dtype) if dtype else gg.tensor(rng.standard_normal((5, 6))),
             gg.tensor(rng.integers(0, 3, 5))) for _ in range(n)]


def _train(graphed, make_opt, n=8, between=None, dtype=None):
    """n steps of a small MLP; ``between(i, model, opt)`` runs before call i (a user's loop body).
    Returns (loss bits per call, parameter bits, RuntimeWarnings raised)."""
    gg.manual_seed(0)
    model = gg.nn.MLP([6, 8, 8, 3], activation="relu")
    if dtype is not None:
        model.to(dtype=dtype)
    opt = make_opt(model.parameters())

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    batches = _batches(n, dtype)
    fn = gg.cuda.graphed(step, *batches[0]) if graphed else step
    losses = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i, (x, y) in enumerate(batches):
            if between is not None:
                between(i, model, opt)
            losses.append(_bits(fn(x, y).numpy()))
    params = [_bits(p.numpy()) for p in model.parameters()]
    return losses, params, [w for w in caught if issubclass(w.category, RuntimeWarning)]


def _assert_eager_bits_or_one_warning(make_opt, between=None, n=8, dtype=None):
    e_loss, e_par, _ = _train(False, make_opt, n, between, dtype)
    g_loss, g_par, warned = _train(True, make_opt, n, between, dtype)
    assert len(warned) <= 1, [str(w.message) for w in warned]
    assert g_loss == e_loss, (f"losses differ from the eager run at calls "
                              f"{[i + 1 for i, (a, b) in enumerate(zip(e_loss, g_loss)) if a != b]}, "
                              f"warnings: {[str(w.message) for w in warned]}")
    assert g_par == e_par
    return warned


def _set_group(key, value, at):
    def between(i, model, opt):
        if i == at:
            for g in opt.param_groups:
                g[key] = value
    return between


@pytest.mark.parametrize("make_opt,key,value", [
    (lambda ps: gg.optim.SGD(ps, lr=0.1), "lr", 0.01),
    (lambda ps: gg.optim.SGD(ps, lr=0.1, momentum=0.9), "momentum", 0.1),
    (lambda ps: gg.optim.AdamW(ps, lr=1e-2), "weight_decay", 0.5),
    (lambda ps: gg.optim.Adam(ps, lr=1e-2), "betas", (0.5, 0.9)),
], ids=["sgd lr", "sgd momentum", "adamw weight_decay", "adam betas"])
def test_a_hyper_parameter_changed_after_replays_began_is_not_silently_frozen(make_opt, key, value):
    """A user changes a param group's value (by hand, or a scheduler stepped every few epochs) once
    the step replays (call 6): the replay must not keep the captured value silently."""
    warned = _assert_eager_bits_or_one_warning(make_opt, _set_group(key, value, at=5))
    assert len(warned) == 1


def test_a_scheduler_stepped_between_calls_gives_the_eager_bits_or_a_warning():
    """StepLR stepped before every call: the two captures differ, so the step runs eagerly (one warning)."""
    def between(i, model, opt):
        if i == 0:
            opt._sched = gg.optim.lr_scheduler.StepLR(opt, 1, gamma=0.5)
        else:
            opt._sched.step()
    warned = _assert_eager_bits_or_one_warning(lambda ps: gg.optim.SGD(ps, lr=0.1, momentum=0.9), between)
    assert len(warned) == 1


def test_adam_after_a_fallback_keeps_the_eager_bits():
    """A fallback found at the second capture (the lr moved) leaves Adam's step count a 0-d array; the
    eager steps that follow must still give the bits of a never-graphed run."""
    def between(i, model, opt):
        if i:
            for g in opt.param_groups:
                g["lr"] *= 0.5
    _assert_eager_bits_or_one_warning(lambda ps: gg.optim.Adam(ps, lr=1e-2), between)


def test_a_parameter_frozen_after_replays_began_is_not_silently_updated():
    """requires_grad_(False) on a parameter once the step replays: eagerly it gets no .grad and the
    optimizer skips it; the replay must not keep updating it silently."""
    def between(i, model, opt):
        if i == 5:
            next(iter(model.parameters())).requires_grad_(False)
    warned = _assert_eager_bits_or_one_warning(lambda ps: gg.optim.SGD(ps, lr=0.1, momentum=0.9), between)
    assert len(warned) == 1


@pytest.mark.parametrize("make_opt", [
    lambda ps: gg.optim.Adam(ps, lr=1e-2),
    lambda ps: gg.optim.AdamW(ps, lr=1e-2, amsgrad=True),
], ids=["adam", "adamw amsgrad"])
def test_float64_adam_replays_keep_the_eager_bits_for_many_steps(make_opt):
    """Adam's bias corrections beta ** step: eagerly Python's float ** int (C pow), on replay NumPy's
    power on the 0-d step array, which differs in the last bit for some steps (beta1=0.9: step 12;
    beta2=0.999: step 7). float32 parameters round it away; float64 ones must not diverge."""
    _assert_eager_bits_or_one_warning(make_opt, n=16, dtype=gg.float64)


def test_an_exception_inside_a_capture_leaves_numpy_and_tensors_plain():
    """The step raises during the first capture (call 2): the exception reaches the caller, NumPy's
    functions and every tensor's and optimizer state's arrays are plain again, and later calls
    still capture and replay the eager bits."""
    gg.manual_seed(0)
    model = gg.nn.MLP([6, 8, 3])
    opt = gg.optim.Adam(model.parameters(), lr=1e-2)
    calls = [0]
    zeros = np.zeros

    def step(x, y):
        calls[0] += 1
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        if calls[0] == 2:
            raise KeyError("data loader broke")
        opt.step()
        return loss

    batches = _batches(7)
    fast = gg.cuda.graphed(step, *batches[0])
    fast(*batches[0])
    with pytest.raises(KeyError):
        fast(*batches[1])
    assert np.zeros is zeros and cpu_graph._active is None
    for p in model.parameters():
        assert type(p._data) is np.ndarray and type(p.grad._data) is np.ndarray
    for s in opt.state.values():
        assert all(not isinstance(v, cpu_graph._Traced) for v in s.values())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for x, y in batches[2:]:
            fast(x, y)
    assert fast._replay is not None


def test_optimizer_load_state_dict_after_replays_began_is_not_silently_lost():
    """opt.load_state_dict (here its own state_dict: a checkpoint resumed in place) puts new arrays in
    the optimizer's state; a replay writing the old ones would leave them stale."""
    def between(i, model, opt):
        if i == 5:
            opt.load_state_dict(opt.state_dict())
    warned = _assert_eager_bits_or_one_warning(lambda ps: gg.optim.Adam(ps, lr=1e-2), between)
    assert len(warned) == 1
