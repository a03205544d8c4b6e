"""Global state made per thread or per run: anomaly mode is thread-local and nests in any
order; train() draws from its own generators (two runs in two threads give the single-threaded
numbers, and the user's gg.manual_seed stream is untouched); curves are written safely by
concurrent runs."""
from __future__ import annotations

import os
import threading

import numpy as np
import pytest

import gpugrad as gg
from gpugrad import anomaly
from gpugrad.commands.train import TrainConfig, train, write_curves

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The NaN of log(-1) is the point of the anomaly tests (np.errstate is per thread: a mark is not).
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered in log:RuntimeWarning")


def _in_threads(*fns, timeout=120):
    """Run each fn in its own thread, started together; re-raise the first failure."""
    errors, results = [], [None] * len(fns)
    start = threading.Barrier(len(fns))

    def run(i, fn):
        try:
            start.wait()
            results[i] = fn()
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(fns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    if errors:
        raise errors[0]
    return results


def nan_op():
    return gg.log(gg.tensor([-1.0]))          # NaN: raises only under anomaly mode


def test_anomaly_mode_belongs_to_the_thread_that_entered_it():
    inside, done = threading.Event(), threading.Event()

    def a():
        with gg.detect_anomaly():
            inside.set()
            done.wait(30)
            with pytest.raises(gg.AnomalyError):
                nan_op()

    def b():
        inside.wait(30)
        try:
            assert not anomaly.state.enabled
            nan_op()                            # not checked here: no error, no slowdown
        finally:
            done.set()

    _in_threads(a, b)
    assert not anomaly.state.enabled


def test_anomaly_blocks_left_in_any_order():
    a, b = gg.detect_anomaly(), gg.detect_anomaly()
    a.__enter__()
    b.__enter__()
    a.__exit__(None, None, None)
    assert anomaly.state.enabled                # b is still open
    with pytest.raises(gg.AnomalyError):
        nan_op()
    b.__exit__(None, None, None)
    assert not anomaly.state.enabled
    nan_op()                                    # off again


def test_anomaly_interleaved_across_threads_ends_off():
    """A in, B in, A out, B out, in two threads: afterwards the mode is off everywhere."""
    steps = [threading.Event() for _ in range(4)]

    def a():
        with gg.detect_anomaly():
            steps[0].set()
            steps[1].wait(30)
        steps[2].set()

    def b():
        steps[0].wait(30)
        with gg.detect_anomaly():
            steps[1].set()
            steps[2].wait(30)
        steps[3].set()

    _in_threads(a, b)
    assert not anomaly.state.enabled
    assert _in_threads(lambda: anomaly.state.enabled) == [False]
    nan_op()


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 5)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5)
    path = tmp_path_factory.mktemp("data") / "d.npz"
    np.savez(path, x=x, y=y)
    return str(path)


def _run(data_file, out, seed):
    # threads=None: no process-wide BLAS limit changes between the concurrent runs
    cfg = TrainConfig(data=data_file, epochs=3, hidden=(16,), batch_size=32, dropout=0.3, seed=seed,
                      quiet=True, threads=None, out=str(out))
    r = train(cfg, log=lambda s: None)
    return {k: v.numpy().copy() for k, v in r.model.state_dict().items()}, r.history["loss"]


def test_two_runs_in_two_threads_match_single_threaded_runs(data_file, tmp_path):
    alone = [_run(data_file, tmp_path / f"alone{s}", s) for s in (1, 2)]
    for rnd in range(2):
        together = _in_threads(*(lambda s=s: _run(data_file, tmp_path / f"t{rnd}-{s}", s) for s in (1, 2)))
        for (wa, la), (wt, lt) in zip(alone, together):
            assert la == lt
            assert all(np.array_equal(wa[k], wt[k]) for k in wa)


def test_train_leaves_the_global_generator_alone(data_file, tmp_path):
    gg.manual_seed(123)
    expected = gg.randn(4).numpy()
    gg.manual_seed(123)
    _run(data_file, tmp_path / "r", 0)
    assert np.array_equal(gg.randn(4).numpy(), expected)


def test_generator_scopes_are_per_thread_and_nest():
    gg.manual_seed(5)
    outer = gg.randn(3).numpy()
    with gg.creation.generator_scope(5):
        assert np.array_equal(gg.randn(3).numpy(), outer)   # the streams manual_seed(5) gives
        with gg.creation.generator_scope(6):
            inner = gg.randn(3).numpy()
        again = gg.randn(3).numpy()
    gg.manual_seed(6)
    assert np.array_equal(gg.randn(3).numpy(), inner)
    gg.manual_seed(5)
    gg.randn(3)
    assert np.array_equal(gg.randn(3).numpy(), again)       # the outer scope went on where it was


def test_curves_from_concurrent_runs(tmp_path):
    history = {"loss": [1.0, 0.5, 0.25], "train_acc": [0.5, 0.7, 0.9], "val_acc": [0.4, 0.6, 0.8]}
    paths = [tmp_path / f"c{i}.png" for i in range(3)]
    for _ in range(2):
        _in_threads(*(lambda p=p: write_curves(history, str(p)) for p in paths))
    for p in paths:
        assert p.read_bytes()[:8] == PNG_SIGNATURE
    assert [f for f in os.listdir(tmp_path) if f.endswith(".tmp")] == []
