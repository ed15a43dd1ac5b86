"""VMI-FGSM and VNI-FGSM: variance tuning of the momentum gradient.

Paper: Wang & He, "Enhancing the Transferability of Adversarial Attacks through Variance Tuning",
CVPR 2021, arXiv 2103.15571. g ← μ·g + N(∇J(x) + v); v ← mean_i ∇J(x + U[−β·eps, β·eps]) − ∇J(x).
Defaults (paper's): N = ``n_samples`` = 20, β = ``beta`` = 1.5, μ = 1.0 (torchattacks uses N = 5).

    lt attack vmifgsm --n-samples 20 --beta 1.5 --surrogate resnet50 --victims vgg16 --dataset DIR
"""

from __future__ import annotations

from .momentum import MIFGSM, NIFGSM
from .options import AttackOptions


class VarianceTuning:
    """Mixin: the ``n_samples`` and ``beta`` options (the loop's ``variance`` hook uses them)."""

    def configure(self, opts: AttackOptions) -> None:
        self.n_samples, self.beta = opts.n_samples, opts.beta
        super().configure(opts)


class VMIFGSM(VarianceTuning, MIFGSM):
    """MI-FGSM with variance tuning (options ``decay``, ``n_samples``, ``beta``)."""

    name = "vmifgsm"


class VNIFGSM(VarianceTuning, NIFGSM):
    """NI-FGSM with variance tuning (neighbours around x_t, not the look-ahead, as in the VT code)."""

    name = "vnifgsm"
