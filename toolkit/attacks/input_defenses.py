"""Input-transform defenses of the DTA/FOTA authors' harness, wrapped around any victim for evaluation.

Each defense is defined as the authors' evaluation harness (HaloMoto/FOTA ``defense/``) applies it:

* ``jpeg``: JPEG re-compression at ``jpeg_quality`` 75 (Guo et al., "Countering Adversarial Images
  using Input Transformations", ICLR 2018, arXiv 1711.00117; the harness' quality).
* ``bitdepth``: bit-depth reduction to 2^bits levels by flooring, x ← ⌊x·2^bits⌋/2^bits (Xu et al.,
  "Feature Squeezing", NDSS 2018, arXiv 1704.01155); ``bits`` 4 (the harness'). 1.0 stays 1.0.
* ``rp``: random resize and pad (Xie et al., "Mitigating Adversarial Effects Through
  Randomization", ICLR 2018, arXiv 1711.01991) as the harness does it: shrink the W×H image to
  ⌊(1−c)·W⌋ × ⌊(1−c)·H⌋ (bicubic) with c drawn from {0.1, 0.08, 0.06, 0.04, 0.02}, then zero-pad
  back to W×H with the left/top offset ⌊p·(W−w)⌋, p ∈ {0, ½, 1}; one draw per batch, as theirs.
  The victim keeps its input size (the paper's enlarge-to-331 variant breaks fixed-size victims).
* ``rs``: randomized smoothing with Cohen et al.'s ``predict`` ("Certified Adversarial Robustness
  via Randomized Smoothing", ICML 2019, arXiv 1902.02918): n = ``rs_samples`` (100) copies
  x + N(0, σ²), σ = ``rs_sigma`` (0.25); the top two vote counts n_A, n_B; abstain (prediction −1)
  unless the two-sided binomial test of n_A out of n_A + n_B at p = ½ has p-value <= ``rs_alpha``
  (0.001). The harness' values. An abstention is never the label (nor the target).
* ``fd``: feature distillation's JPEG (Liu et al., "Feature Distillation: DNN-Oriented JPEG
  Compression Against Adversarial Examples", CVPR 2019, arXiv 1803.05787) as the harness does it:
  per channel, 8×8 orthonormal DCT of 255·x, quantised with step 25 on the 4×4 lowest frequencies
  and 30 elsewhere (rounded), inverse DCT, /255, clipped to [0, 1]. Sides that are not a multiple
  of 8 are edge-padded and cropped back (our choice; the harness needs multiples of 8). The
  harness' loop leaves the first image of every batch all zero; we transform every image.

Every option belongs to one defense; an option given for another defense is an ``LtError``.

    lt attack eval --adv-dir adv/ --victims mobilenet_v2 --defense rs --rs-sigma 0.25
"""

from __future__ import annotations

import io
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..engine.errors import check
from .options import DEFENSE_OPTIONS, DEFENSES, check_defense_options

# DEFENSE_OPTIONS, DEFENSES and check_defense_options: toolkit.attacks.options (torch-free, the CLI's)
RP_CROPS = (0.1, 0.08, 0.06, 0.04, 0.02)


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
            arr = to_uint8(img).permute(1, 2, 0).numpy()
            Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr).save(buf, format="JPEG", quality=self.quality)
            buf.seek(0)
            out.append(read_image(buf).float().div_(255))
        return self.victim(torch.stack(out).to(x.device, x.dtype))


def bit_depth(x: torch.Tensor, bits: int) -> torch.Tensor:
    """⌊x·2^bits⌋ / 2^bits (the harness: int() of x·2^bits, times 255/2^bits, over 255)."""
    levels = 2 ** int(bits)
    return torch.floor(x * levels) * (255 / levels) / 255


class BitDepth(nn.Module):
    def __init__(self, victim: nn.Module, bits: int = 4):
        super().__init__()
        check(1 <= bits <= 8, f"bits must be in 1..8 (got {bits})")
        self.victim, self.bits = victim, int(bits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.victim(bit_depth(x, self.bits))


def resize_pad(x: torch.Tensor, crop: float, p_left: float, p_top: float) -> torch.Tensor:
    """Shrink (N,C,H,W) to ⌊(1−crop)·side⌋ (bicubic) and zero-pad back at offsets ⌊p·(side − new)⌋."""
    h, w = x.shape[-2:]
    h2, w2 = int((1 - crop) * h), int((1 - crop) * w)
    out = F.interpolate(x, size=[h2, w2], mode="bicubic", align_corners=False)
    left, top = int(p_left * (w - w2)), int(p_top * (h - h2))
    return F.pad(out, [left, w - left - w2, top, h - top - h2], value=0)


class RandomResizePad(nn.Module):
    def __init__(self, victim: nn.Module, seed: int = 0):
        super().__init__()
        self.victim = victim
        self.gen = torch.Generator().manual_seed(seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        crop = RP_CROPS[int(torch.randint(0, len(RP_CROPS), (1,), generator=self.gen))]
        p_left, p_top = (int(torch.randint(0, 3, (1,), generator=self.gen)) / 2 for _ in range(2))
        return self.victim(resize_pad(x, crop, p_left, p_top))


class RandomizedSmoothing(nn.Module):
    """forward: per-class vote counts over the noisy copies; ``decide``: Cohen's predict (−1 = abstain)."""

    def __init__(self, victim: nn.Module, sigma: float = 0.25, samples: int = 100, alpha: float = 0.001,
                 seed: int = 0):
        super().__init__()
        check(sigma > 0 and samples >= 1, "rs_sigma must be > 0 and rs_samples >= 1")
        check(0 < alpha < 1, f"rs_alpha must be in (0, 1) (got {alpha})")
        self.victim, self.sigma, self.samples, self.alpha = victim, float(sigma), int(samples), float(alpha)
        self.gen = torch.Generator().manual_seed(seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        votes = []
        for img in x:
            batch = img[None].expand(self.samples, *img.shape)
            noise = torch.randn(batch.shape, generator=self.gen).to(x.device, x.dtype)
            z = self.victim(batch + self.sigma * noise)
            votes.append(torch.bincount(z.argmax(1), minlength=z.shape[1]).float())
        return torch.stack(votes)

    def decide(self, votes: torch.Tensor) -> torch.Tensor:
        return cohen_predict(votes, self.alpha)


def cohen_predict(votes: torch.Tensor, alpha: float = 0.001) -> torch.Tensor:
    """Top class per row of vote counts, or −1 where binomtest(n_A, n_A + n_B, ½).pvalue > alpha."""
    from scipy.stats import binomtest

    top2 = votes.topk(2, dim=1)
    out = top2.indices[:, 0].clone()
    for i, (na, nb) in enumerate(top2.values.long().tolist()):
        if binomtest(na, na + nb, 0.5).pvalue > alpha:
            out[i] = -1
    return out


def _dct_matrix(n: int = 8) -> torch.Tensor:
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None]
    d = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2 / n)
    d[0] /= math.sqrt(2)
    return d


def fd_jpeg(x: torch.Tensor) -> torch.Tensor:
    """Feature distillation's JPEG on (N,C,H,W) [0,1] images (8×8 DCT, steps 25 / 30)."""
    n, c, h, w = x.shape
    ph, pw = (-h) % 8, (-w) % 8
    v = x.detach().double() * 255
    if ph or pw:
        v = F.pad(v, [0, pw, 0, ph], mode="replicate")
    hh, ww = v.shape[-2:]
    blocks = v.reshape(n, c, hh // 8, 8, ww // 8, 8).transpose(3, 4)  # (..., 8 rows, 8 cols)
    d = _dct_matrix(8).to(v.device)
    q = torch.full((8, 8), 30.0, dtype=torch.float64, device=v.device)
    q[:4, :4] = 25.0
    coef = d @ blocks @ d.T
    rec = d.T @ (torch.round(coef / q) * q) @ d
    out = rec.transpose(3, 4).reshape(n, c, hh, ww)[..., :h, :w] / 255
    return out.float().clamp_(0, 1).to(x.dtype)


class FeatureDistillation(nn.Module):
    def __init__(self, victim: nn.Module):
        super().__init__()
        self.victim = victim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.victim(fd_jpeg(x))


def wrap_defense(victim: nn.Module, name: str = "none", *, seed: int = 0, **options: Any) -> nn.Module:
    """``victim`` behind the input-transform defense ``name`` (``none`` returns it unchanged).

    Options: ``jpeg_quality`` (jpeg, 75), ``bits`` (bitdepth, 4), ``rs_sigma`` (0.25), ``rs_samples``
    (100), ``rs_alpha`` (0.001) (rs); None = the default; one for another defense is an ``LtError``.
    """
    opts = check_defense_options(name, **options)
    if name == "jpeg":
        return JPEG(victim, opts.get("jpeg_quality", 75)).eval()
    if name == "bitdepth":
        return BitDepth(victim, opts.get("bits", 4)).eval()
    if name == "rp":
        return RandomResizePad(victim, seed=seed).eval()
    if name == "rs":
        return RandomizedSmoothing(victim, opts.get("rs_sigma", 0.25), opts.get("rs_samples", 100),
                                   opts.get("rs_alpha", 0.001), seed).eval()
    if name == "fd":
        return FeatureDistillation(victim).eval()
    return victim


__all__ = ["BitDepth", "DEFENSES", "DEFENSE_OPTIONS", "FeatureDistillation", "JPEG", "RandomResizePad",
           "RandomizedSmoothing", "bit_depth", "check_defense_options", "cohen_predict", "fd_jpeg", "resize_pad",
           "wrap_defense"]
