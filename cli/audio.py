"""``lt audio``: audio features and snore-sound sleep body position recognition (SSBPR).

    lt audio features DIR --kind logmel|mfcc|stats [--workers N] [--npz]
    lt audio ssbpr train --data-root DIR --model cnn|crnn|resnet18|svm|logreg [--split subject|random]
    lt audio ssbpr eval RUN_OR_CKPT --data-root DIR
    lt audio ssbpr predict FILE.wav ... --model RUN_OR_CKPT

Only typer and the standard library are imported here; the toolkit is imported inside commands.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, List, Optional

import typer

from .common import (DataRootOpt, DeviceOpt, ForceOpt, FormatOpt, OutOpt, QuietOpt, SeedOpt, fail, resolve, run,
                     split_list)

app = typer.Typer(help="Audio features and SSBPR (snore-based sleep body position recognition).",
                  no_args_is_help=True)
ssbpr_app = typer.Typer(help="SSBPR: train (cross-validated), eval a checkpoint, predict files.", no_args_is_help=True)
app.add_typer(ssbpr_app, name="ssbpr")


class Kind(str, Enum):
    logmel = "logmel"
    mfcc = "mfcc"
    stats = "stats"


class Model(str, Enum):
    cnn = "cnn"
    crnn = "crnn"
    resnet18 = "resnet18"
    svm = "svm"
    logreg = "logreg"


class Split(str, Enum):
    subject = "subject"
    random = "random"


class Dataset(str, Enum):
    ssbpr = "ssbpr"
    synthetic_snore = "synthetic-snore"


SampleRateOpt = Annotated[int, typer.Option("--sample-rate", help="Resample every clip to this rate (Hz).")]
DurationOpt = Annotated[float, typer.Option("--duration", help="Clip length in seconds (trimmed, then repeated/cut).")]
WorkersOpt = Annotated[int, typer.Option("--workers", help="Processes computing features.")]
CacheOpt = Annotated[str, typer.Option("--cache-dir", help="Feature cache (keyed by file hash + parameters).")]
NoCacheOpt = Annotated[bool, typer.Option("--cache/--no-cache", help="Read and write the feature cache.")]
MaxBadOpt = Annotated[float, typer.Option("--max-bad", help="Stop when more than this fraction of files is bad.")]
DEFAULT_CACHE = "$LT_CACHE_DIR/audio-features"  # ~/.cache/lt when LT_CACHE_DIR is unset


@app.command("features")
def features(ctx: typer.Context,
             path: Annotated[str, typer.Argument(help="An audio file or a folder (searched recursively).")],
             kind: Annotated[Kind, typer.Option("--kind", help="logmel | mfcc (+deltas) | stats (summary vector).")] = Kind.logmel,
             sample_rate: SampleRateOpt = 16000, duration: DurationOpt = 2.0,
             n_mels: Annotated[int, typer.Option("--n-mels")] = 64,
             n_fft: Annotated[int, typer.Option("--n-fft")] = 1024,
             hop_length: Annotated[int, typer.Option("--hop-length")] = 512,
             fmin: Annotated[float, typer.Option("--fmin", help="Lowest mel frequency (Hz).")] = 50.0,
             fmax: Annotated[Optional[float], typer.Option("--fmax", help="Highest mel frequency (Hz; default min(8000, sr/2)).")] = None,
             n_mfcc: Annotated[int, typer.Option("--n-mfcc")] = 20,
             workers: WorkersOpt = 1, cache_dir: CacheOpt = DEFAULT_CACHE, cache: NoCacheOpt = True,
             npz: Annotated[bool, typer.Option("--npz/--npy", help="One features.npz, or .npy per file + index.csv.")] = False,
             out: OutOpt = None, force: ForceOpt = False, fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """Compute log-mel / MFCC / summary-statistic features of audio files (cached, parallel)."""
    from toolkit.audio.extract import extract_features

    opts = resolve(ctx, None, None, fmt, quiet)
    run(ctx, extract_features, opts, path=path, kind=kind.value, sample_rate=sample_rate, duration=duration,
        n_mels=n_mels, n_fft=n_fft, hop_length=hop_length, fmin=fmin, fmax=fmax, n_mfcc=n_mfcc, workers=workers,
        cache_dir=cache_dir if cache else None, npz=npz, out=out, force=force)


def _drop(text: Optional[str]) -> list[int]:
    out = []
    for part in split_list(text):
        if not part.isdigit():
            fail(f"--drop-classes takes class numbers 0-5 separated by commas (got '{part}')")
        out.append(int(part))
    return out


@ssbpr_app.command("train")
def train(ctx: typer.Context,
          dataset: Annotated[Dataset, typer.Option("--dataset", help="ssbpr (real, --data-root) or synthetic-snore (generated).")] = Dataset.ssbpr,
          data_root: DataRootOpt = None,
          model: Annotated[Model, typer.Option("--model", help="cnn/crnn/resnet18 on log-mel; svm/logreg on MFCC stats.")] = Model.cnn,
          split: Annotated[Split, typer.Option("--split", help="subject: grouped k-fold by patient; random: stratified.")] = Split.subject,
          folds: Annotated[int, typer.Option("--folds", help="Cross-validation folds.")] = 5,
          epochs: Annotated[int, typer.Option("--epochs")] = 30,
          batch_size: Annotated[int, typer.Option("--batch-size")] = 32,
          lr: Annotated[float, typer.Option("--lr")] = 1e-3,
          balanced: Annotated[bool, typer.Option("--balanced/--no-balanced", help="Class-balanced sampling (class weights for svm/logreg).")] = False,
          sample_rate: SampleRateOpt = 16000, duration: DurationOpt = 2.0,
          drop_classes: Annotated[Optional[str], typer.Option("--drop-classes", help="Labels to leave out, e.g. 5 (5-class protocol).")] = None,
          max_bad: MaxBadOpt = 0.05, workers: WorkersOpt = 1, cache_dir: CacheOpt = DEFAULT_CACHE, cache: NoCacheOpt = True,
          final: Annotated[bool, typer.Option("--final/--no-final", help="Also train one model on all files (used by eval/predict).")] = True,
          subjects: Annotated[Optional[int], typer.Option("--subjects", help="synthetic-snore: number of patients (default 8).")] = None,
          clips: Annotated[Optional[int], typer.Option("--clips", help="synthetic-snore: clips per patient and class (default 5).")] = None,
          out: OutOpt = None, force: ForceOpt = False, device: DeviceOpt = None, seed: SeedOpt = None,
          fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """Cross-validate a classifier; per-fold and mean ± std accuracy, macro-F1, recall, AUC, confusion."""
    from toolkit.audio.ssbpr import train_ssbpr

    opts = resolve(ctx, device, seed, fmt, quiet)
    run(ctx, train_ssbpr, opts, dataset=dataset.value, data_root=data_root, model=model.value, split=split.value,
        folds=folds, epochs=epochs, batch_size=batch_size, lr=lr, balanced=balanced, sample_rate=sample_rate,
        duration=duration, drop_classes=_drop(drop_classes), max_bad=max_bad, workers=workers,
        cache_dir=cache_dir if cache else None, final=final, subjects=subjects, clips=clips, out=out, force=force,
        device=opts["device"], seed=opts["seed"])


@ssbpr_app.command("eval")
def evaluate(ctx: typer.Context,
             checkpoint: Annotated[str, typer.Argument(help="A run dir of `lt audio ssbpr train` or a checkpoint file.")],
             data_root: Annotated[str, typer.Option("--data-root", help="Released layout or CSV manifest to score.")],
             max_bad: MaxBadOpt = 0.05, workers: WorkersOpt = 1, cache_dir: CacheOpt = DEFAULT_CACHE,
             cache: NoCacheOpt = True, device: DeviceOpt = None, fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """Score a trained SSBPR model on a labelled folder (accuracy, macro-F1, recall, AUC, confusion)."""
    from toolkit.audio.ssbpr import eval_ssbpr

    opts = resolve(ctx, device, None, fmt, quiet)
    run(ctx, eval_ssbpr, opts, checkpoint=checkpoint, data_root=data_root, max_bad=max_bad, workers=workers,
        cache_dir=cache_dir if cache else None, device=opts["device"])


@ssbpr_app.command("predict")
def predict(ctx: typer.Context,
            files: Annotated[List[str], typer.Argument(help="Audio files to label.")],
            model: Annotated[str, typer.Option("--model", help="A run dir of `lt audio ssbpr train` or a checkpoint file.")],
            workers: WorkersOpt = 1, cache_dir: CacheOpt = DEFAULT_CACHE, cache: NoCacheOpt = True,
            device: DeviceOpt = None, fmt: FormatOpt = None, quiet: QuietOpt = False) -> None:
    """Label and class probabilities per file (JSON lines unless --format says otherwise)."""
    from toolkit.audio.ssbpr import predict_ssbpr

    opts = resolve(ctx, device, None, fmt, quiet)
    opts["format"] = opts["format"] or "jsonl"
    run(ctx, predict_ssbpr, opts, files=files, checkpoint=model, workers=workers,
        cache_dir=cache_dir if cache else None, device=opts["device"])
