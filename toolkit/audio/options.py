"""The options of ``lt audio features`` and ``lt audio ssbpr train|eval|predict``, defined once (pure Python).

``lt audio ssbpr train`` is a trainer: it takes every engine option (:class:`TrainOptions`). They
default to ``None`` ("the model's"): the spectrogram models (cnn, crnn, resnet18) resolve them to
their defaults (AdamW, lr 1e-3, weight decay 1e-4, batch 32, 30 epochs, cosine); svm and logreg are
fitted in one call on MFCC statistics and refuse any of them that is given. See ``toolkit/engine/options.py``
for how a field becomes a flag, a ``config.json`` key and a rule.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..engine.cache import default_spec
from ..engine.errors import LtError
from ..engine.options import (
    DataOptions,
    Default,
    DeviceOptions,
    Options,
    RunOptions,
    TrainOptions,
    option,
    options,
    refuse,
)

DEFAULT_CACHE = default_spec("audio-features")  # "$LT_CACHE_DIR/audio-features", resolved at use
# The model table (pure data; toolkit.audio.models registers it): name -> (architecture, feature kind, torch).
AUDIO_MODEL_SPECS: dict[str, tuple[str, str, bool]] = {
    "cnn": ("audio-cnn", "logmel", True), "crnn": ("audio-crnn", "logmel", True),
    "resnet18": ("audio-resnet18", "logmel", True), "svm": ("svm", "stats", False),
    "logreg": ("logreg", "stats", False)}
CLASSICAL = tuple(n for n, (_, _, is_torch) in AUDIO_MODEL_SPECS.items() if not is_torch)
# The spectrogram models' engine defaults (our choices; the paper benchmarks AST without these details).
NEURAL_DEFAULTS: dict[str, Any] = {"epochs": 30, "batch_size": 32, "lr": 1e-3, "optimizer": "adamw",
                                   "weight_decay": 1e-4, "scheduler": "cosine", "warmup_epochs": 0,
                                   "grad_clip": 0.0, "amp": "auto", "early_stop": 0}
ENGINE_FIELDS = tuple(f.name for f in dataclasses.fields(TrainOptions) if f.name != "workers")


def same_as(group: type, name: str, default: Any = dataclasses.MISSING) -> Any:
    """Option ``name`` of ``group`` (its help, flag and checks) in a group that takes only some of
    ``group``'s options; ``default`` replaces its default."""
    f = group.__dataclass_fields__[name]
    return dataclasses.field(default=f.default if default is dataclasses.MISSING else default, metadata=f.metadata)


def _model_default(value: Any) -> Default:
    return Default(None, f"{value} for the spectrogram models (not used by svm/logreg)")


@options
class CacheOptions(Options):
    """The feature cache and the processes computing features (every ``lt audio`` command)."""

    workers: int = option(1, "Worker processes for data loading or feature extraction. Here: processes computing "
                             "features.", min=1, run_control=True)
    cache_dir: str | None = option(None, "Cache folder (LT_CACHE_DIR defaults to ~/.cache/lt). Here: the feature "
                                         "cache (keyed by file hash + parameters).", default_text=DEFAULT_CACHE,
                                   run_control=True)
    cache: bool = option(True, "Read and write the feature cache.", flag="--cache/--no-cache", run_control=True)

    def _resolve(self):
        if self.cache and self.cache_dir is None:
            return self.replace(cache_dir=DEFAULT_CACHE)
        return self

    def _rules(self) -> None:
        if not self.cache:
            refuse(self, ["cache_dir"], "with --no-cache")

    @property
    def feature_cache(self) -> str | None:
        """The cache folder the features are read from and written to; None with ``--no-cache``."""
        return self.cache_dir if self.cache else None


@options
class ClipOptions(Options):
    """How every clip is read: resampled to ``sample_rate``, trimmed, repeated or cut to ``duration``."""

    sample_rate: int = option(16000, "Resample every clip to this rate.", unit="Hz")
    duration: float = option(2.0, "Clip length in seconds (trimmed, then repeated/cut).", unit="seconds")


def _check_clip(opts: Any, **feature: Any) -> None:
    """The clip and feature parameters, checked by the data layer's one check (``FeatureParams.resolved``)."""
    from ..data.audio_features import FeatureParams

    FeatureParams(sample_rate=opts.sample_rate, duration=opts.duration, **feature).resolved()


@options
class FeaturesOptions(ClipOptions, CacheOptions):
    """``lt audio features``: log-mel / MFCC / summary-statistic features of audio files into a run dir."""

    path: str = option(help="An audio file or a folder (searched recursively).", argument=True)
    features: str = option("logmel", "Features to compute or read. Here: logmel | mfcc (+deltas) | stats "
                                     "(summary vector).", choices=("logmel", "mfcc", "stats"))
    n_mels: int = option(64, "Mel bands.")
    n_fft: int = option(1024, "FFT size in samples.")
    hop_length: int = option(512, "Hop between successive analysis windows. Here: STFT hop in samples.")
    fmin: float = option(50.0, "Lowest mel frequency.", unit="Hz")
    fmax: float | None = option(None, "Highest mel frequency.", unit="Hz", default_text="min(8000, sr/2)")
    n_mfcc: int = option(20, "MFCCs.")
    npz: bool = option(False, "One features.npz, or .npy per file + index.csv.", flag="--npz/--npy")
    out: str | None = same_as(RunOptions, "out")
    force: bool = same_as(RunOptions, "force")

    def _rules(self) -> None:
        _check_clip(self, kind=self.features, n_mels=self.n_mels, n_fft=self.n_fft, hop_length=self.hop_length,
                    fmin=self.fmin, fmax=self.fmax, n_mfcc=self.n_mfcc)


@options(**{name: _model_default(value) for name, value in NEURAL_DEFAULTS.items()},
         workers=Default(1, help=CacheOptions.__dataclass_fields__["workers"].metadata["help"], min=1))
class SSBPRTrainOptions(TrainOptions, ClipOptions, CacheOptions, RunOptions):
    """``lt audio ssbpr train``: cross-validate a classifier, then (``final``) train it on every file."""

    dataset: str = option("ssbpr", "Dataset: a registered name (see `lt datasets`). Here: ssbpr (real, "
                                   "--data-root) or synthetic-snore (generated).")
    data_root: str | None = same_as(DataOptions, "data_root")
    model: str = option("cnn", "Architecture name (see `lt models`). Here: cnn | crnn | resnet18 on log-mel; "
                               "svm | logreg on MFCC statistics.")
    cv: str = option("subject", "Cross-validation: subject (grouped k-fold by patient) | random (stratified).",
                     choices=("subject", "random"))
    folds: int = option(5, "Cross-validation folds.", min=2)
    balanced: bool = option(False, "Class-balanced sampling. Class weights for svm/logreg; spectrogram models "
                                   "not under torchrun.")
    drop_classes: tuple[int, ...] = option((), "Labels to leave out, e.g. 5 (5-class protocol).")
    max_bad: float = option(0.05, "Stop when more than this fraction of files is bad.", min=0, max=1)
    final: bool = option(True, "Also train one model on all files (used by eval/predict).", flag="--final/--no-final")
    subjects: int | None = option(None, "synthetic-snore: number of patients.", default_text="8")
    clips: int | None = option(None, "synthetic-snore: clips per patient and class.", default_text="5")

    @property
    def neural(self) -> bool:
        """A spectrogram model (trained by the engine loop)."""
        return self.model not in CLASSICAL

    def _resolve(self):
        values: dict[str, Any] = {"drop_classes": tuple(sorted(set(self.drop_classes)))}
        if self.neural:
            values.update({k: v for k, v in NEURAL_DEFAULTS.items() if getattr(self, k) is None})
        else:  # the rule for svm/logreg, here so that it comes before the engine's own rules (--optimizer None ...)
            refuse(self, ENGINE_FIELDS, f"with --model {self.model} (fitted in one call on MFCC statistics; they "
                                        "train the spectrogram models)")
        if self.dataset == "synthetic-snore":
            from ..data.snore_synthetic import DEFAULTS

            values.update(subjects=self.subjects or DEFAULTS["subjects"], clips=self.clips or DEFAULTS["clips"])
        return self.replace(**values)

    def _rules(self) -> None:
        from ..data.ssbpr_layout import check_source, parse_drop
        from ..engine.registry import unknown_name_message

        if self.model not in AUDIO_MODEL_SPECS:
            raise LtError(unknown_name_message("audio model", self.model, AUDIO_MODEL_SPECS))
        check_source(self.dataset, self.data_root, self.subjects, self.clips)
        parse_drop(self.drop_classes)
        _check_clip(self, kind=AUDIO_MODEL_SPECS[self.model][1])


CHECKPOINT_HELP = "A run dir of `lt audio ssbpr train` (its final model, last.pt) or a checkpoint file."


@options
class SSBPREvalOptions(CacheOptions, DeviceOptions):
    """``lt audio ssbpr eval``: a trained model scored on a labelled folder."""

    checkpoint: str = option(help=CHECKPOINT_HELP, argument=True)
    data_root: str = option(help="Folder the dataset is read from. Here: the released layout or CSV manifest "
                                 "to score.")
    max_bad: float = same_as(SSBPRTrainOptions, "max_bad")


@options
class SSBPRPredictOptions(CacheOptions, DeviceOptions):
    """``lt audio ssbpr predict``: label and class probabilities per file."""

    files: tuple[str, ...] = option(help="Audio files to label.", argument=True)
    checkpoint: str = option(help=CHECKPOINT_HELP)

    def _rules(self) -> None:
        if not self.files:
            raise LtError("give at least one audio file to predict")


__all__ = ["AUDIO_MODEL_SPECS", "CLASSICAL", "CacheOptions", "ClipOptions", "DEFAULT_CACHE", "ENGINE_FIELDS",
           "FeaturesOptions", "NEURAL_DEFAULTS", "SSBPREvalOptions", "SSBPRPredictOptions", "SSBPRTrainOptions",
           "same_as"]
