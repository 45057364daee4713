"""Classification metrics of a model on plain label arrays, with scikit-learn.

``macro_f1`` is the unweighted mean of the per-class F1 over the classes present in ``y_true``
(support > 0): a class with no sample in the evaluated set is not counted, since its F1 would say
nothing about the model. ``recall_<label>`` is reported for every configured label (0.0 for a
label with no sample).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def confusion(y_true: np.ndarray, y_pred: np.ndarray, classes: int) -> np.ndarray:
    """Counts of (true, predicted) label pairs, rows = true labels."""
    from sklearn.metrics import confusion_matrix

    return np.asarray(confusion_matrix(y_true, y_pred, labels=list(range(classes))), dtype=np.int64)


def summary(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str]) -> dict[str, float]:
    """accuracy, macro_f1 and recall_<label> for every label."""
    from sklearn.metrics import accuracy_score, f1_score, recall_score

    present = np.unique(y_true)
    out = {
        "accuracy": float(accuracy_score(y_true, y_pred)) if len(y_true) else 0.0,
        "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0))
        if len(present)
        else 0.0,
    }
    recall = recall_score(y_true, y_pred, labels=list(range(len(labels))), average=None, zero_division=0)
    out.update({f"recall_{label}": float(recall[i]) for i, label in enumerate(labels)})
    return out


def confusion_png(matrix: np.ndarray, labels: list[str], path: Path, title: str) -> None:
    """The confusion matrix as a PNG (scikit-learn's display, matplotlib without a screen)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    ConfusionMatrixDisplay(matrix, display_labels=labels).plot(ax=ax, cmap="Blues", colorbar=False, xticks_rotation=30)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
