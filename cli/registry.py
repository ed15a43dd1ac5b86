"""``lt models`` and ``lt datasets``: what the registries hold, as ``lt attack list`` does for attacks.

    lt models [PATTERN]              # model names (lt's and torchvision's); PATTERN a glob or substring
    lt models weights resnet50       # its weights names, the hub-cache file each needs, present or not
    lt datasets [PATTERN]            # dataset names with the layout each expects under --data-root
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from typer.core import TyperGroup

from .common import FormatOpt, run

LIST_COMMAND = "list"
PatternArg = Annotated[Optional[str], typer.Argument(help="A glob (resnet*) or a substring (resnet).")]


class _ListByDefault(TyperGroup):
    """``lt models [PATTERN]`` runs ``lt models list [PATTERN]``; ``lt models weights NAME`` stays itself."""

    def parse_args(self, ctx, args):
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h")):
            args = [LIST_COMMAND, *args]
        return super().parse_args(ctx, args)


models_app = typer.Typer(cls=_ListByDefault, no_args_is_help=False,
                         help="List model names (`lt models [PATTERN]`) and weights (`lt models weights NAME`).")


@models_app.command(LIST_COMMAND)
def models_list(ctx: typer.Context, pattern: PatternArg = None, fmt: FormatOpt = None) -> None:
    """List the model names --model / MODEL / --surrogate accept (lt's own, then torchvision's).

    Example: lt models resnet --format json
    """
    from toolkit.models.catalog import model_table

    run(ctx, model_table, fmt, pattern=pattern)


@models_app.command("weights")
def models_weights(ctx: typer.Context,
                   name: Annotated[str, typer.Argument(help="A torchvision model name, e.g. resnet50.")],
                   fmt: FormatOpt = None) -> None:
    """List NAME's torchvision weights names, the torch hub cache file each needs, and whether it is there.

    Example: lt models weights resnet50
    """
    from toolkit.models.catalog import weights_table

    run(ctx, weights_table, fmt, name=name)


def datasets(ctx: typer.Context, pattern: PatternArg = None, fmt: FormatOpt = None) -> None:
    """List the dataset names --dataset accepts, the layout each expects under --data-root, its options.

    Example: lt datasets lt --format csv
    """
    from toolkit.data.layouts import dataset_table

    run(ctx, dataset_table, fmt, pattern=pattern)
