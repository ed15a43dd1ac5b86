"""``lt train lcreg``: LCReg long-tailed recognition (latent categories + class-agnostic ISDA).

Registered on the ``lt train`` group by ``cli/train.py`` through :func:`register`.
"""

from enum import Enum
from typing import Annotated, Optional

import typer


class Combine(str, Enum):
    add = "add"
    concat = "concat"


class AssignMetric(str, Enum):
    cosine = "cosine"
    dot = "dot"


class CovGroups(str, Enum):
    latent = "latent"
    klass = "class"


class Covariance(str, Enum):
    auto = "auto"
    full = "full"
    diag = "diag"


class LambdaNorm(str, Enum):
    feature = "feature"
    none = "none"


class CovCenter(str, Enum):
    klass = "class"
    none = "none"


class BankInit(str, Enum):
    features = "features"
    random = "random"


class AssignGrad(str, Enum):
    bank = "bank"
    all = "all"


class Rebalance(str, Enum):
    balanced_softmax = "balanced-softmax"
    none = "none"


HELP = """Train with LCReg: latent bank (K, tau), class-agnostic semantic augmentation (ISDA closed form,
lambda ramp) with latent-category covariances, Balanced Softmax re-balancing.

Every recipe field (--recipe, default: the dataset's) is overridable by its flag. Places-LT's recipe
needs --weights (ImageNet weights to fine-tune from).

\b
Memory of the covariance statistics (float64, G groups of d-dim features; G = K for --cov-groups
latent, the class count for class): full G*d^2*8 bytes, diagonal G*d*8 bytes (+ G*d*8 for means).
  ResNet-32 (d=64), K=64:        full 2 MiB
  ResNeXt-50/ResNet-50/152 (d=2048), K=64: full would be 2 GiB, so auto picks diagonal: 1 MiB
  per-class ImageNet-LT (1000 x 2048): diagonal 15.6 MiB
--covariance auto is full when G*d^2*8 bytes <= --cov-budget-mb (512 MiB), else diagonal.

\b
Example: lt train lcreg --dataset digits-lt --model mlp --epochs 20 --latent-k 16 --out runs/lcreg
         lt train lcreg --dataset imagenet-lt --data-root data/ImageNet_LT
"""


def register(app: typer.Typer) -> None:
    """Add the ``lcreg`` command to the ``lt train`` group."""
    from .common import (
        ConfigOpt,
        DataRootOpt,
        DeterministicOpt,
        DeviceOpt,
        DownloadOpt,
        ForceOpt,
        FormatOpt,
        OutOpt,
        PrintConfigOpt,
        QuietOpt,
        ResumeOpt,
        SeedOpt,
        opt,
        run,
    )
    from .train import (
        Amp,
        AmpOpt,
        BatchOpt,
        ClipOpt,
        EpochsOpt,
        FactorsOpt,
        FewOpt,
        ImbalanceOpt,
        LrOpt,
        ManyOpt,
        MilestonesOpt,
        ModelOpt,
        MomentumOpt,
        RecipeOpt,
        SchedOpt,
        Shots,
        ShotsOpt,
        SkipBadOpt,
        WarmupOpt,
        WdOpt,
        WeightsOpt,
        WorkersOpt,
        longtail_run,
    )

    @app.command("lcreg", help=HELP)
    def lcreg(ctx: typer.Context,
              dataset: Annotated[str, opt("--dataset", "digits-lt, cifar10-lt, cifar100-lt, imagenet-lt, "
                                                       "places-lt, inat2018.")] = "digits-lt",
              latent_k: Annotated[int, typer.Option("--latent-k", help="K latent categories in the bank (0: no "
                                                                       "bank, one global covariance).")] = 64,
              tau: Annotated[float, opt("--tau", "Here: of the latent assignment softmax(cos(f, M)/τ).")] = 0.05,
              head_input: Annotated[Combine, typer.Option(
                  "--head-input", help="Classifier input h = f + l (add) or f and "
                                       "l concatenated (concat).")] = Combine.add,
              assign_metric: Annotated[AssignMetric, typer.Option(
                  "--assign-metric", help="Similarity of f to the bank rows.")] = AssignMetric.cosine,
              lambda0: Annotated[Optional[float], typer.Option(
                  "--lambda0", help="Augmentation strength λ₀ >= 0 (λ = λ₀·epoch/epochs; default "
                                    "0.5, 7.5 for imagenet-lt/places-lt/inat2018).")] = None,
              cov_groups: Annotated[CovGroups, typer.Option(
                  "--cov-groups", help="latent: Σ(x) = Σ_k A_k Σ_k (LCReg); class: "
                                       "Σ_y (plain ISDA).")] = CovGroups.latent,
              covariance: Annotated[Covariance, typer.Option(
                  "--covariance", help="Full or diagonal statistics (auto: by --cov-budget-mb).")] = Covariance.auto,
              cov_budget_mb: Annotated[float, typer.Option("--cov-budget-mb", help="Largest full-covariance statistics "
                                                                                   "auto allows, MiB.")] = 512.0,
              lambda_norm: Annotated[LambdaNorm, typer.Option(
                  "--lambda-norm", help="none: raw Σ (ISDA paper; invariant to rescaling features "
                                        "by s and the head by 1/s); feature: λ·d/E‖h‖² (not "
                                        "invariant, kept for comparison).")] = LambdaNorm.none,
              rebalance: Annotated[Rebalance, typer.Option(
                  "--rebalance", help="Balanced Softmax (log n_c in training) or "
                                      "plain CE.")] = Rebalance.balanced_softmax,
              diversity_weight: Annotated[float, typer.Option("--diversity-weight", help="Weight of the bank "
                                                                                         "orthogonality term.")] = 0.01,
              balance_weight: Annotated[float, typer.Option(
                  "--balance-weight", help="Weight of the assignment balance term KL(mean A ‖ uniform).")] = 0.1,
              sharpness_weight: Annotated[float, typer.Option(
                  "--sharpness-weight", help="Weight of the per-sample assignment entropy mean H(A_i) (with "
                                             "--balance-weight: the latents become categories).")] = 0.1,
              cov_center: Annotated[CovCenter, typer.Option(
                  "--cov-center", help="class: latent Σ_k of h − μ_y (within-class variation only); none: "
                                       "Σ_k of h (holds between-class scatter; diverges).")] = CovCenter.klass,
              bank_init: Annotated[BankInit, typer.Option(
                  "--bank-init", help="features: bank rows = k-means++ picks of the first "
                                      "batch's features; random: N(0, 1/d).")] = BankInit.features,
              assign_grad: Annotated[AssignGrad, typer.Option(
                  "--assign-grad", help="bank: assignment terms move the bank only (features "
                                        "detached); all: also the backbone.")] = AssignGrad.bank,
              recipe: RecipeOpt = None, model: ModelOpt = None, weights: WeightsOpt = None, epochs: EpochsOpt = None,
              batch_size: BatchOpt = None, lr: LrOpt = None, weight_decay: WdOpt = None, scheduler: SchedOpt = None,
              warmup_epochs: WarmupOpt = None, milestones: MilestonesOpt = None, lr_factors: FactorsOpt = None,
              momentum: MomentumOpt = None, imbalance: ImbalanceOpt = None, data_root: DataRootOpt = None,
              download: DownloadOpt = False, skip_bad: SkipBadOpt = False, out: OutOpt = None, force: ForceOpt = False,
              resume: ResumeOpt = False, deterministic: DeterministicOpt = False, amp: AmpOpt = Amp.auto,
              grad_clip: ClipOpt = 0.0, workers: WorkersOpt = 0, shots: ShotsOpt = Shots.decoupling,
              many: ManyOpt = None, few: FewOpt = None, config: ConfigOpt = None, print_config: PrintConfigOpt = False,
              device: DeviceOpt = None, seed: SeedOpt = None, fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
        from toolkit.longtail.lcreg import train_lcreg

        own = ("latent_k", "tau", "head_input", "assign_metric", "lambda0", "cov_groups", "covariance",
               "cov_budget_mb", "lambda_norm", "rebalance", "diversity_weight", "balance_weight",
               "sharpness_weight", "cov_center", "bank_init", "assign_grad")
        spec, opts = longtail_run(ctx, method="lcreg", loss=rebalance.value, own=own, **ctx.params)
        run(ctx, train_lcreg, opts, run=spec, latent_k=latent_k, tau=tau, combine=head_input.value,
            assign_metric=assign_metric.value, lambda0=lambda0, cov_groups=cov_groups.value,
            covariance=covariance.value, cov_budget_mb=cov_budget_mb, lambda_norm=lambda_norm.value,
            rebalance=rebalance.value, diversity_weight=diversity_weight, balance_weight=balance_weight,
            sharpness_weight=sharpness_weight, cov_center=cov_center.value, bank_init=bank_init.value,
            assign_grad=assign_grad.value)
