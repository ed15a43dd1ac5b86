"""``lt defend eval``: robustness of any checkpoint, honestly (several attacks, adaptive, sanity checks).

Threat model: L∞ ball of radius ``eps`` around [0,1] images, untargeted. Attacks (each labelled; all
from :mod:`toolkit.defense.whitebox`, each returning per example the best point it visited):

- ``fgsm`` (single step), ``pgd-ce`` (``steps``, ``restarts`` random starts), ``pgd-dlr`` (PGD on
  the scale-invariant DLR loss of Croce & Hein 2020, arXiv 2003.01690; the CW margin loss on < 3
  classes), ``pgd-ce-2x`` (twice the steps, for the sanity check), ``apgd-ce`` and ``apgd-t`` (Auto-PGD
  with CE, and with the targeted DLR loss against the ``apgd_targets`` most likely wrong classes;
  ``apgd_steps`` iterations, 0 = skip), ``transfer`` (PGD-CE on ``--surrogate``, evaluated on the
  model), ``square`` (gradient-free, queries only). A restart (or a later target) attacks only the
  examples the earlier ones left correct.
- FACM pipelines (:class:`~toolkit.defense.facm.FACM`) get FGSM and the PGDs twice: the paper's
  protocol (``paper: backbone only`` - gradients of the backbone alone, the pipeline evaluated) and
  every gradient attack ``end-to-end`` through heads, CMPD and decision, on the BPDA view of
  :mod:`toolkit.defense.bpda` (the decision's values, the mean decision's gradient), with gradients
  averaged over ``eot`` passes (EOT) when the model is random.
- ``worst-case``: per example, correct under every attack run (``autoattack`` included when on).
  Every robust count is over **all** examples (an example misclassified clean can count as robust
  if an attack makes it correct), so "robust <= clean" is a real check, on raw counts.
- an accuracy-vs-eps curve (PGD-CE, end-to-end) as a table and ``robustness_curve.png``;
  ``autoattack`` adds torchattacks' AutoAttack (standard), on the same BPDA view, as the reference.

Sanity checks (pass/fail): robust <= clean (counts, every attack); iterative <= single-step;
doubling the steps changes PGD-CE by < 1 point; accuracy <= 5 % at the largest eps of the curve;
white-box <= black-box (PGD-CE vs transfer and square); with ``autoattack``: our own worst case is
within 1 point of AutoAttack.

Defaults (our choice, sized so that AutoAttack finds at most 1 point more than our own attacks on
digits CE, MDL and FACM models; ``benchmarks/README.md``): PGD 20 steps x 2 restarts, APGD 100 steps,
APGD-T against 9 targets (as AutoAttack), Square 1000 queries.

Command: ``lt defend eval runs/facm/best.pt --dataset digits --eps 8/255 --surrogate runs/ce/best.pt``
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from ..engine.errors import LtError
from .options import RobustnessOptions, default_curve_eps


@dataclass
class Spec:
    """One attack as run: how to build it on ``target`` and how it is labelled."""

    name: str
    protocol: str
    target: nn.Module
    make: Callable[[nn.Module, float, int], Callable]  # (target, eps, seed) -> atk(x, y)
    loss: str = "ce"
    steps: int = 1
    restarts: int = 1
    correct: list = field(default_factory=list)


def _gradient_specs(target: nn.Module, protocol: str, eps: float, steps: int, restarts: int, eot: int,
                    dlr: str, apgd: tuple[int, int] = (0, 0), tag: str = "") -> list[Spec]:
    from .whitebox import APGD, PGD, fgsm

    def pgd(loss: str, n: int) -> Callable:
        return lambda m, e, s: PGD(m, e, n, loss=loss, seed=s, eot=eot)

    specs = [Spec(f"fgsm{tag}", protocol, target, lambda m, e, s: fgsm(m, e, eot=eot, seed=s), "ce", 1),
             Spec(f"pgd-ce{tag}", protocol, target, pgd("ce", steps), "ce", steps, restarts),
             Spec(f"pgd-{dlr}{tag}", protocol, target, pgd(dlr, steps), dlr, steps, restarts),
             Spec(f"pgd-ce-2x{tag}", protocol, target, pgd("ce", 2 * steps), "ce", 2 * steps, restarts)]
    apgd_steps, targets = apgd
    if apgd_steps:
        specs.append(Spec(f"apgd-ce{tag}", protocol, target,
                          lambda m, e, s: APGD(m, e, apgd_steps, loss="ce", seed=s, eot=eot), "ce", apgd_steps))
    if apgd_steps and targets:
        specs.append(Spec(f"apgd-t{tag}", protocol, target,
                          lambda m, e, s: APGD(m, e, apgd_steps, targets=targets, seed=s, eot=eot),
                          f"dlr-targeted (top {targets})", apgd_steps))
    return specs


def build_specs(model: nn.Module, *, eps: float, steps: int, restarts: int, eot: int, num_classes: int,
                surrogate: nn.Module | None, square_queries: int, apgd_steps: int = 100,
                apgd_targets: int = 9) -> list[Spec]:
    """Every attack of the evaluation for ``model`` (FACM: both protocols)."""
    from .bpda import attacked_model
    from .facm import FACM
    from .whitebox import PGD, Square

    dlr = "dlr" if num_classes >= 3 else "margin"
    apgd = (apgd_steps, min(apgd_targets, num_classes - 1))
    specs: list[Spec] = []
    if isinstance(model, FACM):
        specs += _gradient_specs(model.backbone, "paper: backbone only", eps, steps, restarts, 1, dlr, tag="@backbone")
        specs += _gradient_specs(attacked_model(model), "end-to-end (adaptive)", eps, steps, restarts, eot, dlr, apgd)
    else:
        specs += _gradient_specs(model, "white-box", eps, steps, restarts, eot, dlr, apgd)
    if surrogate is not None:
        specs.append(Spec("transfer", "transfer (PGD-CE on --surrogate)", surrogate,
                          lambda m, e, s: PGD(m, e, steps, loss="ce", seed=s), "ce", steps))
    if square_queries > 0:
        specs.append(Spec("square", "black-box (queries)", model,
                          lambda m, e, s: Square(m, e, square_queries, seed=s), "margin", square_queries))
    return specs


def _correct(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x).argmax(1) == y


def run_spec(spec: Spec, model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, seed: int) -> torch.Tensor:
    """Per-example correctness of ``model`` under ``spec`` (worst over restarts), over all examples; eps 0 = clean."""
    if eps == 0:
        return _correct(model, x, y)
    ok = torch.ones_like(y, dtype=torch.bool)
    for r in range(spec.restarts):
        idx = ok.nonzero().squeeze(1)  # a restart attacks only what is still correct
        if idx.numel() == 0:
            break
        adv = spec.make(spec.target, eps, seed + 7919 * r)(x[idx], y[idx])
        if (adv - x[idx]).abs().max() > eps + 1e-6 or adv.min() < 0 or adv.max() > 1:
            raise LtError(f"attack {spec.name} left the eps-ball or [0,1] (bug)")
        ok[idx] = _correct(model, adv, y[idx])
    return ok


def is_random(model: nn.Module, x: torch.Tensor) -> bool:
    """Whether two eval-mode forwards on the same batch differ (then EOT matters)."""
    with torch.no_grad():
        return not torch.equal(model(x), model(x))


def curve_eps(eps: float, points: list[float] | None) -> list[float]:
    """The robustness curve's eps: ``points`` sorted, else the defaults around ``eps`` (see
    :func:`~toolkit.defense.options.default_curve_eps`)."""
    return sorted(set(points)) if points else default_curve_eps(eps)


def _attack_rows(specs: list[Spec], n: int) -> list[dict]:
    rows = []
    for s in specs:
        ok = torch.cat(s.correct)
        rows.append({"attack": s.name, "protocol": s.protocol, "loss": s.loss, "steps": s.steps,
                     "restarts": s.restarts, "robust": int(ok.sum()),
                     "robust_acc": int(ok.sum()) / n if n else float("nan")})
    return rows


def _count(k: int, n: int) -> str:
    """``"7/100 (0.070)"``: a count and its fraction (rates are fractions everywhere)."""
    return f"{k}/{n} ({k / max(n, 1):.3f})"


def sanity_checks(n: int, clean: int, robust: dict[str, int], curve: list[dict],
                  own_worst: int | None = None) -> list[dict]:
    """Pass/fail rows from raw counts over ``n`` examples: ``clean`` correct, ``robust`` maps attack -> correct
    (end-to-end names unsuffixed; ``worst-case``, ``autoattack`` included when run); ``own_worst``: the
    worst case over our own attacks (without AutoAttack)."""
    over = sorted(k for k, v in robust.items() if v > clean)
    rows = [{"check": "robust <= clean (counts, every attack)",
             "value": f"worst-case {robust['worst-case']}/{n} <= clean {clean}/{n}"
                      + (f"; above clean: {', '.join(over)}" if over else ""), "pass": not over}]
    if "fgsm" in robust and "pgd-ce" in robust:
        rows.append({"check": "iterative <= single-step",
                     "value": f"pgd-ce {robust['pgd-ce']} <= fgsm {robust['fgsm']}",
                     "pass": robust["pgd-ce"] <= robust["fgsm"]})
    if "pgd-ce-2x" in robust:
        d = abs(robust["pgd-ce-2x"] - robust["pgd-ce"])
        rows.append({"check": "2x steps changes pgd-ce < 1 point", "value": f"|diff| = {d}/{n} examples",
                     "pass": d < 0.01 * n})
    if curve:
        last = curve[-1]
        rows.append({"check": "accuracy -> ~0 at large eps",
                     "value": f"{last['robust_acc']:.4f} at eps {last['eps']:.4g}",
                     "pass": last["robust_acc"] <= 0.05})
    for bb in ("transfer", "square"):
        if bb in robust and "pgd-ce" in robust:
            rows.append({"check": f"white-box <= black-box ({bb})",
                         "value": f"pgd-ce {robust['pgd-ce']} <= {bb} {robust[bb]}",
                         "pass": robust["pgd-ce"] <= robust[bb]})
    if "autoattack" in robust and own_worst is not None:
        d = own_worst - robust["autoattack"]
        rows.append({"check": "own worst case within 1 point of AutoAttack",
                     "value": f"own {_count(own_worst, n)} vs autoattack {_count(robust['autoattack'], n)}",
                     "pass": d <= 0.01 * n})
    return rows


def plot_curve(path, curve: list[dict], title: str):
    from ..engine.plots import _pyplot, save_figure

    plt = _pyplot()
    if plt is None:
        return None
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot([r["eps"] * 255 for r in curve], [100 * r["robust_acc"] for r in curve], marker="o")
    ax.set_xlabel("eps (x/255, L-inf)")
    ax.set_ylabel("robust accuracy (%), PGD-CE end-to-end")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    save_figure(fig, path)
    plt.close(fig)
    return path


def _attack_batches(net: nn.Module, loader, dev: torch.device, specs: list, curve_spec, points: list[float],
                    eps: float, seed: int, autoattack_classes: int | None):
    """Run every attack (and every curve point) batch by batch; per-example correctness lists."""
    from ..engine.loop import to_device
    from ..engine.report import progress
    from .bpda import autoattack_correct

    curve_ok: dict[float, list] = {e: [] for e in points}
    clean_ok, aa_ok, random_model = [], [], False
    for b, batch in enumerate(progress(loader, description="attacking")):
        x, y = to_device(batch, dev)
        random_model = random_model or is_random(net, x)
        clean_ok.append(_correct(net, x, y).cpu())
        for s in specs:
            s.correct.append(run_spec(s, net, x, y, eps, seed * 1000 + b).cpu())
        for e in points:
            curve_ok[e].append(run_spec(curve_spec, net, x, y, e, seed * 1000 + b).cpu())
        if autoattack_classes is not None:
            aa_ok.append(autoattack_correct(net, x, y, eps, autoattack_classes, seed).cpu())
    return clean_ok, curve_ok, aa_ok, random_model


def _result_rows(specs: list[Spec], n: int, aa_ok: list) -> tuple[list[dict], int]:
    """Per-attack rows, then ``autoattack`` (when run) and ``worst-case``; also our own worst-case count."""
    rows = _attack_rows(specs, n)
    own = torch.stack([torch.cat(s.correct) for s in specs]).all(0)
    worst = own
    if aa_ok:
        aa = torch.cat(aa_ok)
        worst = own & aa
        rows.append({"attack": "autoattack", "protocol": "reference (torchattacks AutoAttack, standard)", "loss": "-",
                     "steps": "-", "restarts": "-", "robust": int(aa.sum()), "robust_acc": int(aa.sum()) / max(n, 1)})
    rows.append({"attack": "worst-case", "protocol": "per example, over every attack above", "loss": "-",
                 "steps": "-", "restarts": "-", "robust": int(worst.sum()), "robust_acc": int(worst.sum()) / max(n, 1)})
    return rows, int(own.sum())


def evaluate_robustness(opts: RobustnessOptions | None = None, **values):
    """Evaluate ``opts.model`` (checkpoint / run dir) on the first ``limit`` test images: ``lt defend eval RUN``;
    see the module docstring.

    ``opts`` (:class:`~toolkit.defense.options.RobustnessOptions`, or its fields as keywords) is validated
    first (defaults ours, see the module docstring): ``eps`` 8/255; ``steps`` 20 and ``restarts`` 2 of the
    PGDs; ``apgd_steps`` 100, ``apgd_targets`` 9 (refused with ``apgd_steps=0``); ``square_queries`` 1000;
    ``eot`` 1; ``surrogate`` (a model name, checkpoint or run dir) adds the transfer row; ``curve_eps`` the
    curve's eps (refused with ``curve=False``). ``dataset`` and ``data_root`` left None are the run's (its
    config.json; said on stderr), else ``digits``. Accuracies are fractions in [0, 1]. Writes config.json,
    metrics.json and robustness_curve.png in ``out``.

        lt defend eval runs/facm --dataset digits --eps 8/255 --surrogate runs/ce
    """
    from ..data import get_dataset
    from ..engine.lifecycle import start_run
    from ..engine.loop import make_loader
    from ..engine.report import warn
    from ..models import load_model

    opts = RobustnessOptions.of(opts, **values).validate()
    if opts.autoattack:
        from .bpda import require_torchattacks

        require_torchattacks()
    points = list(opts.curve_eps) if opts.curve else []
    run = start_run(("defend", "eval"), opts)
    bundle = get_dataset(opts.dataset, root=opts.data_root, download=opts.download)
    run.update_info(num_classes=bundle.num_classes)
    net = load_model(opts.model, num_classes=bundle.num_classes, device=run.device)
    sur = load_model(opts.surrogate, num_classes=bundle.num_classes, device=run.device) if opts.surrogate else None
    test = bundle.test
    if opts.limit is not None and opts.limit < len(test):
        test = torch.utils.data.Subset(test, range(opts.limit))
    specs = build_specs(net, eps=opts.eps, steps=opts.steps, restarts=opts.restarts, eot=opts.eot,
                        num_classes=bundle.num_classes, surrogate=sur, square_queries=opts.square_queries,
                        apgd_steps=opts.apgd_steps, apgd_targets=opts.apgd_targets or 0)
    curve_spec = next(s for s in specs if s.name == "pgd-ce")
    run.reseed()
    clean_ok, curve_ok, aa_ok, random_model = _attack_batches(
        net, make_loader(test, opts.batch_size, train=False), run.device, specs, curve_spec, points, opts.eps,
        opts.seed, bundle.num_classes if opts.autoattack else None)
    if random_model and opts.eot == 1:
        warn("the model is random in eval mode: pass --eot N (e.g. 10) for an adaptive EOT attack")
    clean = torch.cat(clean_ok)
    rows, own = _result_rows(specs, clean.numel(), aa_ok)
    curve_rows = [{"eps": e, "eps_255": round(e * 255, 3),
                   "robust_acc": int(torch.cat(curve_ok[e]).sum()) / max(clean.numel(), 1)} for e in points]
    return _report(run, net, random_model, clean, rows, own if opts.autoattack else None, curve_rows)


def _report(run, net: nn.Module, random_model: bool, clean: torch.Tensor, rows: list[dict], own: int | None,
            curve_rows: list[dict]):
    """Checks, summary (the run's resolved settings), metrics.json, the curve plot (rank 0) and the Report."""
    from ..engine.report import Report, log
    from .facm import FACM

    out_dir, settings = run.out_dir, run.resolved
    n, eps = int(clean.numel()), settings["eps"]
    robust = {r["attack"]: r["robust"] for r in rows}
    acc = {r["attack"]: r["robust_acc"] for r in rows}
    checks = sanity_checks(n, int(clean.sum()), robust, curve_rows, own)
    facm = isinstance(net, FACM)
    summary = {"model": settings["model"], "dataset": settings["dataset"], "n": n,
               "threat_model": f"Linf eps={eps:.5g} ({eps * 255:.3g}/255), untargeted",
               **{k: settings[k] for k in ("steps", "restarts", "eot", "apgd_steps", "apgd_targets", "square_queries")},
               "random_model": random_model,
               "facm_pipeline": facm, "clean_correct": int(clean.sum()), "clean_acc": int(clean.sum()) / max(n, 1),
               "worst_case_acc": acc["worst-case"], "checks_passed": f"{sum(r['pass'] for r in checks)}/{len(checks)}",
               "out": str(out_dir)}
    if own is not None:
        summary.update(own_worst_case_acc=own / max(n, 1), autoattack_acc=acc["autoattack"])
    if facm:
        summary.update(decision=net.decision, paper_protocol_pgd_acc=acc["pgd-ce@backbone"],
                       adaptive_pgd_acc=acc["pgd-ce"])
    title = f"{settings['dataset']}: {settings['model']}"
    png = plot_curve(out_dir / "robustness_curve.png", curve_rows, title) if curve_rows and run.is_main else None
    run.finish({**summary, "attacks": rows, "checks": checks, "curve": curve_rows})
    notes = ["attacks marked '@backbone' follow the FACM paper's protocol (gradients of the backbone only); the "
             "unmarked gradient attacks (and AutoAttack) differentiate the whole pipeline (the decision's values; "
             "the mean decision's gradient, BPDA for a vote)"] if facm else []
    if png is not None:
        notes.append(f"curve plot: {png}")
        log(f"wrote {png}")
    sections = [Report(title="sanity checks", rows=checks)]
    if curve_rows:
        sections.append(Report(title="accuracy vs eps (PGD-CE, end-to-end)", rows=curve_rows))
    return Report(title=f"Robustness of {settings['model']} on {settings['dataset']}", rows=rows, summary=summary,
                  sections=sections, notes=notes)


__all__ = ["evaluate_robustness", "build_specs", "run_spec", "sanity_checks", "Spec", "curve_eps"]
