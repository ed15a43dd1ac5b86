"""SSBPR metrics: the report's set (accuracy, macro-F1, UAR, per-class recall, one-vs-rest AUC,
confusion matrix) and the confusion matrix as table rows and PNG.

The metrics themselves live in :mod:`toolkit.engine.metrics` (scikit-learn's where it computes them;
tests check them against ``f1_score(average="macro")``, ``balanced_accuracy_score`` and
``roc_auc_score(multi_class="ovr")``). UAR (unweighted average recall, the mean of the per-class
recalls over the classes present in the targets) is the usual metric of the INTERSPEECH ComParE snore
tasks. Classes absent from the targets get recall NaN and are left out of the AUC mean; F1 is averaged
over all ``num_classes`` (0 where undefined).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..engine.metrics import confusion, macro_f1, ovr_auc, per_class_recall, uar


def audio_metrics(probs: np.ndarray, y_true: Sequence[int], num_classes: int) -> dict:
    """``accuracy``, ``macro_f1``, ``uar``, ``auc``, ``recall`` (per class) and ``confusion`` (list of lists)."""
    probs = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y_true, dtype=np.int64)
    pred = probs.argmax(1)
    return {"accuracy": float((pred == y).mean()) if y.size else float("nan"),
            "macro_f1": macro_f1(y, pred, num_classes), "uar": uar(y, pred), "auc": ovr_auc(probs, y),
            "recall": per_class_recall(y, pred, num_classes).tolist(),
            "confusion": confusion(y, pred, num_classes).tolist()}


def confusion_rows(cm: np.ndarray, names: Sequence[str]) -> list[dict]:
    """The confusion matrix as table rows: ``true`` then one column per predicted class."""
    return [{"true": names[t], **{f"pred_{names[p]}": int(cm[t, p]) for p in range(len(names))}}
            for t in range(len(names))]


def plot_confusion(cm: np.ndarray, names: Sequence[str], path: Path, title: str) -> bool:
    """Write a PNG of ``cm`` (row-normalised colours, counts written in); False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    from ..engine.checkpoint import atomic_path

    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.2 * len(names) + 2, 1.1 * len(names) + 1.5))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    for t in range(len(names)):
        for p in range(len(names)):
            ax.text(p, t, str(int(cm[t, p])), ha="center", va="center", color="white" if norm[t, p] > 0.5 else "black")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return True
