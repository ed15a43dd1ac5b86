"""VMI-FGSM and VNI-FGSM: variance tuning of the momentum gradient.

Paper: Wang & He, "Enhancing the Transferability of Adversarial Attacks through Variance Tuning",
CVPR 2021, arXiv 2103.15571. g ← μ·g + N(∇J(x) + v); v ← mean_i ∇J(x + U[−β·eps, β·eps]) − ∇J(x).
Defaults (paper's): N = ``n_samples`` = 20, β = ``beta`` = 1.5, μ = 1.0 (torchattacks uses N = 5).

    lt attack vmifgsm --n-samples 20 --beta 1.5 --surrogate resnet50 --victims vgg16 --data DIR
"""

from __future__ import annotations

from typing import Any

from ..engine.errors import check
from .momentum import MIFGSM, NIFGSM


class VarianceTuning:
    """Mixin: the ``n_samples`` and ``beta`` options (the loop's ``variance`` hook uses them)."""

    default_n_samples = 20
    default_beta = 1.5

    def configure(self, n_samples: int | None = None, beta: float | None = None, **options: Any) -> None:
        self.n_samples = int(self.default_n_samples if n_samples is None else n_samples)
        self.beta = float(self.default_beta if beta is None else beta)
        check(self.n_samples >= 1, f"n_samples must be >= 1 (got {self.n_samples})")
        check(self.beta > 0, f"beta must be > 0 (got {self.beta})")
        super().configure(**options)


class VMIFGSM(VarianceTuning, MIFGSM):
    """MI-FGSM with variance tuning (options ``decay``, ``n_samples``, ``beta``)."""

    name = "vmifgsm"
    options = ("decay", "n_samples", "beta")


class VNIFGSM(VarianceTuning, NIFGSM):
    """NI-FGSM with variance tuning (neighbours around x_t, not the look-ahead, as in the VT code)."""

    name = "vnifgsm"
    options = ("decay", "n_samples", "beta")
