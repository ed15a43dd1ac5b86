"""``lt train video``: train a video classifier (a UKD teacher or a baseline) on ARID-layout data.

Registered on the ``lt train`` group by ``cli/train.py`` through :func:`register`; the flags come from
``toolkit.distill.options.VideoTrainOptions`` (shared with ``lt distill``). Only typer and the standard
library at module top.
"""

import typer

HELP = """Train a video teacher or baseline on one stream; print test top-1/top-5 (multi-view) and per-class.

Defaults follow the ARID recipe: 16-frame clips at interval 2, batch 16, SGD lr 0.01, 50 epochs.

Every engine flag overrides them (multistep: x0.1 at 60% and 80% of the epochs).

Runs under torchrun (DDP) and continues exactly with --resume.

Example: lt train video --dataset arid --data-root ARID_v1 --stream gamma --model r3d_18
"""


def register(app: typer.Typer) -> None:
    """Add ``video`` to ``lt train`` (flags from ``VideoTrainOptions``)."""
    from toolkit.distill.options import VideoTrainOptions

    from .options import command

    command(app, "video", VideoTrainOptions, "toolkit.distill.video_train:train_video", run=("train", "video"),
            doc=HELP)
