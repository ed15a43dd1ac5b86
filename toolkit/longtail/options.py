"""The options of ``lt train ce``, ``lt train lcreg`` and ``lt train eval``, defined once (pure Python).

Recipe fields (model, epochs, batch size, lr, ...) default to ``None``: :meth:`LongtailOptions._resolve`
fills them from ``--recipe`` (default: the dataset's recipe; a dataset without one must name
``--recipe``). See ``toolkit/engine/options.py`` for how a field becomes a flag, a ``config.json`` key and a rule.
"""

from __future__ import annotations

from ..engine.errors import LtError
from ..engine.options import (
    BatchOptions,
    DataOptions,
    Default,
    DeviceOptions,
    Options,
    RunData,
    RunOptions,
    SelectionOptions,
    TrainOptions,
    option,
    options,
)
from .recipes import DATASET_RECIPE, RECIPES, get_recipe


def recipe_default(field: str) -> Default:
    """``Default(None, "the recipe's (cifar-lt 200, ...)")`` for a recipe field."""

    def show(v):
        return ",".join(map(str, v)) if isinstance(v, tuple) else ("none" if v in (None, ()) else v)

    text = "the recipe's (" + ", ".join(f"{n} {show(getattr(r, field))}" for n, r in RECIPES.items()) + ")"
    return Default(None, text)


LOSS_NAMES = ("ce", "balanced-softmax", "ldam-drw", "isda")
RECIPE_FIELDS = ("model", "weights", "epochs", "batch_size", "lr", "weight_decay", "scheduler", "warmup_epochs",
                 "milestones", "lr_factors", "momentum")


@options
class ShotOptions(Options):
    """Many / medium / few shot groups of a long-tailed evaluation."""

    shots: str = option("decoupling", "Shot groups: decoupling (many>100, few<20) or oltr (>=100, <=20).",
                        choices=("decoupling", "oltr"))
    many: int | None = option(None, "Many-shot threshold.", min=1,
                              default_text="the recipe's (digits-lt 60, fashion-mnist-lt 1000, else 100)")
    few: int | None = option(None, "Few-shot threshold.", min=1,
                             default_text="the recipe's (fashion-mnist-lt 200, else 20)")


@options
class LongtailDataOptions(DataOptions):
    """A long-tailed dataset: its name, where it is read from, its imbalance."""

    imbalance: float | None = option(None, "Imbalance factor n_max/n_min of -LT sets.", min=1,
                                     default_text="the dataset's")


@options(dataset=Default("digits-lt", help="Dataset: a registered name (see `lt datasets`): digits-lt, cifar10-lt, "
                                           "cifar100-lt, fashion-mnist-lt, imagenet-lt, places-lt, inat2018, ..."),
         epochs=recipe_default("epochs"), batch_size=recipe_default("batch_size"), lr=recipe_default("lr"),
         weight_decay=recipe_default("weight_decay"), scheduler=recipe_default("scheduler"),
         warmup_epochs=recipe_default("warmup_epochs"), momentum=recipe_default("momentum"))
class LongtailOptions(LongtailDataOptions, SelectionOptions, TrainOptions, ShotOptions, RunOptions):
    """What every long-tailed trainer takes: data, a recipe its training fields override, shot groups."""

    recipe: str | None = option(None, "Training recipe; every training flag overrides it.",
                                choices=tuple(RECIPES), default_text="the dataset's")
    model: str | None = option(None, "Architecture name (see `lt models`).", default_text=recipe_default("model").text)
    weights: str | None = option(None, "Initial weights: a torchvision weights name (read from the hub cache, "
                                       "never downloaded) or a file.",
                                 default_text="random init (places-lt needs weights)")
    image_size: int | None = option(None, "Image side in pixels. Every split's images are resized to it.", min=1,
                                    default_text="the dataset's")
    skip_bad: bool = option(False, "Skip (and count) unreadable inputs instead of failing.")

    def _resolve(self):
        name = self.recipe or DATASET_RECIPE.get(self.dataset)
        if name is None:
            from ..data import check_dataset  # a typo is named as such before the recipe is asked for

            check_dataset(self.dataset)
            raise LtError(f"dataset '{self.dataset}' has no training recipe: pass --recipe "
                          f"({', '.join(RECIPES)}); any training flag then overrides it")
        recipe = get_recipe(name, self.dataset)
        values = {"recipe": recipe.name}
        for key in RECIPE_FIELDS:
            if getattr(self, key) in (None, ()):
                if key in ("milestones", "lr_factors") and (self.scheduler or recipe.scheduler) != "multistep":
                    continue
                if key == "momentum" and self.optimizer != "sgd":
                    continue
                values[key] = getattr(recipe, key)
        values["many"] = self.many or recipe.shot_many
        values["few"] = self.few or recipe.shot_few
        return self.replace(**values)

    def _rules(self) -> None:
        recipe = RECIPES[self.recipe]
        if recipe.requires_weights and not self.weights:
            raise LtError(f"recipe '{recipe.name}' fine-tunes from pretrained weights: pass --weights "
                          f"(a torchvision weights name such as IMAGENET1K_V1, or a file); refusing a random init")


@options
class CEOptions(LongtailOptions):
    """``lt train ce``: a long-tailed baseline loss."""

    loss: str = option("ce", "Loss function.", choices=LOSS_NAMES)


LAMBDA0_BY_RECIPE = {"imagenet-lt": 7.5, "places-lt": 7.5, "inat2018": 7.5}


def default_lambda0(recipe_name: str) -> float:
    """λ₀ for a recipe: 7.5 for the ImageNet-scale ones, else 0.5 (the ISDA paper's values)."""
    return LAMBDA0_BY_RECIPE.get(recipe_name, 0.5)


def check_lcreg_model(latent_k: int, head_input: str) -> None:
    """The one rule tying the LCReg model's options (used by :class:`LCRegOptions` and ``LCRegNet``)."""
    if latent_k == 0 and head_input != "add":
        raise LtError(f"--head-input {head_input} needs --latent-k > 0 (there is no latent feature to join)")


@options
class LCRegOptions(LongtailOptions):
    """``lt train lcreg``: latent bank, class-agnostic semantic augmentation, re-balancing (toolkit.longtail.lcreg)."""

    latent_k: int = option(64, "K latent categories in the bank (0: no bank, one global covariance).", min=0)
    tau: float = option(0.05, "Softmax temperature τ (logits are divided by τ). Here: of the latent assignment "
                              "softmax(cos(f, M)/τ).", gt=0)
    head_input: str = option("add", "Classifier input h = f + l (add) or f and l concatenated (concat).",
                             choices=("add", "concat"))
    assign_metric: str = option("cosine", "Similarity of f to the bank rows.", choices=("cosine", "dot"))
    lambda0: float | None = option(None, "Augmentation strength λ₀ (λ = λ₀·epoch/epochs).", min=0,
                                   default_text="0.5; 7.5 for imagenet-lt/places-lt/inat2018 (the ISDA paper's)")
    cov_groups: str = option("latent", "latent: Σ(x) = Σ_k A_k Σ_k (LCReg); class: Σ_y (plain ISDA).",
                             choices=("latent", "class"))
    covariance: str = option("auto", "Full or diagonal statistics (auto: by --cov-budget-mb).",
                             choices=("auto", "full", "diag"))
    cov_budget_mb: float = option(512.0, "Largest full-covariance statistics auto allows.", gt=0, unit="MiB")
    lambda_norm: str = option("none", "none: raw Σ (ISDA paper; invariant to rescaling features by s and the head "
                                      "by 1/s); feature: λ·d/E‖h‖² (not invariant, kept for comparison).",
                              choices=("none", "feature"))
    rebalance: str = option("balanced-softmax", "Balanced Softmax (log n_c in training) or plain CE.",
                            choices=("balanced-softmax", "none"))
    diversity_weight: float = option(0.01, "Weight of the bank orthogonality term.", min=0)
    balance_weight: float = option(0.1, "Weight of the assignment balance term KL(mean A ‖ uniform).", min=0)
    sharpness_weight: float = option(0.1, "Weight of the per-sample assignment entropy mean H(A_i) (with "
                                          "--balance-weight: the latents become categories).", min=0)
    cov_center: str = option("class", "class: latent Σ_k of h − μ_y (within-class variation only); none: Σ_k of h "
                                      "(holds between-class scatter; diverges).", choices=("class", "none"))
    bank_init: str = option("features", "features: bank rows = k-means++ picks of the first batch's features; "
                                        "random: N(0, 1/d).", choices=("features", "random"))
    assign_grad: str = option("bank", "bank: assignment terms move the bank only (features detached); all: also "
                                      "the backbone.", choices=("bank", "all"))

    def _resolve(self):
        if self.lambda0 is None:
            return self.replace(lambda0=default_lambda0(self.recipe))
        return self

    def _rules(self) -> None:
        check_lcreg_model(self.latent_k, self.head_input)


@options(dataset=Default(None, "the run's (its config.json); else digits-lt"),
         imbalance=Default(None, "the run's"), batch_size=256)
class EvalOptions(LongtailDataOptions, ShotOptions, BatchOptions, DeviceOptions):
    """``lt train eval``: a saved model on a dataset split."""

    run_data = RunData("checkpoint", {"dataset": ("dataset", "--dataset"), "data_root": ("data_root", "--data-root"),
                                      "imbalance": ("imbalance", "--imbalance")}, defaults={"dataset": "digits-lt"})

    checkpoint: str = option(help="A checkpoint file or a run dir.", argument=True)
    split: str = option("test", "Partition to evaluate.", choices=("test", "val"))


COMPARE_METRICS = ("top1", "many", "medium", "few")


@options
class CompareOptions(Options):
    """``lt train compare``: finished runs grouped by method, paired by seed (toolkit.longtail.compare)."""

    runs: tuple[str, ...] = option(help="Run dirs to compare (a folder holding run dirs stands for all of them).",
                                   argument=True)
    baseline: str | None = option(None, "Method the others are paired against: its label (ce/balanced-softmax, "
                                        "or its last part balanced-softmax) or one of the RUN dirs.",
                                  default_text="the first RUN's method")
    metrics: tuple[str, ...] = option((), "Metrics of metrics.json to compare (comma-separated).", kind="list",
                                      default_text="top1,many,medium,few and every ece* all runs record")

    def _rules(self) -> None:
        if not self.runs:
            raise LtError("give at least one RUN dir to compare")


def shot_thresholds(opts: ShotOptions, dataset: str) -> tuple[int, int]:
    """(many, few): the given thresholds, else the dataset's recipe's, else 100 / 20."""
    name = DATASET_RECIPE.get(dataset)
    recipe = RECIPES[name] if name else None
    return (opts.many or (recipe.shot_many if recipe else 100), opts.few or (recipe.shot_few if recipe else 20))


__all__ = ["CEOptions", "COMPARE_METRICS", "CompareOptions", "EvalOptions", "LAMBDA0_BY_RECIPE", "LCRegOptions",
           "LOSS_NAMES", "LongtailDataOptions", "LongtailOptions", "RECIPE_FIELDS", "ShotOptions", "check_lcreg_model",
           "default_lambda0", "recipe_default", "shot_thresholds"]
