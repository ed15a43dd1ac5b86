"""``lt audio``: audio features and snore-sound sleep body position recognition (SSBPR).

    lt audio features DIR --features logmel|mfcc|stats [--workers N] [--npz]
    lt audio ssbpr train --data-root DIR --model cnn|crnn|resnet18|svm|logreg [--cv subject|random]
    lt audio ssbpr eval RUN_OR_CKPT --data-root DIR
    lt audio ssbpr predict FILE.wav ... --checkpoint RUN_OR_CKPT

Each command's flags come from its options class in ``toolkit/audio/options.py`` (``cli/options.py``).
Only typer, the standard library and the torch-free options are imported here.
"""

from __future__ import annotations

import typer

from toolkit.audio.options import FeaturesOptions, SSBPREvalOptions, SSBPRPredictOptions, SSBPRTrainOptions

from .options import command

app = typer.Typer(help="Audio features and SSBPR (snore-based sleep body position recognition).", no_args_is_help=True)
ssbpr_app = typer.Typer(help="SSBPR: train (cross-validated), eval a checkpoint, predict files.", no_args_is_help=True)
app.add_typer(ssbpr_app, name="ssbpr")

command(app, "features", FeaturesOptions, "toolkit.audio.extract:extract_features", run=("audio", "features"),
        doc="""Compute log-mel / MFCC / summary-statistic features of audio files (cached, parallel) into a run dir.

    Example: lt audio features DIR --features mfcc --workers 2 --out runs/feats
    """)  # noqa: E501 (help text: Typer keeps a docstring's line breaks, wrapping would change --help)

command(ssbpr_app, "train", SSBPRTrainOptions, "toolkit.audio.ssbpr:train_ssbpr", run=("audio", "ssbpr", "train"),
        doc="""Cross-validate a classifier; per-fold and mean ± std accuracy, macro-F1, recall, AUC, confusion.

    Each fold is a sub-run in OUT/fold-K, the final model OUT itself; --resume continues the interrupted one and re-uses the finished ones (svm/logreg are re-fitted: deterministic, seconds). The engine options (--epochs, --lr, --optimizer, ...) train the spectrogram models (cnn, crnn, resnet18); svm and logreg refuse them.

    Example: lt audio ssbpr train --dataset synthetic-snore --model cnn --cv subject --folds 5 --out runs/ssbpr
    """)  # noqa: E501

command(ssbpr_app, "eval", SSBPREvalOptions, "toolkit.audio.ssbpr:eval_ssbpr",
        doc="""Score a trained SSBPR model on a labelled folder (accuracy, macro-F1, recall, AUC, confusion).

    Example: lt audio ssbpr eval runs/ssbpr --data-root DIR
    """)

command(ssbpr_app, "predict", SSBPRPredictOptions, "toolkit.audio.ssbpr:predict_ssbpr",
        doc="""Label and class probabilities per file (JSON lines when piped, else --format).

    Example: lt audio ssbpr predict a.wav b.wav --checkpoint runs/ssbpr
    """)
