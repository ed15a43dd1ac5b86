"""Metrics, the one module: accuracy of logits (top-k, per class, many/medium/few shot) and the label
and score metrics of the audio and MuSe families (confusion, macro-F1, UAR, per-class recall, ROC-AUC,
Pearson r, CCC).

Label/score metrics take array-likes and return Python floats (NaN when undefined); they are
scikit-learn's and SciPy's where those compute the thing (``confusion_matrix``, ``f1_score``,
``recall_score``, ``balanced_accuracy_score``, ``roc_auc_score``, ``scipy.stats.pearsonr``), wrapped
for the cases they reject (one class only, a constant series, no items). CCC has no library form:
by default it is the MuSe 2022 challenge script's (``np.cov``, ``ddof=1``); ``ddof=0`` gives the
population-moment CCC (``ccc_pop`` in the MuSe reports, the form the training loss uses).

Shot groups (many/medium/few) are the Decoupling convention (many > 100, few < 20; Kang et al., ICLR
2020) or the OLTR one (many >= 100, few <= 20; Liu et al., CVPR 2019); see shared/methods/longtail.md.
"""

from __future__ import annotations

import warnings
from typing import Callable, Sequence

import numpy as np
import torch

from .errors import LtError

SHOT_CONVENTIONS = ("decoupling", "oltr")


# -- accuracy of logits -----------------------------------------------------------------------------
def topk_accuracy(logits: torch.Tensor, targets: torch.Tensor, k: int = 1) -> float:
    if targets.numel() == 0:
        return float("nan")
    k = min(k, logits.shape[1])
    hit = (logits.topk(k, dim=1).indices == targets[:, None]).any(1)
    return float(hit.float().mean())


def per_class_accuracy(logits: torch.Tensor, targets: torch.Tensor, num_classes: int | None = None) -> list[float]:
    """Accuracy of each class (NaN for a class absent from ``targets``)."""
    c = num_classes or logits.shape[1]
    correct = torch.bincount(targets[logits.argmax(1) == targets], minlength=c).double()
    total = torch.bincount(targets, minlength=c).double()
    acc = correct / total
    return [float(a) for a in acc]


def classification_metrics(logits: torch.Tensor, targets: torch.Tensor) -> dict:
    """``top1``, ``top5`` and ``per_class`` accuracy."""
    return {"top1": topk_accuracy(logits, targets, 1), "top5": topk_accuracy(logits, targets, 5),
            "per_class": per_class_accuracy(logits, targets)}


def shot_groups(train_counts: Sequence[int], convention: str = "decoupling",
                many: int = 100, few: int = 20) -> dict[str, list[int]]:
    """Class indices per group ``many``/``medium``/``few`` from training counts.

    ``decoupling``: many > ``many``, few < ``few``; ``oltr``: many >= ``many``, few <= ``few``.
    """
    if convention not in SHOT_CONVENTIONS:
        raise LtError(f"unknown shot convention '{convention}'; valid: {', '.join(SHOT_CONVENTIONS)}")
    groups: dict[str, list[int]] = {"many": [], "medium": [], "few": []}
    for c, n in enumerate(train_counts):
        is_many = n > many if convention == "decoupling" else n >= many
        is_few = n < few if convention == "decoupling" else n <= few
        groups["many" if is_many else "few" if is_few else "medium"].append(c)
    return groups


def longtail_metrics(train_counts: Sequence[int], convention: str = "decoupling", many: int = 100,
                     few: int = 20) -> Callable[[torch.Tensor, torch.Tensor], dict]:
    """Metrics fn adding ``many``/``medium``/``few`` accuracy (mean of per-class accuracy in each group)."""
    groups = shot_groups(train_counts, convention, many, few)

    def metrics(logits: torch.Tensor, targets: torch.Tensor) -> dict:
        out = classification_metrics(logits, targets)
        pc = torch.tensor(out["per_class"], dtype=torch.float64)
        for g, classes in groups.items():
            vals = pc[classes] if classes else torch.empty(0)
            vals = vals[~torch.isnan(vals)]
            out[g] = float(vals.mean()) if vals.numel() else float("nan")
        out["shot_groups"] = {g: len(c) for g, c in groups.items()}
        return out

    return metrics


# -- labels: predicted class against true class -------------------------------------------------------
def _labels(a) -> np.ndarray:
    return np.asarray(a, dtype=np.int64).reshape(-1)


def confusion(y_true, y_pred, num_classes: int) -> np.ndarray:
    """``cm[t, p]`` = number of items of class t predicted as p (``sklearn.metrics.confusion_matrix``)."""
    from sklearn.metrics import confusion_matrix

    y, p = _labels(y_true), _labels(y_pred)
    if y.size == 0:
        return np.zeros((num_classes, num_classes), dtype=np.int64)
    return confusion_matrix(y, p, labels=range(num_classes)).astype(np.int64)


def macro_f1(y_true, y_pred, num_classes: int) -> float:
    """F1 averaged over all ``num_classes`` classes, 0 where undefined (``f1_score(average="macro",
    zero_division=0, labels=range(num_classes))``); NaN with no items."""
    from sklearn.metrics import f1_score

    y, p = _labels(y_true), _labels(y_pred)
    if y.size == 0:
        return float("nan")
    return float(f1_score(y, p, labels=range(num_classes), average="macro", zero_division=0))


def per_class_recall(y_true, y_pred, num_classes: int) -> np.ndarray:
    """Recall of each class, NaN for a class absent from ``y_true`` (``recall_score(average=None)``)."""
    from sklearn.metrics import recall_score

    y, p = _labels(y_true), _labels(y_pred)
    if y.size == 0:
        return np.full(num_classes, np.nan)
    return recall_score(y, p, labels=range(num_classes), average=None, zero_division=np.nan).astype(np.float64)


def uar(y_true, y_pred) -> float:
    """Unweighted average recall: the mean recall of the classes present in ``y_true``, the metric of the
    INTERSPEECH ComParE snore tasks (``sklearn.metrics.balanced_accuracy_score``); NaN with no items."""
    from sklearn.metrics import balanced_accuracy_score

    y, p = _labels(y_true), _labels(y_pred)
    if y.size == 0:
        return float("nan")
    with warnings.catch_warnings():  # a class predicted but absent from y_true: sklearn warns, ignores it
        warnings.simplefilter("ignore")
        return float(balanced_accuracy_score(y, p))


# -- scores: a continuous prediction against a label or target ----------------------------------------
def _vec(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64).reshape(-1)


def roc_auc(scores, labels) -> float:
    """Binary ROC-AUC of ``scores`` (ties averaged; ``sklearn.metrics.roc_auc_score``); ``labels`` > 0.5
    are positive. NaN with one class only."""
    from sklearn.metrics import roc_auc_score

    s, y = _vec(scores), _vec(labels) > 0.5
    if y.all() or not y.any():
        return float("nan")
    return float(roc_auc_score(y, s))


def ovr_auc(probs, y_true) -> float:
    """Macro mean of the one-vs-rest AUCs of the classes present in ``y_true`` (``probs``: (N, C)).

    With every class present this is ``roc_auc_score(multi_class="ovr", average="macro")``; an absent
    class is left out of the mean instead of an error."""
    probs, y = np.asarray(probs, dtype=np.float64), _labels(y_true)
    aucs = [roc_auc(probs[:, c], y == c) for c in range(probs.shape[1])]
    aucs = [a for a in aucs if np.isfinite(a)]
    return float(np.mean(aucs)) if aucs else float("nan")


def pearson(pred, target) -> float:
    """``scipy.stats.pearsonr`` r; NaN when either side is constant (or has fewer than 2 values)."""
    from scipy.stats import pearsonr

    p, t = _vec(pred), _vec(target)
    if p.size < 2 or np.ptp(p) == 0 or np.ptp(t) == 0:
        return float("nan")
    return float(pearsonr(p, t)[0])


def mean_pearson(pred, target) -> tuple[float, list[float]]:
    """Mean over columns of the per-column Pearson r, and the per-column values. (N, K) inputs."""
    p = np.asarray(pred, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    if p.ndim == 1:
        p, t = p[:, None], t[:, None]
    per = [pearson(p[:, k], t[:, k]) for k in range(p.shape[1])]
    return float(np.mean(per)), per


def ccc(pred, target, ddof: int = 1) -> float:
    """Concordance correlation 2·cov/(σp² + σt² + (μp − μt)²).

    ``ddof=1`` (default): the MuSe 2022 challenge script's (means by ``np.mean``, (co)variances by
    ``np.cov``); ``ddof=0``: population moments (``ccc_pop``). The two are equal when the means agree
    and differ by O(1/n) through the (μp − μt)² term otherwise. NaN for fewer than ``ddof + 1`` points
    or a zero denominator.
    """
    p, t = _vec(pred), _vec(target)
    if p.size <= ddof:
        return float("nan")
    cov = np.cov(p, t, ddof=ddof)
    denom = cov[0, 0] + cov[1, 1] + (p.mean() - t.mean()) ** 2
    return float(2.0 * cov[0, 1] / denom) if denom > 0 else float("nan")
