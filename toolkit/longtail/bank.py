"""The LCReg latent bank's terms: initialisation from features, regularisers, assignment statistics.

Used by :mod:`toolkit.longtail.lcreg`. The bank M ∈ R^{K×d} soft-assigns each feature f with
A = softmax(sim(f, M)/τ). Left alone, a randomly initialised bank in d dimensions has cosine
similarities of about ±1/√d to every feature, so A stays near uniform (digits-lt, K = 16: entropy
2.65 of log 16 = 2.77 nats, top assignment 0.13) and every latent covariance is the same global one.
Three things make it learn categories (each a flag of ``lt train lcreg``; choices *ours*):

- **Initialisation from features** (:func:`kmeanspp_rows`): at the first training step the rows are
  set to K features of that batch chosen by k-means++ seeding (cosine distance), so every latent
  starts on the data.
- **Assignment terms**: ``sharpness`` = mean_i H(A_i) (each sample picks few latents) together with
  ``balance`` = KL(mean_i A_i ‖ uniform) = log K − H(mean_i A_i) (all latents get used). Their sum
  with equal weights is log K minus the mutual information I(x; latent), the usual clustering
  objective (IMSAT/IIC).
- **Diversity** = mean squared cosine between distinct rows (rows do not merge).

:func:`assignment_stats` gives the figures ``metrics.csv`` reports per epoch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def diversity_loss(bank: torch.Tensor) -> torch.Tensor:
    """Mean squared cosine between distinct bank rows (0 when the rows are orthogonal)."""
    k = bank.shape[0]
    if k < 2:
        return bank.sum() * 0
    m = F.normalize(bank, dim=1)
    gram = m @ m.t()
    off = gram - torch.eye(k, device=bank.device, dtype=bank.dtype)
    return (off * off).sum() / (k * (k - 1))


def balance_loss(assign: torch.Tensor) -> torch.Tensor:
    """KL(mean assignment ‖ uniform) = log K − H(mean_i A_i) >= 0."""
    k = assign.shape[1]
    mean = assign.mean(0).clamp_min(1e-12)
    return math.log(k) + (mean * mean.log()).sum()


def sharpness_loss(assign: torch.Tensor) -> torch.Tensor:
    """Mean per-sample assignment entropy mean_i H(A_i) in nats (0 for one-hot assignments)."""
    return -(assign * assign.clamp_min(1e-12).log()).sum(1).mean()


@torch.no_grad()
def kmeanspp_rows(x: torch.Tensor, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """K rows of ``x`` (n, d) chosen by k-means++ seeding with cosine distance 1 − cos.

    The first row is drawn uniformly, each next one with probability ∝ its squared distance to the
    nearest row chosen so far. With n < k the remaining rows are the chosen ones plus small noise.
    Returns (k, d) in the units of ``x``.
    """
    n = x.shape[0]
    unit = F.normalize(x.float(), dim=1)
    first = int(torch.randint(n, (1,), generator=generator))
    chosen = [first]
    dist = (1 - unit @ unit[first]).clamp_min(0) ** 2
    for _ in range(1, min(k, n)):
        total = dist.sum()
        if total <= 0:
            break
        nxt = int(torch.multinomial(dist / total, 1, generator=generator))
        chosen.append(nxt)
        dist = torch.minimum(dist, (1 - unit @ unit[nxt]).clamp_min(0) ** 2)
    rows = x[chosen].float()
    if len(chosen) < k:
        extra = rows[torch.arange(k - len(chosen)) % len(chosen)]
        noise = torch.randn(extra.shape, generator=generator) * 0.01 * extra.norm(dim=1, keepdim=True).clamp_min(1e-6)
        rows = torch.cat([rows, extra + noise.to(extra)])
    return rows


def assignment_stats(entropy_sum: float, usage: torch.Tensor, top_sum: float, count: float,
                     argmax_counts: torch.Tensor) -> dict:
    """Per-epoch figures from accumulated sums (``usage`` = Σ_i A_i, ``argmax_counts`` per latent).

    ``assign_entropy``: mean H(A_i) (nats; uniform = log K). ``assign_top``: mean max_k A_ik.
    ``usage_entropy``: H(mean_i A_i); ``usage_perplexity``: exp of it (the effective number of
    latents in use); ``usage_max``: the largest latent's share; ``latents_used``: latents that are
    some sample's argmax.
    """
    if count <= 0:
        return {}
    share = (usage / count).clamp_min(1e-12)
    h_usage = float(-(share * share.log()).sum())
    return {"assign_entropy": entropy_sum / count, "assign_top": top_sum / count, "usage_entropy": h_usage,
            "usage_perplexity": math.exp(h_usage), "usage_max": float(share.max()),
            "latents_used": int((argmax_counts > 0).sum())}
