"""SSBPR: snore-sound sleep body position recognition — cross-validated training, eval, predict.

Paper: Xiao, Yang, Li, Tu, Chen, Yi, Lin, Yang, Ren, "A Snoring Sound Dataset for Body Position
Recognition: Collection, Annotation, and Analysis", INTERSPEECH 2023, arXiv 2307.13346.

    lt audio ssbpr train --data-root DIR --model cnn --cv subject --folds 5
    lt audio ssbpr train --dataset synthetic-snore --model svm --cv random
    lt audio ssbpr eval RUN_DIR_OR_CKPT --data-root DIR
    lt audio ssbpr predict a.wav b.wav --checkpoint RUN_DIR_OR_CKPT

Defaults (our choices; the paper benchmarks AST without these details): 5 folds grouped by patient,
AdamW lr 1e-3, weight decay 1e-4, batch 32, 30 epochs, cosine schedule; each fold's model is its
last epoch (nothing is selected on the held-out fold). ``final=True`` also trains one model on all
files into the run dir (``last.pt``), which ``eval`` and ``predict`` use.

One run (:func:`toolkit.engine.lifecycle.start_run`); each fold is a sub-run (``fold-K/``), the final
model the run dir itself. ``--resume`` continues an interrupted spectrogram model exactly and re-uses
the finished ones; svm/logreg are not resumable by nature and are re-fitted (deterministic, seconds).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Sequence

import numpy as np

from ..data.audio_features import FeatureParams
from ..data.ssbpr_prepare import AudioData
from ..engine.errors import CheckpointError, LtError
from ..engine.report import Report, log
from .metrics import audio_metrics, confusion_rows, plot_confusion
from .models import SpectrogramSet, fit_torch, get_audio_model, stack_stats, torch_probs
from .options import SSBPREvalOptions, SSBPRPredictOptions, SSBPRTrainOptions


def _fit_predict(run: Any, spec: Any, data: AudioData, tr: np.ndarray, te: np.ndarray | None, *, cfg: Any,
                 sub: str | None, offset: int, balanced: bool) -> tuple[Any, np.ndarray | None]:
    """Train on ``tr`` as sub-run ``sub`` (None: the run dir); the model and its probabilities on ``te``.
    ``cfg``: the engine loop's config (spectrogram models; None for svm/logreg)."""
    from ..engine.checkpoint import save_checkpoint
    from .classical import ClassicalModel

    c, (out_dir, resume) = len(data.class_names), run.sub_run(sub, offset)  # same initial weights on every rank
    pick = lambda idx: [data.feats[i] for i in idx]  # noqa: E731
    seed = run.seed + offset
    if spec.torch:
        cfg = replace(cfg, seed=seed)
        net = fit_torch(spec, SpectrogramSet(pick(tr), data.labels[tr]), c, cfg=cfg, device=run.device, out_dir=out_dir,
                        balanced=balanced, run_config=run.config, resume=resume)
        return net, None if te is None else torch_probs(net, pick(te), run.device, cfg.batch_size)
    # svm/logreg: not resumable by nature; re-fitted on --resume (deterministic, seconds)
    clf = ClassicalModel(spec.arch, seed=seed, balanced=balanced).fit(stack_stats(pick(tr)), data.labels[tr])
    if run.is_main:
        save_checkpoint(out_dir / "last.pt", {"arch": f"audio-{spec.arch}", "model_args": {"num_classes": c},
                                              "state_dict": {}, "sklearn": clf.state(), "config": run.config})
    return clf, None if te is None else clf.predict_proba(stack_stats(pick(te)), c)


def _fold_row(split: str, fold: Any, n_train: int, m: dict) -> dict:
    return {"split": split, "fold": fold, "n_train": n_train, "n_test": int(np.sum(m["confusion"])),
            "accuracy": m["accuracy"], "macro_f1": m["macro_f1"], "uar": m["uar"], "auc": m["auc"]}


def _recall_row(split: str, fold: Any, m: dict, names: Sequence[str]) -> dict:
    return {"split": split, "fold": fold, **{n: r for n, r in zip(names, m["recall"], strict=True)}}


def _mean_std_rows(rows: list[dict], split: str) -> list[dict]:
    keys = [k for k in rows[0] if k not in ("split", "fold", "n_train", "n_test")]
    vals = {k: np.array([np.nan if r[k] is None else r[k] for r in rows], dtype=float) for k in keys}
    mean = {"split": split, "fold": "mean", **{k: float(np.nanmean(v)) for k, v in vals.items()}}
    std = {"split": split, "fold": "std", **{k: float(np.nanstd(v)) for k, v in vals.items()}}
    return [mean, std]


def _load(run: Any, dataset: str, data_root: str | None, spec: Any, params: FeatureParams, *, cv: str, folds: int,
          drop_classes: Sequence[int], max_bad: float, workers: int, cache_dir: str | None, subjects: int | None,
          clips: int | None) -> tuple[AudioData, list, str]:
    """Every valid file, the folds' index pairs and the protocol line, through the dataset registry (rank 0
    first: it may generate synthetic-snore and fill the feature cache); skipped files listed in
    ``skipped.csv``. The bundle's own fold-1 train/test sets are not kept (each fold builds its own)."""
    from ..data import get_dataset
    from ..engine import distributed as D
    from ..engine.runs import write_csv

    with D.main_first():
        bundle = get_dataset(dataset, root=data_root, fold=1, folds=folds, cv=cv, features=spec.feature,
                             sample_rate=params.sample_rate, duration=params.duration, drop_classes=drop_classes,
                             max_bad=max_bad, split_seed=run.seed, workers=workers, cache_dir=cache_dir,
                             subjects=subjects, clips=clips)
    data = bundle.data
    if data.skipped and run.is_main:
        write_csv(run.out_dir / "skipped.csv", data.skipped)
        log(f"skipped files listed in {run.out_dir / 'skipped.csv'}")
    run.update_info(num_classes=len(data.class_names), root=bundle.info["root"], layout=data.layout,
                    files=len(data.labels), skipped=len(data.skipped),
                    audio={"features": params.to_dict(), "class_ids": data.class_ids, "class_names": data.class_names})
    return data, bundle.folds, bundle.info["split"]


def train_ssbpr(opts: SSBPRTrainOptions | None = None, **values: Any) -> Report:
    """Cross-validate ``opts.model`` on SSBPR (or synthetic-snore); per-fold and mean ± std metrics.

    ``opts`` (or its fields as keywords, :class:`toolkit.audio.options.SSBPRTrainOptions`):
        dataset: ``ssbpr`` (under ``data_root``) or ``synthetic-snore`` (generated into ``data_root`` or
            the cache; ``subjects`` patients (default 8), ``clips`` per patient and class (default 5)).
        model: ``cnn`` | ``crnn`` | ``resnet18`` (log-mel, engine loop) | ``svm`` | ``logreg`` (MFCC stats).
        cv, folds: ``subject`` (grouped by patient, default) or ``random`` k-fold; 5 folds.
        every engine option (:class:`~toolkit.engine.options.TrainOptions`): the spectrogram models' (AdamW,
            lr 1e-3, weight decay 1e-4, batch 32, 30 epochs, cosine when not given); refused for svm/logreg.
        balanced: class-balanced sampling (class weights for svm/logreg).
        sample_rate, duration, drop_classes, max_bad, workers, cache_dir, cache: data (16000 Hz, 2 s, none,
            0.05, 1 feature process, ``$LT_CACHE_DIR/audio-features``; ``cache=False``: no cache).
        final: also train one model on all files into the run dir (``eval``/``predict`` load it).
        out, force, resume, device, seed, deterministic: the run (``resume`` continues the interrupted
            fold or final model and re-uses the finished ones).

    ``lt audio ssbpr train --dataset synthetic-snore --model cnn --cv subject --folds 5``
    """
    from ..engine import distributed as D
    from ..engine.lifecycle import start_run
    from ..engine.loop import TrainConfig

    opts = SSBPRTrainOptions.of(opts, **values).validate()
    spec = get_audio_model(opts.model)
    params = FeatureParams(kind=spec.feature, sample_rate=opts.sample_rate, duration=opts.duration).resolved()
    # --workers are the processes computing features; the spectrogram set is in memory (loaded in-process)
    cfg = TrainConfig.of_options(opts.replace(workers=0), seed=opts.seed, deterministic=opts.deterministic) \
        if spec.torch else None
    run = start_run(("audio", "ssbpr", "train"), opts)
    if opts.balanced and spec.torch and D.is_distributed():
        raise LtError("--balanced is not supported under torchrun for spectrogram models (its sampler is not "
                      "sharded); drop it")
    data, fold_idx, protocol = _load(run, opts.dataset, opts.data_root, spec, params, cv=opts.cv, folds=opts.folds,
                                     drop_classes=opts.drop_classes, max_bad=opts.max_bad, workers=opts.workers,
                                     cache_dir=opts.feature_cache, subjects=opts.subjects, clips=opts.clips)
    log(protocol)
    rows, recalls, cm = _cross_validate(run, spec, data, fold_idx, cfg=cfg, balanced=opts.balanced, split=opts.cv)
    if opts.final:
        log("training the final model on all files")
        _fit_predict(run, spec, data, np.arange(len(data.labels)), None, cfg=cfg, sub=None, offset=0,
                     balanced=opts.balanced)
    return _train_report(run, opts.model, opts.dataset, opts.cv, protocol, data, rows, recalls, cm)


def _cross_validate(run: Any, spec: Any, data: AudioData, fold_idx: list, *, cfg: Any, balanced: bool,
                    split: str) -> tuple[list[dict], list[dict], np.ndarray]:
    """Train and score one model per fold (sub-run ``fold-K``, seed + K): metric rows, recall rows, and
    the summed confusion matrix."""
    rows, recalls, c = [], [], len(data.class_names)
    cm = np.zeros((c, c), dtype=np.int64)
    for k, (tr, te) in enumerate(fold_idx, start=1):
        log(f"fold {k}/{len(fold_idx)}: {len(tr)} train, {len(te)} test files")
        _, probs = _fit_predict(run, spec, data, tr, te, cfg=cfg, sub=f"fold-{k}", offset=k, balanced=balanced)
        m = audio_metrics(probs, data.labels[te], c)
        cm += np.asarray(m["confusion"])
        rows.append(_fold_row(split, k, len(tr), m))
        recalls.append(_recall_row(split, k, m, data.class_names))
    return rows, recalls, cm


def _train_report(run: Any, model: str, dataset: str, split: str, protocol: str, data: AudioData, rows: list[dict],
                  recalls: list[dict], cm: np.ndarray) -> Report:
    """metrics.json (through the run) and confusion.png; the Report with fold rows, mean ± std, recall and
    confusion (files named relative to the run dir, the report's ``out``)."""
    summary_rows, recall_summary = _mean_std_rows(rows, split), _mean_std_rows(recalls, split)
    png = (plot_confusion(cm, data.class_names, run.out_dir / "confusion.png", f"{model}, {protocol}")
           if run.is_main else True)
    run.finish({"protocol": protocol, "folds": rows, "mean": summary_rows[0], "std": summary_rows[1],
                "recall": recalls + recall_summary, "class_names": data.class_names, "confusion": cm.tolist(),
                "skipped": data.skipped})
    notes = [protocol, "confusion matrix: confusion.png in the run dir" if png else
             "confusion PNG not written (install the plot extra: pip install 'lt-toolkit[plot]')"]
    return Report(title=f"SSBPR {model} on {dataset} — {protocol}", rows=rows + summary_rows,
                  summary={"model": model, "dataset": dataset, "split": split, "files": len(data.labels),
                           "skipped": len(data.skipped), "accuracy": summary_rows[0]["accuracy"],
                           "macro_f1": summary_rows[0]["macro_f1"], "uar": summary_rows[0]["uar"],
                           "out": str(run.out_dir)},
                  sections=[Report(title="Per-class recall", rows=recalls + recall_summary),
                            Report(title="Confusion matrix", rows=confusion_rows(cm, data.class_names),
                                   notes=[f"summed over all {len(rows)} test folds; {protocol}"])],
                  notes=notes)


def audio_settings(config: Any) -> dict | None:
    """What eval/predict need from an SSBPR checkpoint's config: ``features`` (every FeatureParams
    field), ``class_ids``, ``class_names``, ``model``, ``cv``, ``dataset``; None if it has none.

    The one schema keeps them in ``info.audio`` and ``resolved``; checkpoints written before it
    (lt 0.1.0 run dirs) had one ``audio`` dict, with the cross-validation under ``split``.
    """
    if not isinstance(config, dict):
        return None
    if isinstance(config.get("resolved"), dict):
        audio, r = (config.get("info") or {}).get("audio"), config["resolved"]
        return {**audio, "model": r.get("model"), "cv": r.get("cv"), "dataset": r.get("dataset")} \
            if isinstance(audio, dict) else None
    old = config.get("audio")
    return {**old, "cv": old.get("split")} if isinstance(old, dict) else None


def load_audio_model(spec: str, device: Any) -> tuple[Any, dict, bool]:
    """(model, the checkpoint's audio settings (:func:`audio_settings`), is_torch) from a run dir or file."""
    from ..engine.checkpoint import load_checkpoint
    from .classical import ClassicalModel

    ckpt = load_checkpoint(spec)
    audio = audio_settings(ckpt.get("config"))
    if audio is None or "features" not in audio:
        raise CheckpointError(f"'{ckpt['path']}' is not an lt audio ssbpr checkpoint (no audio config)")
    if "sklearn" in ckpt:
        return ClassicalModel.from_state(ckpt["sklearn"]), audio, False
    from ..models import build_from_checkpoint

    return build_from_checkpoint(ckpt).to(device).eval(), audio, True


def _probs(model: Any, is_torch: bool, feats: list, num_classes: int, device: Any) -> np.ndarray:
    if is_torch:
        return torch_probs(model, feats, device)
    return model.predict_proba(stack_stats(feats), num_classes)


def eval_ssbpr(opts: SSBPREvalOptions | None = None, **values: Any) -> Report:
    """Score a trained model (``checkpoint``) on every valid file under ``data_root`` (same features and
    classes); options: :class:`toolkit.audio.options.SSBPREvalOptions`.

    ``lt audio ssbpr eval runs/ssbpr --data-root DIR``
    """
    from ..data import get_dataset
    from ..engine.device import resolve_device

    opts = SSBPREvalOptions.of(opts, **values).validate()
    checkpoint, data_root = opts.checkpoint, opts.data_root
    dev = resolve_device(opts.device)
    model, audio, is_torch = load_audio_model(checkpoint, dev)
    bundle = get_dataset("ssbpr", root=data_root, fold=0, feature_params=audio["features"],
                         class_ids=audio["class_ids"], max_bad=opts.max_bad, workers=opts.workers,
                         cache_dir=opts.feature_cache)
    data = bundle.data
    probs = _probs(model, is_torch, data.feats, len(data.class_names), dev)
    m = audio_metrics(probs, data.labels, len(data.class_names))
    protocol = f"split=external: every valid file under {data_root} ({len(set(data.subjects))} patients)"
    row = _fold_row("external", "all", 0, m)
    return Report(title=f"SSBPR eval of {checkpoint} — {protocol}", rows=[row],
                  summary={"model": audio["model"], "files": len(data.labels), "skipped": len(data.skipped),
                           "accuracy": m["accuracy"], "macro_f1": m["macro_f1"], "uar": m["uar"]},
                  sections=[Report(title="Per-class recall",
                                   rows=[_recall_row("external", "all", m, data.class_names)]),
                            Report(title="Confusion matrix",
                                   rows=confusion_rows(np.asarray(m["confusion"]), data.class_names),
                                   notes=[protocol])],
                  notes=[protocol, f"trained with --cv {audio['cv']} on {audio['dataset']}"])


def predict_ssbpr(opts: SSBPRPredictOptions | None = None, **values: Any) -> Report:
    """Label and class probabilities per file of ``files``; a file that cannot be used is an error naming
    it. Options: :class:`toolkit.audio.options.SSBPRPredictOptions`.

    ``lt audio ssbpr predict a.wav b.wav --checkpoint runs/ssbpr``
    """
    from ..data.audio_features import compute_many
    from ..engine.device import resolve_device

    opts = SSBPRPredictOptions.of(opts, **values).validate()
    files, checkpoint = opts.files, opts.checkpoint
    dev = resolve_device(opts.device)
    model, audio, is_torch = load_audio_model(checkpoint, dev)
    params = FeatureParams(**audio["features"]).resolved()
    feats, reasons, _ = compute_many(list(files), params, workers=opts.workers, cache_dir=opts.feature_cache,
                                    description="predict")
    for f, r in zip(files, reasons, strict=True):
        if r:
            raise LtError(f"cannot predict '{f}': {r}")
    names = audio["class_names"]
    probs = _probs(model, is_torch, feats, len(names), dev)
    rows = [{"file": str(f), "label": int(audio["class_ids"][int(p.argmax())]), "label_name": names[int(p.argmax())],
             "probabilities": {n: round(float(q), 6) for n, q in zip(names, p, strict=True)}}
            for f, p in zip(files, probs, strict=True)]
    return Report(title=f"SSBPR predictions ({audio['model']}, {checkpoint})", rows=rows)
