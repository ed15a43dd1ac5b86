"""``lt audio``: audio features and snore-sound sleep body position recognition (SSBPR).

    lt audio features DIR --features logmel|mfcc|stats [--workers N] [--npz]
    lt audio ssbpr train --data-root DIR --model cnn|crnn|resnet18|svm|logreg [--cv subject|random]
    lt audio ssbpr eval RUN_OR_CKPT --data-root DIR
    lt audio ssbpr predict FILE.wav ... --checkpoint RUN_OR_CKPT

Only typer and the standard library are imported here; the toolkit is imported inside commands.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, List, Optional

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
    fail,
    opt,
    refuse_unused,
    resolve,
    run,
    split_list,
)

app = LtTyper(help="Audio features and SSBPR (snore-based sleep body position recognition).", no_args_is_help=True)
ssbpr_app = LtTyper(help="SSBPR: train (cross-validated), eval a checkpoint, predict files.", no_args_is_help=True)
app.add_typer(ssbpr_app, name="ssbpr")


class Features(str, Enum):
    logmel = "logmel"
    mfcc = "mfcc"
    stats = "stats"


class Cv(str, Enum):
    subject = "subject"
    random = "random"


DEFAULT_CACHE = "$LT_CACHE_DIR/audio-features"  # ~/.cache/lt when LT_CACHE_DIR is unset
# Flags the lt audio commands share (declared once, here); vocabulary flags through opt().
SampleRateOpt = Annotated[int, typer.Option("--sample-rate", help="Resample every clip to this rate (Hz).")]
DurationOpt = Annotated[float, typer.Option("--duration", help="Clip length in seconds (trimmed, then repeated/cut).")]
WorkersOpt = Annotated[int, opt("--workers", "Here: processes computing features.")]
CacheOpt = Annotated[str, opt("--cache-dir", "Here: the feature cache (keyed by file hash + "
                                             "parameters; ~/.cache/lt when LT_CACHE_DIR is unset).")]
NoCacheOpt = Annotated[bool, typer.Option("--cache/--no-cache", help="Read and write the feature cache.")]
MaxBadOpt = Annotated[float, typer.Option("--max-bad", help="Stop when more than this fraction of files is bad.")]
CheckpointArg = "A run dir of `lt audio ssbpr train` (its final model, last.pt) or a checkpoint file."


@app.command("features")
def features(ctx: typer.Context,
             path: Annotated[str, typer.Argument(help="An audio file or a folder (searched recursively).")],
             features: Annotated[Features, opt("--features", "logmel | mfcc (+deltas) | stats "
                                                             "(summary vector).")] = Features.logmel,
             sample_rate: SampleRateOpt = 16000, duration: DurationOpt = 2.0,
             n_mels: Annotated[int, typer.Option("--n-mels", help="Mel bands.")] = 64,
             n_fft: Annotated[int, typer.Option("--n-fft", help="FFT size in samples.")] = 1024,
             hop_length: Annotated[int, opt("--hop-length", "Here: STFT hop in samples.")] = 512,
             fmin: Annotated[float, typer.Option("--fmin", help="Lowest mel frequency (Hz).")] = 50.0,
             fmax: Annotated[Optional[float], typer.Option("--fmax", help="Highest mel frequency (Hz; "
                                                                          "default min(8000, sr/2)).")] = None,
             n_mfcc: Annotated[int, typer.Option("--n-mfcc", help="MFCCs.")] = 20,
             workers: WorkersOpt = 1, cache_dir: CacheOpt = DEFAULT_CACHE, cache: NoCacheOpt = True,
             npz: Annotated[bool, typer.Option("--npz/--npy", help="One features.npz, or .npy per "
                                                                   "file + index.csv.")] = False,
             out: OutOpt = None, force: ForceOpt = False, config: ConfigOpt = None,
             print_config: PrintConfigOpt = False, fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """Compute log-mel / MFCC / summary-statistic features of audio files (cached, parallel) into a run dir.

    Example: lt audio features DIR --features mfcc --workers 2 --out runs/feats
    """
    from toolkit.audio.extract import extract_features

    opts = resolve(ctx, None, None, fmt, quiet)
    run(ctx, extract_features, opts, path=path, features=features.value, sample_rate=sample_rate, duration=duration,
        n_mels=n_mels, n_fft=n_fft, hop_length=hop_length, fmin=fmin, fmax=fmax, n_mfcc=n_mfcc, workers=workers,
        cache_dir=_feature_cache(ctx, cache_dir, cache), npz=npz, out=out, force=force)


def _feature_cache(ctx: typer.Context, cache_dir: str, cache: bool) -> Optional[str]:
    """The feature cache folder; None with --no-cache (a --cache-dir typed with it is refused)."""
    if not cache:
        refuse_unused(ctx, {"cache_dir": "--cache-dir"}, "with --no-cache")
    return cache_dir if cache else None


def _drop(text: Optional[str]) -> list[int]:
    out = []
    for part in split_list(text):
        if not part.isdigit():
            fail(f"--drop-classes takes class numbers 0-5 separated by commas (got '{part}')")
        out.append(int(part))
    return out


@ssbpr_app.command("train")
def train(ctx: typer.Context,
          dataset: Annotated[str, opt("--dataset",
                                      "ssbpr (real, --data-root) or synthetic-snore (generated).")] = "ssbpr",
          data_root: DataRootOpt = None,
          model: Annotated[str, opt("--model",
                                    "cnn | crnn | resnet18 on log-mel; svm | logreg on MFCC statistics.")] = "cnn",
          cv: Annotated[Cv, typer.Option("--cv", help="Cross-validation: subject (grouped k-fold by "
                                                      "patient) | random (stratified).")] = Cv.subject,
          folds: Annotated[int, typer.Option("--folds", help="Cross-validation folds.")] = 5,
          epochs: Annotated[int, opt("--epochs", "Spectrogram models.")] = 30,
          batch_size: Annotated[int, opt("--batch-size")] = 32,
          lr: Annotated[float, opt("--lr", "AdamW, cosine schedule.")] = 1e-3,
          balanced: Annotated[bool, opt("--balanced", "Class weights for svm/logreg; spectrogram "
                                                      "models not under torchrun.")] = False,
          sample_rate: SampleRateOpt = 16000, duration: DurationOpt = 2.0,
          drop_classes: Annotated[Optional[str], typer.Option("--drop-classes", help="Labels to leave out, e.g. 5 "
                                                                                     "(5-class protocol).")] = None,
          max_bad: MaxBadOpt = 0.05, workers: WorkersOpt = 1,
          cache_dir: CacheOpt = DEFAULT_CACHE, cache: NoCacheOpt = True,
          final: Annotated[bool, typer.Option("--final/--no-final", help="Also train one model on all files "
                                                                         "(used by eval/predict).")] = True,
          subjects: Annotated[Optional[int], typer.Option("--subjects", help="synthetic-snore: number of "
                                                                             "patients (default 8).")] = None,
          clips: Annotated[Optional[int], typer.Option("--clips", help="synthetic-snore: clips per patient "
                                                                       "and class (default 5).")] = None,
          out: OutOpt = None, force: ForceOpt = False, resume: ResumeOpt = False,
          deterministic: DeterministicOpt = False, config: ConfigOpt = None, print_config: PrintConfigOpt = False,
          device: DeviceOpt = None, seed: SeedOpt = None, fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """Cross-validate a classifier; per-fold and mean ± std accuracy, macro-F1, recall, AUC, confusion.

    Each fold is a sub-run in OUT/fold-K, the final model OUT itself; --resume continues the interrupted one and re-uses the finished ones (svm/logreg are re-fitted: deterministic, seconds).

    Example: lt audio ssbpr train --dataset synthetic-snore --model cnn --cv subject --folds 5 --out runs/ssbpr
    """  # noqa: E501 (help text: Typer keeps a docstring's line breaks, wrapping would change --help)
    from toolkit.audio.models import AUDIO_MODELS
    from toolkit.audio.ssbpr import train_ssbpr

    if model in AUDIO_MODELS and not AUDIO_MODELS.get(model).torch:
        refuse_unused(ctx, {"epochs": "--epochs", "batch_size": "--batch-size", "lr": "--lr"},
                      f"with --model {model} (fitted in one call on MFCC statistics; they train the spectrogram "
                      "models)")
    opts = resolve(ctx, device, seed, fmt, quiet)
    run(ctx, train_ssbpr, opts, dataset=dataset, data_root=data_root, model=model, cv=cv.value, folds=folds,
        epochs=epochs, batch_size=batch_size, lr=lr, balanced=balanced, sample_rate=sample_rate, duration=duration,
        drop_classes=_drop(drop_classes), max_bad=max_bad, workers=workers,
        cache_dir=_feature_cache(ctx, cache_dir, cache), final=final, subjects=subjects, clips=clips, out=out,
        force=force, resume=resume, device=opts["device"], seed=opts["seed"], deterministic=deterministic)


@ssbpr_app.command("eval")
def evaluate(ctx: typer.Context,
             checkpoint: Annotated[str, typer.Argument(help=CheckpointArg)],
             data_root: Annotated[str, opt("--data-root", "Here: the released layout or CSV manifest to score.")],
             max_bad: MaxBadOpt = 0.05, workers: WorkersOpt = 1, cache_dir: CacheOpt = DEFAULT_CACHE,
             cache: NoCacheOpt = True, device: DeviceOpt = None, fmt: FormatOpt = None,
             quiet: QuietOpt = False) -> None:
    """Score a trained SSBPR model on a labelled folder (accuracy, macro-F1, recall, AUC, confusion).

    Example: lt audio ssbpr eval runs/ssbpr --data-root DIR
    """
    from toolkit.audio.ssbpr import eval_ssbpr

    opts = resolve(ctx, device, None, fmt, quiet)
    run(ctx, eval_ssbpr, opts, checkpoint=checkpoint, data_root=data_root, max_bad=max_bad, workers=workers,
        cache_dir=_feature_cache(ctx, cache_dir, cache), device=opts["device"])


@ssbpr_app.command("predict")
def predict(ctx: typer.Context,
            files: Annotated[List[str], typer.Argument(help="Audio files to label.")],
            checkpoint: Annotated[str, typer.Option("--checkpoint", help=CheckpointArg)],
            workers: WorkersOpt = 1, cache_dir: CacheOpt = DEFAULT_CACHE, cache: NoCacheOpt = True,
            device: DeviceOpt = None, fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """Label and class probabilities per file (JSON lines unless --format says otherwise).

    Example: lt audio ssbpr predict a.wav b.wav --checkpoint runs/ssbpr
    """
    from toolkit.audio.ssbpr import predict_ssbpr

    opts = resolve(ctx, device, None, fmt, quiet)
    opts["format"] = opts["format"] or "jsonl"
    run(ctx, predict_ssbpr, opts, files=files, checkpoint=checkpoint, workers=workers,
        cache_dir=_feature_cache(ctx, cache_dir, cache), device=opts["device"])
