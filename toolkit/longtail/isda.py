"""Implicit semantic data augmentation (ISDA): online covariances and the closed-form augmented loss.

Paper: Wang, Pan, Song, Zhang, Wu, Huang — "Implicit Semantic Data Augmentation for Deep Networks",
NeurIPS 2019, arXiv 1909.12220. Used as the baseline ``isda`` loss (``lt train ce --loss isda``) and
as the augmentation machinery of LCReg (:mod:`toolkit.longtail.lcreg`).

For a classifier input a with logits z_j = w_jᵀa + b_j and a covariance Σ(x), sampling
ã ~ N(a, λΣ(x)) and bounding E[CE] with Jensen's inequality gives the closed form

    L = CE(z + (λ/2)·σ, y),   σ_j = (w_j − w_y)ᵀ Σ(x) (w_j − w_y)   (Σ held fixed: no gradient)

with λ = λ₀ · epoch / epochs (epoch 0-based; the paper's ramp). Σ(x) = Σ_g A_g(x) Σ_g mixes the
covariances of G groups with per-sample weights A (one-hot of the label for plain ISDA, soft
latent-category assignments for LCReg, one group for a class-agnostic global Σ).

Online statistics (:class:`OnlineCovariance`): per group, the exact weighted pooled mean and biased
covariance over everything seen so far, merged batch by batch with w = m/(m+n):
Σ ← (1−w)Σ + wΣ_b + w(1−w)(μ−μ_b)(μ−μ_b)ᵀ, μ ← (1−w)μ + wμ_b. Under DDP the batch sums are
all-reduced first, so every rank holds the statistics of the global batch. Full (G·d² numbers) or
diagonal (G·d numbers) covariance; ``auto`` picks full when G·d²·8 bytes fits ``budget_mb``.

λ normalisation (``lambda_norm``): ``none`` is the ISDA paper's raw Σ. It is invariant to
rescaling the features by s and the head by 1/s (same outputs): Σ scales by s², (w_j − w_y) by 1/s,
so σ is unchanged, and λ keeps one meaning, "augmentation variance as a fraction of the feature
variance". ``feature`` (our earlier default, kept for comparison) multiplies λ by d/E‖a‖²; that
factor has units, so the term scales by 1/s² under the same rescaling (27.3 -> 0.27 -> 0.0027 for
s = 0.1, 1, 10) and the claim that it makes λ scale-free was wrong. Statistics kept in float64.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..engine import distributed as D
from ..engine.errors import LtError, check
from ..engine.loop import Objective

COVARIANCES = ("auto", "full", "diag")
LAMBDA_NORMS = ("feature", "none")


def choose_covariance(kind: str, groups: int, dim: int, budget_mb: float = 512.0) -> str:
    """``full`` or ``diag``: ``auto`` is full when G·d² float64 numbers fit ``budget_mb`` MiB."""
    check(kind in COVARIANCES, f"unknown covariance '{kind}'; valid: {', '.join(COVARIANCES)}")
    if kind != "auto":
        return kind
    return "full" if groups * dim * dim * 8 <= budget_mb * 2**20 else "diag"


def statistics_bytes(kind: str, groups: int, dim: int, itemsize: int = 8) -> int:
    """Memory of the running statistics (covariances, means, weights) in bytes."""
    cov = groups * dim * dim if kind == "full" else groups * dim
    return (cov + groups * dim + groups) * itemsize


class OnlineCovariance:
    """Weighted running mean and biased covariance of features for G groups.

    ``update(x, weights)``: x (B, d), weights (B, G) >= 0 (rows need not sum to 1; a one-hot row
    gives per-class statistics). After any sequence of batches, ``cov[g]`` equals
    Σ_i w_ig (x_i − μ_g)(x_i − μ_g)ᵀ / Σ_i w_ig over all samples seen, ``mean[g]`` the weighted mean.
    """

    def __init__(self, groups: int, dim: int, kind: str = "full", dtype: torch.dtype = torch.float64,
                 device: torch.device | str = "cpu"):
        check(kind in ("full", "diag"), f"covariance must be full|diag (got '{kind}')")
        self.kind, self.groups, self.dim = kind, groups, dim
        shape = (groups, dim, dim) if kind == "full" else (groups, dim)
        self.cov = torch.zeros(shape, dtype=dtype, device=device)
        self.mean = torch.zeros(groups, dim, dtype=dtype, device=device)
        self.count = torch.zeros(groups, dtype=dtype, device=device)

    def to(self, device: torch.device) -> "OnlineCovariance":
        self.cov, self.mean, self.count = self.cov.to(device), self.mean.to(device), self.count.to(device)
        return self

    @torch.no_grad()
    def update(self, x: torch.Tensor, weights: torch.Tensor) -> None:
        x = x.detach().to(self.cov.dtype)
        w = weights.detach().to(self.cov.dtype)
        # Shift by the running overall mean (same on every rank) to keep raw moments well conditioned.
        shift = self.overall_mean()
        xs = x - shift
        m = D.all_reduce_sum(w.sum(0))                                      # (G,)
        s1 = D.all_reduce_sum(w.t() @ xs)                                   # (G, d)
        if self.kind == "full":
            s2 = (w[:, :, None] * xs[:, None, :]).reshape(len(x), -1).t() @ xs
            s2 = D.all_reduce_sum(s2.reshape(self.groups, self.dim, self.dim))
        else:
            s2 = D.all_reduce_sum(w.t() @ (xs * xs))
        seen = m > 0
        safe = torch.where(seen, m, torch.ones_like(m))
        mu_b = s1 / safe[:, None]                                           # shifted batch means
        if self.kind == "full":
            cov_b = s2 / safe[:, None, None] - mu_b[:, :, None] * mu_b[:, None, :]
        else:
            cov_b = s2 / safe[:, None] - mu_b * mu_b
        mu_b = mu_b + shift
        frac = torch.where(seen, m / (m + self.count).clamp_min(1e-300), torch.zeros_like(m))
        diff = self.mean - mu_b
        keep = 1 - frac
        if self.kind == "full":
            f3 = frac[:, None, None]
            self.cov = ((1 - f3) * self.cov + f3 * cov_b
                        + (frac * keep)[:, None, None] * diff[:, :, None] * diff[:, None, :])
        else:
            f2 = frac[:, None]
            self.cov = (1 - f2) * self.cov + f2 * cov_b + (frac * keep)[:, None] * diff * diff
        self.mean = keep[:, None] * self.mean + frac[:, None] * mu_b
        self.count = self.count + m

    def overall_mean(self) -> torch.Tensor:
        total = self.count.sum()
        if total <= 0:
            return torch.zeros(self.dim, dtype=self.mean.dtype, device=self.mean.device)
        return (self.count[:, None] * self.mean).sum(0) / total

    def mean_square_per_dim(self) -> torch.Tensor:
        """E‖x‖²/d over everything seen (weights normalised per group count)."""
        total = self.count.sum()
        if total <= 0:
            return torch.ones((), dtype=self.mean.dtype, device=self.mean.device)
        tr = self.cov.diagonal(dim1=1, dim2=2).sum(1) if self.kind == "full" else self.cov.sum(1)
        energy = (self.count * ((self.mean * self.mean).sum(1) + tr)).sum() / total
        return energy / self.dim

    def state_dict(self) -> dict:
        return {"kind": self.kind, "cov": self.cov, "mean": self.mean, "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        if not state:
            return
        if state.get("kind") != self.kind or tuple(state["cov"].shape) != tuple(self.cov.shape):
            raise LtError(f"--resume: saved covariance statistics ({state.get('kind')}, {tuple(state['cov'].shape)}) "
                          f"do not fit this run ({self.kind}, {tuple(self.cov.shape)})")
        dev = self.cov.device
        self.cov, self.mean, self.count = state["cov"].to(dev), state["mean"].to(dev), state["count"].to(dev)


def isda_sigma(weight: torch.Tensor, y: torch.Tensor, cov: torch.Tensor, assign: torch.Tensor) -> torch.Tensor:
    """σ_ij = (w_j − w_{y_i})ᵀ Σ(x_i) (w_j − w_{y_i}) with Σ(x_i) = Σ_g assign_ig · cov_g.

    Args: weight (C, d) classifier; y (B,); cov (G, d, d) full or (G, d) diagonal; assign (B, G).
    Gradient flows into ``weight`` only (``cov`` and ``assign`` are treated as constants).
    Cost: full O(G·C·d² + B·G·d²), diagonal O(B·C·d).
    """
    cov, assign = cov.detach().to(weight.dtype), assign.detach().to(weight.dtype)
    wy = weight[y]                                                          # (B, d)
    if cov.dim() == 2:                                                      # diagonal
        v = assign @ cov                                                    # (B, d) per-sample variances
        return v @ (weight * weight).t() - 2 * (v * wy) @ weight.t() + (v * wy * wy).sum(1, keepdim=True)
    cw = torch.einsum("gde,ce->gcd", cov, weight)                           # Σ_g w_c, (G, C, d)
    quad = (cw * weight[None]).sum(-1)                                      # w_cᵀ Σ_g w_c, (G, C)
    u = torch.einsum("bg,gde,be->bd", assign, cov, wy)                      # Σ(x_i) w_{y_i}, (B, d)
    return assign @ quad - 2 * u @ weight.t() + (u * wy).sum(1, keepdim=True)


def isda_logits(logits: torch.Tensor, weight: torch.Tensor, y: torch.Tensor, cov: torch.Tensor,
                assign: torch.Tensor, lam: float) -> torch.Tensor:
    """The augmented logits z + (λ/2)·σ (returns ``logits`` itself when λ = 0)."""
    if lam == 0:
        return logits
    with torch.autocast(logits.device.type, enabled=False):
        sigma = isda_sigma(weight.float(), y, cov.float(), assign.float())
        return logits.float() + 0.5 * lam * sigma


def check_lambda0(lambda0: float | None) -> None:
    """``--lambda0`` must be a finite number >= 0 (None: the recipe's default)."""
    ok = lambda0 is None or (math.isfinite(lambda0) and lambda0 >= 0)
    check(ok, f"--lambda0 must be a finite number >= 0 (got {lambda0})")


def ramp(lambda0: float, epoch: int, epochs: int) -> float:
    """λ = λ₀ · epoch / epochs (epoch 0-based), the ISDA schedule."""
    return lambda0 * epoch / max(1, epochs)


def find_classifier(model: nn.Module) -> nn.Linear:
    """The classifier head: ``fc`` when it is a Linear, else the last ``nn.Linear``."""
    from ..models.wrapper import find_head

    bare = D.unwrap(model)
    net = getattr(bare, "net", bare)
    fc = getattr(net, "fc", None)
    if isinstance(fc, nn.Linear):
        return fc
    try:
        return find_head(net)[2]
    except ValueError as e:
        raise LtError("ISDA needs a model whose classifier is an nn.Linear head") from e


class FeatureTap:
    """Captures the input of a model's classifier head on each forward (a forward pre-hook)."""

    def __init__(self, head: nn.Linear):
        self.head, self.features = head, None
        self.handle = head.register_forward_pre_hook(self._hook)

    def _hook(self, module: nn.Module, args: tuple) -> None:
        self.features = args[0]

    def remove(self) -> None:
        self.handle.remove()


class ISDALoss(Objective):
    """Plain ISDA (per-class covariance Σ_y) on any model with a linear head: ``lt train ce --loss isda``.

    Args:
        train_counts: per-class training counts (for Balanced-Softmax re-balancing).
        epochs: total epochs (λ ramp).
        lambda0: λ₀ (paper: 0.5 on CIFAR, 7.5 on ImageNet).
        covariance: ``auto|full|diag`` (auto: full when C·d²·8 bytes <= ``cov_budget_mb``).
        lambda_norm: ``none`` (the paper's raw Σ, default; scale-invariant) or ``feature`` (Σ·d/E‖a‖²; not
            invariant to rescaling features and head, kept for comparison).
        rebalance: ``none`` (the paper's CE, default) or ``balanced-softmax`` (adds log n_c in training).

        lt train ce --dataset cifar100-lt --data-root data --loss isda
    """

    def __init__(self, train_counts: Sequence[int], epochs: int = 200, lambda0: float = 0.5, covariance: str = "auto",
                 lambda_norm: str = "none", rebalance: str = "none", cov_budget_mb: float = 512.0):
        check_lambda0(lambda0)
        check(lambda_norm in LAMBDA_NORMS, f"unknown lambda norm '{lambda_norm}'; valid: {', '.join(LAMBDA_NORMS)}")
        self.counts = torch.as_tensor(list(train_counts), dtype=torch.float32)
        self.log_prior = rebalance_prior(self.counts, rebalance)
        self.epochs, self.lambda0, self.lambda_norm = epochs, lambda0, lambda_norm
        self.covariance, self.cov_budget_mb = covariance, cov_budget_mb
        choose_covariance(covariance, 1, 1)
        self.stats: OnlineCovariance | None = None
        self._pending: dict | None = None
        self._tap: FeatureTap | None = None
        self.device = torch.device("cpu")

    def to(self, device: torch.device) -> "ISDALoss":
        self.device = torch.device(device)
        self.log_prior = self.log_prior.to(device)
        if self.stats is not None:
            self.stats.to(device)
        return self

    def _ensure(self, head: nn.Linear) -> None:
        if self._tap is None or self._tap.head is not head:
            if self._tap is not None:
                self._tap.remove()
            self._tap = FeatureTap(head)
        if self.stats is None:
            c, d = head.out_features, head.in_features
            kind = choose_covariance(self.covariance, c, d, self.cov_budget_mb)
            self.stats = OnlineCovariance(c, d, kind, device=self.device)
            if self._pending:
                self.stats.load_state_dict(self._pending)

    def loss(self, model: nn.Module, batch, epoch: int):
        x, y = batch
        head = find_classifier(model)
        self._ensure(head)
        logits = model(x)
        lam = ramp(self.lambda0, epoch, self.epochs)
        if self.lambda0 > 0:
            assign = F.one_hot(y, head.out_features)
            self.stats.update(self._tap.features, assign)
            lam = lam * scale_of(self.stats, self.lambda_norm)
            aug = isda_logits(logits, head.weight, y, self.stats.cov, assign, lam)
        else:
            aug = logits
        return F.cross_entropy(aug.float() + self.log_prior, y), logits, y

    def state_dict(self) -> dict:
        return {"stats": self.stats.state_dict()} if self.stats is not None else {}

    def load_state_dict(self, state: dict) -> None:
        if state.get("stats"):
            if self.stats is not None:
                self.stats.load_state_dict(state["stats"])
            else:
                self._pending = state["stats"]


def rebalance_prior(counts: torch.Tensor, rebalance: str) -> torch.Tensor:
    """log n_c for Balanced Softmax, zeros for plain CE."""
    valid = ("balanced-softmax", "none")
    check(rebalance in valid, f"unknown rebalance '{rebalance}'; valid: {', '.join(valid)}")
    if rebalance == "none":
        return torch.zeros_like(counts)
    check(bool((counts > 0).all()), "every class needs at least one training sample for Balanced Softmax")
    return counts.log()


def scale_of(stats: OnlineCovariance, lambda_norm: str) -> float:
    """The factor λ is multiplied by: 1 (``none``) or d / E‖a‖² (``feature``)."""
    if lambda_norm == "none":
        return 1.0
    return float(1.0 / stats.mean_square_per_dim().clamp_min(1e-12))
