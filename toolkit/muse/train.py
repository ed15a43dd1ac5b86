"""``lt train muse``: MuSe 2022 humor / reaction / stress with ``lstm``, ``gru-sa`` or ``temma``.

Paper: Li et al., "Hybrid Multimodal Feature Extraction, Mining and Fusion for Sentiment Analysis",
MuSe 2022 workshop at ACM MM 2022, arXiv 2208.03051 (GRU + self-attention; TEMMA for humor; late
fusion). Protocol and baseline: Christ et al., arXiv 2207.05691 (EIHW/MuSe2022).

One run (:func:`toolkit.engine.lifecycle.start_run`) trains one model per seed (``seed<k>/``), or
with stress ``per-dim`` targets one per seed and dimension (``seed<k>/arousal``, ``seed<k>/valence``),
each through the one engine loop (:func:`toolkit.engine.loop.fit`) as a sub-run: ``--resume``
continues an interrupted sub-run exactly and re-uses the finished ones. Each model keeps its best
epoch on devel (the challenge metric), the best seed on devel gives the reported run; the test
partition is scored (when it has labels) and, with ``predict``, exported in the submission shape.

Defaults: Adam (the team's and the baseline's optimiser), lr 1e-3 and batch 64 and 30 epochs with
a cosine schedule (our CPU-friendly choices; the team used lr 1e-4, batch 256, ReduceLROnPlateau and
early stopping 15, which the shared loop does not have — best-on-devel checkpointing stands in).
Stress windows 200 / hop 100 (baseline). Losses: humor bce (baseline) or focal (team), reaction mse,
stress 1 − CCC. Stress targets: ``per-dim`` trains one model per dimension (arousal, valence), as the
baseline does (``--emo_dim``, one target per run); ``joint`` one model with two outputs (ours). The
reported CCC is the challenge script's (ddof 1), the population one beside it (``ccc_pop``).

    lt train muse --task humor --dataset synthetic-muse --model gru-sa --seeds 3
    lt train muse --task stress --data-root /data/MuSe2022 --features egemaps,vggface2 --predict
    lt train muse --task stress --dataset synthetic-muse --targets joint
    lt train muse --task humor --late-fusion runs/a,runs/b --fusion learned
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from ..data.muse_layout import OUTPUTS, STRESS_KEYS
from ..data.muse_loaders import MuseData, Sample
from ..data.muse_sequences import SeqDataset, collate
from ..engine import distributed as D
from ..engine.errors import LtError
from ..engine.lifecycle import Run, start_run
from ..engine.loop import Objective, TrainConfig, evaluate, fit, load_best_into, make_loader
from ..engine.report import Report, log
from ..models.sequence import build_sequence_model
from .export import late_fusion, read_fusion_runs, write_predictions
from .losses import get_loss
from .metrics import PROTOCOLS, humor_metrics, reaction_metrics, stress_metrics
from .options import MuseOptions

MONITOR = {"humor": "auc", "reaction": "pearson", "stress": "ccc"}


class MuseObjective(Objective):
    """The task loss on the model's raw output; per-step losses see the label mask."""

    def __init__(self, task: str, loss_name: str):
        self.task, self.fn = task, get_loss(loss_name, task)

    def loss(self, model, batch, epoch):
        raw = model(batch["x"], batch["mask"])
        y = batch["y"]
        mask = batch["mask"].unsqueeze(-1).expand_as(y) if y.dim() == 3 else None
        return self.fn(raw, y, mask)


def make_forward(task: str):
    """eval_forward: activated predictions and targets; stress keeps only real steps (concatenated)."""
    def forward(model, batch):
        raw = model(batch["x"], batch["mask"])
        if task == "stress":
            m = batch["mask"]
            return torch.tanh(raw)[m], batch["y"][m]
        return torch.sigmoid(raw), batch["y"]

    return forward


def make_metrics(task: str, label_names: list[str]):
    def metrics(pred: torch.Tensor, target: torch.Tensor) -> dict:
        p, t = pred.double().numpy(), target.double().numpy()
        if task == "humor":
            ok = np.isfinite(t.reshape(-1))
            return humor_metrics(p.reshape(-1)[ok], t.reshape(-1)[ok])
        if task == "reaction":
            return reaction_metrics(p, t, label_names)
        return stress_metrics(p, t, label_names)

    return metrics


def _balanced_sampler(samples, seed: int):
    y = np.array([float(s.y[0]) for s in samples])
    pos = max(1, int((y > 0.5).sum()))
    neg = max(1, len(y) - pos)
    w = torch.tensor(np.where(y > 0.5, 0.5 / pos, 0.5 / neg), dtype=torch.double)
    g = torch.Generator().manual_seed(seed)
    return torch.utils.data.WeightedRandomSampler(w, num_samples=len(y), replacement=True, generator=g)


def _predict(model, samples, task: str, device, batch_size: int) -> tuple[np.ndarray, dict]:
    """Predictions in dataset order. Under DDP every rank predicts everything (sequential sampler) and
    the gathered copies are cut back to rank 0's, so rows always line up with ``samples``' metadata."""
    ds = SeqDataset(samples)
    loader = make_loader(ds, batch_size, train=False, collate_fn=collate,
                         sampler=torch.utils.data.SequentialSampler(ds))
    out, tgt = evaluate(model, loader, device, forward=make_forward(task), description="predict")
    n = sum(len(s.x) for s in samples) if task == "stress" else len(samples)
    out, tgt = out[:n], tgt[:n]
    return out.double().numpy(), {"pred": out, "target": tgt}


def _dim_view(samples: list[Sample], k: int | None) -> list[Sample]:
    """The same sequences with only target column ``k`` (per-dimension stress); all columns for None."""
    if k is None:
        return samples
    return [Sample(s.key, s.group, s.x, s.y[:, k:k + 1], s.meta) for s in samples]


def _fit_one(run: Run, data: MuseData, o: MuseOptions, seed: int, sub: str, train: list[Sample],
             devel: list[Sample], n_out: int, names: list[str]):
    """One model (sub-run ``sub``) through the engine loop, its best-on-devel weights loaded;
    (model, fit result, seconds). A finished sub-run is re-used on --resume (0 epochs left)."""
    out_dir, resume = run.sub_run(sub, seed - run.seed)  # seed s on every rank: the same initial weights
    model = build_sequence_model(o.model, data.dims, n_out, o.task != "stress", d_model=o.d_model, layers=o.layers)
    cfg = TrainConfig.of_options(o, seed=seed, monitor=MONITOR[o.task], monitor_mode="max",
                                 deterministic=run.deterministic)
    sampler = _balanced_sampler(train, seed) if o.balanced else None
    t0 = time.perf_counter()
    res = fit(model, SeqDataset(train, o.noise, o.time_mask), SeqDataset(devel), cfg=cfg, device=run.device,
              objective=MuseObjective(o.task, o.loss), metrics_fn=make_metrics(o.task, names), out_dir=out_dir,
              eval_forward=make_forward(o.task), collate_fn=collate, train_sampler=sampler,
              resume=resume, run_config=run.config)
    seconds = sum(r.get("seconds", 0.0) for r in res.history) or (time.perf_counter() - t0)
    load_best_into(model, out_dir)
    return model, res, seconds


def _train_seed(run: Run, data: MuseData, o: MuseOptions, seed: int, train: list[Sample]) -> dict:
    """One seed: one model, or (stress per-dim) one model per dimension whose outputs are stacked."""
    jobs = [(k, [n]) for k, n in enumerate(data.label_names)] if o.per_dim else [(None, data.label_names)]
    preds: dict = {p: [] for p in ("devel", "test") if data.parts[p]}
    epochs, seconds = [], 0.0
    for k, names in jobs:
        sub = f"seed{seed}/{names[0]}" if o.per_dim else f"seed{seed}"
        model, res, sec = _fit_one(run, data, o, seed, sub, _dim_view(train, k), _dim_view(data.parts["devel"], k),
                                   1 if o.per_dim else OUTPUTS[o.task], names)
        epochs.append(str(res.best_epoch))
        seconds += sec
        for part in preds:
            preds[part].append(_predict(model, _dim_view(data.parts[part], k), o.task, run.device, o.batch_size))
    row = {"seed": seed, "best_epoch": "/".join(epochs) if o.per_dim else res.best_epoch,
           "seq_per_s": o.epochs * len(train) * len(jobs) / seconds}
    metrics, nan, out = make_metrics(o.task, data.label_names), float("nan"), {}
    for part in ("devel", "test"):
        m = {}
        if part in preds:
            out[part] = np.concatenate([p for p, _ in preds[part]], axis=1) if o.per_dim else preds[part][0][0]
            m = metrics(torch.cat([r["pred"] for _, r in preds[part]], 1),
                        torch.cat([r["target"] for _, r in preds[part]], 1))
        row[f"{part}_{MONITOR[o.task]}"] = m.get(MONITOR[o.task], nan)
        if o.task == "stress":
            row.update({f"{part}_ccc_{k}": m.get(f"ccc_{k}", nan) for k in STRESS_KEYS})
            row[f"{part}_ccc_pop"] = m.get("ccc_pop", nan)
    return {"row": row, "preds": out}


def _load(run: Run, o: MuseOptions):
    """The task's data through the dataset registry (rank 0 first: it may write synthetic-muse)."""
    from ..data import get_dataset

    windows = {"win_length": o.win_length, "hop_length": o.hop_length} if o.task == "stress" else {}
    fraction = {"devel_fraction": o.devel_fraction} if o.resplit_seed is not None else {}
    with D.main_first():
        bundle = get_dataset(o.dataset, root=o.data_root, task=o.task, features=list(o.features),
                             resplit_seed=o.resplit_seed, **windows, **fraction)
    data, root = bundle.data, bundle.info["root"]
    run.update_info(outputs=bundle.num_classes, label_names=data.label_names, features=data.features, dims=data.dims,
                    root=root, train_sequences=len(bundle.train), devel_sequences=len(bundle.val),
                    test_sequences=len(bundle.test))
    return data, bundle.train.samples, root


def _summary(data: MuseData, o: MuseOptions, rows: list[dict], best: int, root, n_train: int) -> dict:
    key = MONITOR[o.task]
    extra = {f"{p}_ccc_pop": rows[best][f"{p}_ccc_pop"] for p in ("devel", "test")} if o.task == "stress" else {}
    extra.update({"targets": o.targets} if o.task == "stress" else {})
    dev = np.array([r[f"devel_{key}"] for r in rows], dtype=float)
    test = np.array([r[f"test_{key}"] for r in rows], dtype=float)
    has_test = bool(np.isfinite(test).any())
    return {"task": o.task, "model": o.model, "loss": o.loss, "features": ",".join(data.features), "metric": key,
            "protocol": PROTOCOLS[o.task], "best_seed": rows[best]["seed"],
            f"devel_{key}": rows[best][f"devel_{key}"], f"test_{key}": rows[best][f"test_{key}"],
            f"devel_{key}_mean": float(dev.mean()), f"devel_{key}_std": float(dev.std()),
            f"test_{key}_mean": float(np.nanmean(test)) if has_test else float("nan"),
            f"test_{key}_std": float(np.nanstd(test)) if has_test else float("nan"),
            "seq_per_s": float(np.mean([r["seq_per_s"] for r in rows])), "train_sequences": n_train,
            "missing_steps": data.stats["missing_steps"], "grid_steps": data.stats["steps"],
            "labels_without_features": data.stats["labels_without_features"],
            "ids_without_labels": data.stats["ids_without_labels"], "data_root": str(root), **extra}


def _write_predictions(run: Run, data: MuseData, preds: dict, predict: bool) -> list[str]:
    """Prediction CSVs (written by rank 0; every rank returns their names)."""
    parts = ["devel"] + (["test"] if predict and data.parts["test"] else [])
    files = []
    for part in parts:
        if run.is_main:
            files += write_predictions(run.out_dir, data.task, part, data.parts[part], preds[part])
    return files


def _notes(data: MuseData, o: MuseOptions, best_seed: int, files: list[str]) -> list[str]:
    """Protocol, best seed and its checkpoint(s), prediction files, stress targets, items without features
    (files named relative to the run dir, the report's ``out``)."""
    ckpt = f"seed{best_seed}/" + ("{" + ",".join(STRESS_KEYS) + "}/best.pt" if o.per_dim else "best.pt")
    notes = [f"protocol: {PROTOCOLS[o.task]}",
             f"best seed on devel: {best_seed} (its checkpoint: {ckpt} in the run dir)",
             f"predictions: {', '.join(files)}"]
    if o.task == "stress":
        how = "one model per dimension, as the baseline" if o.per_dim else "one model, two outputs"
        notes.append(f"targets: {o.targets} ({how})")
    if data.stats["labels_without_features"]:
        how = "kept as zeros, as the baseline does" if o.task == "humor" else "left out"
        notes.append(f"{data.stats['labels_without_features']} labelled item(s) had no feature rows ({how}): "
                     f"e.g. {', '.join(data.stats['examples_without_features'])}")
    return notes


def _fuse(o: MuseOptions) -> Report:
    """``--late-fusion``: read and check the runs, then start the fused run and write its files."""
    runs = list(o.late_fusion)
    task, loaded = read_fusion_runs(runs, o.task)
    run = start_run(("train", "muse"), o)
    report, metrics = late_fusion(runs, loaded, o.fusion, task, run.out_dir, write=run.is_main)
    run.finish(metrics)
    return report


def train_muse(opts: MuseOptions | None = None, **values: Any) -> Report:
    """Train ``seeds`` seeds (best on devel) and report the challenge metric; or late-fuse runs.

    ``opts`` (or its fields as keywords, :class:`toolkit.muse.options.MuseOptions`) is validated first:
    fields left None take the task's or the model's defaults; an option the run would not use (a
    window flag with humor, a training flag with ``late_fusion``) is an :class:`LtError` naming its flag.

    - ``task``: ``humor`` | ``reaction`` | ``stress``; ``dataset``: ``muse`` (official layout under
      ``data_root``) or ``synthetic-muse`` (generated into ``data_root`` or the cache first), read through
      :func:`toolkit.data.get_dataset`; ``features``: feature folders fused early (default per task).
    - ``model``: ``lstm`` (baseline) | ``gru-sa`` | ``temma``; ``d_model``/``layers`` override widths/depths
      (default lstm 64/2, gru-sa 64/1, temma 128/4). ``loss``: default ``bce`` / ``mse`` / ``ccc``;
      ``focal`` for humor (α 0.25, γ 2, the team's).
    - every engine option (:class:`toolkit.engine.options.TrainOptions`; defaults Adam, cosine, 30 epochs, batch 64,
      lr 1e-3, no weight decay, AMP off: ours); ``seeds`` from ``seed``, the best on devel is reported.
    - ``win_length``, ``hop_length``: stress training windows in steps (200 / 100, the baseline's);
      ``targets``: stress only, ``per-dim`` (default, the baseline's) or ``joint``.
    - ``noise``, ``time_mask``, ``balanced``: train-time augmentation (off by default);
      ``resplit_seed``, ``devel_fraction``: redraw train/devel by subject (default: official partition);
      ``predict``: also write test predictions in the submission CSV shape.
    - ``late_fusion``, ``fusion``: fuse these run dirs' predictions (``mean`` | ``learned``) instead of training.
    - ``out``, ``force``, ``resume``, ``device``, ``seed``, ``deterministic``: the run
      (:func:`toolkit.engine.lifecycle.start_run`); ``resume`` continues the interrupted seed/dimension and
      re-uses the finished ones.

    ``train_muse(task="humor", dataset="synthetic-muse", model="gru-sa", seeds=3)``
    """
    o = MuseOptions.of(opts, **values).validate()
    if o.late_fusion:
        return _fuse(o)
    run = start_run(("train", "muse"), o)
    if o.balanced and D.is_distributed():
        raise LtError("--balanced is not supported under torchrun (its sampler is not sharded); drop it")
    data, train, root = _load(run, o)
    results = []
    for s in range(o.seed, o.seed + o.seeds):
        log(f"seed {s}: training {o.model} on {o.task} ({len(train)} train sequences)")
        results.append(_train_seed(run, data, o, s, train))
    rows = [r["row"] for r in results]
    best = int(np.nanargmax([r[f"devel_{MONITOR[o.task]}"] for r in rows]))
    summary = _summary(data, o, rows, best, root, len(train))
    files = _write_predictions(run, data, results[best]["preds"], o.predict)
    run.finish({**summary, "seeds": rows})
    return Report(f"MuSe 2022 {o.task} · {o.model}", rows, {**summary, "out": str(run.out_dir)},
                  notes=_notes(data, o, rows[best]["seed"], files))
