"""UKD vs naive multi-teacher KD: peak memory with K = 1, 2, 4, 8 teachers, and student step time.

Each (mode, K) runs ``toolkit.distill.ukd.distill`` in a fresh subprocess (1 student epoch, tiny3d
student, fresh cache) and reports its peak memory: RSS on CPU (``ru_maxrss``), or
``torch.cuda.max_memory_allocated`` on CUDA. Teachers are distinct random-init ``r3d_18`` checkpoints
(33M parameters each; the weights, not their training, set the memory). Data: a small
``synthetic-dark`` tree (2 videos per class, 8-frame 32x32 clips) so the run takes minutes on CPU.

Step time: the student's training step through ``toolkit.engine.loop.fit`` with K = 8 cached
teachers (``CachedKD``) vs plain CE, on the same clips held in memory (data loading excluded, both
sides alternating in one process).

Goals (issue 7): ``ukd_ratio_8_vs_1`` <= 1.1 while ``live_ratio_8_vs_1`` grows; step ratio <= 1.1.
The last line printed is one JSON object.

    python -m benchmarks.ukd_memory [--quick] [--teacher r3d_18] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KS = (1, 2, 4, 8)


def _make_teachers(work: Path, arch: str, k: int) -> list[str]:
    import torch

    from toolkit.engine.checkpoint import save_checkpoint
    from toolkit.models.video import build_video_model

    paths = []
    for i in range(k):
        torch.manual_seed(1000 + i)
        m = build_video_model(arch, 11)
        p = work / f"teacher{i}.pt"
        save_checkpoint(p, {"arch": m.arch, "model_args": m.model_args, "state_dict": m.state_dict(),
                            "config": {"resolved": {"stream": "rgb" if i % 2 == 0 else "gamma", "gamma": 1.8}}})
        paths.append(str(p))
        del m
    return paths


def _data_args(work: Path, quick: bool) -> dict:
    return {"dataset": "synthetic-dark", "data_root": str(work / "data"), "frames": 4 if quick else 8,
            "data_options": {"videos_per_class": 2, "video_frames": 12, "video_size": 16 if quick else 32}}


def child(args: argparse.Namespace) -> None:
    """One measured run: print {"peak_mib", "seconds"} as JSON."""
    from toolkit.distill.ukd import distill_ukd
    from toolkit.engine.report import set_quiet

    set_quiet(True)
    work = Path(args.work)
    teachers = json.loads((work / "teachers.json").read_text())[: args.k]
    t0 = time.perf_counter()
    report = distill_ukd(teachers=teachers, student="tiny3d", mode=args.mode, views=2, test_views=1, epochs=1,
                         batch_size=8, cache_dir=str(work / f"cache-{args.mode}-{args.k}"), device=args.device,
                         out=str(work / f"run-{args.mode}-{args.k}"), force=True, **_data_args(work, args.quick))
    print(json.dumps({"peak_mib": report.summary["peak_mem_mib"], "seconds": round(time.perf_counter() - t0, 1)}))


def _measure(work: Path, mode: str, k: int, device: str, quick: bool) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.ukd_memory", "--child", "--mode", mode, "--k", str(k),
           "--work", str(work), "--device", device] + (["--quick"] if quick else [])
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "2"})
    if out.returncode != 0:
        sys.stderr.write(out.stderr[-3000:])
        raise SystemExit(f"child {mode} K={k} failed")
    return json.loads(out.stdout.strip().splitlines()[-1])


def step_time(work: Path, device: str, quick: bool, rounds: int) -> dict:
    """Best-of-rounds seconds per student epoch (>= 25 steps) over in-memory clips: cached KD (K=8) vs plain CE,
    via fit."""
    import torch
    from torch.utils.data import TensorDataset

    from toolkit.data.video import ClipSpec  # noqa: F401  (registers the datasets)
    from toolkit.distill.ukd import CachedKD, CachedViews, read_teachers, teacher_tables
    from toolkit.distill.video_train import video_data
    from toolkit.engine.device import resolve_device
    from toolkit.engine.loop import TrainConfig, fit
    from toolkit.engine.report import set_quiet
    from toolkit.models.video import build_video_model

    set_quiet(True)
    dev = resolve_device(device)
    d = _data_args(work, quick)
    bundle = video_data(d["dataset"], d["data_root"], frames=d["frames"], test_views=1,
                        data_options=d["data_options"])
    teachers = read_teachers(json.loads((work / "teachers.json").read_text())[:8], None, bundle.num_classes)
    table, _ = teacher_tables(teachers, bundle.train, 2, {"dataset": d["dataset"]}, work / "cache-ukd-8", dev, 8, 0,
                              "train")
    ds = CachedViews(bundle.train, table)
    items = [ds[i] for i in range(len(ds))]
    items = items * max(1, -(-200 // len(items)))  # >= 200 clips: 25 steps of 8
    x = torch.stack([it[0] for it in items])
    y = torch.tensor([it[1] for it in items])
    t = torch.stack([it[2] for it in items])
    cfg = TrainConfig(epochs=1, batch_size=8, lr=0.01, scheduler="none", amp="off")
    times = {"kd": [], "ce": []}
    for r in range(rounds + 1):  # round 0 warms up (first-call imports, allocator)
        for name, data, obj in (("ce", TensorDataset(x, y), None),
                                ("kd", TensorDataset(x, y, t), CachedKD(0.5, 4.0, "mean-kl"))):
            torch.manual_seed(0)
            model = build_video_model("tiny3d", bundle.num_classes)
            t0 = time.perf_counter()
            fit(model, data, None, cfg=cfg, device=dev, objective=obj)
            if r > 0:
                times[name].append(time.perf_counter() - t0)
    kd, ce = min(times["kd"]), min(times["ce"])  # the least-disturbed round of each (shared, loaded CPUs)
    return {"steps": len(items) // 8, "kd_epoch_s": round(kd, 3), "ce_epoch_s": round(ce, 3),
            "step_ratio_k8_vs_ce": round(kd / ce, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="16x16 clips of 4 frames (same teachers).")
    ap.add_argument("--teacher", default="r3d_18", help="Teacher architecture (default r3d_18).")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--step-time-only", action="store_true", help="Skip the memory runs (no JSON ratios then).")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--mode", default="ukd", help=argparse.SUPPRESS)
    ap.add_argument("--k", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--work", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    with tempfile.TemporaryDirectory(prefix="ukd-bench-") as tmp:
        work = Path(tmp)
        (work / "teachers.json").write_text(json.dumps(_make_teachers(work, args.teacher, max(KS))))
        peaks: dict[str, dict[int, float]] = {"ukd": {}, "live": {}}
        for k in () if args.step_time_only else KS:
            for mode in ("ukd", "live"):
                r = _measure(work, mode, k, args.device, args.quick)
                peaks[mode][k] = r["peak_mib"]
                print(f"{mode:4s} K={k}: peak {r['peak_mib']:8.1f} MiB  ({r['seconds']} s)", flush=True)
        steps = step_time(work, args.device, args.quick, args.rounds)
        print(f"student epoch ({steps['steps']} steps): KD with 8 cached teachers {steps['kd_epoch_s']} s, "
              f"plain CE {steps['ce_epoch_s']} s", flush=True)
    result = {"teacher": args.teacher, "device": args.device, "quick": args.quick, **steps}
    if not args.step_time_only:
        result.update({"peak_mib": {m: {str(k): v for k, v in p.items()} for m, p in peaks.items()},
                       "ukd_ratio_8_vs_1": round(peaks["ukd"][8] / peaks["ukd"][1], 3),
                       "live_ratio_8_vs_1": round(peaks["live"][8] / peaks["live"][1], 3)})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
