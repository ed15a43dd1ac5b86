"""DI, TI and SI: input-transform (and gradient-smoothing) hooks on the momentum loop.

Papers: Xie et al., "Improving Transferability of Adversarial Examples with Input Diversity", CVPR
2019, arXiv 1803.06978 (DI: random resize to [r·W, W) then random zero-pad back to W with
probability p; paper p = 0.5; resize_rate 0.9 as torchattacks); Dong et al., "Evading Defenses to
Transferable Adversarial Examples by Translation-Invariant Attacks", CVPR 2019, arXiv 1904.02884
(TI: gradient convolved with a normalised Gaussian kernel, paper 15×15, nsig 3; with DI, as
torchattacks' TIFGSM); Lin et al., ICLR 2020, arXiv 1908.06281 (SI: mean gradient over the copies
x / 2^i, i < m = 5).
Momentum defaults: ``difgsm`` and ``tifgsm`` decay 0.0 (DI²-FGSM / TI-DIM off; torchattacks'
defaults), ``sifgsm`` and ``sinifgsm`` decay 1.0 (SI-MI / SI-NI as in the paper). The random draws
of DI follow torchattacks' order, so ``difgsm``/``tifgsm``/``sinifgsm`` match DIFGSM/TIFGSM/SINIFGSM
on the same stream. The transforms are one mixin of hooks (``InputTransforms``), so DTA and VDTA
take them as options too (SI copies each go through DI when both are on).

    lt attack difgsm --decay 1.0 --diversity-prob 0.5 --resize-rate 0.9 ...
    lt attack tifgsm --len-kernel 15 --nsig 3 ...
    lt attack sifgsm --n-scales 5 ...      lt attack sinifgsm --n-scales 5 ...
    lt attack dta --diversity-prob 0.5 --ti --n-scales 3 ...
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ..engine.errors import check
from .momentum import MIFGSM

KERNELS = ("gaussian", "linear", "uniform")


class InputTransforms:
    """Mixin: DI / TI / SI as hooks of the one loop, on in any combination.

    ``inputs(x)``: the copies x / 2^i (i < ``n_scales``; SI), each through DI's random resize-and-pad
    (probability ``diversity_prob``) when DI is on; ``smooth(g)``: TI's kernel when TI is on. The
    loop averages the copies' gradients, then smooths, then the attack's update normalises — so the
    hooks compose with MI/NI and with DTA's inner loop alike. Options not given leave a transform
    off (``difgsm``/``tifgsm``/``sifgsm`` switch their own on by default).
    """

    default_di = default_ti = False
    default_n_scales = 1

    def configure(self, resize_rate: float | None = None, diversity_prob: float | None = None,
                  ti: bool | None = None, kernel_name: str | None = None, len_kernel: int | None = None,
                  nsig: float | None = None, n_scales: int | None = None, **options: Any) -> None:
        self.di = self.default_di or resize_rate is not None or diversity_prob is not None
        self.resize_rate = 0.9 if resize_rate is None else float(resize_rate)
        self.diversity_prob = 0.5 if diversity_prob is None else float(diversity_prob)
        check(self.resize_rate > 0 and self.resize_rate != 1, "resize_rate must be > 0 and != 1")
        check(0 <= self.diversity_prob <= 1, "diversity_prob must be in [0, 1]")
        kernel_given = [n for n, v in (("kernel_name", kernel_name), ("len_kernel", len_kernel), ("nsig", nsig))
                        if v is not None]
        self.ti = self.default_ti or bool(ti)
        check(self.ti or not kernel_given, f"{', '.join(kernel_given)} need(s) ti=True (--ti)")
        self.kernel_name = kernel_name or "gaussian"
        self.len_kernel = int(15 if len_kernel is None else len_kernel)
        self.nsig = float(3 if nsig is None else nsig)
        check(self.kernel_name in KERNELS, f"unknown kernel_name '{self.kernel_name}'; valid: {', '.join(KERNELS)}")
        check(self.len_kernel >= 1 and self.len_kernel % 2 == 1, "len_kernel must be a positive odd number")
        self.kernel = ti_kernel(self.kernel_name, self.len_kernel, self.nsig) if self.ti else None
        self.n_scales = int(self.default_n_scales if n_scales is None else n_scales)
        check(self.n_scales >= 1, f"n_scales must be >= 1 (got {self.n_scales})")
        super().configure(**options)

    def resolved_options(self) -> dict[str, Any]:
        """As the base, but the options of a transform that is off are None (giving them would turn it on)."""
        out = super().resolved_options()
        off = ((() if self.di else ("resize_rate", "diversity_prob"))
               + (() if self.ti else ("kernel_name", "len_kernel", "nsig")))
        out.update({k: None for k in off if k in out})
        return out

    def inputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        copies = [x if i == 0 else x / (2 ** i) for i in range(self.n_scales)]
        return [self.diverse(c) for c in copies] if self.di else copies

    def diverse(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-1]
        low, high = int(size * self.resize_rate), size
        if self.resize_rate > 1:
            low, high = size, low
        check(high > low, f"images of side {size} are too small for resize_rate {self.resize_rate}")
        rnd = self.randint(low, high)
        rescaled = F.interpolate(x, size=[rnd, rnd], mode="bilinear", align_corners=False)
        rem = high - rnd
        top, left = self.randint(0, rem), self.randint(0, rem)
        padded = F.pad(rescaled, [left, rem - left, top, rem - top], value=0)
        return padded if self.rand() < self.diversity_prob else x

    def smooth(self, g: torch.Tensor) -> torch.Tensor:
        if not self.ti:
            return g
        c = g.shape[1]
        k = self.kernel.to(g.device, g.dtype).expand(c, 1, -1, -1)
        return F.conv2d(g, k, stride=1, padding="same", groups=c)


#: the transform options an attack that composes DI/TI/SI (``dta``, ``vdta``) takes
TRANSFORM_OPTIONS = ("resize_rate", "diversity_prob", "ti", "kernel_name", "len_kernel", "nsig", "n_scales")


class DIFGSM(InputTransforms, MIFGSM):
    """Momentum loop whose surrogate sees one random resize-and-pad copy per gradient."""

    name = "difgsm"
    options = ("decay", "resize_rate", "diversity_prob")
    default_decay = 0.0
    default_di = True


class TIFGSM(DIFGSM):
    """DI loop whose gradient is smoothed by a depth-wise kernel before normalisation."""

    name = "tifgsm"
    options = DIFGSM.options + ("kernel_name", "len_kernel", "nsig")
    default_ti = True


def ti_kernel(name: str = "gaussian", size: int = 15, nsig: float = 3.0) -> torch.Tensor:
    """A normalised (size, size) smoothing kernel: Gaussian over [−nsig, nsig], linear or uniform."""
    import numpy as np

    if name == "gaussian":
        from scipy import stats

        k1 = stats.norm.pdf(np.linspace(-nsig, nsig, size))
    elif name == "linear":
        k1 = 1 - np.abs(np.linspace((-size + 1) / 2, (size - 1) / 2, size) / (size + 1) * 2)
    else:
        k1 = np.ones(size)
    k = np.outer(k1, k1)
    return torch.from_numpy((k / k.sum()).astype(np.float32))


class SIFGSM(InputTransforms, MIFGSM):
    """Momentum loop on the mean gradient of the scale copies x / 2^i, i < ``n_scales`` (default 5)."""

    name = "sifgsm"
    options = ("decay", "n_scales")
    default_n_scales = 5


class SINIFGSM(SIFGSM):
    """SI-NI-FGSM: the SI copies taken at NI's look-ahead x + μ·α·g (torchattacks' SINIFGSM)."""

    name = "sinifgsm"
    nesterov = True
