"""Fast (fx-split, stacked grid points) vs plain rate-distortion curves, same calibration, one run.

``python -m benchmarks.prune_curves [--quick] [--threads N]``: ResNet-20 (CIFAR, 32x32) and
torchvision ResNet-18 (10 classes, 32x32 input), random init, N(0,1) noise calibration. Prints both
times, the speed-up and the largest curve difference. Defaults: grid K = 50, 32 images (``--quick``:
K = 20, 16 images); one intra-op thread by default (on a shared, loaded CPU two OpenMP threads spin).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch


def run(name: str, grid: int, images: int, batch: int) -> dict:
    from toolkit.models import get_model
    from toolkit.prune.calib import noise_images
    from toolkit.prune.curves import fast_curves, plain_curves
    from toolkit.prune.masks import prunable_layers

    torch.manual_seed(0)
    model = get_model(name, num_classes=10).eval()
    layers = prunable_layers(model)
    xs = list(torch.split(noise_images(model, images, 32, seed=0), batch))
    t0 = time.perf_counter()
    plain = plain_curves(model, layers, xs, grid)
    t1 = time.perf_counter()
    fast = fast_curves(model, layers, xs, grid)
    t2 = time.perf_counter()
    rel = np.abs(fast - plain) / np.maximum(np.abs(plain), 1e-12)
    return {"model": name, "layers": len(layers), "grid": grid, "images": images, "plain_s": round(t1 - t0, 2),
            "fast_s": round(t2 - t1, 2), "speedup": round((t1 - t0) / (t2 - t1), 2),
            "max_abs_diff": float(np.abs(fast - plain).max()), "max_rel_diff": float(rel.max())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="K = 20, 16 images")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from toolkit.engine.report import set_quiet

    set_quiet(True)
    grid, images = (20, 16) if args.quick else (50, 32)
    results = []
    for name in ("resnet20", "resnet18"):
        r = run(name, grid, images, batch=min(32, images))
        results.append(r)
        print(f"{name}: L={r['layers']} K={grid} {images} images: plain {r['plain_s']} s, fast {r['fast_s']} s, "
              f"speed-up {r['speedup']}x, max |diff| {r['max_abs_diff']:.3g} (rel {r['max_rel_diff']:.3g})")
    print(json.dumps({f"{r['model']}_speedup": r["speedup"] for r in results}))


if __name__ == "__main__":
    main()
