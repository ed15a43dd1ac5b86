"""Long-tailed training objectives (the loss each `lt train ce --loss NAME` step minimises).

- ``ce``: cross-entropy.
- ``balanced-softmax``: CE(z + log n_c) in training only (Ren et al., "Balanced Meta-Softmax for
  Long-Tailed Visual Recognition", NeurIPS 2020, arXiv 2007.10740). Prediction uses raw z.
- ``ldam-drw``: label-distribution-aware margins m_c ∝ n_c^{-1/4} (max 0.5), logits scaled by
  s = 30 on a cosine (normalised) classifier, with deferred re-weighting by effective-number
  weights (β = 0.9999) from 80 % of the epochs on (paper: epoch 160 of 200) (Cao et al., "Learning
  Imbalanced Datasets with Label-Distribution-Aware Margin Loss", NeurIPS 2019, arXiv 1906.07413).

Every builder takes ``(train_counts, epochs, **options)`` and returns an engine ``Objective``.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..engine.errors import LtError
from ..engine.loop import Objective
from ..engine.registry import Registry

LOSSES = Registry("loss")


class LogitLoss(Objective):
    """An objective of the form ``loss(logits, y)``; subclasses override :meth:`criterion`."""

    def __init__(self, train_counts: Sequence[int]):
        self.counts = torch.as_tensor(list(train_counts), dtype=torch.float32)
        if (self.counts <= 0).any():
            raise LtError("every class needs at least one training sample for this loss")
        self.log_prior = self.counts.log()

    def to(self, device: torch.device) -> "LogitLoss":
        for k, v in list(vars(self).items()):
            if isinstance(v, torch.Tensor):
                setattr(self, k, v.to(device))
        return self

    def criterion(self, logits: torch.Tensor, y: torch.Tensor, epoch: int) -> torch.Tensor:
        return F.cross_entropy(logits, y)

    def loss(self, model: nn.Module, batch, epoch: int):
        x, y = batch
        logits = model(x)
        return self.criterion(logits.float(), y, epoch), logits, y


@LOSSES.register("ce")
class CrossEntropy(LogitLoss):
    """Plain cross-entropy."""

    def __init__(self, train_counts: Sequence[int], epochs: int = 1):
        super().__init__(train_counts)


@LOSSES.register("balanced-softmax")
class BalancedSoftmax(LogitLoss):
    """CE(z + log n_c): the softmax of the training prior-adjusted logits (training only)."""

    def __init__(self, train_counts: Sequence[int], epochs: int = 1):
        super().__init__(train_counts)

    def criterion(self, logits: torch.Tensor, y: torch.Tensor, epoch: int) -> torch.Tensor:
        return F.cross_entropy(logits + self.log_prior, y)


def effective_number_weights(counts: torch.Tensor, beta: float = 0.9999) -> torch.Tensor:
    """w_c = (1 - β) / (1 - β^{n_c}), normalised to sum to the number of classes."""
    w = (1.0 - beta) / (1.0 - torch.pow(torch.as_tensor(beta, dtype=torch.float64), counts.double()))
    return (w / w.sum() * len(counts)).float()


@LOSSES.register("ldam-drw")
class LDAMDRW(LogitLoss):
    """LDAM margins with deferred re-weighting.

    Args:
        max_margin: the largest margin (paper: 0.5). scale: logit scale s (paper: 30).
        drw_start: epoch (0-based) from which class weights apply; default ``int(0.8 * epochs)``
            (paper: 160 of 200). beta: effective-number β (paper: 0.9999).
    The model's head should be cosine (``normed_head=True`` in ``get_model``), as in the paper.
    """

    needs_normed_head = True

    def __init__(self, train_counts: Sequence[int], epochs: int = 200, max_margin: float = 0.5,
                 scale: float = 30.0, drw_start: int | None = None, beta: float = 0.9999):
        super().__init__(train_counts)
        m = self.counts.pow(-0.25)
        self.margins = m * (max_margin / m.max())
        self.scale = scale
        self.drw_start = int(0.8 * epochs) if drw_start is None else drw_start
        self.weights = effective_number_weights(self.counts, beta)

    def criterion(self, logits: torch.Tensor, y: torch.Tensor, epoch: int) -> torch.Tensor:
        shifted = logits - F.one_hot(y, logits.shape[1]) * self.margins[y][:, None]
        weight = self.weights if epoch >= self.drw_start else None
        return F.cross_entropy(self.scale * shifted, y, weight=weight)


LOSSES.register_lazy("isda", "toolkit.longtail.isda:ISDALoss")  # plain ISDA baseline (issue 3)


def list_losses() -> list[str]:
    return LOSSES.names()


def get_loss(name: str, train_counts: Sequence[int], epochs: int, **options) -> Objective:
    """Build a registered objective; options it does not take are an error."""
    import inspect

    cls = LOSSES.get(name)
    params = inspect.signature(cls).parameters
    extra = sorted(k for k, v in options.items() if v is not None and k not in params)
    if extra:
        raise LtError(f"loss '{name}' does not take option(s): {', '.join(extra)}")
    return cls(train_counts, epochs=epochs, **{k: v for k, v in options.items() if v is not None})

