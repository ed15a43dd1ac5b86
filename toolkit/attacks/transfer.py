"""Transfer evaluation: attack a surrogate, save PNGs (rounded), score the saved images on victims.

``run_attack`` is what ``lt attack <name>`` calls; ``eval_adv_dir`` is ``lt attack eval``. ASR is
reported over all images and over the images the victim classified correctly when clean (both
denominators, as users ask), with the clean accuracy — all three as fractions in [0, 1], at full
precision in JSON; untargeted success = prediction != label,
targeted success = prediction == target. A randomized-smoothing victim may abstain (prediction −1,
counted in ``abstained``): never the label, never the target.

Scoring protocol (``score``): ``png`` (default, ours) reads the saved, rounded 8-bit PNGs back —
what users exchange and what ``lt attack eval`` re-scores; ``float`` scores the attack's float
tensors as the DTA/FOTA authors' harness does (it never writes images). The surrogate may be an
ensemble, ``"a,b,c"`` (logits averaged, :mod:`toolkit.attacks.ensemble`).

    lt attack dta --surrogate resnet50 --weights IMAGENET1K_V2 \
        --victims vgg16,resnet152,inception_v3,mobilenet_v2 --dataset DIR --eps 16/255 --out adv/
    lt attack eval --adv-dir adv/ --victims vgg16,mobilenet_v2 --defense jpeg
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn
from torch.utils.data import TensorDataset

from ..data.imagesets import ImageSet, indexed, load_image_set
from ..engine.errors import DataError, check
from ..engine.lifecycle import start_run
from ..engine.report import Report, log, progress
from ..engine.runs import read_json, write_csv
from . import get_attack
from .input_defenses import wrap_defense
from .options import COMMAND_OPTIONS, AttackEvalOptions, attack_options
from .pngs import save_adv_batch, write_labels


@dataclass
class Scores:
    """Per-image predictions of one model on clean and adversarial images."""

    clean: torch.Tensor | None
    adv: torch.Tensor


def eps_text(eps: float) -> str:
    f = Fraction(eps * 255).limit_denominator(1000)
    return f"{f}/255" if f.denominator == 1 else f"{eps:.5g}"


def load_models(specs: Sequence[str], num_classes: int | None, weights: str | None,
                device: torch.device, defense: str = "none", **defense_kw: Any) -> dict[str, nn.Module]:
    """Models by name / checkpoint / run dir, each behind ``defense`` (``none``: as is)."""
    from ..models import load_model

    check(len(specs) > 0, "give at least one model (--victims a,b,c)")
    out = {}
    for spec in specs:
        is_file = Path(spec).exists() or spec.endswith((".pt", ".pth"))
        model = load_model(spec, num_classes=num_classes, weights=None if is_file else weights, device=device)
        out[spec] = wrap_defense(model, defense, **defense_kw).to(device)
    return out


def load_surrogate(spec: str, num_classes: int | None, weights: str | None, device: torch.device) -> nn.Module:
    """One model, or an :class:`Ensemble` of the comma-separated ``spec`` (logits averaged)."""
    from .ensemble import Ensemble

    names = [s.strip() for s in spec.split(",") if s.strip()]
    check(len(names) > 0, "give a surrogate (--surrogate a or a,b,c)")
    check(len(set(names)) == len(names), f"--surrogate lists a model twice: {spec}")
    models = load_models(names, num_classes, weights, device)
    return models[names[0]] if len(names) == 1 else Ensemble([models[n] for n in names], names).to(device)


def _loader(image_set: ImageSet, batch_size: int):
    from torch.utils.data import DataLoader

    return DataLoader(indexed(image_set), batch_size=batch_size, shuffle=False, num_workers=0)


def check_label_range(image_set: ImageSet, models: dict[str, nn.Module], device: torch.device) -> dict[str, int]:
    """Every label (and target) must be a class of every model: one forward of the first image each.
    Returns each model's class count."""
    x = image_set.dataset[0][0][None].to(device)
    counts = {}
    for name, m in models.items():
        with torch.no_grad():
            counts[name] = n_out = int(m(x).shape[1])
        for values in (image_set.labels, image_set.targets or []):
            _check_labels(image_set, torch.arange(len(values)), torch.tensor(values, dtype=torch.long), n_out)
    return counts


def _check_labels(image_set: ImageSet, idx: torch.Tensor, labels: torch.Tensor, n_out: int) -> None:
    bad = (labels < 0) | (labels >= n_out)
    if bool(bad.any()):
        i = int(idx[bad.nonzero()[0, 0]])
        raise DataError(f"label {int(labels[bad][0])} of image '{image_set.names[i]}' is outside the "
                        f"model's {n_out} classes (0..{n_out - 1}); check --num-classes / the label file")


@torch.no_grad()
def predict(models: dict[str, nn.Module], image_set: ImageSet, batch_size: int, device: torch.device,
            desc: str = "evaluating") -> dict[str, torch.Tensor]:
    """Top-1 predictions of every model on ``image_set`` (labels range-checked)."""
    preds: dict[str, list[torch.Tensor]] = {k: [] for k in models}
    for x, y, idx in progress(_loader(image_set, batch_size), description=desc):
        x = x.to(device)
        for name, m in models.items():
            z = m(x)
            _check_labels(image_set, idx, y, z.shape[1])
            preds[name].append((m.decide(z) if hasattr(m, "decide") else z.argmax(1)).cpu())
    return {k: torch.cat(v) if v else torch.zeros(0, dtype=torch.long) for k, v in preds.items()}


def score_rows(scores: dict[str, Scores], labels: torch.Tensor, targets: torch.Tensor | None,
               roles: dict[str, str]) -> list[dict]:
    """One row per model: clean accuracy, ASR over all images and over clean-correct images (fractions in [0, 1])."""
    rows = []
    for name, s in scores.items():
        hit = (s.adv == targets) if targets is not None else (s.adv != labels)
        n = int(labels.numel())
        row: dict[str, Any] = {"model": name, "role": roles.get(name, "victim"), "n": n}
        if s.clean is not None:
            correct = s.clean == labels
            row["clean_acc"] = _fraction(int(correct.sum()), n)
        row["asr"] = _fraction(int(hit.sum()), n)
        if s.clean is not None:
            row["n_correct"] = int(correct.sum())
            row["asr_on_correct"] = _fraction(int(hit[correct].sum()), int(correct.sum()))
        if bool((s.adv < 0).any()) or (s.clean is not None and bool((s.clean < 0).any())):
            row["abstained"] = int((s.adv < 0).sum())  # randomized smoothing: no decision
            if s.clean is not None:
                row["clean_abstained"] = int((s.clean < 0).sum())
        rows.append(row)
    return rows


def _fraction(k: int, n: int) -> float:
    """k / n at full precision; NaN for n = 0 (no image to count)."""
    return k / n if n else float("nan")


def _averages(rows: list[dict]) -> dict[str, float]:
    vic = [r for r in rows if r["role"] == "victim"]
    out = {"victims": len(vic), "avg_asr": sum(r["asr"] for r in vic) / max(len(vic), 1)}
    ok = [r["asr_on_correct"] for r in vic
          if r.get("asr_on_correct") == r.get("asr_on_correct") and "asr_on_correct" in r]
    if ok:
        out["avg_asr_on_correct"] = sum(ok) / len(ok)
    return out


def run_attack(attack: Any, opts: Any = None, **values: Any) -> Report:
    """Attack ``surrogate`` (one model or ``a,b,c``) on ``dataset``, save rounded PNGs under ``out/images``,
    score them (``score='png'``, default) or the float tensors (``'float'``) on ``victims``.

    ``attack`` is the attack's name (then ``opts``/``values`` are the options of ``lt attack NAME``,
    :data:`toolkit.attacks.options.COMMAND_OPTIONS`) or those options themselves (what the CLI passes).
    An option the attack does not take is an ``LtError``; ``ftm=True`` turns FTM on with the authors'
    κ, κ_w, τ = 1.0, 0.9, 1.5 unless given. ``dataset``, ``data_root``, ``image_size`` and ``num_classes``
    left None are the ``surrogate`` run's (its config.json). The run dir gets ``config.json`` (every option
    as the attack runs with it), ``metrics.json``/``metrics.csv``, ``labels.csv`` and ``images/``. Rates in
    the report are fractions in [0, 1]. ``lt attack dta --surrogate S --victims V --dataset D``.
    """
    if not isinstance(attack, str):
        attack, opts = attack.attack, attack
    if attack not in COMMAND_OPTIONS:
        attack_options(attack)  # raises: unknown attack, with the close names
    cls = COMMAND_OPTIONS[attack]
    taken = {f.name for f in cls.option_fields()}
    if any(v is not None for k, v in values.items() if k not in taken):
        attack_options(attack, **{k: v for k, v in values.items() if k not in taken})  # raises, naming the flags
    opts = cls.of(opts, **values).validate()
    atk_opts = attack_options(attack, **opts.attack_values())
    run = start_run(("attack", attack), opts)
    clean = load_image_set(opts.dataset, image_size=opts.image_size, root=opts.data_root, limit=opts.limit)
    check(len(clean) > 0, f"--dataset '{opts.dataset}' holds no images")
    n_cls = opts.num_classes or clean.num_classes
    dev = run.device
    sur = load_surrogate(opts.surrogate, n_cls, opts.weights, dev)
    atk = get_attack(attack, sur, atk_opts)
    _check_targets(atk, clean, opts.dataset)
    vics = load_models(list(opts.victims), n_cls, opts.weights, dev)
    counts = check_label_range(clean, {opts.surrogate: sur, **vics}, dev)
    run.update_info(num_classes=counts[opts.surrogate], images=len(clean))
    out_dir = run.out_dir
    files, grad_calls, adv_float, targets = _attack_all(atk, clean, out_dir, opts.batch_size, dev, opts.seed)
    write_labels(out_dir / "labels.csv", files, clean.labels, targets)
    run.update_info(grad_calls_per_batch=grad_calls)
    adv = load_image_set(str(out_dir), root=opts.data_root)
    if opts.score == "float":
        adv = ImageSet(TensorDataset(adv_float, torch.tensor(clean.labels)), list(clean.names), list(clean.labels),
                       "float", "float tensors", num_classes=clean.num_classes, targets=targets)
    models = {opts.surrogate: sur, **{k: v for k, v in vics.items() if k != opts.surrogate}}
    report = _score(models, clean, adv, opts.batch_size, dev, {opts.surrogate: "surrogate"})
    if run.is_main:
        write_csv(out_dir / "metrics.csv", report.rows)
    run.finish({"rows": report.rows, **report.summary})
    report.title = (f"{attack} transfer from {opts.surrogate} (eps {eps_text(opts.eps)}, {len(clean)} images; "
                    f"rates in [0, 1])")
    report.summary = {"attack": attack, "eps": eps_text(opts.eps), "steps": atk.steps, "score": opts.score,
                      **report.summary, "out": str(out_dir)}
    if opts.score == "float":
        report.notes.append("scored: the float adversarial tensors (authors' harness); the PNGs may score differently")
    return report


def _check_targets(atk, clean: ImageSet, dataset: str) -> None:
    if atk.target_mode is not None and clean.targets is not None:
        raise DataError(f"--target-mode {atk.target_mode} draws the targets, but '{dataset}' has its own target "
                        f"classes; use --targeted to aim at those, or data without targets")
    if atk.targeted and atk.target_mode is None and clean.targets is None:
        raise DataError(f"--targeted needs target classes (images.csv TargetClass or labels.csv target) "
                        f"or --target-mode random|least-likely; '{dataset}' has none")


def _attack_all(atk, clean: ImageSet, out_dir: Path, batch_size: int, dev: torch.device,
                seed: int) -> tuple[list[str], int, torch.Tensor, list[int] | None]:
    """Attack batch by batch; save PNGs; return files, grad calls, the float images and the targets used."""
    files: list[str] = []
    grad_calls = 0
    base_seed = atk.seed
    advs, targets = [], []
    for b, (x, y, idx) in enumerate(progress(_loader(clean, batch_size), description=f"{atk.name}")):
        given = (torch.tensor([clean.targets[i] for i in idx]).to(dev)
                 if atk.targeted and atk.target_mode is None else None)
        atk.seed = (seed if base_seed is None else base_seed) + b
        adv = atk(x.to(dev), y.to(dev), given)
        grad_calls = max(grad_calls, atk.grad_calls)
        if atk.targeted:
            targets += atk.last_targets.cpu().tolist()
        advs.append(adv.detach().cpu())
        files += save_adv_batch(adv.cpu(), [clean.names[i] for i in idx], out_dir / "images")
    atk.seed = base_seed
    log(f"saved {len(files)} adversarial PNGs to {out_dir / 'images'}")
    return files, grad_calls, torch.cat(advs), (targets if atk.targeted else None)


def _score(models: dict[str, nn.Module], clean: ImageSet | None, adv: ImageSet, batch_size: int,
           dev: torch.device, roles: dict[str, str]) -> Report:
    if clean is not None and clean.names != adv.names:
        raise DataError(f"the clean data ({clean.source}) and the adversarial images ({adv.source}) "
                        f"do not list the same images in the same order")
    adv_pred = predict(models, adv, batch_size, dev, "scoring adversarial")
    clean_pred = predict(models, clean, batch_size, dev, "scoring clean") if clean is not None else {}
    labels = torch.tensor(adv.labels)
    targets = torch.tensor(adv.targets) if adv.targets is not None else None
    scores = {k: Scores(clean_pred.get(k), adv_pred[k]) for k in models}
    rows = score_rows(scores, labels, targets, roles)
    notes = [("rates are fractions in [0, 1]: clean_acc = fraction of the clean images classified correctly; "
              "asr = fraction of all images fooled; asr_on_correct = fraction of the images the model got right "
              "when clean")]
    if targets is not None:
        notes.append("targeted: success = prediction equals the target class")
    return Report("transfer", rows=rows, summary=_averages(rows), notes=notes)


def eval_adv_dir(opts: AttackEvalOptions | None = None, **values: Any) -> Report:
    """Score saved adversarial images on ``victims`` (optionally behind an input-transform defense).

    The clean images (for clean accuracy and ``asr_on_correct``) are ``dataset``, else the data recorded
    in ``adv_dir/config.json`` by ``lt attack NAME``. Defense options left None take the defense's
    default; one given for another defense is an error. Rates are fractions in [0, 1].
    ``lt attack eval --adv-dir DIR --victims V --defense jpeg``.
    """
    o = AttackEvalOptions.of(opts, **values).validate()
    adv_dir, dataset, defense, data_root = o.adv_dir, o.dataset, o.defense, o.data_root
    kw = o.defense_values()
    root = Path(adv_dir)
    if not (root / "labels.csv").is_file():
        raise DataError(f"--adv-dir '{adv_dir}' holds no labels.csv (write it with `lt attack <name> --out DIR`)")
    recorded = adv_dir_data(read_json(root / "config.json")) if (root / "config.json").is_file() else {}
    run = start_run(("attack", "eval"), out=None, device=o.device, seed=o.seed, writes=False, resolved=o.to_dict())
    dev = run.device
    adv = load_image_set(str(root))
    clean = None
    spec = dataset or recorded.get("dataset")
    if spec:
        clean = load_image_set(spec, image_size=recorded.get("image_size"), root=data_root or recorded.get("data_root"),
                               limit=recorded.get("limit") if dataset is None else len(adv))
    n_cls = o.num_classes or recorded.get("num_classes")
    models = load_models(list(o.victims), n_cls, o.weights or recorded.get("weights"), dev, defense, seed=o.seed, **kw)
    report = _score(models, clean, adv, o.batch_size, dev, {})
    run.finish()
    report.title = (f"saved adversarial images in {adv_dir}" + (f" behind {defense}" if defense != "none" else "")
                    + "; rates in [0, 1]")
    report.summary = {"defense": defense, "images": len(adv), **report.summary}
    if clean is None:
        report.notes.append("no clean data given (--dataset): clean accuracy and asr_on_correct omitted")
    return report


def adv_dir_data(config: dict) -> dict[str, Any]:
    """What ``lt attack NAME`` recorded about its clean data in its ``config.json``: dataset, data_root,
    image_size, limit, weights, num_classes (the one schema: ``resolved`` + ``info.num_classes``)."""
    if not isinstance(config.get("resolved"), dict):
        return _legacy_adv_dir_data(config)
    r = config["resolved"]
    info = config.get("info") if isinstance(config.get("info"), dict) else {}
    return {"dataset": r.get("dataset"), "data_root": r.get("data_root"), "image_size": r.get("image_size"),
            "limit": r.get("limit"), "weights": r.get("weights"),
            "num_classes": info.get("num_classes") or r.get("num_classes")}


def _legacy_adv_dir_data(config: dict) -> dict[str, Any]:
    """The same out of the flat layout ``lt attack NAME`` wrote before the one schema (lt 0.1.0 adv dirs)."""
    keys = ("data_root", "image_size", "limit", "weights", "num_classes")
    return {"dataset": config.get("data"), **{k: config.get(k) for k in keys}}


__all__ = ["adv_dir_data", "eval_adv_dir", "load_models", "load_surrogate", "predict",
           "run_attack", "score_rows"]
