"""Training losses for the three MuSe 2022 tasks (a small name -> builder registry).

- ``bce``   (humor; official baseline): binary cross-entropy on the logit.
- ``focal`` (humor; Li et al., MuSe 2022, arXiv 2208.03051 — α 0.25, γ 2, the team's values):
  Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017, arXiv 1708.02002.
- ``mse``   (reaction; official baseline): mean squared error of the sigmoid outputs.
- ``ccc``   (stress; official baseline): 1 − CCC, population moments, computed per sequence over
  its valid (masked) steps, then averaged over sequences and label dimensions.

Each loss is ``fn(raw, target, mask) -> scalar``; ``raw`` is the model output before the task's
activation (logit for humor, pre-sigmoid for reaction, pre-tanh for stress).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..engine.registry import Registry
from .options import DEFAULT_LOSS, TASK_LOSSES, check_loss

__all__ = ["DEFAULT_LOSS", "LOSSES", "TASK_LOSSES", "bce", "ccc_loss", "focal", "get_loss", "masked_ccc", "mse"]

LOSSES = Registry("muse loss")


@LOSSES.register("bce")
def bce(raw: torch.Tensor, target: torch.Tensor, mask=None) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(raw.reshape(-1), target.reshape(-1).to(raw.dtype))


@LOSSES.register("focal")
def focal(raw: torch.Tensor, target: torch.Tensor, mask=None, alpha: float = 0.25,
          gamma: float = 2.0) -> torch.Tensor:
    """Binary focal loss: −α_t (1 − p_t)^γ log p_t, averaged over segments."""
    z, y = raw.reshape(-1), target.reshape(-1).to(raw.dtype)
    logp = -F.binary_cross_entropy_with_logits(z, y, reduction="none")  # log p_t
    p_t = logp.exp()
    a_t = alpha * y + (1 - alpha) * (1 - y)
    return (-a_t * (1 - p_t).pow(gamma) * logp).mean()


@LOSSES.register("mse")
def mse(raw: torch.Tensor, target: torch.Tensor, mask=None) -> torch.Tensor:
    return F.mse_loss(torch.sigmoid(raw), target.to(raw.dtype))


def masked_ccc(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """CCC per (sequence, dimension) over valid steps. pred/target (B,T,K), mask (B,T,K) bool -> (B,K)."""
    m = mask.to(pred.dtype)
    n = m.sum(1).clamp_min(1.0)
    t = torch.where(mask, target, torch.zeros_like(target))
    mp, mt = (pred * m).sum(1) / n, (t * m).sum(1) / n
    dp, dt = (pred - mp[:, None]) * m, (t - mt[:, None]) * m
    vp, vt = (dp * dp).sum(1) / n, (dt * dt).sum(1) / n
    cov = (dp * dt).sum(1) / n
    return 2 * cov / (vp + vt + (mp - mt) ** 2 + 1e-8)


@LOSSES.register("ccc")
def ccc_loss(raw: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """1 − CCC of tanh outputs, per sequence (masked), averaged over sequences with ≥ 2 valid steps."""
    valid = mask & torch.isfinite(target)
    c = masked_ccc(torch.tanh(raw), target, valid)
    keep = valid.sum(1) >= 2
    if not keep.any():
        return (raw * 0).sum()
    return 1 - c[keep].mean()


def get_loss(name: str, task: str):
    """The loss ``name`` for ``task`` (an unknown or ill-fitting name is an LtError listing valid ones)."""
    fn = LOSSES.get(name)
    check_loss(name, task)
    return fn
