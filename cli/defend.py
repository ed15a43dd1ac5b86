"""``lt defend``: build a FACM pipeline (``facm``) and evaluate any checkpoint's robustness (``eval``)."""

from __future__ import annotations

import typer

from toolkit.defense.options import FACMOptions, RobustnessOptions

from .options import command

app = typer.Typer(help="Defenses (FACM) and honest robustness evaluation.", no_args_is_help=True)


command(app, "facm", FACMOptions, "toolkit.defense.facm:train_facm", run=("defend", "facm"), doc="""
Fine-tune FA heads (+ CMPD) on a frozen backbone; save one checkpoint usable as any model.

Accuracies are fractions in [0, 1]. Runs under torchrun; --resume continues the run in --out.
--eps applies with --adv-attack fgsm|pgd, --alpha and --steps with pgd; --latent-dim and --kl-weight
without --fa-only.

Example: lt defend facm --backbone runs/ce --dataset digits --feature-layers features.3,features.7 --out runs/facm
""")

command(app, "eval", RobustnessOptions, "toolkit.defense.evaluate:evaluate_robustness", run=("defend", "eval"),
        doc="""
Clean and robust accuracy under FGSM, PGD-CE, PGD-DLR, APGD-CE, APGD-T, transfer and Square; worst case; checks.

FACM pipelines are attacked both ways: the paper's protocol (backbone only) and end to end (BPDA for a vote).

Accuracies are fractions in [0, 1]. --dataset and --data-root default to the run's (its config.json), said on stderr.
--apgd-targets applies with APGD (--apgd-steps > 0), --curve-eps with the curve (not with --no-curve).

Example: lt defend eval runs/facm --dataset digits --eps 8/255 --surrogate runs/ce
""")
