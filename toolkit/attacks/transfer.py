"""Transfer evaluation: attack a surrogate, save PNGs (rounded), score the saved images on victims.

``run_attack`` is what ``lt attack <name>`` calls; ``eval_adv_dir`` is ``lt attack eval``. ASR is
reported over all images and over the images the victim classified correctly when clean (both
denominators, as users ask), with the clean accuracy; untargeted success = prediction != label,
targeted success = prediction == target. A randomized-smoothing victim may abstain (prediction −1,
counted in ``abstained``): never the label, never the target.

Scoring protocol (``score``): ``png`` (default, ours) reads the saved, rounded 8-bit PNGs back —
what users exchange and what ``lt attack eval`` re-scores; ``float`` scores the attack's float
tensors as the DTA/FOTA authors' harness does (it never writes images). The surrogate may be an
ensemble, ``"a,b,c"`` (logits averaged, :mod:`toolkit.attacks.ensemble`).

    lt attack dta --surrogate resnet50 --weights IMAGENET1K_V2 \
        --victims vgg16,resnet152,inception_v3,mobilenet_v2 --data DIR --eps 16/255 --out adv/
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
from ..engine.device import resolve_device
from ..engine.errors import DataError, check
from ..engine.report import Report, log, progress
from ..engine.runs import prepare_out_dir, read_json, write_csv, write_json
from ..engine.seed import seed_everything
from . import get_attack
from .defenses import check_defense_options, wrap_defense
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


def check_label_range(image_set: ImageSet, models: dict[str, nn.Module], device: torch.device) -> None:
    """Every label (and target) must be a class of every model: one forward of the first image each."""
    x = image_set.dataset[0][0][None].to(device)
    for name, m in models.items():
        with torch.no_grad():
            n_out = m(x).shape[1]
        for values in (image_set.labels, image_set.targets or []):
            _check_labels(image_set, torch.arange(len(values)), torch.tensor(values, dtype=torch.long), n_out)


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
    """One row per model: clean accuracy, ASR over all images and over clean-correct images."""
    rows = []
    for name, s in scores.items():
        hit = (s.adv == targets) if targets is not None else (s.adv != labels)
        row: dict[str, Any] = {"model": name, "role": roles.get(name, "victim"), "n": int(labels.numel())}
        if s.clean is not None:
            correct = s.clean == labels
            row["clean_acc"] = round(100.0 * correct.float().mean().item(), 2)
        row["asr"] = round(100.0 * hit.float().mean().item(), 2)
        if s.clean is not None:
            row["n_correct"] = int(correct.sum())
            row["asr_on_correct"] = round(100.0 * hit[correct].float().mean().item(), 2) if correct.any() else float("nan")
        if bool((s.adv < 0).any()) or (s.clean is not None and bool((s.clean < 0).any())):
            row["abstained"] = int((s.adv < 0).sum())  # randomized smoothing: no decision
            if s.clean is not None:
                row["clean_abstained"] = int((s.clean < 0).sum())
        rows.append(row)
    return rows


def _averages(rows: list[dict]) -> dict[str, float]:
    vic = [r for r in rows if r["role"] == "victim"]
    out = {"victims": len(vic), "avg_asr": sum(r["asr"] for r in vic) / max(len(vic), 1)}
    ok = [r["asr_on_correct"] for r in vic if r.get("asr_on_correct") == r.get("asr_on_correct") and "asr_on_correct" in r]
    if ok:
        out["avg_asr_on_correct"] = sum(ok) / len(ok)
    return out


def run_attack(attack: str, surrogate: str, victims: Sequence[str], data: str, *, eps: float = 16 / 255,
               alpha: float | None = None, steps: int | None = None, options: dict | None = None,
               out: str | None = None, force: bool = False, weights: str | None = None,
               num_classes: int | None = None, image_size: int | None = None, batch_size: int = 16,
               limit: int | None = None, data_root: str | None = None, device: str = "auto",
               seed: int = 0, score: str = "png") -> Report:
    """Attack ``surrogate`` (one model or ``a,b,c``) on ``data``, save rounded PNGs under ``out/images``,
    score them (``score='png'``, default) or the float tensors (``'float'``) on ``victims``."""
    options = {k: v for k, v in (options or {}).items() if v is not None}
    check(batch_size >= 1, f"--batch-size must be >= 1 (got {batch_size})")
    check(score in SCORES, f"unknown score '{score}'; valid: {', '.join(SCORES)}")
    dev = resolve_device(device)
    seed_everything(seed)
    clean = load_image_set(data, image_size=image_size, root=data_root, limit=limit)
    check(len(clean) > 0, f"--data '{data}' holds no images")
    n_cls = num_classes or clean.num_classes
    sur = load_surrogate(surrogate, n_cls, weights, dev)
    atk = get_attack(attack, sur, eps=eps, alpha=alpha, steps=steps, **options)
    _check_targets(atk, clean, data)
    vics = load_models(list(victims), n_cls, weights, dev)
    check_label_range(clean, {surrogate: sur, **vics}, dev)
    out_dir = prepare_out_dir(out, "attack", attack, force=force)
    files, grad_calls, adv_float, targets = _attack_all(atk, clean, out_dir, batch_size, dev, seed)
    write_labels(out_dir / "labels.csv", files, clean.labels, targets)
    adv = load_image_set(str(out_dir), root=data_root)
    if score == "float":
        adv = ImageSet(TensorDataset(adv_float, torch.tensor(clean.labels)), list(clean.names), list(clean.labels),
                       "float", "float tensors", num_classes=clean.num_classes, targets=targets)
    models = {surrogate: sur, **{k: v for k, v in vics.items() if k != surrogate}}
    roles = {surrogate: "surrogate"}
    report = _score(models, clean, adv, batch_size, dev, roles)
    config = {"attack": attack, "surrogate": surrogate, "victims": list(victims), "data": data, "data_root": data_root,
              "eps": eps, "alpha": atk.alpha, "steps": atk.steps, "options": options,
              "resolved_options": atk.resolved_options(), "score": score, "weights": weights,
              "num_classes": n_cls, "image_size": image_size, "limit": limit, "batch_size": batch_size,
              "seed": seed, "device": str(dev), "images": len(clean), "grad_calls_per_batch": grad_calls}
    write_json(out_dir / "config.json", config)
    write_json(out_dir / "metrics.json", {"rows": report.rows, **report.summary})
    write_csv(out_dir / "metrics.csv", report.rows)
    report.title = f"{attack} transfer from {surrogate} (eps {eps_text(eps)}, {len(clean)} images)"
    report.summary = {"attack": attack, "eps": eps_text(eps), "steps": atk.steps, "score": score,
                      **report.summary, "out": str(out_dir)}
    if score == "float":
        report.notes.append("scored: the float adversarial tensors (authors' harness); the PNGs may score differently")
    return report


SCORES = ("png", "float")


def _check_targets(atk, clean: ImageSet, data: str) -> None:
    if atk.target_mode is not None and clean.targets is not None:
        raise DataError(f"--target-mode {atk.target_mode} draws the targets, but '{data}' has its own target "
                        f"classes; use --targeted to aim at those, or data without targets")
    if atk.targeted and atk.target_mode is None and clean.targets is None:
        raise DataError(f"--targeted needs target classes (images.csv TargetClass or labels.csv target) "
                        f"or --target-mode random|least-likely; '{data}' has none")


def _attack_all(atk, clean: ImageSet, out_dir: Path, batch_size: int, dev: torch.device,
                seed: int) -> tuple[list[str], int, torch.Tensor, list[int] | None]:
    """Attack batch by batch; save PNGs; return files, grad calls, the float images and the targets used."""
    files: list[str] = []
    grad_calls = 0
    base_seed = atk.seed
    advs, targets = [], []
    for b, (x, y, idx) in enumerate(progress(_loader(clean, batch_size), description=f"{atk.name}")):
        given = torch.tensor([clean.targets[i] for i in idx]).to(dev) if atk.targeted and atk.target_mode is None else None
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
    notes = ["asr: % of all images fooled; asr_on_correct: % of the images the model got right when clean"]
    if targets is not None:
        notes.append("targeted: success = prediction equals the target class")
    return Report("transfer", rows=rows, summary=_averages(rows), notes=notes)


def eval_adv_dir(adv_dir: str, victims: Sequence[str], *, data: str | None = None, defense: str = "none",
                 weights: str | None = None, num_classes: int | None = None, batch_size: int = 16,
                 jpeg_quality: int | None = None, bits: int | None = None, rs_sigma: float | None = None,
                 rs_samples: int | None = None, rs_alpha: float | None = None,
                 data_root: str | None = None, device: str = "auto", seed: int = 0) -> Report:
    """Score saved adversarial images on ``victims`` (optionally behind an input-transform defense).

    Defense options left None take the defense's default; one given for another defense is an error.
    """
    kw = check_defense_options(defense, jpeg_quality=jpeg_quality, bits=bits, rs_sigma=rs_sigma,
                               rs_samples=rs_samples, rs_alpha=rs_alpha)
    dev = resolve_device(device)
    seed_everything(seed)
    root = Path(adv_dir)
    if not (root / "labels.csv").is_file():
        raise DataError(f"--adv-dir '{adv_dir}' holds no labels.csv (write it with `lt attack <name> --out DIR`)")
    config = read_json(root / "config.json") if (root / "config.json").is_file() else {}
    adv = load_image_set(str(root))
    clean = None
    spec = data or config.get("data")
    if spec:
        clean = load_image_set(spec, image_size=config.get("image_size"), root=data_root or config.get("data_root"),
                               limit=config.get("limit") if data is None else len(adv))
    n_cls = num_classes or config.get("num_classes")
    models = load_models(list(victims), n_cls, weights or config.get("weights"), dev, defense, seed=seed, **kw)
    report = _score(models, clean, adv, batch_size, dev, {})
    report.title = f"saved adversarial images in {adv_dir}" + (f" behind {defense}" if defense != "none" else "")
    report.summary = {"defense": defense, "images": len(adv), **report.summary}
    if clean is None:
        report.notes.append("no clean data given (--data): clean accuracy and asr_on_correct omitted")
    return report


__all__ = ["run_attack", "eval_adv_dir", "score_rows", "predict", "load_models", "load_surrogate"]
