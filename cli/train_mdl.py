"""``lt train mdl``: MDL (mask-guided divergence loss) training; registered into ``lt train``."""

from __future__ import annotations

import typer

HELP = """Train with MDL: CE over two dropout passes + lambda * cos^2 of their masked wrong-class outputs.

Accuracies are fractions in [0, 1]. Runs under torchrun; --resume continues the run in --out.
--eps applies with --adversarial fgsm|pgd, --alpha and --steps with pgd, --mask-keep with --mask random.

Example: lt train mdl --dataset digits --model smallcnn --lambda 1 --dropout 0.5 --epochs 10 --out runs/mdl
"""


def register(app: typer.Typer) -> None:
    """Add ``mdl`` to the ``lt train`` group (flags from ``MDLOptions``)."""
    from toolkit.defense.options import MDLOptions

    from .options import command

    command(app, "mdl", MDLOptions, "toolkit.defense.mdl:train_mdl", run=("train", "mdl"), doc=HELP)
