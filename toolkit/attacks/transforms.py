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

import torch
import torch.nn.functional as F

from ..engine.errors import check
from .momentum import MIFGSM
from .options import AttackOptions


class InputTransforms:
    """Mixin: DI / TI / SI as hooks of the one loop, on in any combination.

    ``inputs(x)``: the copies x / 2^i (i < ``n_scales``; SI), each through DI's random resize-and-pad
    (probability ``diversity_prob``) when DI is on; ``smooth(g)``: TI's kernel when TI is on. The
    loop averages the copies' gradients, then smooths, then the attack's update normalises — so the
    hooks compose with MI/NI and with DTA's inner loop alike. Options not given leave a transform
    off (``difgsm``/``tifgsm``/``sifgsm`` switch their own on by default).
    """

    def configure(self, opts: AttackOptions) -> None:
        # resolved by the options class: a transform's options are None exactly when it is off
        self.resize_rate = getattr(opts, "resize_rate", None)
        self.diversity_prob = getattr(opts, "diversity_prob", None)
        self.di = self.resize_rate is not None
        self.kernel_name = getattr(opts, "kernel_name", None)
        self.len_kernel, self.nsig = getattr(opts, "len_kernel", None), getattr(opts, "nsig", None)
        self.ti = self.kernel_name is not None
        self.kernel = ti_kernel(self.kernel_name, self.len_kernel, self.nsig) if self.ti else None
        self.n_scales = getattr(opts, "n_scales", 1)
        super().configure(opts)

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




class DIFGSM(InputTransforms, MIFGSM):
    """Momentum loop whose surrogate sees one random resize-and-pad copy per gradient."""

    name = "difgsm"


class TIFGSM(DIFGSM):
    """DI loop whose gradient is smoothed by a depth-wise kernel before normalisation."""

    name = "tifgsm"


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


class SINIFGSM(SIFGSM):
    """SI-NI-FGSM: the SI copies taken at NI's look-ahead x + μ·α·g (torchattacks' SINIFGSM)."""

    name = "sinifgsm"
    nesterov = True
