"""Classification metrics: top-1/top-5, per-class accuracy and many/medium/few-shot accuracy."""

from __future__ import annotations

from typing import Callable, Sequence

import torch


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


def longtail_metrics(train_counts: Sequence[int], convention: str = "decoupling", many: int = 100,
                     few: int = 20) -> Callable[[torch.Tensor, torch.Tensor], dict]:
    """Metrics fn adding ``many``/``medium``/``few`` accuracy (mean of per-class accuracy in each group)."""
    from ..data.longtail import shot_groups

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
