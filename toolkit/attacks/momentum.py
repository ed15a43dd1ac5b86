"""MI-FGSM and NI-FGSM: momentum on the L1-normalised gradient (NI: at the Nesterov look-ahead).

Papers: Dong et al., "Boosting Adversarial Attacks with Momentum", CVPR 2018, arXiv 1710.06081;
Lin et al., "Nesterov Accelerated Gradient and Scale Invariance for Adversarial Attacks", ICLR 2020,
arXiv 1908.06281. Defaults (papers'): decay μ = 1.0, T = 10, α = eps/T.

    lt attack mifgsm --eps 16/255 --decay 1.0 --surrogate resnet50 --victims vgg16 --dataset DIR
    lt attack nifgsm --eps 16/255 ...
"""

from __future__ import annotations

from .base import Attack
from .options import AttackOptions


class MIFGSM(Attack):
    """g ← N(∇J(x)) + μ·g; x ← Π(x + α·sign g). Option: ``decay`` (μ, default 1.0)."""

    name = "mifgsm"
    momentum = True

    def configure(self, opts: AttackOptions) -> None:
        self.decay = opts.decay
        super().configure(opts)


class NIFGSM(MIFGSM):
    """MI-FGSM with the gradient taken at the look-ahead x + μ·α·g."""

    name = "nifgsm"
    nesterov = True
