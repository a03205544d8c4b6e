"""``gpugrad bench data``: reading and training on a user-sized table (default 200,000 rows x 50
columns: 49 float features and an integer label), as CSV and as Parquet.

Figures (issue 24's targets):

* read time of :func:`gpugrad.data.tables.read_table` against pandas' own ``read_csv`` of the same
  file (and ``pyarrow.parquet.read_table(...).to_pandas()`` for Parquet), interleaved rounds with
  the order alternating, medians and the median of the per-round ratios; target <= 1.2;
* peak memory of ``gpugrad train --data FILE --epochs 1`` (and of the read alone), each in a fresh
  process: the rise of the peak resident set over the resident set after the imports (Linux:
  VmHWM reset through /proc/self/clear_refs, else ru_maxrss), divided by the parsed float32
  array (rows x features x 4 bytes); target <= 3.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from ...data.tables import read_table

DATA_COLUMNS = [("row", "row", "", "<"), ("file MB", "file", ".1f", ">"), ("gpugrad s", "gpugrad_s", ".3f", ">"),
                ("peer s", "peer_s", ".3f", ">"), ("ratio", "ratio", ".2f", ">"), ("target", "target", "", "<"),
                ("peak / array", "peak_x", ".2f", ">"), ("peer", "note", "", "<")]

_CHILD = r"""
import json, resource, sys, time
import numpy as np, pandas, pyarrow.parquet
from gpugrad.commands.train import TrainConfig, train, prepare_data
from gpugrad.data.tables import read_table
kind, path, out = sys.argv[1], sys.argv[2], sys.argv[3]
def status(key):
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith(key + ":"))
# Warm-up on the file's first 500 rows: the lazy imports (matplotlib for curves, tensorboardX, the
# distributed support) and first-use caches are fixed costs, not the table's.
import os, pandas as pd
small = os.path.join(out + "-warm" + os.path.splitext(path)[1])
head = pd.read_csv(path, nrows=500) if path.endswith(".csv") else pyarrow.parquet.read_table(path).slice(0, 500).to_pandas()
head.to_csv(small, index=False) if path.endswith(".csv") else head.to_parquet(small)
if kind == "read":
    read_table(small, progress=False)
else:
    train(TrainConfig(data=small, epochs=1, hidden=(16,), batch_size=1024, quiet=True, out=out + "-warm", force=True),
          log=lambda s: None)
del head
try:   # reset the peak (VmHWM) to the current RSS: the imports' own transient peak does not count
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    base = status("VmRSS")
except OSError:
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
t0 = time.perf_counter()
if kind == "read":
    t = read_table(path, progress=False)
    shape = t.numeric.shape
elif kind == "train":
    r = train(TrainConfig(data=path, epochs=1, hidden=(16,), batch_size=1024, quiet=True, out=out, force=True),
              log=lambda s: None)
    shape = None
try:
    peak = status("VmHWM")
except (OSError, StopIteration):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"base": base, "peak": peak, "seconds": time.perf_counter() - t0}))
"""


def make_table(folder: str, rows: int, cols: int, seed: int = 0) -> dict:
    """Write ``table.csv`` and ``table.parquet`` (cols - 1 float features, label 0..4) into folder."""
    import pandas as pd
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, cols - 1)).astype(np.float32)
    y = (x[:, :3].sum(axis=1) > 0).astype(np.int64) + 2 * (x[:, 3] > 0.5)
    df = pd.DataFrame(x, columns=[f"f{j}" for j in range(cols - 1)])
    df["label"] = y
    paths = {"csv": os.path.join(folder, "table.csv"), "parquet": os.path.join(folder, "table.parquet")}
    df.to_csv(paths["csv"], index=False, float_format="%.7g")
    df.to_parquet(paths["parquet"])
    return paths


def _child(kind: str, path: str, out: str) -> dict:
    r = subprocess.run([sys.executable, "-c", _CHILD, kind, path, out], capture_output=True, text=True,
                       env={**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"})
    if r.returncode != 0:
        raise RuntimeError(f"bench data child ({kind} {path}) failed: {r.stderr.strip()[-400:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def run_data_bench(rows: int = 200_000, cols: int = 50, rounds: int = 5, log=print, folder: str | None = None):
    """The rows of the ``data`` benchmark and its notes (see the module docstring)."""
    import pandas as pd
    import pyarrow.parquet as pq
    tmp = tempfile.TemporaryDirectory() if folder is None else None
    folder = folder or tmp.name
    try:
        t0 = time.perf_counter()
        paths = make_table(folder, rows, cols)
        log(f"wrote {rows:,} x {cols} as CSV ({os.path.getsize(paths['csv']) / 1e6:.1f} MB) and Parquet "
            f"({os.path.getsize(paths['parquet']) / 1e6:.1f} MB) in {time.perf_counter() - t0:.1f} s")
        array_bytes = rows * (cols - 1) * 4
        contenders = {
            "csv": (lambda: read_table(paths["csv"], progress=False), lambda: pd.read_csv(paths["csv"]),
                    "pandas.read_csv"),
            "parquet": (lambda: read_table(paths["parquet"], progress=False),
                        lambda: pq.read_table(paths["parquet"]).to_pandas(), "pyarrow read_table().to_pandas()"),
        }
        out_rows = []
        for kind, (mine, peer, peer_name) in contenders.items():
            a, b = [], []
            for k in range(rounds):
                for who in ((mine, a), (peer, b)) if k % 2 == 0 else ((peer, b), (mine, a)):
                    t = time.perf_counter()
                    who[0]()
                    who[1].append(time.perf_counter() - t)
            ratios = [x / y for x, y in zip(a, b)]
            read_mem = _child("read", paths[kind], os.path.join(folder, "run"))
            out_rows.append({"row": f"read {kind}", "file": os.path.getsize(paths[kind]) / 1e6,
                             "gpugrad_s": statistics.median(a), "peer_s": statistics.median(b),
                             "ratio": statistics.median(ratios), "target": "<= 1.2" if kind == "csv" else "-",
                             "peak_x": (read_mem["peak"] - read_mem["base"]) / array_bytes, "note": peer_name,
                             "gpugrad_all_s": a, "peer_all_s": b})
            log(f"read {kind}: gpugrad {statistics.median(a):.3f} s, {peer_name} {statistics.median(b):.3f} s, "
                f"ratio {statistics.median(ratios):.2f}; read peak {out_rows[-1]['peak_x']:.2f}x the array")
            train_mem = _child("train", paths[kind], os.path.join(folder, f"run-{kind}"))
            out_rows.append({"row": f"train {kind}", "file": os.path.getsize(paths[kind]) / 1e6,
                             "gpugrad_s": train_mem["seconds"], "peer_s": float("nan"), "ratio": float("nan"),
                             "target": "peak <= 3", "peak_x": (train_mem["peak"] - train_mem["base"]) / array_bytes,
                             "note": "gpugrad train --epochs 1 --hidden 16 --batch-size 1024"})
            log(f"train {kind}: {train_mem['seconds']:.1f} s, peak {out_rows[-1]['peak_x']:.2f}x the array")
        notes = [f"table: {rows:,} rows x {cols} columns ({cols - 1} float32 features written with %.7g, an "
                 f"integer label); the parsed float32 array is {array_bytes / 1e6:.1f} MB",
                 f"read: {rounds} interleaved rounds (order alternating), medians; ratio = median of per-round "
                 f"ratios gpugrad / peer", "peak / array: rise of the peak RSS (VmHWM, reset after the imports of "
                 "pandas, pyarrow, gpugrad) over the RSS then, in a fresh process, over the float32 array"]
        return out_rows, notes
    finally:
        if tmp is not None:
            tmp.cleanup()
