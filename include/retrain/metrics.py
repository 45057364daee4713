"""Classification metrics on plain arrays (no sklearn needed at evaluation time)."""

from __future__ import annotations

import numpy as np


def confusion(y_true: np.ndarray, y_pred: np.ndarray, classes: int) -> np.ndarray:
    m = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(m, (y_true, y_pred), 1)
    return m


def summary(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str]) -> dict[str, float]:
    """accuracy, macro_f1 and recall_<label> for every label."""
    m = confusion(y_true, y_pred, len(labels))
    tp = np.diag(m).astype(float)
    support, predicted = m.sum(axis=1).astype(float), m.sum(axis=0).astype(float)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(tp), where=(precision + recall) > 0)
    present = support > 0
    out = {
        "accuracy": float(tp.sum() / max(len(y_true), 1)),
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
    }
    out.update({f"recall_{label}": float(recall[i]) for i, label in enumerate(labels)})
    return out
