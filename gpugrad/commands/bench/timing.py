"""Timers and statistics for the benchmarks: medians of repeats after warm-up, on the CPU clock or
with CUDA events, and the input rotation that keeps the L2 cache from flattering a kernel.

Nothing here imports CuPy or a GPU library at import time; the CUDA timer takes the ``cupy`` module
as an argument.
"""
from __future__ import annotations

import gc
import math
import statistics
import time

# H100's L2 is 50 MB; used only when the device cannot be asked (the rotation needs an upper bound).
DEFAULT_L2_BYTES = 50 * 2**20


def summarize(samples) -> dict:
    """Median (the figure we report), min, max, mean, interquartile range and count of ``samples``."""
    xs = sorted(float(s) for s in samples)
    if not xs:
        raise ValueError("summarize: no samples")
    if len(xs) >= 4:
        q1, _, q3 = statistics.quantiles(xs, n=4, method="inclusive")
    else:
        q1, q3 = xs[0], xs[-1]
    return {"median": statistics.median(xs), "min": xs[0], "max": xs[-1],
            "mean": statistics.fmean(xs), "iqr": q3 - q1, "n": len(xs)}


def time_host(fn, warmup: int = 1, repeats: int = 5, sync=None) -> list[float]:
    """Seconds per call of ``fn`` by the host clock, one sample per call, after ``warmup`` calls.

    ``sync`` (e.g. a GPU synchronize) is called before the clock starts and before it stops, so a
    sample covers the call and all the device work it queued, and no work of the previous call.
    """
    sync = sync or (lambda: None)
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        samples.append(time.perf_counter() - t0)
    return samples


_SPIN_SOURCE = r"""
extern "C" __global__ void gpugrad_spin(long long cycles) {
    const long long start = clock64();
    while (clock64() - start < cycles) { }
}
"""
_spin_kernels: dict = {}

#: Longest spin queued ahead of a batch (a call whose enqueueing takes longer is host-bound anyway).
MAX_SPIN_US = 2e6


def _spin(cupy, microseconds: float, stream) -> None:
    """Keep the GPU busy for about ``microseconds`` (one thread spinning on the clock)."""
    k = _spin_kernels.get("spin")
    if k is None:
        k = _spin_kernels["spin"] = cupy.RawKernel(_SPIN_SOURCE, "gpugrad_spin")
    # ~2 GHz boost clock; only needs to outlast the host's enqueueing, not be exact
    k((1,), (1,), (cupy.int64(int(microseconds * 2000)),), stream=stream)


def _spin_for(enqueue_s: float) -> float:
    """Spin microseconds that outlast an enqueueing measured at ``enqueue_s``, with margin."""
    return min(MAX_SPIN_US, 1.5 * enqueue_s * 1e6 + 50.0)


def time_cuda_events(cupy, contenders: dict, warmup: int = 3, repeats: int = 20,
                     batch: int | None = None, retries: int = 3) -> dict:
    """GPU milliseconds per call of each contender, with CUDA events on CuPy's current stream.

    ``contenders`` maps a name to a list of callables, one per input set; consecutive calls read
    different operands (see :func:`rotation_sets`). Each sample times ``batch`` back-to-back calls
    (default: one round over the input sets, at least 8) between two events and divides by
    ``batch``. A spin kernel queued first keeps the GPU busy while the host queues the batch, so
    the events bracket GPU execution only, not Python's launch overhead (measured separately).

    The spin is sized from the host's enqueue time of a warm-up batch. A sample whose enqueueing
    outlasted its spin (the GPU may have idled inside the window: a garbage-collector pause, a
    slow call) is taken again with a longer spin, up to ``retries`` times; what still is counts
    in ``host_bound_samples``. Contenders are sampled in turn (A, B, C, A, B, C, ...), so clock
    or temperature drift during the run weighs on all of them alike.

    Returns ``{name: summarize(samples) + {"enqueue_ms", "spin_us", "batch", "retried_samples",
    "host_bound_samples"}}``.
    """
    stream = cupy.cuda.get_current_stream()
    _spin(cupy, 1.0, stream)                       # compile the spin kernel outside any window
    state = {}
    for name, fns in contenders.items():
        b = batch or max(8, len(fns))
        for i in range(warmup):
            fns[i % len(fns)]()
        stream.synchronize()
        t0 = time.perf_counter()
        for i in range(b):
            fns[i % len(fns)]()
        enqueue = time.perf_counter() - t0
        stream.synchronize()
        state[name] = dict(fns=fns, batch=b, call=0, spin_us=_spin_for(enqueue), samples=[],
                           enqueue=[], retried=0, host_bound=0)
    gc_was_enabled = gc.isenabled()
    gc.disable()                                   # no collector pause inside a window
    try:
        for _ in range(repeats):
            for s in state.values():
                for attempt in range(retries + 1):
                    ms, enqueue = _one_sample(cupy, stream, s)
                    if enqueue * 1e6 <= s["spin_us"]:
                        break
                    s["spin_us"] = max(s["spin_us"], _spin_for(enqueue))
                    if attempt < retries:
                        s["retried"] += 1
                else:
                    s["host_bound"] += 1
                s["samples"].append(ms)
                s["enqueue"].append(enqueue * 1e3 / s["batch"])
    finally:
        if gc_was_enabled:
            gc.enable()
    return {name: {**summarize(s["samples"]), "enqueue_ms": statistics.median(s["enqueue"]),
                   "spin_us": s["spin_us"], "batch": s["batch"], "retried_samples": s["retried"],
                   "host_bound_samples": s["host_bound"]}
            for name, s in state.items()}


def _one_sample(cupy, stream, s) -> tuple[float, float]:
    """(GPU ms per call, host seconds from the spin's launch to the last call queued)."""
    fns, batch = s["fns"], s["batch"]
    start, end = cupy.cuda.Event(), cupy.cuda.Event()
    t0 = time.perf_counter()
    _spin(cupy, s["spin_us"], stream)
    start.record(stream)
    for _ in range(batch):
        fns[s["call"] % len(fns)]()
        s["call"] += 1
    enqueue = time.perf_counter() - t0
    end.record(stream)
    end.synchronize()
    return float(cupy.cuda.get_elapsed_time(start, end)) / batch, enqueue


def rotation_sets(bytes_per_set: int, l2_bytes: int = DEFAULT_L2_BYTES, cap: int = 16) -> int:
    """How many distinct input sets to cycle through so that together they span twice the L2 cache
    (at least 2, so no call finds its operands where the previous call left them; at most ``cap``)."""
    return max(2, min(cap, math.ceil(2 * l2_bytes / max(1, int(bytes_per_set)))))


def adaptive_repeats(estimate_s: float, budget_s: float, minimum: int = 3, maximum: int = 30) -> int:
    """Repeats that fit ``budget_s`` at ``estimate_s`` each, clamped to [minimum, maximum]."""
    if not estimate_s > 0:
        return maximum
    return max(minimum, min(maximum, int(budget_s / estimate_s)))


# -- the CPU comparison method: interleaved rounds, paired ratios ------------------------------------
def interleaved_host(contenders: dict, rounds: int, inner: int = 1, warmup: int = 1,
                     collector: bool = False) -> dict:
    """Seconds per call of each contender, sampled in interleaved rounds on the host clock.

    ``contenders`` maps a name to a callable. Every round calls each contender ``inner`` times
    back to back (one sample: the mean of those calls), the contenders in a rotating order
    (round r starts with the r-th), so drift over the run (turbo, another process) and any
    order effect (caches, a thread pool still spinning from the previous contender) weigh on all
    of them alike, and round r's samples form pairs for :func:`paired_ratios`. ``warmup`` untimed
    rounds first. The cyclic garbage collector runs between samples, never inside one, unless
    ``collector``: then it also runs inside, as in a user's program (each sample still starts
    from a collected heap).

    Returns ``{name: [seconds per call, one per round]}`` (lists aligned by round).
    """
    if rounds < 1 or inner < 1:
        raise ValueError(f"interleaved_host: rounds and inner must be >= 1, got {rounds} and {inner}")
    names = list(contenders)
    for _ in range(warmup):
        for n in names:
            contenders[n]()
    samples = {n: [] for n in names}
    gc_was_enabled = gc.isenabled()
    try:
        for r in range(rounds):
            k = r % len(names)
            for n in names[k:] + names[:k]:
                fn = contenders[n]
                gc.collect()                   # every sample starts from the same heap
                if not collector:
                    gc.disable()
                t0 = time.perf_counter()
                for _ in range(inner):
                    fn()
                samples[n].append((time.perf_counter() - t0) / inner)
                if gc_was_enabled:
                    gc.enable()
    finally:
        if gc_was_enabled:
            gc.enable()
    return samples


def rotation_orders(names, rounds: int) -> list:
    """The order of each round of :func:`interleaved_host` (for the record and for tests)."""
    names = list(names)
    return [names[r % len(names):] + names[:r % len(names)] for r in range(rounds)]


def paired_ratios(samples_a, samples_b) -> dict:
    """The ratio a/b from samples taken in the same rounds: ``summarize`` of the per-round ratios.

    Pairing cancels what a round shares (a slow moment of the machine hits both), so the spread
    of the ratio is tighter than the ratio of two medians suggests. Raises ValueError when the
    two lists differ in length (they were not taken in the same rounds).
    """
    a, b = list(samples_a), list(samples_b)
    if len(a) != len(b) or not a:
        raise ValueError(f"paired_ratios: need samples from the same rounds, got {len(a)} and {len(b)}")
    return summarize([x / y for x, y in zip(a, b)])
