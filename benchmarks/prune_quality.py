"""Joint distortion and top-1 of rd vs lamp/global/uniform/erk at 50/70/90 % on a digits model.

``python -m benchmarks.prune_quality [--model RUN_DIR] [--quick]``: without ``--model`` it first
trains ResNet-20 on balanced ``digits`` (8 epochs, SGD 0.05, through the engine loop). One-shot, no
fine-tuning; calibration: 256 training images with test-time transforms; distortion measured on the
calibration set, top-1 on the held-out test split. Curves (K = 50) are measured once and re-used
from the cache for every sparsity. ``--quick``: smallcnn, 4 epochs, 128 images, K = 20.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

METHODS = ("rd", "lamp", "global", "uniform", "erk")


def train(arch: str, epochs: int, out: Path) -> Path:
    from toolkit.data import get_dataset
    from toolkit.engine.loop import TrainConfig, fit
    from toolkit.engine.seed import seed_everything
    from toolkit.models import get_model

    seed_everything(0)
    bundle = get_dataset("digits")
    model = get_model(arch, num_classes=10)
    fit(model, bundle.train, bundle.test, cfg=TrainConfig(epochs=epochs, batch_size=32, lr=0.05, seed=0),
        device=torch.device("cpu"), out_dir=out)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="run dir or checkpoint of a digits model (default: train one)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--dataset", default="digits", help="calibration dataset")
    ap.add_argument("--calib-size", type=int, help="default 256 (--quick: 128)")
    ap.add_argument("--grid", type=int, help="default 50 (--quick: 20)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from toolkit.engine.report import set_quiet
    from toolkit.prune.run import prune_model

    set_quiet(True)
    work = Path(tempfile.mkdtemp(prefix="prune-quality-"))
    arch, epochs, calib, grid = ("smallcnn", 4, 128, 20) if args.quick else ("resnet20", 8, 256, 50)
    calib, grid = args.calib_size or calib, args.grid or grid
    model = args.model or str(train(arch, epochs, work / "train"))
    rows = []
    for ratio in (0.5, 0.7, 0.9):
        for method in METHODS:
            rd = {"grid": grid, "cache_dir": str(work / "cache")} if method == "rd" else {}  # rd's options only
            rep = prune_model(model, ratio, method=method, dataset=args.dataset, calib_size=calib, **rd,
                              out=str(work / f"{method}-{ratio}"), device="cpu")
            s = rep.summary
            rows.append({"ratio": ratio, "method": method, "sparsity": round(s["sparsity"], 4),
                         "distortion": s["measured_distortion"], "top1": s["top1_after"],
                         "top1_dense": s["top1_before"], "curve_s": s["curve_seconds"]})
            print(f"{ratio:.1f} {method:8s} sparsity {s['sparsity']:.4f} distortion {s['measured_distortion']:.5g} "
                  f"top-1 {s['top1_after']:.4f} (dense {s['top1_before']:.4f})", flush=True)
    for ratio in (0.5, 0.7, 0.9):
        group = [r for r in rows if r["ratio"] == ratio]
        best = min(group, key=lambda r: r["distortion"])
        rd = next(r for r in group if r["method"] == "rd")
        others = min(r["distortion"] for r in group if r["method"] != "rd")
        print(f"@{ratio}: lowest distortion {best['method']}; rd / best baseline = {rd['distortion'] / others:.3f}")
    print(f"model {model}, calibration {args.dataset} x {calib}, grid {grid}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
