"""Defenses on digits: CE vs MDL vs PGD-AT vs MDL+AT vs FACM (mean / vote), under every attack of ``lt defend eval``.

Per seed: train each model with the engine loop (same model, same head dropout, same epochs), build
FACM on the CE model (PGD half-batches against the backbone; ``facm`` mean decision, ``facm-vote``
the vote), then run the evaluator at its default attack budgets (FGSM, PGD-CE, PGD-DLR, PGD-CE with
2x steps, APGD-CE, APGD-T, transfer from the CE model of another seed, Square; FACM also under the
paper's backbone-only protocol) on the first ``--n`` test images; ``--autoattack`` adds torchattacks'
AutoAttack and reports it next to our own worst case. Mean +- std over seeds. PGD-AT is
``lt train mdl --lambda 0 --dropout 0 --adversarial pgd`` (two identical passes = plain CE on PGD
examples). Throughput: one MDL step (two dropout passes) vs one CE step, process CPU time, 1 thread.

    python -m benchmarks.defense_digits [--model smallcnn --seeds 3 --epochs 8 --eps 16/255 --n 200] [--quick]
    python -m benchmarks.defense_digits --quick --epochs 3 --at-steps 3 --n 100 --eps 32/255 \
        --methods ce,mdl,facm,facm-vote --autoattack            (AutoAttack vs our own worst case)
    python -m benchmarks.defense_digits --dataset mnist --data-root DATA   (when DATA holds MNIST)

``--quick``: defaults to an MLP, 5 epochs, 150 test images (explicit flags still win). Attack budgets
are the evaluator's defaults unless ``--steps``/``--restarts``/``--apgd-steps``/``--square`` are given.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import torch

METHODS = ("ce", "mdl", "pgd-at", "mdl+at", "facm", "facm-vote")


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


def _facm(bundle, args, seed: int, out: Path, backbone: Path, decision: str = "mean") -> Path:
    from toolkit.defense.facm import train_facm

    name = "facm" if decision == "mean" else f"facm-{decision}"
    train_facm(backbone=str(backbone), dataset=args.dataset, adv_attack="pgd", eps=args.eps, steps=args.at_steps,
               epochs=args.epochs, lr=1e-2, out=str(out / f"{name}-{seed}"), device=str(args.dev), seed=seed,
               data_root=args.data_root, decision=decision)
    return out / f"{name}-{seed}" / "best.pt"


def _evaluate(ckpt: Path, surrogate: Path, args, out: Path) -> dict[str, float]:
    from toolkit.defense.evaluate import evaluate_robustness

    budgets = {k: getattr(args, a) for k, a in (("steps", "steps"), ("restarts", "restarts"),
                                                ("apgd_steps", "apgd_steps"), ("square_queries", "square"))
               if getattr(args, a) is not None}
    rep = evaluate_robustness(model=str(ckpt), dataset=args.dataset, eps=args.eps, limit=args.n,
                              surrogate=str(surrogate), curve=False, out=str(out), autoattack=args.autoattack,
                              device=str(args.dev), seed=0, data_root=args.data_root, **budgets)
    acc = {"clean": rep.summary["clean_acc"], "own worst": rep.summary.get("own_worst_case_acc", float("nan"))}
    acc.update({r["attack"]: r["robust_acc"] for r in rep.rows})
    args.budget_line = (f"PGD {rep.summary['steps']} steps x {rep.summary['restarts']} restarts, APGD "
                        f"{rep.summary['apgd_steps']} steps, APGD-T {rep.summary['apgd_targets']} targets, "
                        f"Square {rep.summary['square_queries']} queries")
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
    ap.add_argument("--steps", type=int, default=None, help="PGD steps when evaluating (default: the evaluator's)")
    ap.add_argument("--restarts", type=int, default=None,
                    help="PGD restarts when evaluating (default: the evaluator's)")
    ap.add_argument("--apgd-steps", type=int, default=None, help="APGD steps (default: the evaluator's; 0 = skip)")
    ap.add_argument("--square", type=int, default=None, help="Square queries (default: the evaluator's)")
    ap.add_argument("--methods", default=",".join(METHODS), help=f"comma list of {', '.join(METHODS)}")
    ap.add_argument("--autoattack", action="store_true", help="also run torchattacks' AutoAttack (needs torchattacks)")
    ap.add_argument("--n", type=int, default=None, help="test images evaluated: 200 (--quick: 150)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="defaults MLP, 5 epochs, n 150")
    args = ap.parse_args()
    defaults = dict(model="mlp", epochs=5, n=150) if args.quick else dict(model="smallcnn", epochs=8, n=200)
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
    methods = [m for m in METHODS if m in args.methods.split(",")]
    unknown = set(args.methods.split(",")) - set(METHODS)
    if unknown or not methods:
        ap.error(f"--methods: unknown {', '.join(sorted(unknown))}; valid: {', '.join(METHODS)}")
    t0 = time.time()
    results = _run_all(args, bundle, methods, t0)
    _print_table(args, methods, results)
    if "ce" in results and "mdl" in results:
        ce, mdl = (statistics.fmean(r["pgd-ce"] for r in results[m]) for m in ("ce", "mdl"))
        print(f"\nMDL - CE under PGD-CE: {100 * (mdl - ce):+.1f} points")
    print(f"total {time.time() - t0:.0f} s")


def _run_all(args, bundle, methods: list[str], t0: float) -> dict[str, list[dict]]:
    """Train every method's model per seed, then evaluate each (transfer from another seed's CE model)."""
    results: dict[str, list[dict]] = {m: [] for m in methods}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        ckpts = {}
        for seed in range(args.seeds):
            for m in ("ce",) + tuple(m for m in methods if m in METHODS[1:4]):
                ckpts[m, seed] = _train(m, bundle, args, seed, out)
            for m in methods:
                if m.startswith("facm"):
                    ckpts[m, seed] = _facm(bundle, args, seed, out, ckpts["ce", seed],
                                           "vote" if m == "facm-vote" else "mean")
            print(f"seed {seed}: trained ({time.time() - t0:.0f} s)", flush=True)
        for seed in range(args.seeds):
            surrogate = ckpts["ce", (seed + 1) % args.seeds]
            for m in methods:
                results[m].append(_evaluate(ckpts[m, seed], surrogate, args, out / f"eval-{m}-{seed}"))
            print(f"seed {seed}: evaluated ({time.time() - t0:.0f} s)", flush=True)
    return results


def _print_table(args, methods: list[str], results: dict[str, list[dict]]) -> None:
    cols = ["clean", "fgsm", "pgd-ce", "pgd-dlr", "pgd-ce-2x", "apgd-ce", "apgd-t", "transfer", "square"]
    cols += ["own worst", "autoattack", "worst-case"] if args.autoattack else ["worst-case"]
    print(f"\n{args.dataset}, {args.model}, {args.epochs} epochs, L-inf eps {args.eps * 255:.3g}/255, "
          f"{args.budget_line}, n = {args.n}, seeds = {args.seeds}; accuracy % mean ± std")
    print("| method | protocol | " + " | ".join(cols) + " | checks |")
    print("|---" * (len(cols) + 3) + "|")
    for m in methods:
        rows = results[m]
        label = "end-to-end (adaptive)" if m.startswith("facm") else "white-box"
        print(f"| {m} | {label} | " + " | ".join(_fmt([r[c] for r in rows]) for c in cols)
              + " | " + ", ".join(r["checks"] for r in rows) + " |")
        if m.startswith("facm"):
            cells = [_fmt([r["clean"] for r in rows])] + [_fmt([r[f"{c}@backbone"] for r in rows]) for c in cols[1:5]]
            print(f"| {m} | paper: backbone only | " + " | ".join(cells) + " |" + " - |" * (len(cols) - 5 + 1))
    if args.autoattack:
        for m in methods:
            gaps = [100 * (r["own worst"] - r["autoattack"]) for r in results[m]]
            print(f"{m}: own worst case - AutoAttack per seed (points): {', '.join(f'{g:+.1f}' for g in gaps)}")


if __name__ == "__main__":
    main()
