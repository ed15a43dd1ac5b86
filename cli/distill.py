"""``lt distill``: knowledge distillation for dark video -- ``kd`` (one teacher) and ``ukd`` (many).

Both are training commands on the one run lifecycle (``--resume``, ``--deterministic``, ``--config``,
``--print-config``, torchrun); their flags come from ``toolkit.distill.options`` (``KDOptions``,
``UKDOptions``). Only typer, the standard library and the torch-free options at module top.
"""

from __future__ import annotations

import typer

from toolkit.distill.options import KDOptions, UKDOptions

from .options import command

app = typer.Typer(help="Knowledge distillation: KD and UKD (multi-teacher, dark video).", no_args_is_help=True)

command(app, "kd", KDOptions, "toolkit.distill.ukd:distill_kd", run=("distill", "kd"), doc="""
Standard KD from one live teacher: w*CE + (1-w)*τ²*KL(p_t || p_s) on random training clips (w = --ce-weight).

The teacher sees its own stream (recorded in its run; --teacher-stream overrides) of the student's clip.

Example: lt distill kd --teacher runs/teacher-gamma --student tiny3d --dataset synthetic-dark --epochs 10
""")

command(app, "ukd", UKDOptions, "toolkit.distill.ukd:distill_ukd", run=("distill", "ukd"), doc="""
UKD: cache each teacher's logits alone (memory flat in K), then train the student on the cache.

Under torchrun the ranks share phase 1 (each logit computed once) and train the student with DDP.

Example: lt distill ukd --teachers runs/t-rgb,runs/t-gamma --student tiny3d --dataset synthetic-dark --views 4
""")
