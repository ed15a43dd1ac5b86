"""``lt distill``: knowledge distillation for dark video -- ``kd`` (one teacher) and ``ukd`` (many).

Both are training commands on the one run lifecycle (``--resume``, ``--deterministic``,
``--config``, ``--print-config``, torchrun). Only typer and the standard library at module top.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional

import typer

from .common import (
    ConfigOpt,
    DataRootOpt,
    DeterministicOpt,
    DeviceOpt,
    ForceOpt,
    FormatOpt,
    LtTyper,
    OutOpt,
    PrintConfigOpt,
    QuietOpt,
    ResumeOpt,
    SeedOpt,
    opt,
    resolve,
    run,
    split_list,
)
from .train_video import (
    BatchOpt,
    DatasetOpt,
    EpochsOpt,
    FramesOpt,
    GammaOpt,
    ImageSizeOpt,
    IntervalOpt,
    LrOpt,
    OfficialSplitOpt,
    Sched,
    SchedOpt,
    SkipBadOpt,
    Stream,
    StreamOpt,
    TestViewsOpt,
    WdOpt,
    WorkersOpt,
)

app = LtTyper(help="Knowledge distillation: KD and UKD (multi-teacher, dark video).", no_args_is_help=True)


class Combine(str, Enum):
    mean_kl = "mean-kl"
    mean_logits = "mean-logits"
    confidence = "confidence"


class Mode(str, Enum):
    ukd = "ukd"
    live = "live"


# Options of both distill commands: one declaration each.
StudentOpt = Annotated[str, typer.Option("--student", help="Student architecture: tiny3d "
                                                           "or a torchvision video model.")]
CeWeightOpt = Annotated[float, typer.Option("--ce-weight", help="Weight w in [0, 1] of the CE term; 1 - w weighs the "
                                                                "KD term. Default 0.5 (our choice).")]
TauOpt = Annotated[float, opt("--tau", "Here: of the KD term (its KL is scaled by τ²). Default 4 (our choice).")]


def _kwargs(ctx: typer.Context, p: dict) -> tuple[dict, dict]:
    """The output options and the toolkit keywords shared by kd and ukd (from the parsed parameters ``p``)."""
    opts = resolve(ctx, p["device"], p["seed"], p["fmt"], p["quiet"])
    same = ("student", "dataset", "data_root", "official_split", "gamma", "frames", "interval", "image_size",
            "test_views", "ce_weight", "tau", "skip_bad", "epochs", "batch_size", "lr", "weight_decay", "workers",
            "deterministic", "out", "force", "resume")
    kwargs = {k: p[k] for k in same}
    return opts, {**kwargs, "stream": p["stream"].value, "scheduler": p["scheduler"].value,
                  "device": opts["device"], "seed": opts["seed"]}


@app.command("kd")
def kd(ctx: typer.Context,
       teacher: Annotated[str, typer.Option("--teacher", help="Teacher checkpoint or run dir (from lt train video).")],
       student: StudentOpt, dataset: DatasetOpt = "synthetic-dark", stream: StreamOpt = Stream.rgb,
       gamma: GammaOpt = 1.8, official_split: OfficialSplitOpt = 1, frames: FramesOpt = None,
       interval: IntervalOpt = None, image_size: ImageSizeOpt = None, test_views: TestViewsOpt = 3,
       teacher_stream: Annotated[Optional[Stream], typer.Option(
           "--teacher-stream", help="Override the stream recorded in the teacher's run.")] = None,
       ce_weight: CeWeightOpt = 0.5, tau: TauOpt = 4.0, epochs: EpochsOpt = 50, batch_size: BatchOpt = 16,
       lr: LrOpt = 0.01, weight_decay: WdOpt = 5e-4, scheduler: SchedOpt = Sched.multistep, workers: WorkersOpt = 0,
       skip_bad: SkipBadOpt = False, data_root: DataRootOpt = None, out: OutOpt = None, force: ForceOpt = False,
       resume: ResumeOpt = False, deterministic: DeterministicOpt = False, config: ConfigOpt = None,
       print_config: PrintConfigOpt = False, device: DeviceOpt = None, seed: SeedOpt = None, fmt: FormatOpt = None,
       quiet: QuietOpt = False) -> None:
    """Standard KD from one live teacher: w*CE + (1-w)*τ²*KL(p_t || p_s) on random training clips (w = --ce-weight).

    Example: lt distill kd --teacher runs/teacher-gamma --student tiny3d --dataset synthetic-dark --epochs 10
    """
    params = dict(locals())
    from toolkit.distill.ukd import distill

    opts, kwargs = _kwargs(ctx, params)
    run(ctx, distill, opts, teachers=[teacher], mode="kd",
        teacher_streams=[teacher_stream.value] if teacher_stream else None, **kwargs)


@app.command("ukd")
def ukd(ctx: typer.Context,
        teachers: Annotated[str, typer.Option("--teachers", help="Comma-separated teacher checkpoints "
                                                                 "or run dirs (from lt train video).")],
        student: StudentOpt, dataset: DatasetOpt = "synthetic-dark", stream: StreamOpt = Stream.rgb,
        gamma: GammaOpt = 1.8, official_split: OfficialSplitOpt = 1, frames: FramesOpt = None,
        interval: IntervalOpt = None, image_size: ImageSizeOpt = None,
        views: Annotated[int, typer.Option("--views", help="Deterministic training views per "
                                                           "video cached per teacher (>= 1).")] = 4,
        test_views: TestViewsOpt = 3,
        combine: Annotated[Combine, typer.Option("--combine", help="How K teachers' logits make one target: "
                                                                   "mean-kl, mean-logits or confidence (see "
                                                                   "docs/distill.md).")] = Combine.mean_kl,
        mode: Annotated[Mode, typer.Option("--mode", help="ukd: cached, one teacher at a time; live: all "
                                                          "teachers resident (baseline).")] = Mode.ukd,
        teacher_streams: Annotated[Optional[str], typer.Option(
            "--teacher-streams", help="Comma-separated streams overriding those "
                                      "recorded in the teachers' runs.")] = None,
        cache_dir: Annotated[Optional[str], opt("--cache-dir", "Here: the teacher-logit cache "
                                                               "(default $LT_CACHE_DIR/ukd).")] = None,
        ce_weight: CeWeightOpt = 0.5, tau: TauOpt = 4.0, epochs: EpochsOpt = 50, batch_size: BatchOpt = 16,
        lr: LrOpt = 0.01, weight_decay: WdOpt = 5e-4, scheduler: SchedOpt = Sched.multistep,
        workers: WorkersOpt = 0, skip_bad: SkipBadOpt = False, data_root: DataRootOpt = None, out: OutOpt = None,
        force: ForceOpt = False, resume: ResumeOpt = False, deterministic: DeterministicOpt = False,
        config: ConfigOpt = None, print_config: PrintConfigOpt = False, device: DeviceOpt = None,
        seed: SeedOpt = None, fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """UKD: cache each teacher's logits alone (memory flat in K), then train the student on the cache.

    Under torchrun the ranks share phase 1 (each logit computed once) and train the student with DDP.
    Example: lt distill ukd --teachers runs/t-rgb,runs/t-gamma --student tiny3d --dataset synthetic-dark --views 4
    """
    params = dict(locals())
    from toolkit.distill.ukd import distill

    opts, kwargs = _kwargs(ctx, params)
    run(ctx, distill, opts, teachers=split_list(teachers), mode=mode.value, views=views,
        teacher_streams=split_list(teacher_streams) or None, combine=combine.value, cache_dir=cache_dir, **kwargs)
