"""Knowledge-distillation losses: single-teacher KD and the multi-teacher combine rules.

KD: Hinton, Vinyals, Dean, "Distilling the Knowledge in a Neural Network", NIPS-W 2014,
arXiv 1503.02531::

    L = alpha * CE(z_s, y) + (1 - alpha) * tau^2 * KL(softmax(z_t / tau) || softmax(z_s / tau))   (batchmean)

The gradient of ``tau^2 * KL`` with respect to the student logits is ``tau * (p_s - p_t) / B``.

Multi-teacher combine rules (UKD, Jin et al., arXiv 2308.09327, assembles K teachers; the abstract
does not say how, so these are our choice, selected with ``--combine``):

* ``mean-kl``: mean over teachers of the per-teacher KL. Its student gradient equals that of the KL
  to the mean teacher probability (``sum_k (p_s - p_t,k) / K = p_s - mean_k p_t,k``).
* ``mean-logits``: KL to ``softmax(mean_k z_t,k / tau)`` -- a different (sharper-consensus) target.
* ``confidence``: per-sample weights over teachers proportional to each teacher's probability of the
  true class (at tau = 1), so a teacher that is wrong on a sample counts less there.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from ..engine.registry import Registry

COMBINES = Registry("combine rule")


def _f(x: torch.Tensor) -> torch.Tensor:
    """Half/bfloat16 (autocast) logits up to float32; float32/float64 unchanged."""
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def kl_to_target(student_logits: torch.Tensor, target_probs: torch.Tensor, tau: float,
                 weights: torch.Tensor | None = None) -> torch.Tensor:
    """``tau^2 * KL(target || softmax(z_s / tau))`` averaged over the batch (optionally per-sample weighted)."""
    log_ps = F.log_softmax(_f(student_logits) / tau, dim=1)
    kl = (target_probs * (torch.log(target_probs.clamp_min(1e-30)) - log_ps)).sum(1)
    if weights is not None:
        kl = kl * weights
    return tau * tau * kl.sum() / student_logits.shape[0]


def _per_teacher_kl(student: torch.Tensor, teachers: torch.Tensor, tau: float) -> torch.Tensor:
    """(B, K) matrix of KL(softmax(z_t,k / tau) || softmax(z_s / tau)), all teachers at once."""
    log_pt = F.log_softmax(_f(teachers) / tau, dim=2)
    log_ps = F.log_softmax(_f(student) / tau, dim=1)[:, None]
    return (log_pt.exp() * (log_pt - log_ps)).sum(2)


@COMBINES.register("mean-kl")
def mean_kl(student: torch.Tensor, teachers: torch.Tensor, targets: torch.Tensor, tau: float) -> torch.Tensor:
    """Mean over the K teachers of ``tau^2 * KL(p_t,k || p_s)``; ``teachers`` is (B, K, C)."""
    return tau * tau * _per_teacher_kl(student, teachers, tau).mean(1).sum() / student.shape[0]


@COMBINES.register("mean-logits")
def mean_logits(student: torch.Tensor, teachers: torch.Tensor, targets: torch.Tensor, tau: float) -> torch.Tensor:
    """``tau^2 * KL(softmax(mean_k z_t,k / tau) || p_s)``."""
    return kl_to_target(student, F.softmax(_f(teachers).mean(1) / tau, dim=1), tau)


@COMBINES.register("confidence")
def confidence(student: torch.Tensor, teachers: torch.Tensor, targets: torch.Tensor, tau: float) -> torch.Tensor:
    """Per-sample teacher weights w_k proportional to p_t,k(y) (tau = 1); sum_k w_k * tau^2 * KL_k."""
    conf = F.softmax(_f(teachers), dim=2).gather(2, targets.view(-1, 1, 1).expand(-1, teachers.shape[1], 1))[..., 0]
    w = conf / conf.sum(1, keepdim=True).clamp_min(1e-12)
    return tau * tau * (w * _per_teacher_kl(student, teachers, tau)).sum() / student.shape[0]


def get_combine(name: str) -> Callable:
    return COMBINES.get(name)


def list_combines() -> list[str]:
    return COMBINES.names()


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, targets: torch.Tensor,
            ce_weight: float = 0.5, tau: float = 4.0, combine: str = "mean-kl") -> torch.Tensor:
    """``ce_weight * CE + (1 - ce_weight) * combine(...)`` (``alpha`` of the formula above is ``--ce-weight``);
    ``teacher_logits`` is (B, C) or (B, K, C).

    Defaults ce_weight 0.5 and tau 4 are our choice (common KD settings; the UKD abstract gives none).
    """
    if teacher_logits.dim() == 2:
        teacher_logits = teacher_logits[:, None]
    ce = F.cross_entropy(_f(student_logits), targets)
    if ce_weight == 1.0:
        return ce
    return ce_weight * ce + (1 - ce_weight) * get_combine(combine)(student_logits, teacher_logits, targets, tau)


__all__ = ["COMBINES", "kd_loss", "kl_to_target", "get_combine", "list_combines"]
