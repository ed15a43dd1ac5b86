"""``lt prune``: layer-adaptive weight pruning (rate-distortion DP; LAMP/global/uniform/ERK baselines).

    lt prune --ratio 0.7 resnet50                 # default command (same as: lt prune run ...)
    lt prune curves MODEL                         # measure and cache the curves only
    lt prune additivity MODEL                     # joint / (d_i + d_j) over layer pairs

Every option is a field of ``toolkit/prune/options.py`` (flags, help, rules, ``config.json``).
"""

from __future__ import annotations

import typer
from typer.core import TyperGroup

from toolkit.prune.options import AdditivityOptions, CurvesOptions, PruneOptions

from .options import command

DEFAULT_COMMAND = "run"


class DefaultGroup(TyperGroup):
    """A group whose first token, when it is not a subcommand name (or help), goes to ``run``."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = [DEFAULT_COMMAND, *args]
        return super().parse_args(ctx, args)


app = typer.Typer(cls=DefaultGroup, no_args_is_help=True,
              help="Layer-adaptive pruning. `lt prune --ratio 0.7 MODEL` runs `lt prune run`.")


command(app, DEFAULT_COMMAND, PruneOptions, "toolkit.prune.run:prune_model", run=("prune", "run"), doc="""
Prune MODEL to --ratio zeros; writes the pruned checkpoint, masks, curves and plots to --out.

For a run dir MODEL, --dataset, --data-root and --image-size default to the run's (its config.json;
a pruned run's own MODEL run when it was calibrated on noise), said on stderr.

--grid, --buckets, --allow-empty, --fx-split and --cache-dir shape rd's curves and DP: typed with
another --method they are refused. --finetune-lr is refused without fine-tuning.

Example: lt prune --ratio 0.5 runs/bs --calib-size 256 --out runs/p50
""")

command(app, "curves", CurvesOptions, "toolkit.prune.analysis:curves_report", run=("prune", "curves"), doc="""
Measure (or re-use) and cache the rate-distortion curves of MODEL.

Example: lt prune curves runs/bs --grid 50 --out runs/bs-curves
""")

command(app, "additivity", AdditivityOptions, "toolkit.prune.analysis:additivity_report", doc="""
Measure the additivity ratio joint / (d_i + d_j) over layer pairs (writes no files).

Example: lt prune additivity runs/bs --sparsities 0.2,0.5,0.8 --pairs 30
""")
