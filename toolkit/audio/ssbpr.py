"""SSBPR: snore-sound sleep body position recognition — cross-validated training, eval, predict.

Paper: Xiao, Yang, Li, Tu, Chen, Yi, Lin, Yang, Ren, "A Snoring Sound Dataset for Body Position
Recognition: Collection, Annotation, and Analysis", INTERSPEECH 2023, arXiv 2307.13346.

    lt audio ssbpr train --data-root DIR --model cnn --split subject --folds 5
    lt audio ssbpr train --dataset synthetic-snore --model svm --split random
    lt audio ssbpr eval RUN_DIR_OR_CKPT --data-root DIR
    lt audio ssbpr predict a.wav b.wav --model RUN_DIR_OR_CKPT

Defaults (our choices; the paper benchmarks AST without these details): 5 folds grouped by patient,
AdamW lr 1e-3, weight decay 1e-4, batch 32, 30 epochs, cosine schedule; each fold's model is its
last epoch (nothing is selected on the held-out fold). ``final=True`` also trains one model on all
files into the run dir (``last.pt``), which ``eval`` and ``predict`` use.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..engine.errors import CheckpointError, LtError
from ..engine.report import Report, log
from .data import AudioData, prepare, resolve_root
from .features import DEFAULT_CACHE, FeatureParams
from .metrics import audio_metrics, confusion_rows, plot_confusion
from .models import SpectrogramSet, fit_torch, get_audio_model, stack_stats, torch_probs
from .splits import describe, make_folds


def _fit_predict(model: str, data: AudioData, tr: np.ndarray, te: np.ndarray | None, *, cfg: Any, device: Any,
                 out_dir: Path | None, balanced: bool, run_config: dict) -> tuple[Any, np.ndarray | None]:
    """Train on ``tr``; return the model and its probabilities on ``te``; save it into ``out_dir``."""
    from ..engine.checkpoint import save_checkpoint
    from .classical import ClassicalModel

    spec, c = get_audio_model(model), len(data.class_names)
    pick = lambda idx: [data.feats[i] for i in idx]  # noqa: E731
    if spec.torch:
        net = fit_torch(spec, SpectrogramSet(pick(tr), data.labels[tr]), c, cfg=cfg, device=device, out_dir=out_dir,
                        balanced=balanced, run_config=run_config)
        return net, None if te is None else torch_probs(net, pick(te), device, cfg.batch_size)
    clf = ClassicalModel(spec.arch, seed=cfg.seed, balanced=balanced).fit(stack_stats(pick(tr)), data.labels[tr])
    if out_dir is not None:
        save_checkpoint(out_dir / "last.pt", {"arch": f"audio-{spec.arch}", "model_args": {"num_classes": c},
                                              "state_dict": {}, "sklearn": clf.state(), "config": run_config})
    return clf, None if te is None else clf.predict_proba(stack_stats(pick(te)), c)


def _fold_row(split: str, fold: Any, n_train: int, m: dict) -> dict:
    return {"split": split, "fold": fold, "n_train": n_train, "n_test": int(np.sum(m["confusion"])),
            "accuracy": m["accuracy"], "macro_f1": m["macro_f1"], "uar": m["uar"], "auc": m["auc"]}


def _recall_row(split: str, fold: Any, m: dict, names: Sequence[str]) -> dict:
    return {"split": split, "fold": fold, **{n: r for n, r in zip(names, m["recall"])}}


def _mean_std_rows(rows: list[dict], split: str) -> list[dict]:
    keys = [k for k in rows[0] if k not in ("split", "fold", "n_train", "n_test")]
    vals = {k: np.array([np.nan if r[k] is None else r[k] for r in rows], dtype=float) for k in keys}
    mean = {"split": split, "fold": "mean", **{k: float(np.nanmean(v)) for k, v in vals.items()}}
    std = {"split": split, "fold": "std", **{k: float(np.nanstd(v)) for k, v in vals.items()}}
    return [mean, std]


def train_ssbpr(*, dataset: str = "ssbpr", data_root: str | None = None, model: str = "cnn", split: str = "subject",
                folds: int = 5, epochs: int = 30, batch_size: int = 32, lr: float = 1e-3, balanced: bool = False,
                sample_rate: int = 16000, duration: float = 2.0, drop_classes: Sequence[int] = (), max_bad: float = 0.05,
                workers: int = 1, cache_dir: str | None = str(DEFAULT_CACHE), final: bool = True,
                subjects: int | None = None, clips: int | None = None, out: str | None = None, force: bool = False,
                device: str = "auto", seed: int = 0) -> Report:
    """Cross-validate ``model`` on SSBPR (or synthetic-snore); per-fold and mean ± std metrics."""
    from ..engine.device import resolve_device
    from ..engine.loop import TrainConfig
    from ..engine.runs import prepare_out_dir, write_json

    spec = get_audio_model(model)
    params = FeatureParams(kind=spec.feature, sample_rate=sample_rate, duration=duration).resolved()
    cfg = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, optimizer="adamw", weight_decay=1e-4,
                      scheduler="cosine", seed=seed).validate()
    dev = resolve_device(device)
    root = resolve_root(dataset, data_root, cache_dir, subjects, clips, seed)
    out_dir = prepare_out_dir(out, "audio", "ssbpr", force=force)
    data = prepare(root, params, drop_classes=drop_classes, max_bad=max_bad, workers=workers,
                   cache_dir=cache_dir, out_dir=out_dir)
    if split == "subject":
        from .io import subjects_required

        subjects_required(data.items)
    fold_idx = make_folds(data.labels, data.subjects, split, folds, seed)
    protocol = describe(split, folds, len(set(data.subjects)))
    log(protocol)
    audio_cfg = {"model": model, "dataset": dataset, "data_root": str(root), "split": split, "folds": folds,
                 "features": params.to_dict(), "class_ids": data.class_ids, "class_names": data.class_names,
                 "balanced": balanced}
    write_json(out_dir / "config.json", {**audio_cfg, "train": asdict(cfg),
                                         "device": str(dev), "seed": seed, "final": final})
    rows, recalls, cm = _cross_validate(model, data, fold_idx, cfg=cfg, device=dev, out_dir=out_dir, balanced=balanced,
                                        audio_cfg=audio_cfg, split=split)
    if final:
        log("training the final model on all files")
        _fit_predict(model, data, np.arange(len(data.labels)), None, cfg=cfg, device=dev, out_dir=out_dir,
                     balanced=balanced, run_config={"audio": {**audio_cfg, "fold": "all"}})
    return _train_report(model, dataset, split, protocol, data, rows, recalls, cm, out_dir)


def _cross_validate(model: str, data: AudioData, fold_idx: list, *, cfg: Any, device: Any, out_dir: Path,
                    balanced: bool, audio_cfg: dict, split: str) -> tuple[list[dict], list[dict], np.ndarray]:
    """Train and score one model per fold: metric rows, recall rows, and the summed confusion matrix."""
    from ..engine.loop import TrainConfig

    rows, recalls, c = [], [], len(data.class_names)
    cm = np.zeros((c, c), dtype=np.int64)
    for k, (tr, te) in enumerate(fold_idx, start=1):
        log(f"fold {k}/{len(fold_idx)}: {len(tr)} train, {len(te)} test files")
        fold_cfg = TrainConfig(**{**asdict(cfg), "seed": cfg.seed + k})
        _, probs = _fit_predict(model, data, tr, te, cfg=fold_cfg, device=device, out_dir=out_dir / f"fold-{k}",
                                balanced=balanced, run_config={"audio": {**audio_cfg, "fold": k}})
        m = audio_metrics(probs, data.labels[te], c)
        cm += np.asarray(m["confusion"])
        rows.append(_fold_row(split, k, len(tr), m))
        recalls.append(_recall_row(split, k, m, data.class_names))
    return rows, recalls, cm


def _train_report(model: str, dataset: str, split: str, protocol: str, data: AudioData, rows: list[dict],
                  recalls: list[dict], cm: np.ndarray, out_dir: Path) -> Report:
    """Write metrics.json and confusion.png; the Report with fold rows, mean ± std, recall and confusion."""
    from ..engine.runs import write_json

    summary_rows, recall_summary = _mean_std_rows(rows, split), _mean_std_rows(recalls, split)
    png = plot_confusion(cm, data.class_names, out_dir / "confusion.png", f"{model}, {protocol}")
    write_json(out_dir / "metrics.json", {"protocol": protocol, "folds": rows, "mean": summary_rows[0],
                                          "std": summary_rows[1], "recall": recalls + recall_summary,
                                          "class_names": data.class_names, "confusion": cm.tolist(), "skipped": data.skipped})
    notes = [protocol, f"confusion matrix: {out_dir / 'confusion.png'}" if png else
             "confusion PNG not written (install the plot extra: pip install 'lt-toolkit[plot]')"]
    return Report(title=f"SSBPR {model} on {dataset} — {protocol}", rows=rows + summary_rows,
                  summary={"model": model, "dataset": dataset, "split": split, "files": len(data.labels),
                           "skipped": len(data.skipped), "accuracy": summary_rows[0]["accuracy"],
                           "macro_f1": summary_rows[0]["macro_f1"], "uar": summary_rows[0]["uar"],
                           "out": str(out_dir)},
                  sections=[Report(title="Per-class recall", rows=recalls + recall_summary),
                            Report(title="Confusion matrix", rows=confusion_rows(cm, data.class_names),
                                   notes=[f"summed over all {len(rows)} test folds; {protocol}"])],
                  notes=notes)


def load_audio_model(spec: str, device: Any) -> tuple[Any, dict, bool]:
    """(model, the checkpoint's audio config, is_torch) from a run dir or checkpoint file."""
    from ..engine.checkpoint import load_checkpoint
    from .classical import ClassicalModel

    ckpt = load_checkpoint(spec)
    audio = (ckpt.get("config") or {}).get("audio")
    if not isinstance(audio, dict) or "features" not in audio:
        raise CheckpointError(f"'{ckpt['path']}' is not an lt audio ssbpr checkpoint (no audio config)")
    if "sklearn" in ckpt:
        return ClassicalModel.from_state(ckpt["sklearn"]), audio, False
    from ..models import build_from_checkpoint

    return build_from_checkpoint(ckpt).to(device).eval(), audio, True


def _probs(model: Any, is_torch: bool, feats: list, num_classes: int, device: Any) -> np.ndarray:
    if is_torch:
        return torch_probs(model, feats, device)
    return model.predict_proba(stack_stats(feats), num_classes)


def eval_ssbpr(*, checkpoint: str, data_root: str, max_bad: float = 0.05, workers: int = 1,
               cache_dir: str | None = str(DEFAULT_CACHE), device: str = "auto") -> Report:
    """Score a trained model on every valid file under ``data_root`` (same features and classes)."""
    from ..engine.device import resolve_device

    dev = resolve_device(device)
    model, audio, is_torch = load_audio_model(checkpoint, dev)
    params = FeatureParams(**audio["features"]).resolved()
    data = prepare(Path(data_root), params, max_bad=max_bad, workers=workers, cache_dir=cache_dir,
                   class_ids=audio["class_ids"])
    probs = _probs(model, is_torch, data.feats, len(data.class_names), dev)
    m = audio_metrics(probs, data.labels, len(data.class_names))
    protocol = f"split=external: every valid file under {data_root} ({len(set(data.subjects))} patients)"
    row = _fold_row("external", "all", 0, m)
    return Report(title=f"SSBPR eval of {checkpoint} — {protocol}", rows=[row],
                  summary={"model": audio["model"], "files": len(data.labels), "skipped": len(data.skipped),
                           "accuracy": m["accuracy"], "macro_f1": m["macro_f1"], "uar": m["uar"]},
                  sections=[Report(title="Per-class recall", rows=[_recall_row("external", "all", m, data.class_names)]),
                            Report(title="Confusion matrix", rows=confusion_rows(np.asarray(m["confusion"]), data.class_names),
                                   notes=[protocol])],
                  notes=[protocol, f"trained with {audio['split']} split on {audio['dataset']}"])


def predict_ssbpr(*, files: Sequence[str], checkpoint: str, workers: int = 1, cache_dir: str | None = str(DEFAULT_CACHE),
                  device: str = "auto") -> Report:
    """Label and class probabilities per file; a file that cannot be used is an error naming it."""
    from ..engine.device import resolve_device
    from .features import compute_many

    if not files:
        raise LtError("give at least one audio file to predict")
    dev = resolve_device(device)
    model, audio, is_torch = load_audio_model(checkpoint, dev)
    params = FeatureParams(**audio["features"]).resolved()
    feats, reasons, _ = compute_many(list(files), params, workers=workers, cache_dir=cache_dir, description="predict")
    for f, r in zip(files, reasons):
        if r:
            raise LtError(f"cannot predict '{f}': {r}")
    names = audio["class_names"]
    probs = _probs(model, is_torch, feats, len(names), dev)
    rows = [{"file": str(f), "label": int(audio["class_ids"][int(p.argmax())]), "label_name": names[int(p.argmax())],
             "probabilities": {n: round(float(q), 6) for n, q in zip(names, p)}} for f, p in zip(files, probs)]
    return Report(title=f"SSBPR predictions ({audio['model']}, {checkpoint})", rows=rows)
