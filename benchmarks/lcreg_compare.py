"""LCReg against its baselines and ablations on digits-lt: paired seeds, the recipe's epochs.

Methods (each a real ``lt train`` path: ``train_longtail`` / ``train_lcreg`` with these options):

- ``ce``, ``balanced-softmax``, ``isda`` (plain ISDA: per-class Σ_y, raw Σ, λ₀ 0.5, CE; the paper's)
- ``lcreg``: the default LCReg (K = 16 here, τ 0.05, bank from features, within-class latent Σ_k,
  raw λ, Balanced Softmax)
- ablations: ``bank-only`` (K = 16, λ₀ = 0), ``global-sigma`` (K = 0: one class-agnostic
  within-class Σ), ``per-class-sigma`` (K = 16 bank, Σ_y per class on h)
- ``lcreg-audited``: the configuration the issue-14 audit measured (τ 0.1, random bank, no
  sharpness term, assignment gradients into the backbone, Σ_k of h itself, ``--lambda-norm feature``)

Every method runs on the same seeds (training seeds; the data split is fixed), so the difference to
Balanced Softmax is paired per seed; reported as mean ± sample std over seeds and a 95 % t-interval
(``toolkit.engine.stats``, as ``lt train compare`` over the run dirs it writes).
Everything runs in one process with one torch thread (the MLP is small). Writes ``compare.json``,
per-run dirs and ``assignments.png`` (assignment entropy per epoch, and the class × latent
assignment matrix of seed 0's LCReg on the test split) under ``--out``.

    OMP_NUM_THREADS=1 python -m benchmarks.lcreg_compare [--seeds 0,1,2,3,4] [--epochs 30] [--methods ...]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import tempfile
import time
from pathlib import Path

import torch

from toolkit.engine.stats import mean_std, paired_delta

METHODS = {
    "ce": ("ce", {}),
    "balanced-softmax": ("balanced-softmax", {}),
    "isda": ("isda", {}),
    "lcreg": ("lcreg", {"latent_k": 16}),
    "bank-only": ("lcreg", {"latent_k": 16, "lambda0": 0.0}),
    "global-sigma": ("lcreg", {"latent_k": 0}),
    "per-class-sigma": ("lcreg", {"latent_k": 16, "cov_groups": "class"}),
    "lcreg-audited": ("lcreg", {"latent_k": 16, "tau": 0.1, "bank_init": "random", "sharpness_weight": 0.0,
                                "assign_grad": "all", "cov_center": "none", "lambda_norm": "feature"}),
}
BASELINE = "balanced-softmax"
ASSIGN_KEYS = ("assign_entropy", "assign_top", "usage_perplexity", "latents_used")


def run_one(method: str, seed: int, epochs: int | None, imbalance: float, model: str, out: Path) -> dict:
    """Train one method on one seed; return the test row plus the last epoch's assignment figures."""
    from toolkit.longtail.lcreg import train_lcreg
    from toolkit.longtail.train import train_ce

    kind, opts = METHODS[method]
    run_dir = out / f"{method}-s{seed}"
    common = {"dataset": "digits-lt", "imbalance": imbalance, "model": model, "epochs": epochs, "seed": seed,
              "out": str(run_dir), "force": True}
    report = train_lcreg(**common, **opts) if kind == "lcreg" else train_ce(**common, loss=kind)
    row = {k: 100 * report.rows[0][k] for k in ("top1", "many", "medium", "few")}
    with open(run_dir / "metrics.csv") as f:
        history = list(csv.DictReader(f))
    row.update({k: float(history[-1][k]) for k in ASSIGN_KEYS if k in history[-1]})
    row["entropy_curve"] = [float(h["assign_entropy"]) for h in history if "assign_entropy" in h]
    row["best_epoch"] = report.summary["best_epoch"]
    return row


def summarise(results: dict[str, dict[int, dict]], seeds: list[int]) -> list[dict]:
    """Per method: mean ± std of top-1 / few, and the paired difference to Balanced Softmax
    (``toolkit.engine.stats``, the statistics of ``lt train compare``)."""
    rows = []
    base = results.get(BASELINE)
    for method, per_seed in results.items():
        row = {"method": method, "seeds": len(seeds)}
        for key in ("top1", "few", "many", "medium"):
            row[key], row[f"{key}_std"] = mean_std([per_seed[s][key] for s in seeds])
        if base is not None and method != BASELINE:
            for key in ("top1", "few"):
                d = paired_delta([per_seed[s][key] for s in seeds], [base[s][key] for s in seeds])
                row[f"d_{key}"], row[f"d_{key}_std"], row[f"d_{key}_ci95"] = d.mean, d.std, d.half_width
                row[f"d_{key}_per_seed"] = list(d.values)
        for key in ASSIGN_KEYS:
            if key in per_seed[seeds[0]]:
                row[key] = statistics.mean(per_seed[s][key] for s in seeds)
        rows.append(row)
    return rows


def print_table(rows: list[dict], epochs: int | None) -> None:
    print(f"digits-lt (MLP, {epochs or 'recipe'} epochs): test top-1 / few-shot %, mean ± std; "
          f"Δ = paired difference to {BASELINE} (mean ± std [95 % CI half-width])")
    head = f"{'method':<17}{'top-1':>13}{'few':>13}{'Δ top-1':>22}{'Δ few':>22}{'H(A)':>7}{'top A':>7}{'perpl':>7}"
    print(head)
    for r in rows:
        d1 = f"{r['d_top1']:+.2f} ± {r['d_top1_std']:.2f} [{r['d_top1_ci95']:.2f}]" if "d_top1" in r else "-"
        d2 = f"{r['d_few']:+.2f} ± {r['d_few_std']:.2f} [{r['d_few_ci95']:.2f}]" if "d_few" in r else "-"
        a = "".join(f"{r[k]:>7.2f}" if k in r else f"{'-':>7}"
                    for k in ("assign_entropy", "assign_top", "usage_perplexity"))
        print(f"{r['method']:<17}{r['top1']:>7.2f} ± {r['top1_std']:<4.1f}{r['few']:>7.2f} ± {r['few_std']:<4.1f}"
              f"{d1:>22}{d2:>22}{a}")


def plot_assignments(results: dict, out: Path, seed: int, imbalance: float) -> Path | None:
    """Entropy per epoch (LCReg vs the audited configuration) and seed ``seed``'s class × latent matrix."""
    if "lcreg" not in results:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from toolkit.engine.loop import make_loader
    from toolkit.longtail.train import load_bundle
    from toolkit.models import load_model

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for method in ("lcreg", "lcreg-audited"):
        if method in results:
            for s, row in results[method].items():
                ax1.plot(range(1, len(row["entropy_curve"]) + 1), row["entropy_curve"],
                         color="C0" if method == "lcreg" else "C3", alpha=0.6, label=method if s == seed else None)
    ax1.axhline(math.log(16), color="grey", ls="--", label="uniform (log 16)")
    ax1.set(xlabel="epoch", ylabel="mean assignment entropy H(A_i) (nats)", title="K = 16, training batches")
    ax1.legend()
    bundle = load_bundle("digits-lt", None, imbalance=imbalance)
    model = load_model(str(out / f"lcreg-s{seed}"), num_classes=10, device=torch.device("cpu")).eval()
    assign, labels = [], []
    with torch.no_grad():
        for x, y in make_loader(bundle.test, 256, train=False):
            assign.append(model(x, parts=True)["assign"])
            labels.append(y)
    a, y = torch.cat(assign), torch.cat(labels)
    matrix = torch.stack([a[y == c].mean(0) for c in range(10)])
    im = ax2.imshow(matrix.numpy(), aspect="auto", cmap="viridis")
    ax2.set(xlabel="latent k", ylabel="class (0 = head, 9 = tail)", title=f"mean assignment on test, seed {seed}")
    fig.colorbar(im, ax=ax2)
    fig.tight_layout()
    path = out / "assignments.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--epochs", type=int, default=None, help="default: the digits-lt recipe's (30)")
    p.add_argument("--imbalance", type=float, default=30.0)
    p.add_argument("--model", default="mlp")
    p.add_argument("--methods", default=",".join(METHODS), help=f"subset of {','.join(METHODS)}")
    p.add_argument("--out", default=None, help="run dirs, compare.json and assignments.png (default: a temp dir)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    from toolkit.engine.report import set_quiet

    set_quiet(True)
    seeds = [int(s) for s in args.seeds.split(",")]
    methods = [m for m in args.methods.split(",") if m]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise SystemExit(f"unknown method(s) {', '.join(unknown)}; valid: {', '.join(METHODS)}")
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="lcreg_compare_"))
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[int, dict]] = {m: {} for m in methods}
    t0 = time.time()
    for seed in seeds:  # seed-major: an interrupted run still has complete pairs
        for m in methods:
            results[m][seed] = run_one(m, seed, args.epochs, args.imbalance, args.model, out)
        print(f"seed {seed} done ({time.time() - t0:.0f} s)", flush=True, file=__import__("sys").stderr)
    rows = summarise(results, seeds)
    print_table(rows, args.epochs)
    figure = plot_assignments(results, out, seeds[0], args.imbalance)
    (out / "compare.json").write_text(json.dumps({"seeds": seeds, "epochs": args.epochs, "rows": rows,
                                                  "per_seed": results}, indent=2) + "\n")
    print(f"{time.time() - t0:.0f} s wall, {time.process_time():.0f} s CPU; runs, compare.json"
          f"{' and ' + figure.name if figure else ''} under {out}")


if __name__ == "__main__":
    main()
