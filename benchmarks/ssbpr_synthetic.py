"""SSBPR on ``synthetic-snore``: accuracy / macro-F1 of every model under the subject and random splits.

    python -m benchmarks.ssbpr_synthetic            # 8 patients x 6 classes x 5 clips, 4 folds, 20 epochs
    python -m benchmarks.ssbpr_synthetic --quick    # 8 epochs, CNN/CRNN only among the torch models

The point is the gap: with subject timbre about as strong as the position effect, a random split
(the same patients in train and test) scores far above a subject-wise split. Both sides run here,
on the same files, folds seeded alike; the ratio random/subject is printed per model.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer epochs; skip resnet18")
    ap.add_argument("--models", default=None, help="comma-separated subset of cnn,crnn,resnet18,svm,logreg")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--folds", type=int, default=4)
    args = ap.parse_args(argv)

    from toolkit.audio.ssbpr import train_ssbpr
    from toolkit.engine.report import set_quiet

    set_quiet(True)
    models = args.models.split(",") if args.models else (
        ["svm", "logreg", "cnn", "crnn"] + ([] if args.quick else ["resnet18"]))
    epochs = args.epochs or (8 if args.quick else 20)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in models:
            row = {"model": model}
            for split in ("subject", "random"):
                t0 = time.perf_counter()
                rep = train_ssbpr(dataset="synthetic-snore", model=model, cv=split, folds=args.folds, epochs=epochs,
                                  final=False, cache_dir=str(Path(tmp) / "cache"),
                                  out=str(Path(tmp) / f"{model}-{split}"), device="cpu", seed=0)
                mean, std = rep.rows[-2], rep.rows[-1]
                row[split] = (mean["accuracy"], std["accuracy"], mean["macro_f1"], mean["uar"],
                              time.perf_counter() - t0)
            results.append(row)
            _print(results, epochs, args.folds)


def _print(results: list[dict], epochs: int, folds: int) -> None:
    print(f"\nsynthetic-snore (8 patients x 6 classes x 5 clips), {folds}-fold CV, torch models {epochs} epochs, CPU")
    print(f"{'model':<10}{'subject acc':>16}{'subject F1':>12}{'subject UAR':>13}{'random acc':>16}{'random F1':>11}"
          f"{'random UAR':>12}{'random/subject':>16}{'seconds':>9}")
    for r in results:
        s, q = r["subject"], r["random"]
        print(f"{r['model']:<10}{s[0]:>9.3f} ± {s[1]:.3f}{s[2]:>12.3f}{s[3]:>13.3f}"
              f"{q[0]:>9.3f} ± {q[1]:.3f}{q[2]:>11.3f}{q[3]:>12.3f}"
              f"{q[0] / max(s[0], 1e-9):>15.2f}x{s[4] + q[4]:>9.0f}", flush=True)


if __name__ == "__main__":
    main()
