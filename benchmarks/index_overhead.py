"""Host cost of gpugrad indexing against NumPy's own indexing of the same array, per index form.

    python benchmarks/index_overhead.py [--rounds 31] [--json out.json]

For each index form: ``x[idx]`` (forward only, under no_grad), and forward + backward of
``x[idx].sum()`` on a (64, 32) float32 tensor, against NumPy's ``a[idx]`` (the peer: the floor any
wrapper pays). Rounds interleave the contenders in rotating order; each sample is the mean of
``inner`` back-to-back calls; each figure is the median [IQR] over rounds of the per-round ratio
gpugrad / NumPy. To compare two versions of gpugrad (e.g. before and after a change to the
indexing path), run this script with each on ``PYTHONPATH`` on the same machine, alternately,
and compare their ratios (the NumPy peer absorbs machine load).
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

import gpugrad as gg

FORMS = {
    "int": 3,
    "slice": slice(2, 40, 3),
    "tuple int+slice": (3, slice(None, 16)),
    "int list": [1, 5, 5, 9],
    "nested list": [[0, 1], [2, 3]],
    "empty list": [],
    "bool mask": "MASK",
    "int tensor": "TENSOR",
    "mixed": ([0, 2, 2], slice(None), None),
}


def _index(spec, lib):
    if spec == "MASK":
        m = (np.arange(64) % 3) == 0
        return gg.tensor(m) if lib == "gg" else m
    if spec == "TENSOR":
        i = np.array([4, 4, 7, 1])
        return gg.tensor(i) if lib == "gg" else i
    return spec


def _sample(fn, inner):
    t0 = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - t0) / inner


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=31)
    ap.add_argument("--inner", type=int, default=400)
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    a = np.random.default_rng(0).standard_normal((64, 32)).astype(np.float32)
    x = gg.tensor(a, requires_grad=True)
    rows = []
    for name, spec in FORMS.items():
        gi, ni = _index(spec, "gg"), _index(spec, "np")
        try:
            x[gi]
        except Exception as exc:            # an index form the version under test refuses
            rows.append({"form": name, "error": f"{type(exc).__name__}: {str(exc)[:80]}"})
            continue

        def fwd():
            with gg.no_grad():
                x[gi]

        def fwd_bwd():
            x.grad = None
            x[gi].sum().backward()

        def peer():
            a[ni]
        contenders = [("fwd", fwd), ("fwd_bwd", fwd_bwd), ("numpy", peer)]
        times = {k: [] for k, _ in contenders}
        for r in range(args.rounds):
            order = contenders[r % 3:] + contenders[:r % 3]
            for k, fn in order:
                times[k].append(_sample(fn, args.inner))
        row = {"form": name}
        for k in ("fwd", "fwd_bwd"):
            ratios = np.array(times[k]) / np.array(times["numpy"])
            q1, med, q3 = np.percentile(ratios, [25, 50, 75])
            row[k] = {"median_us": float(np.median(times[k]) * 1e6), "ratio_vs_numpy": float(med),
                      "iqr": [float(q1), float(q3)]}
        row["numpy_us"] = float(np.median(times["numpy"]) * 1e6)
        rows.append(row)
    print(f"gpugrad from {gg.__file__}")
    print("| form | numpy us | gg fwd us | fwd / numpy [IQR] | gg fwd+bwd us | fwd+bwd / numpy [IQR] |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        if "error" in row:
            print(f"| {row['form']} | - | refused: {row['error']} | | | |")
            continue
        f, b = row["fwd"], row["fwd_bwd"]
        print(f"| {row['form']} | {row['numpy_us']:.2f} | {f['median_us']:.2f} | {f['ratio_vs_numpy']:.1f} "
              f"[{f['iqr'][0]:.1f}, {f['iqr'][1]:.1f}] | {b['median_us']:.1f} | {b['ratio_vs_numpy']:.1f} "
              f"[{b['iqr'][0]:.1f}, {b['iqr'][1]:.1f}] |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "gpugrad": gg.__file__, "python": sys.version}, f, indent=1)


if __name__ == "__main__":
    main()
