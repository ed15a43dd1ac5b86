"""``lt train muse``: MuSe 2022 humor / reaction / stress (lstm, gru-sa, temma); registered into ``lt train``.

The flags are generated from :class:`toolkit.muse.options.MuseOptions` (``cli/options.py``).
"""

from __future__ import annotations

import typer

HELP = """Train a MuSe 2022 model and print the challenge metric (protocol named), or late-fuse runs.

Each seed is a sub-run in OUT/seed<k> (stress per-dim: OUT/seed<k>/<dim>); --resume continues the interrupted one and re-uses the finished ones.

Example: lt train muse --task humor --dataset synthetic-muse --model gru-sa --seeds 3 --out runs/humor
"""  # noqa: E501 (help text: Typer keeps a docstring's line breaks, wrapping would change --help)


def register(app: typer.Typer) -> None:
    """Add ``muse`` to the ``lt train`` group (flags from ``MuseOptions``)."""
    from toolkit.muse.options import MuseOptions

    from .options import command

    command(app, "muse", MuseOptions, "toolkit.muse.train:train_muse", run=("train", "muse"), doc=HELP)
