"""LCReg: long-tailed recognition by learning from latent categories (``lt train lcreg``).

Paper: Liu, Wu, Wang, Ding, Liu, Lin, Lin — "Long-tailed Recognition by Learning from Latent
Categories", arXiv 2206.01010 (2022); "LCReg: Long-Tailed Image Classification with Latent
Categories based Recognition", arXiv 2309.07186 (2023). Only the abstract is public and no code
exists, so this is our reading (shared/methods/longtail.md); every choice below is a flag.

- **Latent bank** M ∈ R^{K×d} (learnable), soft assignment A = softmax(sim(f, M)/τ) of the backbone
  feature f, latent feature l = A·M; the classifier reads h = f + l (``combine='add'``) or [f; l].
- **Class-agnostic semantic augmentation** on h: online covariances Σ_k per latent category,
  weighted by the assignments A over samples of *all* classes; each sample is augmented with
  Σ(x) = Σ_k A_k(x) Σ_k through the ISDA closed-form loss with the λ ramp
  (:mod:`toolkit.longtail.isda`). Tail samples borrow the variation of head samples of the same
  latent category. ``cov_groups='class'`` uses per-class Σ_y instead (plain ISDA on h).
- **Bank regularisers**: diversity ‖M̂M̂ᵀ − I‖² (mean squared cosine between bank rows) and
  assignment balance KL(mean_i A_i ‖ uniform), so the bank neither collapses nor goes unused.
- **Re-balancing**: Balanced Softmax (z + log n_c in training only) by default, plain CE as option.

Defaults — the paper's: K, τ, weights are not public. Ours: K = 64, τ = 0.1, cosine similarity,
``add``, bank initialised N(0, 1/d), diversity weight 0.01, balance weight 0.1, A detached in the
augmentation term (no gradient routes samples to low-variance categories), Σ of h, λ scaled by
d/E‖h‖² (``lambda_norm='feature'``: unscaled λ₀ = 8 diverged in a prototype), λ₀ = 0.5 (7.5 for the
ImageNet-scale recipes: the ISDA paper's values), ``auto`` covariance (full where K·d²·8 bytes
<= 512 MiB, else diagonal: ResNet-32 K=64 d=64 full = 2 MiB; ResNeXt-50 d=2048 diagonal = 1 MiB).
With K = 0 there is no bank (h = f) and augmentation uses one class-agnostic global Σ; with K = 0
and λ₀ = 0 the loss is exactly the baseline's (Balanced Softmax or CE).

    lt train lcreg --dataset cifar100-lt --data-root data --latent-k 64 --lambda0 0.5
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
from .isda import LAMBDA_NORMS, OnlineCovariance, choose_covariance, isda_logits, ramp, rebalance_prior, scale_of

COMBINES = ("add", "concat")
ASSIGN_METRICS = ("cosine", "dot")
COV_GROUPS = ("latent", "class")
# λ₀ per recipe (ISDA paper: 0.5 on CIFAR, 7.5 on ImageNet); recipes not listed use 0.5.
LAMBDA0_BY_RECIPE = {"imagenet-lt": 7.5, "places-lt": 7.5, "inat2018": 7.5}


class LCRegNet(nn.Module):
    """A backbone (``Normalized`` model from ``get_model``) split at its linear head, plus the latent bank.

    The head is moved out of the backbone (its slot becomes ``nn.Identity``, so the backbone returns
    the feature f) into ``self.fc``. ``forward(x)`` gives logits; ``forward(x, parts=True)`` a dict
    with ``logits``, ``h`` (classifier input), ``assign`` (B, K) and ``weight`` (the head's matrix).
    Takes [0, 1] images like every lt model; ``arch='lcreg'`` rebuilds from checkpoints.
    """

    def __init__(self, base: nn.Module, num_classes: int, latent_k: int = 64, tau: float = 0.1,
                 combine: str = "add", assign_metric: str = "cosine"):
        super().__init__()
        check(latent_k >= 0, f"--latent-k must be >= 0 (got {latent_k})")
        check(tau > 0, f"--tau must be > 0 (got {tau})")
        check(combine in COMBINES, f"unknown combine '{combine}'; valid: {', '.join(COMBINES)}")
        check(assign_metric in ASSIGN_METRICS, f"unknown assign metric '{assign_metric}'; valid: {', '.join(ASSIGN_METRICS)}")
        check(latent_k > 0 or combine == "add", "--combine concat needs --latent-k > 0")
        self.base = base
        head = _take_head(base)
        dim = head.in_features
        self.fc = head if combine == "add" else nn.Linear(2 * dim, num_classes)
        self.bank = nn.Parameter(torch.randn(latent_k, dim) / math.sqrt(dim)) if latent_k > 0 else None
        self.latent_k, self.tau, self.combine, self.assign_metric, self.feature_dim = latent_k, tau, combine, assign_metric, dim
        self.arch = "lcreg"
        self.model_args = {"base": dict(getattr(base, "model_args", {})), "num_classes": num_classes,
                           "latent_k": latent_k, "tau": tau, "combine": combine, "assign_metric": assign_metric}

    def assignment(self, f: torch.Tensor) -> torch.Tensor:
        """Soft assignment A = softmax(sim(f, M) / τ), (B, K)."""
        if self.assign_metric == "cosine":
            sim = F.normalize(f, dim=1) @ F.normalize(self.bank, dim=1).t()
        else:
            sim = f @ self.bank.t()
        return torch.softmax(sim / self.tau, dim=1)

    def forward(self, x: torch.Tensor, parts: bool = False):
        f = self.base(x)
        if self.bank is None:
            h, assign = f, f.new_ones(f.shape[0], 1)
        else:
            assign = self.assignment(f)
            latent = assign @ self.bank
            h = f + latent if self.combine == "add" else torch.cat([f, latent], dim=1)
        logits = self.fc(h)
        if not parts:
            return logits
        return {"logits": logits, "h": h, "assign": assign, "weight": self.fc.weight}


def _take_head(base: nn.Module) -> nn.Linear:
    """Detach the classifier head from ``base`` (a ``Normalized``) and leave ``nn.Identity`` in its slot."""
    from ..models.wrapper import find_head

    net = getattr(base, "net", base)
    if isinstance(getattr(net, "fc", None), nn.Linear):
        parent, attr, head = net, "fc", net.fc
    else:
        try:
            parent, attr, head = find_head(net)
        except ValueError as e:
            raise LtError("LCReg needs a backbone whose classifier is an nn.Linear head") from e
    if isinstance(parent, nn.Sequential):
        parent[int(attr)] = nn.Identity()
    else:
        setattr(parent, attr, nn.Identity())
    return head


def build_lcreg_model(name: str, num_classes: int, weights: str | None = None, latent_k: int = 64,
                      tau: float = 0.1, combine: str = "add", assign_metric: str = "cosine") -> LCRegNet:
    """``get_model(name, num_classes, weights)`` wrapped with the latent bank."""
    from ..models import get_model

    check(latent_k >= 0, f"--latent-k must be >= 0 (got {latent_k})")
    base = get_model(name, num_classes, weights=weights)
    return LCRegNet(base, num_classes, latent_k, tau, combine, assign_metric)


def _rebuild(ckpt: dict) -> LCRegNet:
    from ..models import get_model

    args = dict(ckpt.get("model_args") or {})
    base_args = dict(args.pop("base", {}))
    name = base_args.pop("name")
    base_args.pop("weights", None)
    base = get_model(name, **base_args)
    return LCRegNet(base, **args)


def _register_factory() -> None:
    from ..models import MODEL_FACTORIES

    MODEL_FACTORIES.setdefault("lcreg", _rebuild)


_register_factory()


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


class LCRegObjective(Objective):
    """The LCReg training loss for an :class:`LCRegNet`.

    Args (defaults ours unless noted):
        train_counts: per-class training counts (Balanced Softmax prior, covariance group count).
        epochs: total epochs (λ = λ₀·epoch/epochs, the ISDA ramp).
        feature_dim: d of the classifier input h (2d with ``concat``).
        latent_k: K of the model's bank (0: one global covariance group).
        lambda0: λ₀ >= 0 (ISDA paper: 0.5 CIFAR, 7.5 ImageNet).
        cov_groups: ``latent`` (Σ_k weighted by A; LCReg) or ``class`` (Σ_y; plain ISDA).
        covariance: ``auto|full|diag``; cov_budget_mb: the ``auto`` budget (512 MiB).
        lambda_norm: ``feature`` (λ·d/E‖h‖²) or ``none`` (raw Σ, the ISDA paper).
        rebalance: ``balanced-softmax`` (default) or ``none`` (CE).
        diversity_weight: 0.01; balance_weight: 0.1.
    """

    def __init__(self, train_counts: Sequence[int], epochs: int, feature_dim: int, latent_k: int = 64,
                 lambda0: float = 0.5, cov_groups: str = "latent", covariance: str = "auto",
                 lambda_norm: str = "feature", rebalance: str = "balanced-softmax", diversity_weight: float = 0.01,
                 balance_weight: float = 0.1, cov_budget_mb: float = 512.0):
        check(latent_k >= 0, f"--latent-k must be >= 0 (got {latent_k})")
        check(lambda0 >= 0 and math.isfinite(lambda0), f"--lambda0 must be >= 0 (got {lambda0})")
        check(cov_groups in COV_GROUPS, f"unknown cov groups '{cov_groups}'; valid: {', '.join(COV_GROUPS)}")
        check(lambda_norm in LAMBDA_NORMS, f"unknown lambda norm '{lambda_norm}'; valid: {', '.join(LAMBDA_NORMS)}")
        check(diversity_weight >= 0, f"--diversity-weight must be >= 0 (got {diversity_weight})")
        check(balance_weight >= 0, f"--balance-weight must be >= 0 (got {balance_weight})")
        check(cov_budget_mb > 0, f"--cov-budget-mb must be > 0 (got {cov_budget_mb})")
        counts = torch.as_tensor(list(train_counts), dtype=torch.float32)
        self.log_prior = rebalance_prior(counts, rebalance)
        self.num_classes, self.epochs, self.latent_k, self.lambda0 = len(counts), epochs, latent_k, lambda0
        self.cov_groups, self.lambda_norm = cov_groups, lambda_norm
        self.diversity_weight, self.balance_weight = diversity_weight, balance_weight
        groups = self.num_classes if cov_groups == "class" else max(1, latent_k)
        self.covariance = choose_covariance(covariance, groups, feature_dim, cov_budget_mb)
        self.stats = OnlineCovariance(groups, feature_dim, self.covariance)

    def to(self, device: torch.device) -> "LCRegObjective":
        self.log_prior = self.log_prior.to(device)
        self.stats.to(device)
        return self

    def group_weights(self, parts: dict, y: torch.Tensor) -> torch.Tensor:
        if self.cov_groups == "class":
            return F.one_hot(y, self.num_classes)
        return parts["assign"].detach()

    def loss(self, model: nn.Module, batch, epoch: int):
        x, y = batch
        parts = model(x, parts=True)
        logits = parts["logits"]
        aug = logits
        if self.lambda0 > 0:
            weights = self.group_weights(parts, y)
            with torch.autocast(logits.device.type, enabled=False):
                self.stats.update(parts["h"], weights)
            lam = ramp(self.lambda0, epoch, self.epochs)
            if lam > 0:
                lam *= scale_of(self.stats, self.lambda_norm)
                aug = isda_logits(logits, parts["weight"], y, self.stats.cov, weights, lam)
        loss = F.cross_entropy(aug.float() + self.log_prior, y)
        bank = getattr(D.unwrap(model), "bank", None)
        if bank is not None and self.diversity_weight > 0:
            loss = loss + self.diversity_weight * diversity_loss(bank.float())
        if bank is not None and self.balance_weight > 0:
            loss = loss + self.balance_weight * balance_loss(parts["assign"].float())
        return loss, logits, y

    def state_dict(self) -> dict:
        return {"stats": self.stats.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        if state.get("stats"):
            self.stats.load_state_dict(state["stats"])


def default_lambda0(recipe_name: str) -> float:
    """λ₀ for a recipe: 7.5 for the ImageNet-scale ones, else 0.5 (the ISDA paper's values)."""
    return LAMBDA0_BY_RECIPE.get(recipe_name, 0.5)


def train_lcreg(run, latent_k: int = 64, tau: float = 0.1, combine: str = "add", assign_metric: str = "cosine",
                lambda0: float | None = None, cov_groups: str = "latent", covariance: str = "auto",
                cov_budget_mb: float = 512.0, lambda_norm: str = "feature", rebalance: str = "balanced-softmax",
                diversity_weight: float = 0.01, balance_weight: float = 0.1):
    """Train LCReg per ``run`` (a :class:`toolkit.longtail.train.LongtailRun`) through ``train_longtail``.

    All LCReg options are validated before any data is read and recorded in ``config.json`` (as the
    run's ``loss_options``). ``lambda0=None`` takes :func:`default_lambda0` of the resolved recipe.
    Returns the test Report (overall / many / medium / few top-1, best epoch on val where it exists).

        lt train lcreg --dataset digits-lt --epochs 30 --latent-k 16 --out runs/lcreg
    """
    from dataclasses import replace

    from ..engine.report import log
    from .isda import statistics_bytes
    from .recipes import get_recipe
    from .train import train_longtail

    check(latent_k >= 0, f"--latent-k must be >= 0 (got {latent_k})")
    check(lambda0 is None or (lambda0 >= 0 and math.isfinite(lambda0)), f"--lambda0 must be >= 0 (got {lambda0})")
    recipe = get_recipe(run.recipe, run.dataset)
    lam0 = default_lambda0(recipe.name) if lambda0 is None else lambda0
    model_opts = {"latent_k": latent_k, "tau": tau, "combine": combine, "assign_metric": assign_metric}
    obj_opts = {"latent_k": latent_k, "lambda0": lam0, "cov_groups": cov_groups, "covariance": covariance,
                "cov_budget_mb": cov_budget_mb, "lambda_norm": lambda_norm, "rebalance": rebalance,
                "diversity_weight": diversity_weight, "balance_weight": balance_weight}
    # Fail fast on bad values (the same checks run again when the real objects are built).
    check(tau > 0, f"--tau must be > 0 (got {tau})")
    check(combine in COMBINES, f"unknown combine '{combine}'; valid: {', '.join(COMBINES)}")
    check(assign_metric in ASSIGN_METRICS, f"unknown assign metric '{assign_metric}'; valid: {', '.join(ASSIGN_METRICS)}")
    check(latent_k > 0 or combine == "add", "--combine concat needs --latent-k > 0")
    LCRegObjective([1], 1, 1, **obj_opts)

    def model_factory(bundle, rec):
        return build_lcreg_model(rec.model, bundle.num_classes, weights=rec.weights, **model_opts)

    def objective_factory(bundle, rec, model):
        obj = LCRegObjective(bundle.train_counts, rec.epochs, model.fc.in_features, **obj_opts)
        st = obj.stats
        log(f"LCReg: K={latent_k}, λ₀={lam0}, {st.groups} {cov_groups} group(s), {obj.covariance} covariance "
            f"of d={st.dim}: statistics {statistics_bytes(obj.covariance, st.groups, st.dim) / 2**20:.2f} MiB")
        return obj

    spec = replace(run, method="lcreg", loss=rebalance, loss_options={**model_opts, **obj_opts})
    return train_longtail(spec, objective_factory=objective_factory, model_factory=model_factory)
