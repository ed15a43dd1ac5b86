"""``lt train video``: train a video classifier (a UKD teacher or a baseline) on ARID-layout data.

Also holds the video/training option aliases shared with ``lt distill`` (``cli/distill.py``).
Only typer and the standard library at module top.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional

import typer

from .common import DataRootOpt, DeviceOpt, ForceOpt, FormatOpt, OutOpt, QuietOpt, SeedOpt, resolve, run


class Stream(str, Enum):
    rgb = "rgb"
    gamma = "gamma"
    flow = "flow"


class Sched(str, Enum):
    multistep = "multistep"
    cosine = "cosine"
    none = "none"


DatasetOpt = Annotated[str, typer.Option("--dataset", help="arid (real, under --data-root) or synthetic-dark (embedded, cached).")]
SplitOpt = Annotated[int, typer.Option("--split", help="ARID split 1|2|3.")]
StreamOpt = Annotated[Stream, typer.Option("--stream", help="Input stream: rgb, gamma (LUT) or flow (precomputed frames).")]
GammaOpt = Annotated[float, typer.Option("--gamma", help="Gamma of the gamma stream: out = 255*(in/255)^(1/gamma).")]
FramesOpt = Annotated[Optional[int], typer.Option("--frames", help="Frames per clip (default: arid 16, synthetic-dark 8).")]
IntervalOpt = Annotated[Optional[int], typer.Option("--interval", help="Frame interval within a clip (default 2).")]
SizeOpt = Annotated[Optional[int], typer.Option("--size", help="Crop side in pixels (default: arid 112, synthetic-dark native).")]
SkipBadOpt = Annotated[bool, typer.Option("--skip-bad/--no-skip-bad", help="Skip (and count) missing or undecodable videos instead of failing.")]
EpochsOpt = Annotated[int, typer.Option("--epochs", help="Epochs (ARID recipe: 50).")]
BatchOpt = Annotated[int, typer.Option("--batch-size", help="Batch size (ARID recipe: 16).")]
LrOpt = Annotated[float, typer.Option("--lr", help="SGD learning rate (ARID recipe: 0.01).")]
WdOpt = Annotated[float, typer.Option("--weight-decay", help="Weight decay.")]
SchedOpt = Annotated[Sched, typer.Option("--scheduler", help="multistep (x0.1 at 60%/80% of epochs), cosine or none.")]
WorkersOpt = Annotated[int, typer.Option("--workers", help="DataLoader worker processes.")]
ResumeOpt = Annotated[bool, typer.Option("--resume/--no-resume", help="Continue the run in --out from its last.pt.")]


def register(app: typer.Typer) -> None:
    """Add ``video`` to ``lt train``."""
    app.command("video")(video)


def video(ctx: typer.Context,
          dataset: DatasetOpt = "synthetic-dark",
          model: Annotated[str, typer.Option("--model", help="tiny3d or a torchvision video model (r3d_18, mc3_18, r2plus1d_18, s3d, ...).")] = "tiny3d",
          stream: StreamOpt = Stream.rgb, gamma: GammaOpt = 1.8, split: SplitOpt = 1, frames: FramesOpt = None,
          interval: IntervalOpt = None, size: SizeOpt = None,
          views: Annotated[int, typer.Option("--views", help="Fixed test views per video (scores averaged).")] = 3,
          epochs: EpochsOpt = 50, batch_size: BatchOpt = 16, lr: LrOpt = 0.01, weight_decay: WdOpt = 5e-4,
          scheduler: SchedOpt = Sched.multistep, workers: WorkersOpt = 0, skip_bad: SkipBadOpt = False,
          data_root: DataRootOpt = None, out: OutOpt = None, force: ForceOpt = False, resume: ResumeOpt = False,
          device: DeviceOpt = None, seed: SeedOpt = None, fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """Train a video teacher or baseline on one stream; print test top-1/top-5 (multi-view) and per-class.

    Example: lt train video --dataset arid --data-root ARID_v1 --stream gamma --model r3d_18
    """
    from toolkit.distill.video_train import train_video

    opts = resolve(ctx, device, seed, fmt, quiet)
    run(ctx, train_video, opts, dataset=dataset, model=model, stream=stream.value, data_root=data_root, split=split,
        gamma=gamma, frames=frames, interval=interval, size=size, views=views, skip_bad=skip_bad, epochs=epochs,
        batch_size=batch_size, lr=lr, weight_decay=weight_decay, scheduler=scheduler.value, workers=workers,
        device=opts["device"], seed=opts["seed"], out=out, force=force, resume=resume)
