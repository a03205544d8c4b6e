"""Accuracy figures of README's "your own data" section: scikit-learn's bundled tables saved as
users save them (pandas to_csv), trained with `gpugrad train` (the TrainConfig below is the command
line printed with each figure), over seeds 0-2; the test split is touched only for the figure.

    python benchmarks/results/data-cpu-2026-12-07/accuracy.py > accuracy.txt
"""
import os
import statistics
import tempfile

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.linear_model import LinearRegression

from gpugrad.commands.train import TrainConfig, prepare_data, train

d = tempfile.mkdtemp()
iris = load_iris(as_frame=True).frame
iris["species"] = np.asarray(load_iris().target_names)[iris.pop("target")]
iris.to_csv(f"{d}/iris.csv")                                   # with pandas' index column
load_diabetes(as_frame=True, scaled=False).frame.to_csv(f"{d}/diabetes.csv", index=False)
load_breast_cancer(as_frame=True).frame.to_csv(f"{d}/breast_cancer.csv", index=False)


def run(name, seeds=(0, 1, 2), **kw):
    out = []
    for seed in seeds:
        cfg = TrainConfig(data=f"{d}/{name}.csv", seed=seed, quiet=True, out=f"{d}/run-{name}-{seed}",
                          force=True, **kw)
        r = train(cfg, log=lambda s: None)
        out.append((r, cfg))
    return out


def flags(kw):
    return " ".join(f"--{k.replace('_', '-')} {','.join(map(str, v)) if isinstance(v, tuple) else v}"
                    if k != "scale" else "--no-scale" for k, v in kw.items() if not (k == "scale" and v))


for name, kw in [("iris", dict(epochs=100, lr=0.01)), ("breast_cancer", dict(epochs=30)),
                 ("breast_cancer", dict(epochs=30, scale=False))]:
    res = run(name, **kw)
    accs = [100 * r.test_acc for r, _ in res]
    print(f"{name:14s} gpugrad train --data {name}.csv {flags(kw)}: test accuracy "
          f"{', '.join(f'{a:.1f}%' for a in accs)} (seeds 0-2; median {statistics.median(accs):.1f}%)")

kw = dict(epochs=200, hidden=(32,), lr=0.003, patience=20)
res = run("diabetes", **kw)
r2 = [r.test_metrics["r2"] for r, _ in res]
lin = []
for r, cfg in res:
    p = prepare_data(cfg)
    x_tr, y_tr = np.concatenate([p.x_tr, p.x_val]), np.concatenate([p.y_tr, p.y_val])
    pred = LinearRegression().fit(x_tr, y_tr).predict(p.x_te)
    t = p.original(p.y_te)
    pred = p.original(pred)
    lin.append(1 - ((pred - t) ** 2).sum() / ((t - t.mean()) ** 2).sum())
print(f"diabetes       gpugrad train --data diabetes.csv {flags(kw)}: test R^2 "
      f"{', '.join(f'{v:.3f}' for v in r2)} (seeds 0-2; median {statistics.median(r2):.3f}; best epochs "
      f"{[r.best_epoch for r, _ in res]}); sklearn LinearRegression on the same splits: "
      f"{', '.join(f'{v:.3f}' for v in lin)} (median {statistics.median(lin):.3f})")
