"""``lt train video``: train a video classifier (a UKD teacher or a baseline) on ARID-layout data.

Also declares the video and training options shared with ``lt distill`` (``cli/distill.py``), once,
so every command of the family gives a flag the same help. Only typer and the standard library at
module top.
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
    OutOpt,
    PrintConfigOpt,
    QuietOpt,
    ResumeOpt,
    SeedOpt,
    opt,
    refuse_unused,
    resolve,
    run,
)


class Stream(str, Enum):
    rgb = "rgb"
    gamma = "gamma"
    flow = "flow"


class Sched(str, Enum):
    multistep = "multistep"
    cosine = "cosine"
    none = "none"


# The video family's options (train video, distill kd, distill ukd): one declaration each.
DatasetOpt = Annotated[str, opt("--dataset", "Here: arid (real, under --data-root) "
                                             "or synthetic-dark (generated, cached).")]
OfficialSplitOpt = Annotated[int, typer.Option("--official-split", help="ARID's official train/test split: 1, 2 or 3.")]
StreamOpt = Annotated[Stream, typer.Option("--stream", help="Input stream: rgb, gamma (LUT) "
                                                            "or flow (precomputed frames).")]
GammaOpt = Annotated[float, typer.Option("--gamma", help="Gamma of the gamma stream: out = 255*(in/255)^(1/gamma).")]
FramesOpt = Annotated[Optional[int], typer.Option("--frames", help="Frames per clip (default: "
                                                                   "arid 16, synthetic-dark 8).")]
IntervalOpt = Annotated[Optional[int], typer.Option("--interval", help="Frame interval within a clip (default: 2).")]
ImageSizeOpt = Annotated[Optional[int], opt("--image-size", "Here: the square crop of every frame, after resizing its "
                                                            "shorter side (default: arid 112, synthetic-dark its "
                                                            "native 32).")]
TestViewsOpt = Annotated[int, typer.Option("--test-views", help="Fixed test views per video (softmax averaged).")]
SkipBadOpt = Annotated[bool, opt("--skip-bad", "Here: missing or undecodable videos.")]
EpochsOpt = Annotated[int, opt("--epochs", "Default 50 (the ARID recipe).")]
BatchOpt = Annotated[int, opt("--batch-size", "Default 16 (the ARID recipe).")]
LrOpt = Annotated[float, opt("--lr", "SGD, momentum 0.9. Default 0.01 (the ARID recipe).")]
WdOpt = Annotated[float, opt("--weight-decay", "Default 5e-4.")]
SchedOpt = Annotated[Sched, opt("--scheduler", "multistep: x0.1 at 60% and 80% of the epochs (default).")]
WorkersOpt = Annotated[int, opt("--workers", "DataLoader workers (default 0).")]


def register(app: typer.Typer) -> None:
    """Add ``video`` to ``lt train``."""
    app.command("video")(video)


def video(ctx: typer.Context,
          dataset: DatasetOpt = "synthetic-dark",
          model: Annotated[str, opt("--model", "tiny3d or a torchvision video model (r3d_18, "
                                               "mc3_18, r2plus1d_18, s3d, ...).")] = "tiny3d",
          stream: StreamOpt = Stream.rgb, gamma: GammaOpt = 1.8, official_split: OfficialSplitOpt = 1,
          frames: FramesOpt = None, interval: IntervalOpt = None, image_size: ImageSizeOpt = None,
          test_views: TestViewsOpt = 3, epochs: EpochsOpt = 50, batch_size: BatchOpt = 16, lr: LrOpt = 0.01,
          weight_decay: WdOpt = 5e-4, scheduler: SchedOpt = Sched.multistep, workers: WorkersOpt = 0,
          skip_bad: SkipBadOpt = False, data_root: DataRootOpt = None, out: OutOpt = None, force: ForceOpt = False,
          resume: ResumeOpt = False, deterministic: DeterministicOpt = False, config: ConfigOpt = None,
          print_config: PrintConfigOpt = False, device: DeviceOpt = None, seed: SeedOpt = None,
          fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """Train a video teacher or baseline on one stream; print test top-1/top-5 (multi-view) and per-class.

    Runs under torchrun (DDP) and continues exactly with --resume.
    Example: lt train video --dataset arid --data-root ARID_v1 --stream gamma --model r3d_18
    """
    if stream != Stream.gamma:
        refuse_unused(ctx, {"gamma": "--gamma"}, f"with --stream {stream.value} (it shapes the gamma stream only)")
    from toolkit.distill.video_train import train_video

    opts = resolve(ctx, device, seed, fmt, quiet)
    run(ctx, train_video, opts, dataset=dataset, model=model, stream=stream.value, data_root=data_root,
        official_split=official_split, gamma=gamma, frames=frames, interval=interval, image_size=image_size,
        test_views=test_views, skip_bad=skip_bad, epochs=epochs, batch_size=batch_size, lr=lr,
        weight_decay=weight_decay, scheduler=scheduler.value, workers=workers, device=opts["device"],
        seed=opts["seed"], deterministic=deterministic, out=out, force=force, resume=resume)
