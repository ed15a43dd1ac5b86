"""The options of ``lt train muse``, defined once (pure Python: the CLI imports this at startup).

One class, :class:`MuseOptions`: the MuSe run's own fields, every engine option (:class:`TrainOptions`,
with MuSe's defaults: Adam, lr 1e-3, batch 64, 30 epochs, cosine, no weight decay, AMP off) and the run
options. Two modes:

- training (the default): fields left ``None`` take the task's or the model's defaults in
  :meth:`MuseOptions._resolve` (features, loss, width/depth, stress windows and targets);
- ``--late-fusion RUN,RUN,...``: fuses the runs' saved predictions and trains nothing, so every training
  option typed with it is refused and stays ``None`` in ``config.json``'s ``resolved`` (``--epochs``, which
  keeps its plain default 30 for the engine group's rules, is refused when it differs from 30).

Which options go together (windows with stress only, ``--devel-fraction`` with ``--resplit-seed``,
``--fusion`` with ``--late-fusion``, ...) is :meth:`MuseOptions._rules`: a library call
(``train_muse(task="humor", win_length=30)``) raises the same :class:`LtError` the CLI prints.
See ``toolkit/engine/options.py`` for how a field becomes a flag, a ``config.json`` key and a rule.
"""

from __future__ import annotations

from ..engine.errors import LtError
from ..engine.options import Default, RunOptions, TrainOptions, option, options, refuse

# Kept equal to toolkit.data.muse_layout.TASKS and toolkit.models.sequence.SEQUENCE_MODELS (a test checks):
# those modules import torch, this one may not.
TASKS = ("humor", "reaction", "stress")
MODELS = ("lstm", "gru-sa", "temma")
DATASETS = ("muse", "synthetic-muse")
TARGETS = ("per-dim", "joint")
FUSIONS = ("mean", "learned")
TASK_LOSSES = {"humor": ("bce", "focal"), "reaction": ("mse",), "stress": ("ccc",)}
DEFAULT_LOSS = {"humor": "bce", "reaction": "mse", "stress": "ccc"}
DEFAULT_TARGETS = "per-dim"  # the baseline's; benchmarks/README.md compares it with joint
WINDOWS = {"win_length": 200, "hop_length": 100}  # the baseline's stress training windows
DEVEL_FRACTION = 0.2  # our choice

# MuSe's values of the engine options it leaves "not given" (None) so that --late-fusion can refuse them.
# --epochs keeps a plain default (the engine group's rules compare --warmup-epochs with it): with
# --late-fusion it is refused when it differs from it.
EPOCHS = 30
TRAIN_DEFAULTS = {"batch_size": 64, "lr": 1e-3, "optimizer": "adam", "scheduler": "cosine", "amp": "off"}
# What a --late-fusion run does not use (in the order an error lists them).
TRAINING_ONLY = ("dataset", "data_root", "features", "model", "loss", "epochs", "batch_size", "lr", "weight_decay",
                 "seeds", "d_model", "layers", "win_length", "hop_length", "targets", "noise", "time_mask", "balanced",
                 "resplit_seed", "devel_fraction", "predict", "optimizer", "momentum", "scheduler", "warmup_epochs",
                 "milestones", "lr_factors", "grad_clip", "amp", "channels_last", "compile", "workers", "early_stop")
LATE_FUSION_REASON = "with --late-fusion (it fuses the runs' saved predictions)"


def check_loss(loss: str, task: str) -> None:
    """The losses a task takes (``--loss``); the one check :func:`toolkit.muse.losses.get_loss` also uses."""
    if loss not in TASK_LOSSES[task]:
        raise LtError(f"loss '{loss}' does not fit task '{task}'; valid: {', '.join(TASK_LOSSES[task])}")


def _given(value, default):
    """``value``, or ``default`` when it was not given (None; a given 0 stays, for the range check)."""
    return default if value is None else value


@options(epochs=EPOCHS, batch_size=Default(None, "64"), lr=Default(None, "1e-3 (Adam, cosine schedule)"),
         optimizer=Default(None, "adam (the team's and the baseline's)"), weight_decay=0.0,
         scheduler=Default(None, "cosine"), amp=Default(None, "off"))
class MuseOptions(TrainOptions, RunOptions):
    """``lt train muse``: a MuSe 2022 task (humor / reaction / stress) trained per seed, or late-fused runs."""

    task: str = option("humor", "MuSe 2022 sub-challenge.", choices=TASKS)
    dataset: str | None = option(None, "Dataset: a registered name (see `lt datasets`). muse (official layout under "
                                       "--data-root) or synthetic-muse (generated into --data-root or the cache).",
                                 choices=DATASETS, default_text="muse")
    data_root: str | None = option(None, "Folder the dataset is read from. muse: the folder holding c1_muse_humor/, "
                                         "c2_muse_reaction/, c3_muse_stress_2022/.")
    features: tuple[str, ...] = option((), "Features to compute or read. Comma-separated feature folders, fused early.",
                                       kind="list",
                                       default_text="per task: humor egemaps,vggface2,bert-4-sentence-level; "
                                                    "reaction eGeMAPS,VGGFace2,FAUs; stress egemaps,vggface2,bert-4")
    model: str | None = option(None, "Architecture name (see `lt models`). lstm (official baseline) | gru-sa | temma.",
                               choices=MODELS,
                               default_text="gru-sa")
    loss: str | None = option(None, "Loss function. humor: bce|focal; reaction: mse; stress: ccc.",
                              default_text="the task's first")
    seeds: int | None = option(None, "Train this many seeds (from --seed); the best on devel is kept.", min=1,
                               default_text="1")
    d_model: int | None = option(None, "Model width.", min=1, default_text="lstm/gru-sa 64, temma 128")
    layers: int | None = option(None, "RNN layers or TEMMA blocks.", min=1,
                                default_text="lstm 2, gru-sa 1, temma 4")
    win_length: int | None = option(None, "Stress training window, in label steps (500 ms).", min=1,
                                    default_text="200, the baseline's; stress only")
    hop_length: int | None = option(None, "Hop between successive analysis windows. Stress training: label steps "
                                          "between window starts.", min=1,
                                    default_text="100, the baseline's; stress only")
    targets: str | None = option(None, "Stress only: per-dim (one model per dimension, the baseline's) | joint "
                                       "(one model, arousal and valence outputs).", choices=TARGETS,
                                 default_text="per-dim")
    noise: float = option(0.0, "Std of Gaussian feature noise on train sequences (0 = off).", min=0)
    time_mask: float = option(0.0, "Zero one random span of up to this fraction of each train sequence (0 = off).",
                              min=0, lt=1)
    balanced: bool = option(False, "Class-balanced sampling. Humor only; not under torchrun.")
    resplit_seed: int | None = option(None, "Redraw train/devel by subject with this seed.", min=0,
                                      default_text="the official partition")
    devel_fraction: float | None = option(None, "Devel share of subjects on --resplit-seed.", gt=0, lt=1,
                                          default_text=str(DEVEL_FRACTION))
    predict: bool = option(False, "Write test predictions in the submission CSV shape.", flag="--predict/--no-predict")
    late_fusion: tuple[str, ...] = option((), "RUN,RUN,...: fuse these runs' predictions instead of training.",
                                          kind="list", metavar="RUNS")
    fusion: str | None = option(None, "mean | learned (logistic/linear regression fitted on devel).",
                                choices=FUSIONS, default_text="mean; with --late-fusion only")

    def _resolve(self):
        if self.late_fusion:
            # Nothing is trained: a typed training option is refused (and the others stay None). Checked
            # here, before the engine group's rules, which would otherwise speak of "--optimizer None".
            refuse(self, [n for n in TRAINING_ONLY if n != "epochs" or self.epochs != EPOCHS], LATE_FUSION_REASON)
            return self.replace(fusion=self.fusion or "mean")
        values = {k: v for k, v in TRAIN_DEFAULTS.items() if getattr(self, k) is None}
        values.update(dataset=_given(self.dataset, "muse"), model=_given(self.model, "gru-sa"),
                      seeds=_given(self.seeds, 1))
        if self.task in TASKS:
            from ..data.muse_layout import DEFAULT_FEATURES

            values["features"] = self.features or tuple(DEFAULT_FEATURES[self.task])
            values["loss"] = self.loss or DEFAULT_LOSS[self.task]
        if self.task == "stress":
            values["targets"] = self.targets or DEFAULT_TARGETS
            values.update({k: _given(getattr(self, k), v) for k, v in WINDOWS.items()})
        if self.resplit_seed is not None and self.devel_fraction is None:
            values["devel_fraction"] = DEVEL_FRACTION
        if values["model"] in MODELS:
            from ..models.sequence import sequence_defaults

            values.update({k: _given(getattr(self, k), v) for k, v in sequence_defaults(values["model"]).items()})
        return self.replace(**values)

    def _rules(self) -> None:
        if self.late_fusion:
            if self.resume:
                raise LtError("--resume applies to training; --late-fusion takes seconds: run it again (with --force)")
            if len(self.late_fusion) < 2:
                raise LtError("--late-fusion needs at least two run dirs, comma-separated")
            return
        refuse(self, ["fusion"], "without --late-fusion")
        if self.task != "stress":
            refuse(self, ["win_length", "hop_length"], f"with --task {self.task} (windows cut stress training "
                                                         f"sequences only)")
            refuse(self, ["targets"], f"with --task {self.task} (per-dim | joint are stress's two ways)")
        else:
            from ..data.muse_layout import check_windows

            check_windows(self.win_length, self.hop_length)
        if self.task != "humor":
            refuse(self, ["balanced"], f"with --task {self.task} (class-balanced sampling is for humor's "
                                       f"binary labels)")
        if self.resplit_seed is None:
            refuse(self, ["devel_fraction"], "without --resplit-seed (the official partition has its own devel)")
        check_loss(self.loss, self.task)
        if self.dataset == "muse" and not self.data_root:
            from ..data.muse import NEEDS_ROOT

            raise LtError(NEEDS_ROOT)

    @property
    def per_dim(self) -> bool:
        """Stress trained one model per dimension (the baseline's way)."""
        return self.task == "stress" and self.targets == "per-dim"


__all__ = ["DATASETS", "DEFAULT_LOSS", "DEFAULT_TARGETS", "FUSIONS", "MODELS", "MuseOptions", "TARGETS", "TASKS",
           "TASK_LOSSES", "check_loss"]
