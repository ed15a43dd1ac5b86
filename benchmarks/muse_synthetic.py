"""Benchmark: lstm (official baseline) vs gru-sa vs temma on every task of ``synthetic-muse``.

    python -m benchmarks.muse_synthetic [--quick] [--epochs N] [--seeds 3] [--threads 1]
    python -m benchmarks.muse_synthetic --tasks stress --models lstm,gru-sa --targets per-dim,joint --batch-size 2

For each task and model: ``--seeds`` seeds through ``toolkit.muse.train.train_muse`` (the same code
as ``lt train muse``), the challenge metric on devel and test as mean ± std over the seeds, and the
training throughput (train sequences per second, devel evaluation per epoch included). Ratios are
against the ``lstm`` baseline measured in the same run. ``--quick`` trains 4 epochs instead of 15.
``--targets per-dim,joint`` trains stress both ways (one model per dimension, as the baseline; one
joint model) on the same data and seeds, for the side-by-side comparison in benchmarks/README.md.
Model width 32 for all three (CPU budget; the paper's TEMMA uses 128).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

TASKS = ("humor", "reaction", "stress")
MODELS = ("lstm", "gru-sa", "temma")
KEY = {"humor": "auc", "reaction": "pearson", "stress": "ccc"}


def run_one(task: str, model: str, root: Path, out: Path, epochs: int, seeds: int, batch_size: int,
            targets: str | None = None) -> dict:
    from toolkit.muse.train import train_muse

    rep = train_muse(task=task, dataset="synthetic-muse", data_root=str(root), model=model, epochs=epochs, seeds=seeds,
                     batch_size=batch_size, d_model=32, out=str(out), device="cpu", targets=targets)
    rows, k = rep.rows, KEY[task]
    dev = np.array([r[f"devel_{k}"] for r in rows])
    test = np.array([r[f"test_{k}"] for r in rows])
    extra = {}
    if task == "stress":
        for part in ("devel", "test"):
            for d in ("arousal", "valence"):
                v = np.array([r[f"{part}_ccc_{d}"] for r in rows])
                extra[f"{part}_{d}_mean"], extra[f"{part}_{d}_std"] = v.mean(), v.std()
    return {"task": task, "model": model, "targets": targets or "", "metric": k, **extra,
            "devel_mean": dev.mean(), "devel_std": dev.std(), "test_mean": test.mean(), "test_std": test.std(),
            "seq_per_s": float(np.mean([r["seq_per_s"] for r in rows]))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="4 epochs instead of 15")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=64, help="as lt train muse's default")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 avoids oversubscription)")
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--targets", default="per-dim", help="stress: per-dim, joint or per-dim,joint")
    ap.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = ap.parse_args()
    import torch

    from toolkit.engine.report import set_quiet

    torch.set_num_threads(args.threads)
    set_quiet(True)
    epochs = args.epochs or (4 if args.quick else 15)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "synthetic-muse"
        for task in args.tasks.split(","):
            for model in args.models.split(","):
                for targets in (args.targets.split(",") if task == "stress" else [None]):
                    t0 = time.perf_counter()
                    r = run_one(task, model, root, Path(tmp) / f"{task}-{model}-{targets}", epochs, args.seeds,
                                args.batch_size, targets)
                    r["wall_s"] = time.perf_counter() - t0
                    results.append(r)
                    dims = (f"  test arousal {r['test_arousal_mean']:.4f} ± {r['test_arousal_std']:.4f} valence "
                            f"{r['test_valence_mean']:.4f} ± {r['test_valence_std']:.4f}") if task == "stress" else ""
                    print(f"{task:8s} {model:7s} {r['targets']:7s} {r['metric']:7s} devel {r['devel_mean']:.4f} ± "
                          f"{r['devel_std']:.4f}  test {r['test_mean']:.4f} ± {r['test_std']:.4f}{dims}  "
                          f"{r['seq_per_s']:8.1f} seq/s  ({r['wall_s']:.0f} s)", flush=True)
    print(f"\nepochs {epochs}, batch {args.batch_size}, seeds {args.seeds}, threads {args.threads}; "
          f"ratios vs lstm (same run):")
    for r in results:
        base = next((b for b in results if b["task"] == r["task"] and b["model"] == "lstm"
                     and b["targets"] == r["targets"]), None)
        if base is None:
            continue
        print(f"{r['task']:8s} {r['model']:7s} {r['targets']:7s} "
              f"test metric x{r['test_mean'] / base['test_mean']:.3f}  "
              f"throughput x{r['seq_per_s'] / base['seq_per_s']:.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=float) + "\n")


if __name__ == "__main__":
    main()
