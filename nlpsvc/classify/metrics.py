"""Held-out evaluation: accuracy, macro-F1, per-class P/R/F1, confusion matrix, calibration.

For multi-label data, accuracy is precision@1 (the top label is one of the gold labels, as
fastText's ``test`` reports it) and F1 compares the predicted set (probability >= 0.5, or the top
label when none is) with the gold set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

ECE_BINS = 15


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray,
                               bins: int = ECE_BINS) -> float:
    """Σ_bins |bin|/n · |accuracy(bin) − mean confidence(bin)| over equal-width bins."""
    if len(confidence) == 0:
        return 0.0
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(ece)


def evaluate(
    probs: np.ndarray, gold: list[list[str]], classes: list[str], multilabel: bool
) -> dict[str, Any]:
    """All figures for one held-out set; ``probs`` is (n, C) in ``classes`` order."""
    index = {c: i for i, c in enumerate(classes)}
    n = len(gold)
    top = probs.argmax(1) if n else np.zeros(0, dtype=np.int64)
    confidence = probs[np.arange(n), top] if n else np.zeros(0)
    gold_ind = np.zeros((n, len(classes)), dtype=bool)
    for i, ls in enumerate(gold):
        gold_ind[i, [index[label] for label in ls]] = True
    correct = gold_ind[np.arange(n), top].astype(np.float64)
    out: dict[str, Any] = {"n": n, "accuracy": float(correct.mean()) if n else 0.0}
    if multilabel:
        pred_ind = probs >= 0.5
        pred_ind[np.arange(n), top] = True
        p, r, f, s = precision_recall_fscore_support(gold_ind, pred_ind, zero_division=0)
        confusion = None
    else:
        y = np.array([index[ls[0]] for ls in gold], dtype=np.int64)
        labels = np.arange(len(classes))
        p, r, f, s = precision_recall_fscore_support(y, top, labels=labels, zero_division=0)
        confusion = confusion_matrix(y, top, labels=labels).tolist()
    out["macro_f1"] = float(np.mean(f)) if len(f) else 0.0
    out["per_class"] = {
        c: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
            "support": int(s[i])}
        for i, c in enumerate(classes)
    }
    out["confusion"] = confusion  # rows: gold class, columns: predicted class
    out["ece"] = expected_calibration_error(confidence, correct)
    return out


def plot_confusion(confusion: list[list[int]], classes: list[str], path: Path,
                   title: str = "") -> None:
    """A PNG heat map of the confusion matrix (row-normalised colours, raw counts written)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = np.asarray(confusion, dtype=np.float64)
    norm = m / np.maximum(m.sum(1, keepdims=True), 1)
    size = max(4.0, 0.45 * len(classes) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    try:
        ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(range(len(classes)), classes, rotation=90, fontsize=8)
        ax.set_yticks(range(len(classes)), classes, fontsize=8)
        ax.set_xlabel("predicted")
        ax.set_ylabel("gold")
        if title:
            ax.set_title(title)
        if len(classes) <= 25:
            for i in range(len(classes)):
                for j in range(len(classes)):
                    ax.text(j, i, int(m[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if norm[i, j] > 0.5 else "black")
        fig.tight_layout()
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)
