"""``gpugrad eval``: a trained run on a labelled file: accuracy, per-class precision and recall,
and the confusion matrix as a PNG beside the run.

Conventions follow scikit-learn's ``confusion_matrix`` / ``precision_recall_fscore_support``:
rows are true classes, columns predicted ones; precision of class c = C[c, c] / column sum,
recall = C[c, c] / row sum, and a class never predicted (or absent) gets 0 there, not NaN.
"""
from __future__ import annotations

import os

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """(C, C) int64 counts; entry [t, p] = samples of true class t predicted as p."""
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(
        n_classes, n_classes).astype(np.int64)


def class_report(cm: np.ndarray) -> dict:
    """Accuracy and per-class precision, recall and support from a confusion matrix."""
    tp = np.diag(cm).astype(np.float64)
    predicted, actual = cm.sum(axis=0), cm.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    return {"accuracy": float(tp.sum() / max(1, cm.sum())), "precision": precision, "recall": recall,
            "support": actual}


def format_report(report: dict, classes) -> str:
    """The per-class table printed by ``gpugrad eval``."""
    width = max(5, *(len(str(c)) for c in classes))
    lines = [f"{'label':>{width}}  precision  recall  support"]
    for i, c in enumerate(classes):
        lines.append(f"{c!s:>{width}}  {100 * report['precision'][i]:8.2f}%  {100 * report['recall'][i]:5.1f}%"
                     f"  {int(report['support'][i]):7d}")
    return "\n".join(lines)


def plot_confusion(cm: np.ndarray, classes, path: str, title: str) -> str:
    """The confusion matrix as a PNG (matplotlib, Agg): counts in the cells, rows true labels,
    columns predicted labels, in the user's original label values. Written atomically."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    n = len(classes)
    size = min(12.0, 2.5 + 0.45 * n)
    fig = Figure(figsize=(size + 1.2, size), dpi=100)
    ax = fig.subplots()
    im = ax.imshow(cm, cmap="Blues", vmin=0)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="samples")
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xticklabels([str(c) for c in classes], rotation=90 if n > 12 else 0)
    ax.set_yticklabels([str(c) for c in classes])
    ax.set(xlabel="predicted label", ylabel="true label", title=title)
    if n <= 30:  # beyond that the numbers no longer fit in the cells
        high = cm.max() / 2 if cm.size else 0
        for t in range(n):
            for p in range(n):
                ax.text(p, t, str(cm[t, p]), ha="center", va="center", fontsize=8 if n > 12 else 10,
                        color="white" if cm[t, p] > high else "black")
    return _save_figure(fig, path)


def plot_regression(y_true: np.ndarray, y_pred: np.ndarray, path: str, names, title: str) -> str:
    """Two panels per output as one PNG: predicted against true (with the y = x line) and the
    residuals (predicted - true) against the prediction (with 0), in the label's units. Written
    atomically."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    t = np.asarray(y_true, np.float64).reshape(len(y_true), -1)
    p = np.asarray(y_pred, np.float64).reshape(len(y_pred), -1)
    k = t.shape[1]
    fig = Figure(figsize=(10, 4.2 * k), dpi=100)
    axes = fig.subplots(k, 2, squeeze=False)
    alpha = 0.6 if len(t) < 2000 else 0.2
    for j in range(k):
        name = names[j] if j < len(names) else f"output {j + 1}"
        a1, a2 = axes[j]
        a1.scatter(t[:, j], p[:, j], s=10, alpha=alpha, edgecolors="none")
        lo, hi = float(min(t[:, j].min(), p[:, j].min())), float(max(t[:, j].max(), p[:, j].max()))
        a1.plot([lo, hi], [lo, hi], color="black", lw=1, label="predicted = true")
        a1.set(xlabel=f"true {name}", ylabel=f"predicted {name}", title="predicted vs true")
        a1.legend(loc="upper left")
        a2.scatter(p[:, j], p[:, j] - t[:, j], s=10, alpha=alpha, edgecolors="none", color="tab:orange")
        a2.axhline(0, color="black", lw=1)
        a2.set(xlabel=f"predicted {name}", ylabel="residual (predicted - true)", title="residuals")
        for ax in (a1, a2):
            ax.grid(alpha=0.3)
    fig.suptitle(title)
    return _save_figure(fig, path)


def _save_figure(fig, path: str) -> str:
    """Write ``fig`` to ``path`` as PNG through a temporary file and a rename, so an interrupted
    eval never leaves a truncated plot; returns ``path``."""
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp.png"
    fig.savefig(tmp, format="png")
    os.replace(tmp, path)
    return path
