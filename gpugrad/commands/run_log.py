"""Per-epoch metrics of a training run: ``metrics.csv`` always, TensorBoard events when
``tensorboardX`` is installed (``tensorboard --logdir runs`` then compares runs).

``metrics.csv`` is rewritten from the run's whole history after each epoch (atomically: a
temporary file renamed over it), so a resumed run's file holds every epoch exactly once.
"""
from __future__ import annotations

import csv
import os

METRICS = "metrics.csv"
# In this order where the run has them (classification keeps accuracies, regression RMSE/MAE/R^2).
COLUMNS = ("epoch", "loss", "train_acc", "val_loss", "val_acc", "train_rmse", "train_mae", "train_r2",
           "val_rmse", "val_mae", "val_r2", "lr", "seconds")


def write_metrics_csv(history: dict, out: str) -> str:
    """Write ``out/metrics.csv``: one row per epoch with the columns of COLUMNS the run has."""
    path = os.path.join(out, METRICS)
    tmp = path + ".tmp"
    cols = [k for k in COLUMNS[1:] if k in history]
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["epoch", *cols])
        for i in range(len(history["loss"])):
            w.writerow([i + 1] + [repr(float(history[k][i])) for k in cols])
    os.replace(tmp, path)
    return path


class TensorBoardLog:
    """Scalars per epoch as TensorBoard event files in ``out``; does nothing without tensorboardX."""

    def __init__(self, out: str):
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            self.writer = None
            return
        self.writer = SummaryWriter(logdir=out)

    @property
    def enabled(self) -> bool:
        return self.writer is not None

    def epoch(self, epoch: int, metrics: dict) -> None:
        if self.writer is None:
            return
        for k in COLUMNS[1:]:
            if k in metrics:
                self.writer.add_scalar(k, float(metrics[k]), epoch)
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
