"""The options of ``lt train mdl``, ``lt defend facm`` and ``lt defend eval``, defined once (pure Python).

Options that apply only in some mode default to ``None`` ("not given"): ``_resolve`` fills them where
they apply (``--eps`` 8/255 with an adversary, ``--steps`` 10 and ``--alpha`` 2.5·eps/steps with pgd,
``--mask-keep`` 0.5 with ``--mask random``, ``--apgd-targets`` 9 with APGD, the curve's eps), and
``_rules`` refuses them, named by their flag, where they do not (``--mask-keep: not used with --mask
label``). See ``toolkit/engine/options.py`` for how a field becomes a flag, a ``config.json`` key and a rule.
"""

from __future__ import annotations

import os

from ..engine.options import (
    BatchOptions,
    DataOptions,
    Default,
    Options,
    OutputOptions,
    RunData,
    RunOptions,
    SelectionOptions,
    TrainOptions,
    flag,
    option,
    options,
    refuse,
)

ADVERSARIES = ("none", "fgsm", "pgd")
MASKS = ("label", "random")
DECISIONS = ("mean", "vote")
DATASETS = ("Dataset: a registered name (see `lt datasets`). digits (embedded), mnist, fashion-mnist, cifar10, "
            "cifar100, ...")
DEFAULT_EPS = 8 / 255
DEFAULT_STEPS = 10


def image_size_option():
    return option(None, "Image side in pixels. Images are resized to it.", min=1, default_text="the dataset's")


@options
class AdversaryOptions(Options):
    """The adversarial examples a defense trains on: ``eps``, ``alpha``, ``steps`` of the attack named by
    the subclass's mode field (``_attack_field``: ``adversarial`` for MDL, ``adv_attack`` for FACM)."""

    _attack_field = "adversarial"

    eps: float | None = option(None, "L-inf budget in (0, 1]: a number or a fraction such as 8/255. Of the "
                                     "adversarial training examples (fgsm|pgd).", kind="fraction", gt=0, max=1,
                               default_text="8/255 with fgsm|pgd")
    alpha: float | None = option(None, "Attack step size: a number or a fraction such as 1.6/255. PGD only (fgsm "
                                       "steps by --eps).", kind="fraction", gt=0, default_text="2.5*eps/steps with pgd")
    steps: int | None = option(None, "Attack iterations. PGD only.", min=1, default_text="10 with pgd")

    def _attack(self) -> str:
        return getattr(self, self._attack_field)

    def _resolve(self):
        attack = self._attack()
        if attack not in ("fgsm", "pgd"):
            return self
        values = {"eps": DEFAULT_EPS if self.eps is None else self.eps}
        if attack == "pgd":
            values["steps"] = DEFAULT_STEPS if self.steps is None else self.steps
            if self.alpha is None and values["steps"] >= 1:
                values["alpha"] = 2.5 * values["eps"] / values["steps"]  # Madry et al.'s rule
        return self.replace(**values)

    def _rules(self) -> None:
        attack, name = self._attack(), flag(self._attack_field)
        if attack == "none":
            refuse(self, ["eps", "alpha", "steps"], f"with {name} none (no adversarial examples; give {name} fgsm|pgd)")
        elif attack == "fgsm":
            refuse(self, ["alpha", "steps"], f"with {name} fgsm (one step of size --eps; {name} pgd takes them)")


@options(dataset=Default("digits", help=DATASETS), lr=0.05)
class MDLOptions(AdversaryOptions, DataOptions, SelectionOptions, TrainOptions, RunOptions):
    """``lt train mdl``: CE over two dropout passes + lambda·cos² of their masked wrong-class outputs
    (:mod:`toolkit.defense.mdl`)."""

    _attack_field = "adversarial"

    model: str = option("smallcnn", "Architecture name (see `lt models`). Dropout goes in front of its classifier "
                                    "head.")
    lam: float = option(1.0, "Weight of the divergence term (our default).", flag="--lambda", min=0)
    mask: str = option("label", "label: drop the true class; random: also drop wrong classes.", choices=MASKS)
    mask_keep: float | None = option(None, "Keep-probability of a wrong class under --mask random.", gt=0, max=1,
                                     default_text="0.5 with --mask random")
    dropout: float = option(0.5, "Dropout rate on the classifier head's input.", min=0, lt=1)
    adversarial: str = option("none", "Adversarial training: the loss on examples made by this attack (against "
                                      "the model in eval mode).", choices=ADVERSARIES)
    image_size: int | None = image_size_option()

    def _resolve(self):
        if self.mask == "random" and self.mask_keep is None:
            return self.replace(mask_keep=0.5)
        return self

    def _rules(self) -> None:
        if self.mask == "label":
            refuse(self, ["mask_keep"], "with --mask label (only --mask random drops wrong classes)")


@options(dataset=Default("digits", help=DATASETS), lr=1e-3, optimizer="adam", weight_decay=0.0)
class FACMOptions(AdversaryOptions, DataOptions, SelectionOptions, TrainOptions, RunOptions):
    """``lt defend facm``: FA heads (+ CMPD) fine-tuned on a frozen backbone (:mod:`toolkit.defense.facm`)."""

    _attack_field = "adv_attack"

    backbone: str = option(help="Backbone checkpoint file or run dir.")
    feature_layers: tuple[str, ...] = option((), "Module paths to tap, comma-separated.", kind="list",
                                             default_text="the family's: smallcnn features.3,features.7; CIFAR "
                                                          "ResNets layer1,layer2; torchvision ResNets layer2,layer3; "
                                                          "mlp body.2")
    decision: str = option("mean", "mean (average probabilities) | vote (majority, backbone breaks ties).",
                           choices=DECISIONS)
    fa_only: bool = option(False, "FA heads + decision only (for adversarially trained backbones).",
                           flag="--fa-only/--with-cmpd")
    adv_attack: str = option("pgd", "Adversarial half of the training batches, made on the backbone.",
                             choices=ADVERSARIES)
    freeze: bool = option(True, "Keep the backbone frozen (weights and BN statistics).")
    fa_hidden: int = option(256, "Hidden width of each FA head.", min=1)
    latent_dim: int | None = option(None, "Latent size of the CMPD auto-encoder.", min=1,
                                    default_text="32 (not with --fa-only)")
    kl_weight: float | None = option(None, "Weight of the CMPD KL loss.", min=0,
                                     default_text="1.0 (not with --fa-only)")
    image_size: int | None = image_size_option()

    def _resolve(self):
        values = {}
        if not self.fa_only:
            values["latent_dim"] = 32 if self.latent_dim is None else self.latent_dim
            values["kl_weight"] = 1.0 if self.kl_weight is None else self.kl_weight
        if not self.feature_layers and os.path.exists(self.backbone):
            # The family's default taps, recorded in config.json (a backbone that does not exist is said by
            # train_facm when it opens it, after the rules).
            from .taps import backbone_layers  # torch: only when the options are resolved

            values["feature_layers"] = tuple(backbone_layers(self.backbone))
        return self.replace(**values) if values else self

    def _rules(self) -> None:
        if self.fa_only:
            refuse(self, ["latent_dim", "kl_weight"], "with --fa-only (no CMPD)")


def default_curve_eps(eps: float) -> list[float]:
    """The robustness curve's default eps: 0, eps/2, eps, 2eps, 4eps and a large one (>= 0.5)."""
    return sorted({0.0, eps / 2, eps, min(1.0, 2 * eps), min(1.0, 4 * eps), max(0.5, min(1.0, 4 * eps))})


@options(dataset=Default(None, "the run's (its config.json); else digits",
                         help="Dataset: a registered name (see `lt datasets`). Its test split is attacked."),
         batch_size=256)
class RobustnessOptions(DataOptions, BatchOptions, OutputOptions):
    """``lt defend eval``: clean and robust accuracy of any checkpoint (:mod:`toolkit.defense.evaluate`)."""

    run_data = RunData("model", {"dataset": ("dataset", "--dataset"), "data_root": ("data_root", "--data-root")},
                       defaults={"dataset": "digits"})

    model: str = option(help="A checkpoint file or run dir (plain model or FACM pipeline).", argument=True,
                        metavar="RUN")
    eps: float = option(DEFAULT_EPS, "L-inf budget in (0, 1]: a number or a fraction such as 8/255.",
                        kind="fraction", gt=0, max=1, default_text="8/255")
    steps: int = option(20, "Attack iterations. Of the PGD attacks (pgd-ce-2x: twice).", min=1)
    restarts: int = option(2, "PGD random restarts (worst case kept).", min=1)
    apgd_steps: int = option(100, "APGD-CE / APGD-T iterations (0 = skip APGD).", min=0)
    apgd_targets: int | None = option(None, "APGD-T target classes, most likely first (0 = skip APGD-T).", min=0,
                                      default_text="9 (not with --apgd-steps 0)")
    surrogate: str | None = option(None, "Model the adversarial examples are crafted on: a model name, checkpoint "
                                         "or run dir. Here: PGD-CE on it, evaluated on RUN (the transfer row).",
                                   default_text="none")
    square_queries: int = option(1000, "Query budget of the Square attack (0 = skip).", min=0)
    eot: int = option(1, "EOT passes per gradient of the adaptive attack.", min=1)
    limit: int | None = option(1000, "Use only the first N examples. Of the test split (library: None = all).",
                               min=1)
    curve: bool = option(True, "Accuracy-vs-eps curve (table and PNG).", flag="--curve/--no-curve")
    curve_eps: tuple[float, ...] = option((), "Comma list of eps for the curve, e.g. 0,4/255,8/255,0.5.",
                                          kind="list", min=0, max=1, default_text="0, eps/2, eps, 2eps, 4eps, 0.5")
    autoattack: bool = option(False, "Also run torchattacks' AutoAttack (reference).",
                              flag="--autoattack/--no-autoattack")

    def _resolve(self):
        values = {}
        if self.apgd_steps > 0 and self.apgd_targets is None:
            values["apgd_targets"] = 9
        if self.curve:
            values["curve_eps"] = tuple(sorted(set(self.curve_eps))) if self.curve_eps else \
                tuple(default_curve_eps(self.eps))
        return self.replace(**values) if values else self

    def _rules(self) -> None:
        if not self.curve:
            refuse(self, ["curve_eps"], "with --no-curve")
        if self.apgd_steps == 0:
            refuse(self, ["apgd_targets"], "with --apgd-steps 0 (APGD skipped)")


__all__ = ["ADVERSARIES", "AdversaryOptions", "DECISIONS", "FACMOptions", "MASKS", "MDLOptions", "RobustnessOptions",
           "default_curve_eps"]
