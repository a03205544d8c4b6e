"""gg.cuda.graphed on the CPU: the step's NumPy calls captured and replayed into static buffers
(gpugrad/cpu_graph.py), with its safety net: a step it cannot replay exactly runs eagerly."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import gpugrad as gg
import gpugrad.nn.functional as F
from gpugrad import cpu_graph

OPTIMIZERS = {
    "sgd": lambda ps: gg.optim.SGD(ps, lr=0.1),
    "sgd momentum wd": lambda ps: gg.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-2),
    "sgd nesterov": lambda ps: gg.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    "adam": lambda ps: gg.optim.Adam(ps, lr=1e-2, weight_decay=1e-3),
    "adamw amsgrad": lambda ps: gg.optim.AdamW(ps, lr=1e-2, amsgrad=True),
    "rmsprop": lambda ps: gg.optim.RMSprop(ps, lr=1e-2, momentum=0.5),
    "adagrad": lambda ps: gg.optim.Adagrad(ps, lr=0.1, lr_decay=0.1),
}


def _batches(loss, n=6, seed=1):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        x = gg.tensor(rng.standard_normal((5, 6)))
        y = gg.tensor(rng.integers(0, 3, 5)) if loss == "cross_entropy" else gg.tensor(rng.standard_normal((5, 3)))
        out.append((x, y))
    return out


def _setup(opt_name="sgd momentum wd", loss="cross_entropy", extra=None):
    gg.manual_seed(0)
    model = gg.nn.MLP([6, 8, 8, 3], activation="relu")
    opt = OPTIMIZERS[opt_name](model.parameters())
    loss_fn = F.cross_entropy if loss == "cross_entropy" else F.mse_loss

    def step(x, y):
        opt.zero_grad()
        out = loss_fn(model(x), y)
        if extra is not None:
            out = extra(out, model)
        out.backward()
        opt.step()
        return out

    return model, opt, step


def _bits(a):
    return np.ascontiguousarray(a).view(np.uint8).tobytes()


def _state_arrays(model, opt):
    """Every number a training step changes: parameters, gradients, optimizer state."""
    out = [p.numpy() for p in model.parameters()] + [p.grad.numpy() for p in model.parameters()]
    for s in opt.state_dict()["state"].values():
        out += [v.numpy() if isinstance(v, gg.Tensor) else np.asarray(v) for _, v in sorted(s.items())]
    return out


def _assert_same(eager, graphed):
    assert len(eager) == len(graphed)
    for i, (a, b) in enumerate(zip(eager, graphed)):
        assert _bits(a) == _bits(b), f"array {i} (shape {np.shape(a)}) differs"


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
def test_replay_gives_the_eager_steps_bits(opt_name, loss):
    """Six steps on new inputs each: losses, parameters, gradients and optimizer state equal the eager
    run's bitwise, and calls 4-6 were replays (no fallback, no warning)."""
    batches = _batches(loss)
    m1, o1, eager = _setup(opt_name, loss)
    m2, o2, step = _setup(opt_name, loss)
    fast = gg.cuda.graphed(step, *batches[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for i, (x, y) in enumerate(batches):
            le = eager(x, y).numpy().copy()
            lg = fast(x, y).numpy().copy()
            assert _bits(le) == _bits(lg), f"loss of step {i}"
            _assert_same(_state_arrays(m1, o1), _state_arrays(m2, o2))
    assert fast.eager_reason is None and fast._replay is not None


def _restore(arrays, copies):
    for a, c in zip(arrays, copies):
        np.copyto(a, c)


def test_a_replay_that_skips_any_call_changes_the_results():
    """The comparisons above would catch a replay that leaves out a call: from the same state and
    inputs, dropping any one call (other than the target checks feeding a guard, which only decide
    whether to replay) changes the step's results. Before each try the buffers are filled by a
    replay of another step (other inputs, other weights), so a skipped call leaves stale values."""
    batches = _batches("cross_entropy")
    model, opt, step = _setup("sgd momentum wd")
    fast = gg.cuda.graphed(step, *batches[0])
    for x, y in batches[:3]:
        loss = fast(x, y)
    replay = fast._replay
    state = [p._data for p in model.parameters()] + [p.grad._data for p in model.parameters()] + \
        [v for s in opt.state.values() for v in s.values() if isinstance(v, np.ndarray)] + [loss._data]
    start = [a.copy() for a in state]
    fast._copy_inputs(batches[4])
    replay()
    reference = [a.copy() for a in state]
    full = replay.calls
    checks = {"equal", "less", "greater_equal", "bitwise_or", "invert", "bitwise_and", "logical_or.reduce"}
    unnoticed = []
    try:
        for k, label in enumerate(replay.labels):
            _restore(state, start)
            replay()                          # another step (other weights) ...
            fast._copy_inputs(batches[3])
            replay()                          # ... on other inputs: every buffer holds other values
            _restore(state, start)
            fast._copy_inputs(batches[4])
            replay.calls = full[:k] + full[k + 1:]
            replay()
            replay.calls = full
            if all(_bits(a) == _bits(r) for a, r in zip(state, reference)):
                unnoticed.append((k, label))
    finally:
        replay.calls = full
    # allowed to go unnoticed: the target checks feeding cross_entropy's guards (only used to decide
    # whether to replay), and log_softmax's VJP row sum of the scattered -1/n gradient, which is
    # -1/n for every row whatever the targets (its buffer keeps the right value)
    labels = replay.labels
    assert [(k, label) for k, label in unnoticed
            if not (label.startswith("guard") or label in checks
                    or (label == "add.reduce" and labels[k - 1] == "exp"))] == []
    assert len(full) > 40


def test_returned_tensors_are_static_and_state_stays_in_place():
    batches = _batches("cross_entropy")
    model, opt, step = _setup()
    fast = gg.cuda.graphed(step, *batches[0])
    for x, y in batches[:3]:
        fast(x, y)
    weights = [p._data for p in model.parameters()]
    grads = [p.grad._data for p in model.parameters()]
    a = fast(*batches[3])
    b = fast(*batches[4])
    assert a is b                                        # overwritten by each replay, as on a GPU
    assert [p._data for p in model.parameters()] == weights   # same arrays, updated in place
    assert all(p.grad._data is g for p, g in zip(model.parameters(), grads))
    # nothing traced is left where the user can reach it, and NumPy is itself again
    assert all(type(p._data) is np.ndarray and type(p.grad._data) is np.ndarray for p in model.parameters())
    assert all(type(v) is np.ndarray for s in opt.state.values() for v in s.values() if hasattr(v, "shape"))
    assert np.zeros is cpu_graph._CREATOR_ORIGINALS["zeros"]


def test_adam_step_count_advances_on_replay():
    batches = _batches("mse")
    model, opt, step = _setup("adam", "mse")
    fast = gg.cuda.graphed(step, *batches[0])
    for x, y in batches:
        fast(x, y)
    assert fast._replay is not None
    assert {s["step"] for s in opt.state_dict()["state"].values()} == {len(batches)}


def _fallback(extra=None, step_fn=None, match=""):
    """A graphed step that must fall back: it warns once (naming ``match``), and every step still
    equals the eager run's."""
    batches = _batches("cross_entropy")
    m1, o1, eager = _setup(extra=extra)
    m2, o2, step = _setup(extra=extra)
    if step_fn is not None:
        eager, step = step_fn(m1, o1, eager), step_fn(m2, o2, step)
    fast = gg.cuda.graphed(step, *batches[0])
    with pytest.warns(RuntimeWarning, match=match) as record:
        for x, y in batches:
            le, lg = eager(x, y).numpy().copy(), fast(x, y).numpy().copy()
            assert _bits(le) == _bits(lg)
            _assert_same(_state_arrays(m1, o1), _state_arrays(m2, o2))
    assert len([w for w in record if "graphed step" in str(w.message)]) == 1
    assert fast._replay is None and fast.eager_reason
    return fast


def test_a_step_that_reads_a_value_on_the_host_runs_eagerly():
    seen = []

    def wrap(model, opt, step):
        def logged(x, y):
            loss = step(x, y)
            seen.append(loss.item())
            return loss
        return logged

    _fallback(step_fn=wrap, match=r"reads a value on the host \(item")


def test_a_step_that_writes_into_an_untraced_array_runs_eagerly():
    total = {}

    def wrap(model, opt, step):
        acc = total.setdefault(id(model), np.zeros((8, 6), np.float32))

        def accumulating(x, y):
            loss = step(x, y)
            np.add(acc, next(iter(model.parameters())).grad._data, out=acc)   # a plain array, no tensor's
            return loss
        return accumulating

    _fallback(step_fn=wrap, match="writes into an array")


def test_a_step_reading_an_array_changed_by_plain_numpy_runs_eagerly():
    """Plain NumPy work on a plain array is invisible to the tracer; the second capture sees the
    constant it fed in change, and refuses (a replay would freeze it)."""
    scales = {}

    def extra(loss, model):
        s = scales.setdefault(id(model), np.ones(1, np.float32))
        s *= 0.5                                   # untraced: s is no tensor's array
        return loss * gg.tensor(s)

    _fallback(extra=extra, match="changed between two captures")


def test_a_python_number_that_moves_between_steps_is_not_frozen():
    counts = {}

    def extra(loss, model):
        counts[id(model)] = counts.get(id(model), 0) + 1
        return loss * (1.0 / counts[id(model)])

    _fallback(extra=extra, match="changed between two captures")


def test_a_data_branch_taken_the_other_way_stops_replaying():
    """cross_entropy branches on the targets (ignore_index rows, range check): the branch is a guard
    the replay re-evaluates; when it goes the other way the call runs eagerly, as do later ones."""
    batches = _batches("cross_entropy")
    m1, o1, eager = _setup()
    m2, o2, step = _setup()
    fast = gg.cuda.graphed(step, *batches[0])
    for x, y in batches[:4]:
        eager(x, y), fast(x, y)
    assert fast._replay is not None
    x, y = batches[4]
    y = gg.tensor(np.where(np.arange(5) == 2, -100, y.numpy()))
    with pytest.warns(RuntimeWarning, match="branches on the data"):
        le, lg = eager(x, y).numpy().copy(), fast(x, y).numpy().copy()
    assert _bits(le) == _bits(lg)
    _assert_same(_state_arrays(m1, o1), _state_arrays(m2, o2))
    bad = gg.tensor(np.full(5, 7))
    with pytest.raises(ValueError, match="target class out of range"):
        fast(x, bad)


def test_random_numbers_drawn_inside_repeat_with_a_warning():
    def extra(loss, model):
        return loss * (1 + 0 * F.dropout(gg.ones(3), 0.5).sum())

    batches = _batches("cross_entropy")
    _, _, step = _setup(extra=extra)
    fast = gg.cuda.graphed(step, *batches[0])
    fast(*batches[0])
    with pytest.warns(UserWarning, match="random numbers"):
        fast(*batches[1])


def test_matches_pytorch_training():
    torch = pytest.importorskip("torch")
    batches = _batches("cross_entropy")
    model, opt, step = _setup("sgd momentum wd")
    tmodel = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 8),
                                 torch.nn.ReLU(), torch.nn.Linear(8, 3))
    with torch.no_grad():
        for tp, (_, p) in zip(tmodel.parameters(), model.named_parameters()):
            tp.copy_(torch.from_numpy(p.numpy().copy()))
    topt = torch.optim.SGD(tmodel.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-2)
    fast = gg.cuda.graphed(step, *batches[0])
    for x, y in batches:
        loss = fast(x, y).item()
        topt.zero_grad()
        tl = torch.nn.functional.cross_entropy(tmodel(torch.from_numpy(x.numpy().copy())),
                                               torch.from_numpy(y.numpy().copy()))
        tl.backward()
        topt.step()
        assert loss == pytest.approx(tl.item(), rel=1e-5)
    assert fast._replay is not None
    for tp, p in zip(tmodel.parameters(), model.parameters()):
        np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("when", ["before the step reads it", "on an array the step never reads"])
def test_a_write_through_a_plain_alias_of_a_tensor_runs_eagerly(when):
    """A plain ndarray sharing a tensor's memory (taken before the capture) is invisible to the
    tracer; the checksums taken when the step begins see its writes."""
    extra_state = {}

    def wrap(model, opt, step):
        w = next(iter(model.parameters()))._data         # a plain alias of the first weight
        other = extra_state.setdefault(id(model), gg.ones(4))
        alias = w if when == "before the step reads it" else other._data

        def decaying(x, y):
            np.multiply(alias, np.float32(0.999), out=alias)
            return step(x, y)
        return decaying

    _fallback(step_fn=wrap, match="code the tracer does not see")


def test_gg_graphed_is_the_device_neutral_name():
    assert gg.graphed is gg.cuda.graphed


# -- the tracer on NumPy spellings, one row each: replay == eager on new data -------------------------
PROGRAMS = {
    "ufunc out=(None,)": lambda a: np.add(a, 1, out=(None,)),
    "astype then copy": lambda a: a.astype(np.float64).copy() * 2,
    "fancy index then sum": lambda a: a[[0, 2]].sum(axis=0),
    "reduce to 0-d": lambda a: a.max() - a.min(),
    "asarray of a transpose": lambda a: np.asarray(a.T).reshape(-1) + 0,
    "ascontiguousarray copies": lambda a: np.ascontiguousarray(a.T)[1:] * 3,
    "where (no out=)": lambda a: np.where(a > 5, a, -a),
    "zeros then scatter": lambda a: _scatter(a),
    "in-place chain": lambda a: _inplace(a),
    "int view and bitwise and": lambda a: (a.view(np.int32) & np.int32(-2)).view(np.float32) + 0,
}


def _scatter(a):
    z = np.zeros((3, 4), np.float32)
    z[np.arange(3), np.array([0, 1, 3])] = a[:, 0]
    return z + a


def _inplace(a):
    t = a * 2
    t -= 1
    np.maximum(t, 0, out=t)
    t[0] = 7
    return t


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_traced_numpy_spellings_replay_exactly(name):
    fn = PROGRAMS[name]
    x = gg.tensor(np.arange(12, dtype=np.float32).reshape(3, 4) - 4)

    def step(t):
        return gg.Tensor._wrap(np.asarray(fn(t._data)), t.device)

    out, replay, reason = cpu_graph.capture(step, [x])
    assert reason is None and replay is not None
    for k in range(3):
        x._data[...] = np.random.default_rng(k).standard_normal((3, 4)) * 5
        replay()
        expected = np.asarray(fn(x._data.copy()))
        assert _bits(out.numpy()) == _bits(expected), k


def test_replay_binds_grad_and_bumps_versions_as_the_eager_step():
    """zero_grad(set_to_none) between calls, outside the step: after a replay every parameter's
    .grad is the step's gradient again, and its version counter moved as eagerly."""
    batches = _batches("cross_entropy")
    m1, o1, eager = _setup()
    m2, o2, step = _setup()
    fast = gg.cuda.graphed(step, *batches[0])
    for x, y in batches:
        o1.zero_grad(), o2.zero_grad()
        eager(x, y), fast(x, y)
        for p, q in zip(m1.parameters(), m2.parameters()):
            assert q.grad is not None and _bits(p.grad.numpy()) == _bits(q.grad.numpy())
            assert q._version_counter()[0] == p._version_counter()[0]
    assert fast._replay is not None


def test_a_grad_left_in_place_where_capture_found_none_stops_replaying():
    """Captured with zero_grad outside the step; a call without it would have the eager step add
    into the old .grad: the replay refuses before changing anything and the call runs eagerly."""
    batches = _batches("cross_entropy")
    m1, o1, eager = _setup()
    m2, o2, step = _setup()

    def plain(model, opt, inner):
        def no_zero(x, y):
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss
        return no_zero

    eager, step = plain(m1, o1, eager), plain(m2, o2, step)
    fast = gg.cuda.graphed(step, *batches[0])
    for x, y in batches[:4]:
        o1.zero_grad(), o2.zero_grad()
        eager(x, y), fast(x, y)
    assert fast._replay is not None
    with pytest.warns(RuntimeWarning, match="had no .grad when the step was captured"):
        le, lg = eager(*batches[4]).numpy().copy(), fast(*batches[4]).numpy().copy()
    assert _bits(le) == _bits(lg)
    _assert_same(_state_arrays(m1, o1), _state_arrays(m2, o2))


def test_views_made_while_tracing_refer_to_their_parent_as_eagerly():
    """The engine writes into a gradient in place only when nothing else refers to it (it counts
    references): a view the tracer hands out must refer to its parent, as NumPy's own views do."""
    seen = {}
    x = gg.tensor(np.arange(12, dtype=np.float32).reshape(3, 4))

    def step(t):
        a = t._data * 2                            # a fresh array of the step
        seen["reshape"] = a.reshape(-1).base is a
        seen["slice"] = a[1:].base is a
        seen["transpose"] = a.T.base is a
        seen["expand_dims"] = np.expand_dims(a, 0).base is a
        seen["asarray"] = np.asarray(a) is a
        seen["owner"] = a.base is None
        return gg.Tensor._wrap(a, t.device)

    step(x)
    eager = dict(seen)
    out, replay, reason = cpu_graph.capture(step, [x])
    assert reason is None and seen == eager and all(eager.values())
