"""``lt distill``: knowledge distillation for dark video -- ``kd`` (one teacher) and ``ukd`` (many).

Only typer and the standard library at module top.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional

import typer

from .common import DataRootOpt, DeviceOpt, ForceOpt, FormatOpt, OutOpt, QuietOpt, SeedOpt, resolve, run, split_list
from .train_video import (BatchOpt, DatasetOpt, EpochsOpt, FramesOpt, GammaOpt, IntervalOpt, LrOpt, ResumeOpt, Sched,
                          SchedOpt, SizeOpt, SkipBadOpt, SplitOpt, Stream, StreamOpt, WdOpt, WorkersOpt)

app = typer.Typer(help="Knowledge distillation: KD and UKD (multi-teacher, dark video).", no_args_is_help=True)


class Combine(str, Enum):
    mean_kl = "mean-kl"
    mean_logits = "mean-logits"
    confidence = "confidence"


class Mode(str, Enum):
    ukd = "ukd"
    live = "live"


StudentOpt = Annotated[str, typer.Option("--student", help="Student model: tiny3d or a torchvision video model.")]
AlphaOpt = Annotated[float, typer.Option("--alpha", help="Weight of the CE term; 1 - alpha weighs the KD term.")]
TauOpt = Annotated[float, typer.Option("--tau", help="Softmax temperature of the KD term.")]
TestViewsOpt = Annotated[int, typer.Option("--test-views", help="Fixed test views per video (scores averaged).")]


def _common(ctx, device, seed, fmt, quiet):
    return resolve(ctx, device, seed, fmt, quiet)


@app.command("kd")
def kd(ctx: typer.Context,
       teacher: Annotated[str, typer.Option("--teacher", help="Teacher checkpoint or run dir (from lt train video).")],
       student: StudentOpt, dataset: DatasetOpt = "synthetic-dark", stream: StreamOpt = Stream.rgb,
       gamma: GammaOpt = 1.8, split: SplitOpt = 1, frames: FramesOpt = None, interval: IntervalOpt = None,
       size: SizeOpt = None, test_views: TestViewsOpt = 3,
       teacher_stream: Annotated[Optional[Stream], typer.Option("--teacher-stream", help="Override the stream stored in the teacher checkpoint.")] = None,
       alpha: AlphaOpt = 0.5, tau: TauOpt = 4.0, epochs: EpochsOpt = 50, batch_size: BatchOpt = 16, lr: LrOpt = 0.01,
       weight_decay: WdOpt = 5e-4, scheduler: SchedOpt = Sched.multistep, workers: WorkersOpt = 0,
       skip_bad: SkipBadOpt = False, data_root: DataRootOpt = None, out: OutOpt = None, force: ForceOpt = False,
       resume: ResumeOpt = False, device: DeviceOpt = None, seed: SeedOpt = None, fmt: FormatOpt = None,
       quiet: QuietOpt = False) -> None:
    """Standard KD from one live teacher: alpha*CE + (1-alpha)*tau^2*KL(p_t || p_s) on random training clips.

    Example: lt distill kd --teacher runs/teacher-gamma --student tiny3d --dataset synthetic-dark --epochs 10
    """
    from toolkit.distill.ukd import distill

    opts = _common(ctx, device, seed, fmt, quiet)
    run(ctx, distill, opts, teachers=[teacher], student=student, mode="kd", dataset=dataset, data_root=data_root,
        split=split, stream=stream.value, gamma=gamma, frames=frames, interval=interval, size=size, views=1,
        test_views=test_views, teacher_streams=[teacher_stream.value] if teacher_stream else None,
        combine="mean-kl", alpha=alpha, tau=tau, skip_bad=skip_bad, epochs=epochs, batch_size=batch_size, lr=lr,
        weight_decay=weight_decay, scheduler=scheduler.value, workers=workers, device=opts["device"],
        seed=opts["seed"], out=out, force=force, resume=resume)


@app.command("ukd")
def ukd(ctx: typer.Context,
        teachers: Annotated[str, typer.Option("--teachers", help="Comma-separated teacher checkpoints or run dirs.")],
        student: StudentOpt, dataset: DatasetOpt = "synthetic-dark", stream: StreamOpt = Stream.rgb,
        gamma: GammaOpt = 1.8, split: SplitOpt = 1, frames: FramesOpt = None, interval: IntervalOpt = None,
        size: SizeOpt = None,
        views: Annotated[int, typer.Option("--views", help="Deterministic training views per video cached per teacher (>= 1).")] = 4,
        test_views: TestViewsOpt = 3,
        combine: Annotated[Combine, typer.Option("--combine", help="mean-kl, mean-logits or confidence (see docs/distill.md).")] = Combine.mean_kl,
        mode: Annotated[Mode, typer.Option("--mode", help="ukd: cached, one teacher at a time; live: all teachers resident (baseline).")] = Mode.ukd,
        teacher_streams: Annotated[Optional[str], typer.Option("--teacher-streams", help="Comma-separated streams overriding those in the teacher checkpoints.")] = None,
        cache_dir: Annotated[Optional[str], typer.Option("--cache-dir", help="Teacher-logit cache (default $LT_CACHE_DIR/ukd; ~/.cache/lt when unset).")] = None,
        alpha: AlphaOpt = 0.5, tau: TauOpt = 4.0, epochs: EpochsOpt = 50, batch_size: BatchOpt = 16,
        lr: LrOpt = 0.01, weight_decay: WdOpt = 5e-4, scheduler: SchedOpt = Sched.multistep,
        workers: WorkersOpt = 0, skip_bad: SkipBadOpt = False, data_root: DataRootOpt = None, out: OutOpt = None,
        force: ForceOpt = False, resume: ResumeOpt = False, device: DeviceOpt = None, seed: SeedOpt = None,
        fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """UKD: cache each teacher's logits alone (memory flat in K), then train the student on the cache.

    Example: lt distill ukd --teachers runs/t-rgb,runs/t-gamma --student tiny3d --dataset synthetic-dark --views 4
    """
    from toolkit.distill.ukd import distill

    opts = _common(ctx, device, seed, fmt, quiet)
    run(ctx, distill, opts, teachers=split_list(teachers), student=student, mode=mode.value, dataset=dataset,
        data_root=data_root, split=split, stream=stream.value, gamma=gamma, frames=frames, interval=interval,
        size=size, views=views, test_views=test_views, teacher_streams=split_list(teacher_streams) or None,
        combine=combine.value, alpha=alpha, tau=tau, cache_dir=cache_dir, skip_bad=skip_bad, epochs=epochs,
        batch_size=batch_size, lr=lr, weight_decay=weight_decay, scheduler=scheduler.value, workers=workers,
        device=opts["device"], seed=opts["seed"], out=out, force=force, resume=resume)
