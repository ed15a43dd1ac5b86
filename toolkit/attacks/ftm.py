"""FTM — fuzziness-tuned logits: confidence scaling and temperature, pluggable into every attack.

Paper: Yang, Lin, Zhang, Yang, Zhao, "Fuzziness-tuned: Improving the Transferability of Adversarial
Examples", arXiv 2303.10078. Used in **every** gradient evaluation of the base attack (MI at x_t, NI
at the look-ahead, VMI/VNI neighbours, each DI/TI/SI copy) through :meth:`Attack.loss`.

Order of the authors' helper (FOTA ``fuzziness_tuned``): (1) z_y ← κ·z_y for the true class y;
(2) a sample counts as misclassified when the argmax of **these scaled** logits is not y, and then
its argmax class (the top wrong class) is scaled by κ_w; (3) p = softmax(z̃/τ), loss CE(p, ·).
Deciding (2) on the unscaled logits differs whenever κ ≠ 1 and κ_w ≠ 1 (κ < 1 can turn a correct
sample into a misclassified one). In targeted mode y is the true label, not the target (FOTA).
Gradient identity for correctly classified samples: ∂L/∂z_y = κ(p_y − 1)/τ, ∂L/∂z_j = p_j/τ.
κ = κ_w = τ = 1 is the base attack bit for bit (multiplying and dividing by 1.0 is exact). Library
defaults 1, 1, 1 (off); ``lt attack ... --ftm`` uses the authors' harness values κ = 1.0, κ_w = 0.9,
τ = 1.5 (TransferAttack uses κ = 0.8, τ = 2).

    lt attack mifgsm --ftm --kappa 1.0 --kappa-wrong 0.9 --tau 1.5 --surrogate S --victims V --dataset D
"""

from __future__ import annotations

import torch

# the authors' harness values, used by ``--ftm`` when --kappa/--kappa-wrong/--tau are not given (one definition)
from .options import FTM_DEFAULTS

__all__ = ["FTM_DEFAULTS", "ftm_logits"]


def ftm_logits(z: torch.Tensor, y: torch.Tensor, kappa: float = 1.0, kappa_wrong: float = 1.0,
               tau: float = 1.0) -> torch.Tensor:
    """Scaled logits z̃/τ: true class × κ, then the argmax of misclassified samples (after κ) × κ_w, all / τ."""
    scale = torch.ones_like(z)
    scale.scatter_(1, y[:, None], kappa)
    if kappa_wrong != 1.0:
        top = (z.detach() * scale).argmax(dim=1)  # decided after the κ scaling, as the authors' helper
        rows = torch.nonzero(top != y).squeeze(1)
        scale[rows, top[rows]] = kappa_wrong
    return z * scale / tau
