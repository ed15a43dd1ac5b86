"""The options of ``lt train video``, ``lt distill kd`` and ``lt distill ukd``, defined once (pure Python).

All three are trainers: they take every engine option (:class:`~toolkit.engine.options.TrainOptions`) with the
ARID recipe's defaults (Xu et al., arXiv 2006.03876: batch 16, SGD lr 0.01 with step decay, 50 epochs;
our choice where it is silent: x0.1 at 60% and 80% of the epochs, weight decay 5e-4). Clip options left
None take the dataset's defaults (:meth:`VideoOptions._resolve`; arid 16 frames of 112 px, synthetic-dark
8 frames at its native size). See ``toolkit/engine/options.py`` for how a field becomes a flag, a ``config.json``
key and a rule.
"""

from __future__ import annotations

from ..engine.errors import LtError
from ..engine.options import DataOptions, Default, RunOptions, TrainOptions, option, options, refuse

STREAMS = ("rgb", "gamma", "flow")  # toolkit.data.video.STREAMS (kept equal by tests/test_video_data.py)
COMBINE_NAMES = ("mean-kl", "mean-logits", "confidence")  # toolkit.distill.losses.COMBINES
DEFAULT_GAMMA = 1.8  # DarkLight's; the gamma stream's default


def multistep_milestones(epochs: int) -> tuple[int, ...]:
    """The recipe's decay epochs: 60% and 80% of ``epochs`` (those inside (0, epochs))."""
    return tuple(sorted({m for m in (int(epochs * 0.6), int(epochs * 0.8)) if 0 < m < epochs}))


@options(dataset=Default("synthetic-dark", help="Dataset: a registered name (see `lt datasets`). Here: arid (real, "
                                                "under --data-root) or synthetic-dark (generated, cached)."))
class VideoOptions(DataOptions):
    """A video dataset and how its clips are cut and rendered."""

    official_split: int = option(1, "ARID's official train/test split.", min=1, max=3)
    stream: str = option("rgb", "Input stream: rgb, gamma (LUT) or flow (precomputed frames).", choices=STREAMS)
    gamma: float | None = option(None, "Gamma of the gamma stream: out = 255*(in/255)^(1/gamma) (--stream gamma "
                                       "only).", gt=0, default_text=f"{DEFAULT_GAMMA} with --stream gamma")
    frames: int | None = option(None, "Frames per clip.", min=1, default_text="the dataset's (arid 16, "
                                                                               "synthetic-dark 8)")
    interval: int | None = option(None, "Frame interval within a clip.", min=1, default_text="the dataset's (2)")
    image_size: int | None = option(None, "Image side in pixels. Here: the square crop of every frame, after "
                                          "resizing its shorter side.", min=8,
                                    default_text="the dataset's (arid 112, synthetic-dark its native 32)")
    test_views: int = option(3, "Fixed test views per video (softmax averaged).", min=1)
    skip_bad: bool = option(False, "Skip (and count) unreadable inputs instead of failing. Here: missing or "
                                   "undecodable videos.")

    def _resolve(self):
        from ..data import clip_options  # the dataset registry (imported only when options are validated)

        values = clip_options(self.dataset, self.frames, self.interval, self.image_size)
        if self.stream == "gamma" and self.gamma is None:
            values["gamma"] = DEFAULT_GAMMA
        return self.replace(**values)

    def _rules(self) -> None:
        if self.stream != "gamma":
            refuse(self, ["gamma"], f"with --stream {self.stream} (it shapes the gamma stream only)")


@options(epochs=50, batch_size=16, lr=Default(0.01, "0.01 (the ARID recipe)"), scheduler="multistep",
         milestones=Default((), "60% and 80% of --epochs with --scheduler multistep"))
class VideoTrainingOptions(VideoOptions, TrainOptions, RunOptions):
    """What every video trainer takes: a video dataset, the engine's options (the ARID recipe's defaults)."""

    def _resolve(self):
        if self.scheduler == "multistep" and not self.milestones:
            return self.replace(milestones=multistep_milestones(self.epochs))
        return self


@options
class VideoTrainOptions(VideoTrainingOptions):
    """``lt train video``: a video classifier (a UKD teacher or a baseline) on one stream."""

    model: str = option("tiny3d", "Architecture name (see `lt models`). Here: tiny3d or a torchvision video "
                                   "model (r3d_18, mc3_18, r2plus1d_18, s3d, ...).")


@options
class DistillOptions(VideoTrainingOptions):
    """What ``lt distill kd`` and ``lt distill ukd`` share: the student and the KD loss."""

    student: str = option(help="Student architecture: tiny3d or a torchvision video model.")
    ce_weight: float = option(0.5, "Weight w of the CE term; 1 - w weighs the KD term (our choice).", min=0, max=1)
    tau: float = option(4.0, "Softmax temperature τ (logits are divided by τ). Here: of the KD term (its "
                                   "KL is scaled by τ²; our choice).", gt=0)


@options
class KDOptions(DistillOptions):
    """``lt distill kd``: plain KD from one live teacher on random training clips."""

    teacher: str = option(help="Teacher checkpoint or run dir (from lt train video).")
    teacher_stream: str | None = option(None, "The teacher's stream.", choices=STREAMS,
                                        default_text="the one recorded in the teacher's run")


@options
class UKDOptions(DistillOptions):
    """``lt distill ukd``: K teachers, their logits cached one teacher at a time (or all live: --mode live)."""

    teachers: tuple[str, ...] = option(help="Comma-separated teacher checkpoints or run dirs (from lt train video).",
                                       kind="list")
    teacher_streams: tuple[str, ...] = option((), "Comma-separated streams, one per teacher.", kind="list",
                                              default_text="those recorded in the teachers' runs")
    views: int = option(4, "Deterministic training views per video cached per teacher.", min=1)
    combine: str = option("mean-kl", "How K teachers' logits make one target (see docs/distill.md).",
                          choices=COMBINE_NAMES)
    mode: str = option("ukd", "ukd: cached, one teacher at a time; live: all teachers resident (baseline).",
                       choices=("ukd", "live"))
    cache_dir: str | None = option(None, "Cache folder (LT_CACHE_DIR defaults to ~/.cache/lt). Here: the "
                                                 "teacher-logit cache.", default_text="$LT_CACHE_DIR/ukd",
                                   run_control=True)

    def _rules(self) -> None:
        check_teachers(self.teachers, self.teacher_streams)


def check_teachers(paths: tuple[str, ...] | list[str], streams: tuple[str, ...] | list[str] | None) -> None:
    """The teacher list and its stream overrides (one rule, used by :class:`UKDOptions` and ``read_teachers``)."""
    if not paths:
        raise LtError("give at least one teacher checkpoint")
    if streams and len(streams) != len(paths):
        raise LtError(f"--teacher-streams gives {len(streams)} stream(s) for {len(paths)} teacher(s)")
    for s in streams or ():
        if s not in STREAMS:
            raise LtError(f"unknown teacher stream '{s}'; valid: {', '.join(STREAMS)}")


__all__ = ["COMBINE_NAMES", "DEFAULT_GAMMA", "DistillOptions", "KDOptions", "STREAMS", "UKDOptions",
           "VideoOptions", "VideoTrainOptions", "VideoTrainingOptions", "check_teachers", "multistep_milestones"]
