"""FGSM, I-FGSM (BIM) and PGD: sign-gradient steps without momentum (the base loop as is).

Papers: Goodfellow et al., "Explaining and Harnessing Adversarial Examples", ICLR 2015,
arXiv 1412.6572 (FGSM); Kurakin et al., "Adversarial Examples in the Physical World", ICLR-W 2017,
arXiv 1607.02533 (I-FGSM/BIM); Madry et al., "Towards Deep Learning Models Resistant to Adversarial
Attacks", ICLR 2018, arXiv 1706.06083 (PGD).

    lt attack fgsm --eps 8/255 --surrogate S --victims V --dataset D
    lt attack ifgsm --eps 16/255 --steps 10 ...      (alpha default eps/steps)
    lt attack pgd --eps 8/255 --steps 10 --loss margin ...   (random start on; alpha 2.5·eps/steps)
"""

from __future__ import annotations

from .base import Attack


class IFGSM(Attack):
    """I-FGSM / BIM: x ← Π(x + α·sign ∇J), α = eps/steps by default (our choice), T = 10."""

    name = "ifgsm"


class FGSM(Attack):
    """FGSM: one step x + eps·sign ∇J (alpha, steps and multistep_alpha are not options of FGSM)."""

    name = "fgsm"


class PGD(Attack):
    """PGD: I-FGSM from a uniform random start; alpha default 2.5·eps/steps (our choice; ``PGDOptions``)."""

    name = "pgd"
