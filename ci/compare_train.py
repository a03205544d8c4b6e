"""`gpugrad train` with the default model and data on cuda and on cpu: both must learn, and their
test accuracies must agree (issue 5: "matches the CPU run's accuracy").

The two runs start from different initial weights (NumPy's generator on cpu, CuPy's on cuda), so
only accuracy is comparable, not losses step by step. Exit status 1 when they disagree by more
than --max-gap points or either is below --min-acc, or when the cuda run's CUDA graph capture fell
back to eager steps (a log line or a warning saying so): that run would not have tested the graphed
path it is meant to. Used by ci/gpu.sh's train stage.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import warnings

from gpugrad.commands.train import TrainConfig, TrainError, train


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-gap", type=float, default=2.0, help="most points of test accuracy apart")
    ap.add_argument("--min-acc", type=float, default=95.0, help="least test accuracy (%%) of each")
    args = ap.parse_args(argv)
    acc, fallbacks = {}, []
    for device in ("cuda", "cpu"):
        lines = []
        with tempfile.TemporaryDirectory() as out, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = train(TrainConfig(device=device, out=out, quiet=True),
                               log=lambda *a: lines.append(" ".join(map(str, a))))
            except TrainError as exc:
                print(f"train on {device}: {exc}")
                return 1
        if device == "cuda":
            fallbacks = [line for line in lines if fell_back(line)] + [
                str(w.message) for w in caught if fell_back(str(w.message))]
        acc[device] = 100 * result.test_acc
        print(f"train on {result.device}: test acc {acc[device]:.2f}%, {result.seconds:.1f} s "
              f"({result.summary})")
    gap = abs(acc["cuda"] - acc["cpu"])
    for line in fallbacks:
        print(f"train on cuda: the CUDA graph fell back to eager steps: {line}")
    ok = gap <= args.max_gap and min(acc.values()) >= args.min_acc and not fallbacks
    print(f"train cuda vs cpu: {acc['cuda']:.2f}% vs {acc['cpu']:.2f}% (gap {gap:.2f} points, at most "
          f"{args.max_gap}; each at least {args.min_acc}%): {'OK' if ok else 'FAIL'}")
    return 0 if ok else 1


def fell_back(message: str) -> bool:
    """Whether a log line or warning of a training run says its graphed step runs eagerly."""
    m = message.lower()
    return "capture failed" in m or "runs eagerly" in m or "training on eagerly" in m


if __name__ == "__main__":
    sys.exit(main())
