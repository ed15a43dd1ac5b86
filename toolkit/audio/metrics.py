"""SSBPR metrics: accuracy, macro-F1, UAR, per-class recall, one-vs-rest AUC, confusion matrix (+ PNG).

UAR (unweighted average recall, the mean of the per-class recalls over the classes present in the
targets; the usual metric of the INTERSPEECH ComParE snore tasks) is
``sklearn.metrics.balanced_accuracy_score``.

Computed with NumPy/SciPy (tests check them against scikit-learn's ``f1_score(average="macro")``
and ``roc_auc_score(multi_class="ovr")``). Classes absent from the targets get recall NaN and are
left out of the AUC mean; F1 is averaged over all ``num_classes`` (0 where undefined, like
scikit-learn's ``zero_division=0`` with ``labels=range(num_classes)``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np


def confusion(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """``cm[t, p]`` = number of items of class t predicted as p."""
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return cm


def macro_f1(cm: np.ndarray) -> float:
    tp = np.diag(cm).astype(float)
    denom = cm.sum(0) + cm.sum(1)
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    return float(f1.mean())


def recall(cm: np.ndarray) -> np.ndarray:
    support = cm.sum(1).astype(float)
    return np.divide(np.diag(cm), support, out=np.full(len(cm), np.nan), where=support > 0)


def binary_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve by the rank-sum (Mann-Whitney) formula, ties averaged."""
    from scipy.stats import rankdata

    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def ovr_auc(probs: np.ndarray, y_true: np.ndarray) -> float:
    """Macro mean of one-vs-rest AUCs over classes present (and absent) in ``y_true``."""
    aucs = [binary_auc(probs[:, c], y_true == c) for c in range(probs.shape[1])]
    aucs = [a for a in aucs if np.isfinite(a)]
    return float(np.mean(aucs)) if aucs else float("nan")


def uar(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Unweighted average recall: sklearn's ``balanced_accuracy_score`` (NaN with no items)."""
    from sklearn.metrics import balanced_accuracy_score

    y_true = np.asarray(y_true)
    if y_true.size == 0:
        return float("nan")
    import warnings

    with warnings.catch_warnings():  # a class predicted but absent from y_true: sklearn warns, ignores it
        warnings.simplefilter("ignore")
        return float(balanced_accuracy_score(y_true, np.asarray(y_pred)))


def audio_metrics(probs: np.ndarray, y_true: Sequence[int], num_classes: int) -> dict:
    """``accuracy``, ``macro_f1``, ``uar``, ``auc``, ``recall`` (per class) and ``confusion`` (list of lists)."""
    probs = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y_true, dtype=np.int64)
    pred = probs.argmax(1)
    cm = confusion(y, pred, num_classes)
    return {"accuracy": float((pred == y).mean()) if y.size else float("nan"), "macro_f1": macro_f1(cm),
            "uar": uar(y, pred), "auc": ovr_auc(probs, y), "recall": recall(cm).tolist(), "confusion": cm.tolist()}


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
