"""``lt defend eval``: robustness of any checkpoint, honestly (several attacks, adaptive, sanity checks).

Threat model: L∞ ball of radius ``eps`` around [0,1] images, untargeted. Attacks (each labelled):

- ``fgsm`` (single step), ``pgd-ce`` (``steps``, ``restarts`` random starts, worst over restarts),
  ``pgd-dlr`` (PGD on the scale-invariant DLR loss of Croce & Hein 2020, arXiv 2003.01690; the CW
  margin loss on < 3 classes), ``pgd-ce-2x`` (twice the steps, for the sanity check), ``transfer``
  (PGD-CE on ``--surrogate``, evaluated on the model), ``square`` (gradient-free, queries only).
- FACM pipelines (:class:`~toolkit.defense.facm.FACM`) get every gradient attack twice: the paper's
  protocol (``paper: backbone only`` — gradients of the backbone alone, the pipeline evaluated) and
  the ``end-to-end`` adaptive attack through heads, CMPD and decision, where the decision is
  replaced by its differentiable surrogate (log of the mean member probability; for ``vote`` this is
  BPDA) and gradients are averaged over ``--eot`` passes (EOT) when the model is random.
- The per-example worst case over all attacks run; an accuracy-vs-eps curve (PGD-CE, end-to-end)
  as a table and ``robustness_curve.png``; ``--autoattack`` adds torchattacks' AutoAttack (standard)
  as the independent reference.

Sanity checks (pass/fail): robust <= clean; iterative <= single-step; doubling the steps changes
PGD-CE by < 1 point; accuracy <= 5 % at the largest eps of the curve; white-box <= black-box
(PGD-CE vs transfer and square).

Command: ``lt defend eval runs/facm/best.pt --dataset digits --eps 8/255 --surrogate runs/ce/best.pt``
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from ..engine.errors import LtError, check
from .common import check_eps


class SurrogateView(nn.Module):
    """The differentiable view of a FACM pipeline an adaptive attacker differentiates (mean decision)."""

    def __init__(self, facm: nn.Module):
        super().__init__()
        self.facm = facm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.facm.surrogate(x)


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
                    dlr: str, tag: str = "") -> list[Spec]:
    from ..attacks import get_attack
    from .attacks import EOTPGD

    def pgd(loss: str, n: int) -> Callable:
        return lambda m, e, s: EOTPGD(m, eps=e, steps=n, loss=loss, seed=s, eot=eot)

    return [Spec(f"fgsm{tag}", protocol, target, lambda m, e, s: get_attack("fgsm", m, eps=e), "ce", 1),
            Spec(f"pgd-ce{tag}", protocol, target, pgd("ce", steps), "ce", steps, restarts),
            Spec(f"pgd-{dlr}{tag}", protocol, target, pgd(dlr, steps), dlr, steps, restarts),
            Spec(f"pgd-ce-2x{tag}", protocol, target, pgd("ce", 2 * steps), "ce", 2 * steps, restarts)]


def build_specs(model: nn.Module, *, eps: float, steps: int, restarts: int, eot: int, num_classes: int,
                surrogate: nn.Module | None, square_queries: int) -> list[Spec]:
    """Every attack of the evaluation for ``model`` (FACM: both protocols)."""
    from ..attacks import get_attack
    from .attacks import Square
    from .facm import FACM

    dlr = "dlr" if num_classes >= 3 else "margin"
    specs: list[Spec] = []
    if isinstance(model, FACM):
        specs += _gradient_specs(model.backbone, "paper: backbone only", eps, steps, restarts, 1, dlr, "@backbone")
        specs += _gradient_specs(SurrogateView(model), "end-to-end (adaptive)", eps, steps, restarts, eot, dlr)
    else:
        specs += _gradient_specs(model, "white-box", eps, steps, restarts, eot, dlr)
    if surrogate is not None:
        specs.append(Spec("transfer", "transfer (PGD-CE on --surrogate)", surrogate,
                          lambda m, e, s: get_attack("pgd", m, eps=e, steps=steps, seed=s), "ce", steps))
    if square_queries > 0:
        specs.append(Spec("square", "black-box (queries)", model,
                          lambda m, e, s: Square(m, eps=e, steps=square_queries, seed=s), "margin",
                          square_queries))
    return specs


def _correct(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x).argmax(1) == y


def run_spec(spec: Spec, model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, seed: int) -> torch.Tensor:
    """Per-example correctness of ``model`` under ``spec`` (worst over restarts); eps 0 = clean."""
    ok = _correct(model, x, y)
    if eps == 0:
        return ok
    for r in range(spec.restarts):
        adv = spec.make(spec.target, eps, seed + 7919 * r)(x, y)
        if (adv - x).abs().max() > eps + 1e-6 or adv.min() < 0 or adv.max() > 1:
            raise LtError(f"attack {spec.name} left the eps-ball or [0,1] (bug)")
        ok &= _correct(model, adv, y)
    return ok


def is_random(model: nn.Module, x: torch.Tensor) -> bool:
    """Whether two eval-mode forwards on the same batch differ (then EOT matters)."""
    with torch.no_grad():
        return not torch.equal(model(x), model(x))


def curve_eps(eps: float, points: list[float] | None) -> list[float]:
    if points:
        for e in points:
            check(0.0 <= e <= 1.0, f"--curve-eps values must be in [0, 1] (got {e})")
        return sorted(set(points))
    return sorted({0.0, eps / 2, eps, min(1.0, 2 * eps), min(1.0, 4 * eps), max(0.5, min(1.0, 4 * eps))})


def autoattack_correct(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, num_classes: int,
                       seed: int) -> torch.Tensor:
    """Per-example correctness under torchattacks' AutoAttack (Linf, standard version)."""
    try:
        import torchattacks
    except ImportError as e:
        raise LtError("--autoattack needs torchattacks: pip install 'lt-toolkit[dev]' "
                      "(or pip install torchattacks==3.5.1)") from e
    atk = torchattacks.AutoAttack(model, norm="Linf", eps=eps, version="standard", n_classes=num_classes, seed=seed)
    return _correct(model, atk(x, y), y)


def _attack_rows(specs: list[Spec], n: int) -> list[dict]:
    rows = []
    for s in specs:
        ok = torch.cat(s.correct)
        rows.append({"attack": s.name, "protocol": s.protocol, "loss": s.loss, "steps": s.steps,
                     "restarts": s.restarts, "robust_acc": float(ok.float().mean()) if n else float("nan")})
    return rows


def sanity_checks(clean: float, acc: dict[str, float], curve: list[dict]) -> list[dict]:
    """Pass/fail rows; ``acc`` maps attack name -> robust accuracy (end-to-end names unsuffixed)."""
    rows = [{"check": "robust <= clean", "value": f"worst {acc['worst-case']:.4f} <= clean {clean:.4f}",
             "pass": acc["worst-case"] <= clean + 1e-9}]
    if "fgsm" in acc and "pgd-ce" in acc:
        rows.append({"check": "iterative <= single-step", "value": f"pgd-ce {acc['pgd-ce']:.4f} <= fgsm {acc['fgsm']:.4f}",
                     "pass": acc["pgd-ce"] <= acc["fgsm"] + 1e-9})
    if "pgd-ce-2x" in acc:
        d = abs(acc["pgd-ce-2x"] - acc["pgd-ce"])
        rows.append({"check": "2x steps changes pgd-ce < 1 point", "value": f"|diff| = {100 * d:.2f} points",
                     "pass": d < 0.01})
    if curve:
        last = curve[-1]
        rows.append({"check": "accuracy -> ~0 at large eps", "value": f"{last['robust_acc']:.4f} at eps {last['eps']:.4g}",
                     "pass": last["robust_acc"] <= 0.05})
    for bb in ("transfer", "square"):
        if bb in acc and "pgd-ce" in acc:
            rows.append({"check": f"white-box <= black-box ({bb})",
                         "value": f"pgd-ce {acc['pgd-ce']:.4f} <= {bb} {acc[bb]:.4f}", "pass": acc["pgd-ce"] <= acc[bb] + 1e-9})
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


def _check_args(eps: float, steps: int, restarts: int, eot: int, square_queries: int, n_examples: int | None,
                autoattack: bool) -> None:
    check_eps(eps)
    check(steps >= 1, f"--steps must be >= 1 (got {steps})")
    check(restarts >= 1, f"--restarts must be >= 1 (got {restarts})")
    check(eot >= 1, f"--eot must be >= 1 (got {eot})")
    check(square_queries >= 0, f"--square-queries must be >= 0 (got {square_queries})")
    check(n_examples is None or n_examples >= 1, f"--n must be >= 1 (got {n_examples})")
    if autoattack:
        try:
            import torchattacks  # noqa: F401
        except ImportError as e:
            raise LtError("--autoattack needs torchattacks: pip install 'lt-toolkit[dev]' "
                          "(or pip install torchattacks==3.5.1)") from e


def _attack_batches(net: nn.Module, loader, dev: torch.device, specs: list, curve_spec, points: list[float],
                    eps: float, seed: int, autoattack_classes: int | None):
    """Run every attack (and every curve point) batch by batch; per-example correctness lists."""
    from ..engine.loop import to_device
    from ..engine.report import progress

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


def evaluate_robustness(*, model: str, dataset: str, eps: float = 8 / 255, steps: int = 20, restarts: int = 1,
                        surrogate: str | None = None, square_queries: int = 1000, eot: int = 1,
                        n_examples: int | None = 1000, curve: bool = True, curve_points: list[float] | None = None,
                        autoattack: bool = False, batch_size: int = 256, data_root: str | None = None,
                        download: bool = False, out: str | None = None, force: bool = False, device: str = "auto",
                        seed: int = 0):
    """Evaluate ``model`` (checkpoint / run dir) on the first ``n_examples`` test images; see module doc."""
    from ..data import get_dataset
    from ..engine.device import resolve_device
    from ..engine.loop import make_loader
    from ..engine.report import Report, log, warn
    from ..engine.runs import prepare_out_dir, write_json
    from ..engine.seed import seed_everything
    from ..models import load_model
    from .facm import FACM

    _check_args(eps, steps, restarts, eot, square_queries, n_examples, autoattack)
    dev = resolve_device(device)
    bundle = get_dataset(dataset, root=data_root, download=download)
    net = load_model(model, num_classes=bundle.num_classes, device=dev)
    sur = load_model(surrogate, num_classes=bundle.num_classes, device=dev) if surrogate else None
    out_dir = prepare_out_dir(out, "defend", "eval", force=force)
    test = bundle.test
    if n_examples is not None and n_examples < len(test):
        test = torch.utils.data.Subset(test, range(n_examples))
    specs = build_specs(net, eps=eps, steps=steps, restarts=restarts, eot=eot, num_classes=bundle.num_classes,
                        surrogate=sur, square_queries=square_queries)
    points = curve_eps(eps, curve_points) if curve else []
    curve_spec = next(s for s in specs if s.name == "pgd-ce")
    seed_everything(seed)
    clean_ok, curve_ok, aa_ok, random_model = _attack_batches(
        net, make_loader(test, batch_size, train=False), dev, specs, curve_spec, points, eps, seed,
        bundle.num_classes if autoattack else None)
    n = int(torch.cat(clean_ok).numel())
    clean = float(torch.cat(clean_ok).float().mean())
    if random_model and eot == 1:
        warn("the model is random in eval mode: pass --eot N (e.g. 10) for an adaptive EOT attack")
    rows = _attack_rows(specs, n)
    worst = torch.stack([torch.cat(s.correct) for s in specs]).all(0)
    rows.append({"attack": "worst-case", "protocol": "per example, over every attack above", "loss": "-", "steps": "-",
                 "restarts": "-", "robust_acc": float(worst.float().mean())})
    if autoattack:
        rows.append({"attack": "autoattack", "protocol": "reference (torchattacks AutoAttack, standard)", "loss": "-",
                     "steps": "-", "restarts": "-", "robust_acc": float(torch.cat(aa_ok).float().mean())})
    acc = {r["attack"]: r["robust_acc"] for r in rows}
    curve_rows = [{"eps": e, "eps_255": round(e * 255, 3), "robust_acc": float(torch.cat(curve_ok[e]).float().mean())}
                  for e in points]
    checks = sanity_checks(clean, acc, curve_rows)
    facm = isinstance(net, FACM)
    summary = {"model": str(model), "dataset": dataset, "n": n, "threat_model": f"Linf eps={eps:.5g} ({eps * 255:.3g}/255), untargeted",
               "steps": steps, "restarts": restarts, "eot": eot, "random_model": random_model,
               "facm_pipeline": facm, "clean_acc": clean, "worst_case_acc": acc["worst-case"],
               "checks_passed": f"{sum(r['pass'] for r in checks)}/{len(checks)}", "out": str(out_dir)}
    if facm:
        summary["paper_protocol_pgd_acc"] = acc["pgd-ce@backbone"]
        summary["adaptive_pgd_acc"] = acc["pgd-ce"]
    png = plot_curve(out_dir / "robustness_curve.png", curve_rows, f"{dataset}: {model}") if curve_rows else None
    write_json(out_dir / "metrics.json", {**summary, "attacks": rows, "checks": checks, "curve": curve_rows})
    notes = ["attacks marked '@backbone' follow the FACM paper's protocol (gradients of the backbone only); "
             "the unmarked gradient attacks differentiate the whole pipeline (decision -> mean-probability surrogate)"] if facm else []
    if png is not None:
        notes.append(f"curve plot: {png}")
        log(f"wrote {png}")
    sections = [Report(title="sanity checks", rows=checks)]
    if curve_rows:
        sections.append(Report(title="accuracy vs eps (PGD-CE, end-to-end)", rows=curve_rows))
    return Report(title=f"Robustness of {model} on {dataset}", rows=rows, summary=summary, sections=sections, notes=notes)


__all__ = ["evaluate_robustness", "build_specs", "run_spec", "sanity_checks", "SurrogateView", "Spec", "curve_eps"]
