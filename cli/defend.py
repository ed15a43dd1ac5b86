"""``lt defend``: build a FACM pipeline (``facm``) and evaluate any checkpoint's robustness (``eval``)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional

import typer

from .common import (
    ConfigOpt,
    DataRootOpt,
    DeterministicOpt,
    DeviceOpt,
    DownloadOpt,
    ForceOpt,
    FormatOpt,
    LtTyper,
    OutOpt,
    PrintConfigOpt,
    QuietOpt,
    ResumeOpt,
    SeedOpt,
    opt,
    parse_fraction,
    refuse_unused,
    resolve,
    run,
    split_list,
)

app = LtTyper(help="Defenses (FACM) and honest robustness evaluation.", no_args_is_help=True)


class Decision(str, Enum):
    mean = "mean"
    vote = "vote"


class AdvAttack(str, Enum):
    none = "none"
    fgsm = "fgsm"
    pgd = "pgd"


DATASETS = "digits (embedded), mnist, fashion-mnist, cifar10, cifar100, ..."


def refuse_unused_adversary(ctx: typer.Context, attack: str, flag: str) -> None:
    """``--eps/--alpha/--steps`` typed where the adversarial-training attack (``flag`` = ``attack``) does
    not use them: all three with ``none``; ``--alpha`` and ``--steps`` with ``fgsm`` (one step of size eps)."""
    if attack == "none":
        refuse_unused(ctx, {"eps": "--eps", "alpha": "--alpha", "steps": "--steps"},
                      f"with {flag} none (no adversarial examples; give {flag} fgsm|pgd)")
    elif attack == "fgsm":
        refuse_unused(ctx, {"alpha": "--alpha", "steps": "--steps"},
                      f"with {flag} fgsm (one step of size --eps; {flag} pgd takes them)")


@app.command("facm")
def facm(ctx: typer.Context,
         backbone: Annotated[str, typer.Option("--backbone", help="Backbone checkpoint file or run dir.")],
         dataset: Annotated[str, opt("--dataset", DATASETS)] = "digits",
         feature_layers: Annotated[Optional[str], typer.Option(
             "--feature-layers", help="Module paths to tap, comma-separated (default: the family's: "
                                      "smallcnn features.3,features.7; CIFAR ResNets layer1,layer2; "
                                      "torchvision ResNets layer2,layer3; mlp body.2).")] = None,
         decision: Annotated[Decision, typer.Option("--decision", help="mean (average probabilities) | vote (majority, "
                                                                       "backbone breaks ties).")] = Decision.mean,
         fa_only: Annotated[bool, typer.Option(
             "--fa-only/--with-cmpd", help="FA heads + decision only (for adversarially trained backbones).")] = False,
         adv_attack: Annotated[AdvAttack, typer.Option("--adv-attack", help="Adversarial half of the training batches, "
                                                                            "made on the backbone.")] = AdvAttack.pgd,
         eps: Annotated[str, opt("--eps", "For --adv-attack, e.g. 8/255 or 0.3.")] = "8/255",
         alpha: Annotated[Optional[str], opt("--alpha", "For --adv-attack pgd (default 2.5*eps/steps; "
                                                        "fgsm steps by eps).")] = None,
         steps: Annotated[int, opt("--steps", "PGD steps of --adv-attack pgd.")] = 10,
         freeze: Annotated[bool, typer.Option("--freeze/--no-freeze", help="Keep the backbone frozen (weights "
                                                                           "and BN statistics).")] = True,
         fa_hidden: Annotated[int, typer.Option("--fa-hidden", help="Hidden width of each FA head.")] = 256,
         latent_dim: Annotated[int, typer.Option("--latent-dim", help="Latent size of the CMPD auto-encoder.")] = 32,
         kl_weight: Annotated[float, typer.Option("--kl-weight", help="Weight of the CMPD KL loss.")] = 1.0,
         epochs: Annotated[int, opt("--epochs")] = 10,
         batch_size: Annotated[int, opt("--batch-size")] = 128,
         lr: Annotated[float, opt("--lr", "Cosine schedule.")] = 1e-3,
         optimizer: Annotated[str, opt("--optimizer")] = "adam",
         weight_decay: Annotated[float, opt("--weight-decay")] = 0.0,
         data_root: DataRootOpt = None, download: DownloadOpt = False, out: OutOpt = None, force: ForceOpt = False,
         resume: ResumeOpt = False, deterministic: DeterministicOpt = False, config: ConfigOpt = None,
         print_config: PrintConfigOpt = False, device: DeviceOpt = None, seed: SeedOpt = None, fmt: FormatOpt = None,
         quiet: QuietOpt = False) -> None:
    """Fine-tune FA heads (+ CMPD) on a frozen backbone; save one checkpoint usable as any model.

    Accuracies are fractions in [0, 1]. Runs under torchrun; --resume continues the run in --out.
    Example: lt defend facm --backbone runs/ce --dataset digits --feature-layers features.3,features.7 --out runs/facm
    """
    refuse_unused_adversary(ctx, adv_attack.value, "--adv-attack")
    if fa_only:
        refuse_unused(ctx, {"latent_dim": "--latent-dim", "kl_weight": "--kl-weight"}, "with --fa-only (no CMPD)")
    from toolkit.defense.facm import train_facm

    opts = resolve(ctx, device, seed, fmt, quiet)
    run(ctx, train_facm, opts, backbone=backbone, dataset=dataset, feature_layers=split_list(feature_layers) or None,
        decision=decision.value, fa_only=fa_only, adv_attack=adv_attack.value, eps=parse_fraction(eps, "--eps"),
        alpha=parse_fraction(alpha, "--alpha") if alpha is not None else None, steps=steps, freeze=freeze,
        fa_hidden=fa_hidden, latent_dim=latent_dim, kl_weight=kl_weight, epochs=epochs, batch_size=batch_size,
        lr=lr, optimizer=optimizer, weight_decay=weight_decay, data_root=data_root, download=download, out=out,
        force=force, resume=resume, device=opts["device"], seed=opts["seed"], deterministic=deterministic)


@app.command("eval")
def eval_(ctx: typer.Context,
          model: Annotated[str, typer.Argument(metavar="RUN", help="A checkpoint file or run dir "
                                                                   "(plain model or FACM pipeline).")],
          dataset: Annotated[Optional[str], opt("--dataset", "Its test split is attacked (default: the run's, "
                                                             "from its config.json; else digits).")] = None,
          eps: Annotated[str, opt("--eps", "E.g. 8/255 or 0.3.")] = "8/255",
          steps: Annotated[int, opt("--steps", "Of the PGD attacks (pgd-ce-2x: twice).")] = 20,
          restarts: Annotated[int, typer.Option("--restarts", help="PGD random restarts (worst case kept).")] = 2,
          apgd_steps: Annotated[int, typer.Option("--apgd-steps", help="APGD-CE / APGD-T iterations "
                                                                       "(0 = skip APGD).")] = 100,
          apgd_targets: Annotated[int, typer.Option("--apgd-targets", help="APGD-T target classes, most likely "
                                                                           "first (0 = skip APGD-T).")] = 9,
          surrogate: Annotated[Optional[str], opt("--surrogate", "Here: PGD-CE on it, evaluated on RUN (the "
                                                                 "transfer row; default: none).")] = None,
          square_queries: Annotated[int, typer.Option("--square-queries", help="Query budget of the Square "
                                                                               "attack (0 = skip).")] = 1000,
          eot: Annotated[int, typer.Option("--eot", help="EOT passes per gradient of the adaptive attack.")] = 1,
          limit: Annotated[int, opt("--limit", "Of the test split.")] = 1000,
          curve: Annotated[bool, typer.Option("--curve/--no-curve", help="Accuracy-vs-eps curve "
                                                                         "(table and PNG).")] = True,
          curve_eps: Annotated[Optional[str], typer.Option(
              "--curve-eps", help="Comma list of eps for the curve, e.g. 0,4/255,8/255,0.5 "
                                  "(default: 0, eps/2, eps, 2eps, 4eps, 0.5).")] = None,
          autoattack: Annotated[bool, typer.Option(
              "--autoattack/--no-autoattack", help="Also run torchattacks' AutoAttack (reference).")] = False,
          batch_size: Annotated[int, opt("--batch-size")] = 256,
          data_root: DataRootOpt = None, download: DownloadOpt = False, out: OutOpt = None, force: ForceOpt = False,
          config: ConfigOpt = None, print_config: PrintConfigOpt = False, device: DeviceOpt = None,
          seed: SeedOpt = None, fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """Clean and robust accuracy under FGSM, PGD-CE, PGD-DLR, APGD-CE, APGD-T, transfer and Square; worst case; checks.

    FACM pipelines are attacked both ways: the paper's protocol (backbone only) and end to end (BPDA for a vote).
    Accuracies are fractions in [0, 1]. --dataset and --data-root default to the run's (its config.json), said
    on stderr.
    Example: lt defend eval runs/facm --dataset digits --eps 8/255 --surrogate runs/ce
    """
    if not curve:
        refuse_unused(ctx, {"curve_eps": "--curve-eps"}, "with --no-curve")
    if apgd_steps == 0:
        refuse_unused(ctx, {"apgd_targets": "--apgd-targets"}, "with --apgd-steps 0 (APGD skipped)")
    from toolkit.defense.evaluate import evaluate_robustness
    from toolkit.engine.runs import with_run_data

    opts = resolve(ctx, device, seed, fmt, quiet)
    points = [parse_fraction(p, "--curve-eps") for p in split_list(curve_eps)] or None
    fields = {"dataset": ("dataset", "--dataset"), "data_root": ("data_root", "--data-root")}
    fn = with_run_data(evaluate_robustness, "model", fields, defaults={"dataset": "digits"})
    run(ctx, fn, opts, model=model, dataset=dataset, eps=parse_fraction(eps, "--eps"), steps=steps,
        restarts=restarts, surrogate=surrogate, square_queries=square_queries, eot=eot, apgd_steps=apgd_steps,
        apgd_targets=apgd_targets, limit=limit, curve=curve, curve_points=points, autoattack=autoattack,
        batch_size=batch_size, data_root=data_root, download=download, out=out, force=force,
        device=opts["device"], seed=opts["seed"])
