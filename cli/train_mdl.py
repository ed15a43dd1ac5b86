"""``lt train mdl``: MDL (mask-guided divergence loss) training; registered into ``lt train``."""

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
)
from .defend import refuse_unused_adversary


class Mask(str, Enum):
    label = "label"
    random = "random"


class Adversarial(str, Enum):
    none = "none"
    fgsm = "fgsm"
    pgd = "pgd"


def mdl(ctx: typer.Context,
        dataset: Annotated[str, opt("--dataset",
                                    "digits (embedded), mnist, fashion-mnist, cifar10, cifar100, ...")] = "digits",
        model: Annotated[str, opt("--model", "Dropout goes in front of its classifier head.")] = "smallcnn",
        lam: Annotated[float, typer.Option("--lambda", help="Weight of the divergence term, "
                                                            ">= 0 (our default).")] = 1.0,
        mask: Annotated[Mask, typer.Option("--mask", help="label: drop the true class; random: "
                                                          "also drop wrong classes.")] = Mask.label,
        mask_keep: Annotated[float, typer.Option("--mask-keep", help="Keep-probability of a wrong class "
                                                                     "under --mask random.")] = 0.5,
        dropout: Annotated[float, typer.Option("--dropout", help="Dropout rate in [0,1) on the head's input.")] = 0.5,
        adversarial: Annotated[Adversarial, typer.Option("--adversarial", help="Adversarial training: "
                                                                               "none|fgsm|pgd.")] = Adversarial.none,
        eps: Annotated[str, opt("--eps", "For --adversarial, e.g. 8/255 or 0.3.")] = "8/255",
        alpha: Annotated[Optional[str], opt("--alpha", "For --adversarial pgd (default 2.5*eps/steps; "
                                                       "fgsm steps by eps).")] = None,
        steps: Annotated[int, opt("--steps", "PGD steps of --adversarial pgd.")] = 10,
        epochs: Annotated[int, opt("--epochs")] = 10,
        batch_size: Annotated[int, opt("--batch-size")] = 128,
        lr: Annotated[float, opt("--lr", "Cosine schedule.")] = 0.05,
        optimizer: Annotated[str, opt("--optimizer")] = "sgd",
        weight_decay: Annotated[float, opt("--weight-decay")] = 5e-4,
        data_root: DataRootOpt = None, download: DownloadOpt = False, out: OutOpt = None, force: ForceOpt = False,
        resume: ResumeOpt = False, deterministic: DeterministicOpt = False, config: ConfigOpt = None,
        print_config: PrintConfigOpt = False, device: DeviceOpt = None, seed: SeedOpt = None, fmt: FormatOpt = None,
        quiet: QuietOpt = False) -> None:
    """Train with MDL: CE over two dropout passes + lambda * cos^2 of their masked wrong-class outputs.

    Accuracies are fractions in [0, 1]. Runs under torchrun; --resume continues the run in --out.
    Example: lt train mdl --dataset digits --model smallcnn --lambda 1 --dropout 0.5 --epochs 10 --out runs/mdl
    """
    refuse_unused_adversary(ctx, adversarial.value, "--adversarial")
    if mask == Mask.label:
        refuse_unused(ctx, {"mask_keep": "--mask-keep"}, "with --mask label (only --mask random drops wrong classes)")
    from toolkit.defense.mdl import train_mdl

    opts = resolve(ctx, device, seed, fmt, quiet)
    run(ctx, train_mdl, opts, dataset=dataset, model=model, lam=lam, mask=mask.value, mask_keep=mask_keep,
        dropout=dropout, adversarial=adversarial.value, eps=parse_fraction(eps, "--eps"),
        alpha=parse_fraction(alpha, "--alpha") if alpha is not None else None, steps=steps,
        epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer, weight_decay=weight_decay,
        data_root=data_root, download=download, out=out, force=force, resume=resume, device=opts["device"],
        seed=opts["seed"], deterministic=deterministic)


def register(app: typer.Typer) -> None:
    """Add ``mdl`` to the ``lt train`` group."""
    app.command("mdl")(mdl)
