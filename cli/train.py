"""``lt train``: long-tailed baselines (``ce``), evaluation (``eval``), and the methods that plug in
through ``cli/train_*.py`` modules (``lcreg``, ``mdl``, ``video``, ``muse``)."""

from __future__ import annotations

import importlib

import typer

from toolkit.longtail.options import CEOptions, CompareOptions, EvalOptions

from .options import command

app = typer.Typer(help="Train models.", no_args_is_help=True)


command(app, "ce", CEOptions, "toolkit.longtail.train:train_ce", run=("train", "ce"), doc="""
Train a classifier with a long-tailed baseline loss; print overall/many/medium/few top-1.

Every training flag overrides the recipe (--recipe, default: the dataset's).

Example: lt train ce --dataset digits-lt --model resnet32 --loss balanced-softmax --epochs 30 --out runs/bs
""")

command(app, "eval", EvalOptions, "toolkit.longtail.train:evaluate_checkpoint", doc="""
Evaluate a saved model: overall/many/medium/few top-1 (training counts from the dataset).

The dataset, --data-root and --imbalance default to the run's (its config.json), said on stderr.
Example: lt train eval runs/bs --format json
""")

command(app, "compare", CompareOptions, "toolkit.longtail.compare:compare_runs", doc="""
Compare finished runs: per method mean ± std over seeds, and the paired difference to a baseline.

Runs are grouped by method (command, --loss/--method, and any option that differs) and paired by seed. Per method
and metric (top-1, many, medium, few, and ECE where recorded; in %): mean ± sample std; against the baseline on the
shared seeds: mean delta, its std, 95 % t half-width, wins/ties/losses. Trains nothing, writes no run dir; a folder
holding run dirs stands for all of them.

Example: lt train compare runs/*/ --baseline ce/balanced-softmax --format csv > table.csv
""")

# Methods in their own modules add their commands here: each module defines register(app).
for _module in ("cli.train_lcreg", "cli.train_mdl", "cli.train_video", "cli.train_muse"):
    importlib.import_module(_module).register(app)
