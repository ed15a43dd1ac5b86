"""Input-transform defenses that need no trained weights, wrapped around any victim for evaluation.

* ``jpeg``: JPEG re-compression (Guo et al., "Countering Adversarial Images using Input
  Transformations", ICLR 2018, arXiv 1711.00117); ``jpeg_quality`` default 75 (our choice).
* ``bitdepth``: bit-depth reduction (Xu et al., "Feature Squeezing", NDSS 2018, arXiv 1704.01155);
  ``bits`` default 4 (our choice; the paper uses 1 for MNIST, 4-5 for ImageNet).
* ``rp``: random resize and pad (Xie et al., "Mitigating Adversarial Effects Through
  Randomization", ICLR 2018, arXiv 1711.01991): resize to a random side in [W, W·331/299), pad
  randomly to W·331/299 (the paper's 299 -> [299, 331) -> 331).
* ``rs``: randomized smoothing (Cohen et al., "Certified Adversarial Robustness via Randomized
  Smoothing", ICML 2019, arXiv 1902.02918): majority vote of the victim over ``rs_samples``
  (default 32) copies x + N(0, σ²), σ = ``rs_sigma`` (default 0.25); outputs vote counts.

    lt attack eval --adv-dir adv/ --victims mobilenet_v2 --defense rs --rs-sigma 0.25
"""

from __future__ import annotations

import io

import torch
import torch.nn.functional as F
from torch import nn

from ..engine.errors import check

DEFENSES = ("none", "jpeg", "bitdepth", "rp", "rs")


class JPEG(nn.Module):
    def __init__(self, victim: nn.Module, quality: int = 75):
        super().__init__()
        check(1 <= quality <= 100, f"jpeg quality must be in 1..100 (got {quality})")
        self.victim, self.quality = victim, int(quality)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from PIL import Image

        from ..data.imagefiles import read_image
        from .pngs import to_uint8

        out = []
        for img in x:
            buf = io.BytesIO()
            Image.fromarray(to_uint8(img).permute(1, 2, 0).numpy()).save(buf, format="JPEG", quality=self.quality)
            buf.seek(0)
            out.append(read_image(buf).float().div_(255))
        return self.victim(torch.stack(out).to(x.device, x.dtype))


class BitDepth(nn.Module):
    def __init__(self, victim: nn.Module, bits: int = 4):
        super().__init__()
        check(1 <= bits <= 8, f"bits must be in 1..8 (got {bits})")
        self.victim, self.levels = victim, 2 ** int(bits) - 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.victim(torch.round(x * self.levels) / self.levels)


class RandomResizePad(nn.Module):
    def __init__(self, victim: nn.Module, ratio: float = 331 / 299, seed: int = 0):
        super().__init__()
        self.victim, self.ratio = victim, float(ratio)
        self.gen = torch.Generator().manual_seed(seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        side = x.shape[-1]
        final = max(int(side * self.ratio), side + 1)
        rnd = int(torch.randint(side, final, (1,), generator=self.gen))
        x = F.interpolate(x, size=(rnd, rnd), mode="nearest")
        rem = final - rnd
        top, left = (int(torch.randint(0, rem + 1, (1,), generator=self.gen)) for _ in range(2))
        return self.victim(F.pad(x, [left, rem - left, top, rem - top], value=0))


class RandomizedSmoothing(nn.Module):
    def __init__(self, victim: nn.Module, sigma: float = 0.25, samples: int = 32, seed: int = 0):
        super().__init__()
        check(sigma > 0 and samples >= 1, "rs_sigma must be > 0 and rs_samples >= 1")
        self.victim, self.sigma, self.samples = victim, float(sigma), int(samples)
        self.seed = seed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gen = torch.Generator(device=x.device).manual_seed(self.seed)
        votes = None
        for _ in range(self.samples):
            noise = torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)
            z = self.victim(x + self.sigma * noise)
            onehot = F.one_hot(z.argmax(1), z.shape[1]).float()
            votes = onehot if votes is None else votes + onehot
        return votes


def wrap_defense(victim: nn.Module, name: str = "none", *, jpeg_quality: int = 75, bits: int = 4,
                 rs_sigma: float = 0.25, rs_samples: int = 32, seed: int = 0) -> nn.Module:
    """``victim`` behind the input-transform defense ``name`` (``none`` returns it unchanged)."""
    check(name in DEFENSES, f"unknown defense '{name}'; valid: {', '.join(DEFENSES)}")
    if name == "jpeg":
        return JPEG(victim, jpeg_quality).eval()
    if name == "bitdepth":
        return BitDepth(victim, bits).eval()
    if name == "rp":
        return RandomResizePad(victim, seed=seed).eval()
    if name == "rs":
        return RandomizedSmoothing(victim, rs_sigma, rs_samples, seed).eval()
    return victim
