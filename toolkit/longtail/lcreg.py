"""LCReg: long-tailed recognition by learning from latent categories (``lt train lcreg``).

Paper: Liu, Wu, Wang, Ding, Liu, Lin, Lin — "Long-tailed Recognition by Learning from Latent
Categories", arXiv 2206.01010 (2022); "LCReg: Long-Tailed Image Classification with Latent
Categories based Recognition", arXiv 2309.07186 (2023). Only the abstract is public and no code
exists, so this is our reading (shared/methods/longtail.md); every choice below is a flag.

- **Latent bank** M ∈ R^{K×d} (learnable), soft assignment A = softmax(sim(f, M)/τ) of the backbone
  feature f, latent feature l = A·M; the classifier reads h = f + l (``head_input='add'``) or [f; l].
- **Class-agnostic semantic augmentation** on h: online covariances Σ_k per latent category,
  weighted by the assignments A over samples of *all* classes, of the within-class residual
  h − μ_y (running class means; ``cov_center='class'``); each sample is augmented with
  Σ(x) = Σ_k A_k(x) Σ_k through the ISDA closed-form loss with the λ ramp
  (:mod:`toolkit.longtail.isda`). Tail samples borrow the variation of head samples of the same
  latent category. ``cov_groups='class'`` uses per-class Σ_y instead (plain ISDA on h).
- **A bank that learns categories** (:mod:`toolkit.longtail.bank`): rows initialised from the first
  batch's features (k-means++), τ = 0.05, sharpness mean_i H(A_i) + balance KL(mean_i A_i ‖ uniform)
  (together log K − I(x; latent)) + diversity (mean squared cosine between rows); the assignment
  terms move the bank only (``assign_grad='bank'``: f detached in A). ``epoch_metrics`` puts the
  assignment entropy and usage of every epoch into ``metrics.csv``.
- **Re-balancing**: Balanced Softmax (z + log n_c in training only) by default, plain CE as option.

Why Σ_k of h − μ_y: with Σ_k of h itself (``cov_center='none'``, the earlier design) a class-agnostic
group holds the between-class scatter, so the augmentation moves samples across class boundaries
and the bound never saturates; its curvature λ·Σ in the head weights grows with the squared feature
scale, and on digits-lt seed 1 (λ₀ 0.5, raw Σ, MLP) SGD on the head diverged at epoch 7-8 (feature
norm 2 -> 90, head gradient 38 -> 3e8 within an epoch). Plain ISDA's Σ_y never held that scatter.

Defaults — the paper's: K, τ, weights are not public. Ours: K = 64, τ = 0.05, cosine similarity,
``add``, bank from features, diversity 0.01, balance 0.1, sharpness 0.1, A detached in the
augmentation term (no gradient routes samples to low-variance categories), raw Σ
(``lambda_norm='none'``, the ISDA paper's; scale-invariant), λ₀ = 0.5 (7.5 for the ImageNet-scale
recipes: the ISDA paper's values), ``auto`` covariance (full where K·d²·8 bytes <= 512 MiB, else
diagonal: ResNet-32 K=64 d=64 full = 2 MiB; ResNeXt-50 d=2048 diagonal = 1 MiB). With K = 0 there
is no bank (h = f) and augmentation uses one class-agnostic within-class Σ; with K = 0 and λ₀ = 0
the loss is exactly the baseline's (Balanced Softmax or CE).

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
from .bank import assignment_stats, balance_loss, diversity_loss, kmeanspp_rows, sharpness_loss
from .isda import (
    LAMBDA_NORMS,
    OnlineCovariance,
    check_lambda0,
    choose_covariance,
    isda_logits,
    ramp,
    rebalance_prior,
    scale_of,
)
from .options import LCRegOptions, check_lcreg_model

HEAD_INPUTS = ("add", "concat")
ASSIGN_METRICS = ("cosine", "dot")
COV_GROUPS = ("latent", "class")
ASSIGN_GRADS = ("bank", "all")
COV_CENTERS = ("class", "none")
BANK_INITS = ("features", "random")


class LCRegNet(nn.Module):
    """A backbone (``Normalized`` model from ``get_model``) split at its linear head, plus the latent bank.

    The head is moved out of the backbone (its slot becomes ``nn.Identity``, so the backbone returns
    the feature f) into ``self.fc``. ``forward(x)`` gives logits; ``forward(x, parts=True)`` a dict
    with ``logits``, ``h`` (classifier input), ``f`` (backbone feature), ``assign`` (B, K) and ``weight``
    (the head's matrix). ``assign_grad="bank"`` detaches f inside A (assignment terms move the bank only).
    Takes [0, 1] images like every lt model; ``arch='lcreg'`` rebuilds from checkpoints.
    """

    def __init__(self, base: nn.Module, num_classes: int, latent_k: int = 64, tau: float = 0.05,
                 head_input: str = "add", assign_metric: str = "cosine", assign_grad: str = "bank"):
        super().__init__()
        check(latent_k >= 0, f"--latent-k must be >= 0 (got {latent_k})")
        check(tau > 0, f"--tau must be > 0 (got {tau})")
        check(head_input in HEAD_INPUTS, f"unknown --head-input '{head_input}'; valid: {', '.join(HEAD_INPUTS)}")
        check(assign_metric in ASSIGN_METRICS,
              f"unknown assign metric '{assign_metric}'; valid: {', '.join(ASSIGN_METRICS)}")
        check_lcreg_model(latent_k, head_input)
        check(assign_grad in ASSIGN_GRADS, f"unknown assign grad '{assign_grad}'; valid: {', '.join(ASSIGN_GRADS)}")
        self.base = base
        head = _take_head(base)
        dim = head.in_features
        self.fc = head if head_input == "add" else nn.Linear(2 * dim, num_classes)
        self.bank = nn.Parameter(torch.randn(latent_k, dim) / math.sqrt(dim)) if latent_k > 0 else None
        self.latent_k, self.tau, self.head_input = latent_k, tau, head_input
        self.assign_metric, self.feature_dim = assign_metric, dim
        self.assign_grad = assign_grad
        self.arch = "lcreg"
        self.model_args = {"base": dict(getattr(base, "model_args", {})), "num_classes": num_classes,
                           "latent_k": latent_k, "tau": tau, "head_input": head_input, "assign_metric": assign_metric,
                           "assign_grad": assign_grad}

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
            assign = self.assignment(f.detach() if self.assign_grad == "bank" else f)
            latent = assign @ self.bank
            h = f + latent if self.head_input == "add" else torch.cat([f, latent], dim=1)
        logits = self.fc(h)
        if not parts:
            return logits
        return {"logits": logits, "h": h, "f": f, "assign": assign, "weight": self.fc.weight}

    @torch.no_grad()
    def init_bank(self, f: torch.Tensor) -> None:
        """Set the bank rows to K of the features ``f`` (k-means++ seeding, cosine), rank 0's under DDP."""
        rows = kmeanspp_rows(f.detach(), self.latent_k).to(self.bank)
        if self.assign_metric == "cosine":
            rows = F.normalize(rows, dim=1)
        if D.is_distributed():
            torch.distributed.broadcast(rows, src=0)
        self.bank.copy_(rows)


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
                      tau: float = 0.05, head_input: str = "add", assign_metric: str = "cosine",
                      assign_grad: str = "bank") -> LCRegNet:
    """``get_model(name, num_classes, weights)`` wrapped with the latent bank."""
    from ..models import get_model

    base = get_model(name, num_classes, weights=weights)
    return LCRegNet(base, num_classes, latent_k, tau, head_input, assign_metric, assign_grad)


def lcreg_from_checkpoint(ckpt: dict) -> LCRegNet:
    """Rebuild the (untrained) LCRegNet a checkpoint describes (``toolkit.models.COMPOSITE_MODELS``)."""
    from ..models import get_model

    args = dict(ckpt.get("model_args") or {})
    base_args = dict(args.pop("base", {}))
    name = base_args.pop("name")
    base_args.pop("weights", None)
    base = get_model(name, **base_args)
    return LCRegNet(base, **args)


class LCRegObjective(Objective):
    """The LCReg training loss for an :class:`LCRegNet`.

    Args (defaults ours unless noted):
        train_counts: per-class training counts (Balanced Softmax prior, covariance group count).
        epochs: total epochs (λ = λ₀·epoch/epochs, the ISDA ramp).
        feature_dim: d of the classifier input h (2d with ``concat``).
        latent_k: K of the model's bank (0: one global covariance group).
        lambda0: λ₀ >= 0, finite (ISDA paper: 0.5 CIFAR, 7.5 ImageNet).
        cov_groups: ``latent`` (Σ_k weighted by A; LCReg) or ``class`` (Σ_y; plain ISDA).
        cov_center: ``class`` (latent/global Σ of h − μ_y: within-class variation only) or
            ``none`` (Σ of h itself, which also holds the between-class scatter; diverges, see docs).
        covariance: ``auto|full|diag``; cov_budget_mb: the ``auto`` budget (512 MiB).
        lambda_norm: ``none`` (raw Σ, the ISDA paper; invariant to rescaling h by s and the head by
            1/s) or ``feature`` (λ·d/E‖h‖²; *not* invariant: the term scales by 1/s²).
        rebalance: ``balanced-softmax`` (default) or ``none`` (CE).
        diversity_weight: 0.01; balance_weight: 0.1; sharpness_weight: 0.1 (mean_i H(A_i)).
        bank_init: ``features`` (k-means++ rows of the first batch) or ``random`` (N(0, 1/d)).
    """

    def __init__(self, train_counts: Sequence[int], epochs: int, feature_dim: int, latent_k: int = 64,
                 lambda0: float = 0.5, cov_groups: str = "latent", covariance: str = "auto",
                 lambda_norm: str = "none", rebalance: str = "balanced-softmax", diversity_weight: float = 0.01,
                 balance_weight: float = 0.1, cov_budget_mb: float = 512.0, sharpness_weight: float = 0.1,
                 cov_center: str = "class", bank_init: str = "features"):
        check(latent_k >= 0, f"--latent-k must be >= 0 (got {latent_k})")
        check_lambda0(lambda0)
        check(cov_groups in COV_GROUPS, f"unknown cov groups '{cov_groups}'; valid: {', '.join(COV_GROUPS)}")
        check(cov_center in COV_CENTERS, f"unknown cov center '{cov_center}'; valid: {', '.join(COV_CENTERS)}")
        check(bank_init in BANK_INITS, f"unknown bank init '{bank_init}'; valid: {', '.join(BANK_INITS)}")
        check(lambda_norm in LAMBDA_NORMS, f"unknown lambda norm '{lambda_norm}'; valid: {', '.join(LAMBDA_NORMS)}")
        for flag, w in (("--diversity-weight", diversity_weight), ("--balance-weight", balance_weight),
                        ("--sharpness-weight", sharpness_weight)):
            check(w >= 0 and math.isfinite(w), f"{flag} must be >= 0 (got {w})")
        check(cov_budget_mb > 0, f"--cov-budget-mb must be > 0 (got {cov_budget_mb})")
        counts = torch.as_tensor(list(train_counts), dtype=torch.float32)
        self.log_prior = rebalance_prior(counts, rebalance)
        self.num_classes, self.epochs, self.latent_k, self.lambda0 = len(counts), epochs, latent_k, lambda0
        self.cov_groups, self.lambda_norm, self.bank_init = cov_groups, lambda_norm, bank_init
        self.center = cov_center == "class" and cov_groups == "latent"
        self.diversity_weight, self.balance_weight = diversity_weight, balance_weight
        self.sharpness_weight = sharpness_weight
        groups = self.num_classes if cov_groups == "class" else max(1, latent_k)
        self.covariance = choose_covariance(covariance, groups, feature_dim, cov_budget_mb)
        self.stats = OnlineCovariance(groups, feature_dim, self.covariance)
        # Running class means of h (diagonal statistics: C·d numbers) for the within-class residuals.
        self.class_stats = OnlineCovariance(self.num_classes, feature_dim, "diag") if self.center else None
        self.bank_ready = bank_init == "random"
        self._reset_epoch_sums()

    def to(self, device: torch.device) -> "LCRegObjective":
        self.log_prior = self.log_prior.to(device)
        self.stats.to(device)
        if self.class_stats is not None:
            self.class_stats.to(device)
        return self

    def _reset_epoch_sums(self) -> None:
        self._sums = {"entropy": 0.0, "top": 0.0, "count": 0.0, "usage": None, "argmax": None}

    def on_epoch_start(self, epoch: int, model: nn.Module) -> None:
        self._reset_epoch_sums()

    def group_weights(self, parts: dict, y: torch.Tensor) -> torch.Tensor:
        if self.cov_groups == "class":
            return F.one_hot(y, self.num_classes)
        return parts["assign"].detach()

    def _augmented(self, parts: dict, y: torch.Tensor, epoch: int) -> torch.Tensor:
        """z + (λ/2)σ with the statistics updated by this batch (``logits`` when λ₀ = 0)."""
        logits = parts["logits"]
        if self.lambda0 <= 0:
            return logits
        weights = self.group_weights(parts, y)
        with torch.autocast(logits.device.type, enabled=False):
            h = parts["h"]
            if self.class_stats is not None:
                self.class_stats.update(h, F.one_hot(y, self.num_classes))
                h = h.detach().to(self.class_stats.mean.dtype) - self.class_stats.mean[y]
            self.stats.update(h, weights)
        lam = ramp(self.lambda0, epoch, self.epochs)
        if lam <= 0:
            return logits
        lam *= scale_of(self.stats, self.lambda_norm)
        return isda_logits(logits, parts["weight"], y, self.stats.cov, weights, lam)

    def loss(self, model: nn.Module, batch, epoch: int):
        x, y = batch
        bare = D.unwrap(model)
        bank = getattr(bare, "bank", None)
        if bank is not None and not self.bank_ready and model.training:
            with torch.no_grad():
                bare.init_bank(bare.base(x))
            self.bank_ready = True
        parts = model(x, parts=True)
        logits = parts["logits"]
        loss = F.cross_entropy(self._augmented(parts, y, epoch).float() + self.log_prior, y)
        if bank is not None:
            assign = parts["assign"].float()
            self._accumulate(assign)
            if self.diversity_weight > 0:
                loss = loss + self.diversity_weight * diversity_loss(bank.float())
            if self.balance_weight > 0:
                loss = loss + self.balance_weight * balance_loss(assign)
            if self.sharpness_weight > 0:
                loss = loss + self.sharpness_weight * sharpness_loss(assign)
        return loss, logits, y

    @torch.no_grad()
    def _accumulate(self, assign: torch.Tensor) -> None:
        s = self._sums
        a = assign.detach()
        s["entropy"] += float(sharpness_loss(a)) * len(a)
        s["top"] += float(a.max(1).values.sum())
        s["count"] += len(a)
        hits = torch.bincount(a.argmax(1), minlength=a.shape[1]).double().cpu()
        usage = a.sum(0).double().cpu()
        s["usage"] = usage if s["usage"] is None else s["usage"] + usage
        s["argmax"] = hits if s["argmax"] is None else s["argmax"] + hits

    def epoch_metrics(self) -> dict:
        """Assignment entropy and usage over this epoch's training batches (empty without a bank)."""
        s = self._sums
        if s["usage"] is None:
            return {}
        return assignment_stats(s["entropy"], s["usage"], s["top"], s["count"], s["argmax"])

    def state_dict(self) -> dict:
        state = {"stats": self.stats.state_dict(), "bank_ready": self.bank_ready}
        if self.class_stats is not None:
            state["class_stats"] = self.class_stats.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        if state.get("stats"):
            self.stats.load_state_dict(state["stats"])
        if state.get("class_stats") and self.class_stats is not None:
            self.class_stats.load_state_dict(state["class_stats"])
        self.bank_ready = bool(state.get("bank_ready", self.bank_ready))


def train_lcreg(opts: LCRegOptions | None = None, **values):
    """Train LCReg: ``lt train lcreg`` (the long-tail trainer with LCReg's model and objective).

    ``opts`` (or its fields as keywords) is validated before any data is read and recorded in
    ``config.json``; ``lambda0=None`` takes :func:`default_lambda0` of the resolved recipe.
    Returns the test Report (overall / many / medium / few top-1, best epoch on val where it exists).

        lt train lcreg --dataset digits-lt --epochs 30 --latent-k 16 --out runs/lcreg
    """
    from ..engine.report import log
    from .isda import statistics_bytes
    from .train import train_longtail

    opts = LCRegOptions.of(opts, **values).validate()
    model_opts = {"latent_k": opts.latent_k, "tau": opts.tau, "head_input": opts.head_input,
                  "assign_metric": opts.assign_metric, "assign_grad": opts.assign_grad}
    obj_opts = {k: getattr(opts, k) for k in ("latent_k", "lambda0", "cov_groups", "covariance", "cov_budget_mb",
                                               "lambda_norm", "rebalance", "diversity_weight", "balance_weight",
                                               "sharpness_weight", "cov_center", "bank_init")}

    def model_factory(bundle, o):
        return build_lcreg_model(o.model, bundle.num_classes, weights=o.weights, **model_opts)

    def objective_factory(bundle, o, model):
        obj = LCRegObjective(bundle.train_counts, o.epochs, model.fc.in_features, **obj_opts)
        st = obj.stats
        mib = statistics_bytes(obj.covariance, st.groups, st.dim) / 2**20
        log(f"LCReg: K={o.latent_k}, λ₀={o.lambda0}, {st.groups} {o.cov_groups} group(s), {obj.covariance} "
            f"covariance of d={st.dim}: statistics {mib:.2f} MiB")
        return obj

    return train_longtail(opts, method="lcreg", loss=opts.rebalance, objective_factory=objective_factory,
                          model_factory=model_factory)
