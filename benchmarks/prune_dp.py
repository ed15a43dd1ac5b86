"""DP time and peak memory at torchvision layer sizes (``python -m benchmarks.prune_dp [--exact]``).

Bucketed DP (B = 10 000, the default) for ResNet-18 @ 0.5, ResNet-18 @ 0.9 (where the authors' DP
crashes) and ResNet-50 @ 0.7 on 101-point synthetic curves, against our exact per-weight DP (w = 1,
the authors' formulation, vectorised) on ResNet-18 @ 0.5; the ratio and the distortion gap of the
bucketed answer are printed. Time is the best of 3 untraced runs; peak memory is tracemalloc's (numpy buffers included)
in a separate run. The last line is
one JSON object: resnet18_seconds, resnet18_peak_mb, resnet50_seconds, resnet50_peak_mb.
"""

from __future__ import annotations

import argparse
import json
import time
import tracemalloc

import numpy as np
import torch


def layer_sizes(name: str) -> np.ndarray:
    """Conv/Linear weight counts of a torchvision model, built on the meta device (no memory)."""
    import torchvision.models as tvm

    with torch.device("meta"):
        model = tvm.get_model(name, weights=None)
    return np.array([m.weight.numel() for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))])


def synthetic_curves(sizes: np.ndarray, grid: int = 100, seed: int = 0) -> np.ndarray:
    """Monotone convex-ish curves d_l(a) = s_l (exp(c_l a) - 1) with random scale and steepness."""
    rng = np.random.default_rng(seed)
    a = np.linspace(0, 1, grid + 1)
    s = rng.lognormal(-6, 1.5, size=len(sizes))
    c = rng.uniform(2, 8, size=len(sizes))
    return s[:, None] * np.expm1(c[:, None] * a[None, :])


def measure(curves: np.ndarray, sizes: np.ndarray, ratio: float, buckets: int, repeats: int = 3) -> dict:
    """Best-of-``repeats`` wall time (no tracing), then one traced run for the peak memory."""
    from toolkit.prune.dp import allocate

    times = []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        res = allocate(curves, sizes, ratio, buckets=buckets)
        times.append((time.perf_counter() - t0, time.process_time() - c0))
    tracemalloc.start()
    allocate(curves, sizes, ratio, buckets=buckets)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    wall, cpu = min(times)
    return {"seconds": wall, "cpu_seconds": cpu, "peak_mb": peak, "predicted": res.predicted, "width": res.width,
            "sparsity": float(res.zeros.sum() / sizes.sum())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--exact", action="store_true",
                    help="also run the exact per-weight DP on ResNet-18 @ 0.5 (minutes and ~0.5 GB)")
    ap.add_argument("--buckets", type=int, default=10_000)
    args = ap.parse_args()
    out = {}
    for name, ratio in (("resnet18", 0.5), ("resnet18", 0.9), ("resnet50", 0.7)):
        sizes = layer_sizes(name)
        curves = synthetic_curves(sizes)
        m = measure(curves, sizes, ratio, args.buckets)
        bound = len(sizes) * m["width"] / sizes.sum()
        print(f"{name} @ {ratio}: L={len(sizes)} N={sizes.sum()} bucketed DP {m['seconds']:.3f} s "
              f"(CPU {m['cpu_seconds']:.3f} s), "
              f"peak {m['peak_mb']:.1f} MB, bucket width {m['width']} (bound: budget slack L*w = "
              f"{bound:.2%} of N), sparsity {m['sparsity']:.4f}, predicted {m['predicted']:.6g}")
        if name == "resnet50" or ratio == 0.5:
            out[f"{name}_seconds"], out[f"{name}_peak_mb"] = round(m["seconds"], 4), round(m["peak_mb"], 2)
            out[f"{name}_cpu_seconds"] = round(m["cpu_seconds"], 4)
        if name == "resnet18" and ratio == 0.5 and args.exact:
            e = measure(curves, sizes, ratio, 10**12, repeats=1)
            print(f"  exact per-weight DP (w=1): {e['seconds']:.2f} s, peak {e['peak_mb']:.0f} MB; bucketed is "
                  f"{e['seconds'] / m['seconds']:.0f}x faster, {e['peak_mb'] / m['peak_mb']:.0f}x less memory; "
                  f"distortion bucketed/exact = {m['predicted'] / e['predicted']:.6f}")
            out.update(resnet18_exact_seconds=round(e["seconds"], 2), resnet18_exact_peak_mb=round(e["peak_mb"], 1))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
