"""Sketched vs measured rate-distortion curves: does the allocation from ``--curves sketch`` prune as well?

``python -m benchmarks.prune_curves_fast [--quick] [--grid K] [--images N] [--threads T] [--digits RUN]``

Two models: torchvision ResNet-18 (random init, 64 px N(0,1) noise calibration) and a digits ResNet-20
(trained here, seeded, unless ``--digits RUN`` names a run dir; calibration = a seeded subset of the
digits training split). For each: measured curves (the paper's method, fx split) and sketched curves
(our extension) for each (draws, anchors) variant; the rd DP allocation at ratios 0.5 / 0.7 / 0.9 from
each; the measured output distortion of each pruned network (goal: sketch <= 1.1 x measured's), top-1
after pruning on the digits test split, the mean per-layer Spearman correlation of the curves, and the
seconds each took. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

RATIOS = (0.5, 0.7, 0.9)
VARIANTS = ((1, 0), (4, 0), (16, 0), (1, 2))  # (draws, anchors)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over layers of the Spearman rank correlation of two curves (constant rows skipped)."""
    from scipy.stats import spearmanr

    rs = [spearmanr(x, y)[0] for x, y in zip(a, b, strict=True) if np.ptp(x) > 0 and np.ptp(y) > 0]
    return float(np.mean(rs)) if rs else float("nan")


def prune_with(model, layers, curves, ratio, xs, refs, test_set) -> dict:
    """Allocate by the DP on ``curves``, prune a copy's weights, measure, restore."""
    from toolkit.prune import get_method
    from toolkit.prune.masks import apply_counts
    from toolkit.prune.run import joint_distortion, top1

    saved = [ly.weight.detach().clone() for ly in layers]
    counts = get_method("rd")([ly.weight.detach() for ly in layers], ratio, curves=curves,
                              current=[0] * len(layers), buckets=10_000, allow_empty=False)
    apply_counts(layers, counts)
    row = {"distortion": joint_distortion(model, xs, refs, False),
           "top1": top1(model, test_set, torch.device("cpu"), 128) if test_set is not None else None}
    with torch.no_grad():
        for ly, w in zip(layers, saved, strict=True):
            ly.weight.copy_(w)
    return row


def compare(name: str, model, xs, test_set, grid: int, seed: int = 0) -> list[dict]:
    """Rows: one per (curve source, ratio)."""
    from toolkit.prune.curves import measure_curves, reference_outputs
    from toolkit.prune.masks import prunable_layers
    from toolkit.prune.sketch import sketch_curves

    model.eval()
    layers = prunable_layers(model)
    refs = reference_outputs(model, xs)
    t0 = time.perf_counter()
    measured = measure_curves(model, layers, xs, grid, refs=refs)
    sources = {"measured": (measured, time.perf_counter() - t0)}
    for draws, anchors in VARIANTS:
        t0 = time.perf_counter()
        c = sketch_curves(model, layers, xs, grid, draws=draws, anchors=anchors, seed=seed, refs=refs)
        sources[f"sketch D={draws} M={anchors}"] = (c, time.perf_counter() - t0)
    rows = []
    for ratio in RATIOS:
        base = None
        for src, (curves, secs) in sources.items():
            r = prune_with(model, layers, curves, ratio, xs, refs, test_set)
            base = base or r["distortion"]
            rows.append({"model": name, "ratio": ratio, "curves": src, "seconds": round(secs, 1),
                         "spearman": round(spearman(curves, measured), 4), "distortion": r["distortion"],
                         "vs_measured": round(r["distortion"] / base, 3), "top1": r["top1"]})
    return rows


def resnet18_case(grid: int, images: int) -> list[dict]:
    from toolkit.models import get_model
    from toolkit.prune.calib import noise_images

    torch.manual_seed(0)
    model = get_model("resnet18")
    xs = list(torch.split(noise_images(model, images, 64, seed=0), 32))
    return compare("resnet18 @64px noise", model, xs, None, grid)


def digits_case(grid: int, images: int, run: str | None) -> list[dict]:
    from toolkit.data import get_dataset
    from toolkit.engine.loop import TrainConfig, fit
    from toolkit.engine.seed import seed_everything
    from toolkit.models import get_model, load_model
    from toolkit.prune.calib import build_calibration, calibration_bundle

    bundle = calibration_bundle("digits")
    if run:
        model = load_model(run, num_classes=10)
    else:
        seed_everything(0)
        train = get_dataset("digits")
        model = get_model("resnet20", num_classes=10)
        fit(model, train.train, train.test, cfg=TrainConfig(epochs=8, batch_size=64, lr=0.05, seed=0),
            device=torch.device("cpu"), out_dir=None)
    calib = build_calibration(model, bundle, images, min(32, images), seed=0)
    return compare("digits resnet20", model.eval(), calib.batches(), calib.test_set, grid)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="grid 20, 16 images")
    ap.add_argument("--grid", type=int, default=20)
    ap.add_argument("--images", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--digits", default=None, help="a digits run dir (default: train a ResNet-20 here)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from toolkit.engine.report import set_quiet

    set_quiet(True)
    grid, images = (20, 16) if args.quick else (args.grid, args.images)
    rows = digits_case(grid, images, args.digits) + resnet18_case(grid, images)
    for r in rows:
        print(" | ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in r.values()), flush=True)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
