"""Defenses on digits: CE vs MDL vs PGD-AT vs MDL+AT vs FACM, under every attack of ``lt defend eval``.

Per seed: train each model with the engine loop (same model, same head dropout, same epochs), build
FACM on the CE model (PGD half-batches against the backbone), then run the evaluator (FGSM, PGD-CE,
PGD-DLR, PGD-CE with 2x steps, transfer from the CE model of another seed, Square; FACM also under the
paper's backbone-only protocol) on the first ``--n`` test images. Mean +- std over seeds. PGD-AT is
``lt train mdl --lambda 0 --dropout 0 --adversarial pgd`` (two identical passes = plain CE on PGD
examples). Throughput: one MDL step (two dropout passes) vs one CE step, process CPU time, 1 thread.

    python -m benchmarks.defense_digits [--model smallcnn --seeds 3 --epochs 8 --eps 16/255 --n 200] [--quick]
    python -m benchmarks.defense_digits --dataset mnist --data-root DATA   (when DATA holds MNIST)

``--quick``: defaults to an MLP, 5 epochs, 150 test images, 10 PGD steps, 200 Square queries (explicit
flags still win).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import torch

METHODS = ("ce", "mdl", "pgd-at", "mdl+at", "facm")


def _train(method: str, bundle, args, seed: int, out: Path) -> Path:
    from toolkit.defense.common import add_head_dropout, build_model, make_adversary
    from toolkit.defense.mdl import MDLObjective
    from toolkit.engine.loop import Objective, TrainConfig, fit
    from toolkit.engine.seed import seed_everything

    seed_everything(seed)
    adv = make_adversary("pgd", args.eps, None, args.at_steps) if method.endswith("at") else None
    objective = {"ce": Objective(), "mdl": MDLObjective(args.lam), "pgd-at": MDLObjective(0.0, adversary=adv),
                 "mdl+at": MDLObjective(args.lam, adversary=adv)}[method]
    net = build_model(args.model, bundle)
    add_head_dropout(net, 0.0 if method == "pgd-at" else args.dropout)
    cfg = TrainConfig(epochs=args.epochs, batch_size=64, lr=0.05, seed=seed)
    fit(net, bundle.train, bundle.val, cfg=cfg, device=args.dev, objective=objective, out_dir=out / f"{method}-{seed}")
    return out / f"{method}-{seed}" / "best.pt"


def _facm(bundle, args, seed: int, out: Path, backbone: Path) -> Path:
    from toolkit.defense.facm import train_facm

    train_facm(backbone=str(backbone), dataset=args.dataset, adv_attack="pgd", eps=args.eps, attack_steps=args.at_steps,
               epochs=args.epochs, lr=1e-2, out=str(out / f"facm-{seed}"), device=str(args.dev), seed=seed,
               data_root=args.data_root)
    return out / f"facm-{seed}" / "best.pt"


def _evaluate(ckpt: Path, surrogate: Path, args, out: Path) -> dict[str, float]:
    from toolkit.defense.evaluate import evaluate_robustness

    rep = evaluate_robustness(model=str(ckpt), dataset=args.dataset, eps=args.eps, steps=args.steps, n_examples=args.n,
                              surrogate=str(surrogate), square_queries=args.square, curve=False, out=str(out),
                              device=str(args.dev), seed=0, data_root=args.data_root)
    acc = {"clean": rep.summary["clean_acc"]}
    acc.update({r["attack"]: r["robust_acc"] for r in rep.rows})
    acc["checks"] = rep.summary["checks_passed"]
    return acc


def _fmt(vals: list[float]) -> str:
    m = statistics.fmean(vals)
    s = statistics.stdev(vals) if len(vals) > 1 else 0.0
    return f"{100 * m:.1f} ± {100 * s:.1f}"


def throughput(args, bundle) -> tuple[float, float]:
    """Median process CPU seconds of one CE step and one MDL step (forward, backward) on one batch."""
    from toolkit.defense.common import add_head_dropout, build_model
    from toolkit.defense.mdl import MDLObjective
    from toolkit.engine.loop import Objective, make_loader

    torch.set_num_threads(1)
    net = build_model(args.model, bundle)
    add_head_dropout(net, args.dropout)
    net.train()
    batch = next(iter(make_loader(bundle.train, 128, train=True)))
    times: dict[str, list[float]] = {"ce": [], "mdl": []}
    for _ in range(12):
        for name, obj in (("ce", Objective()), ("mdl", MDLObjective(args.lam))):
            t0 = time.process_time()
            obj.loss(net, batch, 0)[0].backward()
            times[name].append(time.process_time() - t0)
    torch.set_num_threads(args.threads)
    return statistics.median(times["ce"][2:]), statistics.median(times["mdl"][2:])


def main() -> None:
    from toolkit.data import get_dataset
    from toolkit.engine.device import resolve_device
    from toolkit.engine.report import set_quiet

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--model", default=None, help="smallcnn (default) or mlp (--quick)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=None, help="8 (--quick: 5)")
    ap.add_argument("--eps", default="16/255")
    ap.add_argument("--lam", type=float, default=1.0)
    ap.add_argument("--dropout", type=float, default=0.5)
    ap.add_argument("--at-steps", type=int, default=5, help="PGD steps when training (AT, FACM)")
    ap.add_argument("--steps", type=int, default=None, help="PGD steps when evaluating: 20 (--quick: 10)")
    ap.add_argument("--square", type=int, default=None, help="Square queries: 500 (--quick: 200)")
    ap.add_argument("--n", type=int, default=None, help="test images evaluated: 200 (--quick: 150)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="defaults MLP, 5 epochs, n 150, 10 PGD steps, 200 queries")
    args = ap.parse_args()
    defaults = dict(model="mlp", epochs=5, n=150, steps=10, square=200) if args.quick else \
        dict(model="smallcnn", epochs=8, n=200, steps=20, square=500)
    for k, v in defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    args.eps = float(Fraction(args.eps))
    args.dev = resolve_device(args.device)
    torch.set_num_threads(args.threads)
    set_quiet(True)
    bundle = get_dataset(args.dataset, root=args.data_root)
    t_ce, t_mdl = throughput(args, bundle)
    print(f"throughput ({args.model}, batch 128, 1 thread, CPU time): CE step {1000 * t_ce:.1f} ms, "
          f"MDL step {1000 * t_mdl:.1f} ms, ratio {t_mdl / t_ce:.2f}x", flush=True)
    results: dict[str, list[dict]] = {m: [] for m in METHODS}
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        ckpts = {}
        for seed in range(args.seeds):
            for m in METHODS[:-1]:
                ckpts[m, seed] = _train(m, bundle, args, seed, out)
            ckpts["facm", seed] = _facm(bundle, args, seed, out, ckpts["ce", seed])
            print(f"seed {seed}: trained ({time.time() - t0:.0f} s)", flush=True)
        for seed in range(args.seeds):
            surrogate = ckpts["ce", (seed + 1) % args.seeds]
            for m in METHODS:
                results[m].append(_evaluate(ckpts[m, seed], surrogate, args, out / f"eval-{m}-{seed}"))
            print(f"seed {seed}: evaluated ({time.time() - t0:.0f} s)", flush=True)
    cols = ["clean", "fgsm", "pgd-ce", "pgd-dlr", "pgd-ce-2x", "transfer", "square", "worst-case"]
    print(f"\n{args.dataset}, {args.model}, {args.epochs} epochs, L-inf eps {args.eps * 255:.3g}/255, "
          f"PGD {args.steps} steps, Square {args.square} queries, n = {args.n}, seeds = {args.seeds}; accuracy % mean ± std")
    print("| method | protocol | " + " | ".join(cols) + " | checks |")
    print("|---" * (len(cols) + 3) + "|")
    for m in METHODS:
        rows = results[m]
        label = "end-to-end (adaptive)" if m == "facm" else "white-box"
        print(f"| {m} | {label} | " + " | ".join(_fmt([r[c] for r in rows]) for c in cols)
              + " | " + ", ".join(r["checks"] for r in rows) + " |")
        if m == "facm":
            cells = [_fmt([r["clean"] for r in rows])] + [_fmt([r[f"{c}@backbone"] for r in rows]) for c in cols[1:5]]
            print("| facm | paper: backbone only | " + " | ".join(cells) + " | - | - | - | - |")
    ce, mdl = statistics.fmean(r["pgd-ce"] for r in results["ce"]), statistics.fmean(r["pgd-ce"] for r in results["mdl"])
    print(f"\nMDL - CE under PGD-CE: {100 * (mdl - ce):+.1f} points; total {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
