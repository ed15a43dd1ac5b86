"""``lt train muse``: MuSe 2022 humor / reaction / stress with ``lstm``, ``gru-sa`` or ``temma``.

Paper: Li et al., "Hybrid Multimodal Feature Extraction, Mining and Fusion for Sentiment Analysis",
MuSe 2022 workshop at ACM MM 2022, arXiv 2208.03051 (GRU + self-attention; TEMMA for humor; late
fusion). Protocol and baseline: Christ et al., arXiv 2207.05691 (EIHW/MuSe2022).

Training runs through the one engine loop (:func:`toolkit.engine.loop.fit`) once per seed, selects
each seed's best epoch on devel with the challenge metric, then the best seed on devel; the test
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
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..engine import distributed as D
from ..engine.device import resolve_device
from ..engine.errors import LtError
from ..engine.loop import Objective, TrainConfig, evaluate, fit, load_best_into, make_loader
from ..engine.report import Report, log
from ..engine.runs import prepare_out_dir, write_json
from ..engine.seed import seed_everything
from ..models.sequence import SEQUENCE_MODELS, build_sequence_model
from .dataset import SeqDataset, collate, window
from .export import late_fusion, write_predictions
from .layout import STRESS_KEYS, TASKS
from .loaders import MuseData, Sample, load_muse
from .losses import DEFAULT_LOSS, get_loss
from .metrics import PROTOCOLS, humor_metrics, reaction_metrics, stress_metrics
from .synthetic import ensure_synthetic

MONITOR = {"humor": "auc", "reaction": "pearson", "stress": "ccc"}
DATASETS = ("muse", "synthetic-muse")
TARGETS = ("per-dim", "joint")
DEFAULT_TARGETS = "per-dim"  # the baseline's; benchmarks/README.md compares it with joint


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


@dataclass
class MuseOptions:
    """The resolved flags of one training run (stored in config.json)."""

    task: str
    model: str = "gru-sa"
    loss: str | None = None
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    seeds: int = 1
    seed: int = 0
    d_model: int | None = None
    layers: int | None = None
    win_len: int = 200
    hop_len: int = 100
    noise: float = 0.0
    time_mask: float = 0.0
    balanced: bool = False
    targets: str | None = None

    def validate(self) -> "MuseOptions":
        from ..engine.registry import unknown_name_message

        if self.task not in TASKS:
            raise LtError(unknown_name_message("task", self.task, TASKS))
        if self.model not in SEQUENCE_MODELS:
            raise LtError(unknown_name_message("model", self.model, SEQUENCE_MODELS))
        self.loss = self.loss or DEFAULT_LOSS[self.task]
        get_loss(self.loss, self.task)
        if self.seeds < 1:
            raise LtError(f"--seeds must be >= 1 (got {self.seeds})")
        if self.noise < 0:
            raise LtError(f"--noise must be >= 0 (got {self.noise})")
        if not 0 <= self.time_mask < 1:
            raise LtError(f"--time-mask must be in [0, 1) (got {self.time_mask})")
        if self.balanced and self.task != "humor":
            raise LtError("--balanced (class-balanced sampling) applies to --task humor only")
        if self.targets is not None and self.task != "stress":
            raise LtError("--targets (per-dim | joint) applies to --task stress only")
        if self.task == "stress":
            self.targets = self.targets or DEFAULT_TARGETS
            if self.targets not in TARGETS:
                raise LtError(unknown_name_message("targets", self.targets, TARGETS))
        for name in ("d_model", "layers"):
            v = getattr(self, name)
            if v is not None and v < 1:
                raise LtError(f"--{name.replace('_', '-')} must be >= 1 (got {v})")
        return self


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


def _shared_out_dir(out: str | None, force: bool) -> Path:
    """Rank 0 prepares the run dir; under DDP the other ranks learn its path (fit writes on rank 0 only)."""
    path = prepare_out_dir(out, "train", "muse", force=force) if D.is_main() else None
    if D.is_distributed():
        import torch.distributed as dist

        box = [str(path) if path is not None else None]
        dist.broadcast_object_list(box, src=0)
        path = Path(box[0])
    return path


def _dim_view(samples: list[Sample], k: int | None) -> list[Sample]:
    """The same sequences with only target column ``k`` (per-dimension stress); all columns for None."""
    if k is None:
        return samples
    return [Sample(s.key, s.group, s.x, s.y[:, k:k + 1], s.meta) for s in samples]


def _fit_one(data: MuseData, o: MuseOptions, seed: int, device, out_dir: Path, train: list[Sample],
             devel: list[Sample], n_out: int, names: list[str]):
    """One model through the engine loop, its best-on-devel weights loaded; (model, fit result, seconds)."""
    seed_everything(seed)
    model = build_sequence_model(o.model, data.dims, n_out, o.task != "stress", d_model=o.d_model, layers=o.layers)
    cfg = TrainConfig(epochs=o.epochs, batch_size=o.batch_size, lr=o.lr, optimizer="adam", weight_decay=o.weight_decay,
                      scheduler="cosine", seed=seed, monitor=MONITOR[o.task], monitor_mode="max", amp="off")
    sampler = _balanced_sampler(train, seed) if o.balanced else None
    t0 = time.perf_counter()
    res = fit(model, SeqDataset(train, o.noise, o.time_mask), SeqDataset(devel), cfg=cfg, device=device,
              objective=MuseObjective(o.task, o.loss), metrics_fn=make_metrics(o.task, names), out_dir=out_dir,
              eval_forward=make_forward(o.task), collate_fn=collate, train_sampler=sampler,
              run_config={"muse": asdict(o), "features": data.features, "targets": names})
    seconds = sum(r.get("seconds", 0.0) for r in res.history) or (time.perf_counter() - t0)
    load_best_into(model, out_dir)
    return model, res, seconds


def _train_seed(data: MuseData, o: MuseOptions, seed: int, device, out_dir: Path, train: list[Sample]) -> dict:
    """One seed: one model, or (stress per-dim) one model per dimension whose outputs are stacked."""
    per_dim = o.task == "stress" and o.targets == "per-dim"
    jobs = [(k, [n]) for k, n in enumerate(data.label_names)] if per_dim else [(None, data.label_names)]
    n_out = {"humor": 1, "reaction": 7, "stress": 2}[o.task]
    preds: dict = {p: [] for p in ("devel", "test") if data.parts[p]}
    epochs, seconds = [], 0.0
    for k, names in jobs:
        model, res, sec = _fit_one(data, o, seed, device, out_dir / names[0] if per_dim else out_dir,
                                   _dim_view(train, k), _dim_view(data.parts["devel"], k), 1 if per_dim else n_out, names)
        epochs.append(str(res.best_epoch))
        seconds += sec
        for part in preds:
            preds[part].append(_predict(model, _dim_view(data.parts[part], k), o.task, device, o.batch_size))
    row = {"seed": seed, "best_epoch": "/".join(epochs) if per_dim else res.best_epoch,
           "seq_per_s": o.epochs * len(train) * len(jobs) / seconds}
    metrics, nan, out = make_metrics(o.task, data.label_names), float("nan"), {}
    for part in ("devel", "test"):
        m = {}
        if part in preds:
            out[part] = np.concatenate([p for p, _ in preds[part]], axis=1) if per_dim else preds[part][0][0]
            m = metrics(torch.cat([r["pred"] for _, r in preds[part]], 1), torch.cat([r["target"] for _, r in preds[part]], 1))
        row[f"{part}_{MONITOR[o.task]}"] = m.get(MONITOR[o.task], nan)
        if o.task == "stress":
            row.update({f"{part}_ccc_{k}": m.get(f"ccc_{k}", nan) for k in STRESS_KEYS})
            row[f"{part}_ccc_pop"] = m.get("ccc_pop", nan)
    return {"row": row, "preds": out}


def _load(task: str, dataset: str, data_root: str | None, features: list[str] | None, resplit_seed, devel_fraction):
    if dataset not in DATASETS:
        from ..engine.registry import unknown_name_message

        raise LtError(unknown_name_message("dataset", dataset, DATASETS))
    if dataset == "synthetic-muse":
        root = ensure_synthetic(data_root)
    elif not data_root:
        raise LtError("--dataset muse needs --data-root (the folder holding c1_muse_humor/, c2_muse_reaction/, "
                      "c3_muse_stress_2022/); or use --dataset synthetic-muse")
    else:
        root = Path(data_root)
    return load_muse(root, task, features, resplit_seed=resplit_seed, devel_fraction=devel_fraction), root


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


def _write_outputs(out_dir: Path, data: MuseData, preds: dict, predict: bool, config: dict, metrics: dict) -> list[str]:
    """Prediction CSVs, config.json and metrics.json (rank 0 only)."""
    files = write_predictions(out_dir, data.task, "devel", data.parts["devel"], preds["devel"]) if D.is_main() else []
    if predict and data.parts["test"] and D.is_main():
        files += write_predictions(out_dir, data.task, "test", data.parts["test"], preds["test"])
    if D.is_main():
        write_json(out_dir / "config.json", config)
        write_json(out_dir / "metrics.json", metrics)
    return files


def _notes(data: MuseData, o: MuseOptions, out_dir: Path, best_seed: int, files: list[str]) -> list[str]:
    """Protocol, best seed and its checkpoint(s), prediction files, stress targets, items without features."""
    per_dim = o.targets == "per-dim"
    ckpt = out_dir / f"seed{best_seed}" / ("{" + ",".join(STRESS_KEYS) + "}/best.pt" if per_dim else "best.pt")
    notes = [f"protocol: {PROTOCOLS[o.task]}", f"best seed on devel: {best_seed} (its checkpoint: {ckpt})",
             f"predictions: {', '.join(files)}"]
    if o.task == "stress":
        how = "one model per dimension, as the baseline" if per_dim else "one model, two outputs"
        notes.append(f"targets: {o.targets} ({how})")
    if data.stats["labels_without_features"]:
        how = "kept as zeros, as the baseline does" if o.task == "humor" else "left out"
        notes.append(f"{data.stats['labels_without_features']} labelled item(s) had no feature rows ({how}): "
                     f"e.g. {', '.join(data.stats['examples_without_features'])}")
    return notes


def train_muse(task: str, *, dataset: str = "muse", data_root: str | None = None, features: list[str] | None = None,
               model: str = "gru-sa", loss: str | None = None, epochs: int = 30, batch_size: int = 64, lr: float = 1e-3,
               weight_decay: float = 0.0, seeds: int = 1, seed: int = 0, d_model: int | None = None,
               layers: int | None = None, win_len: int = 200, hop_len: int = 100, noise: float = 0.0,
               time_mask: float = 0.0, balanced: bool = False, resplit_seed: int | None = None, devel_fraction: float = 0.2,
               predict: bool = False, late: list[str] | None = None, fusion: str = "mean", out: str | None = None,
               force: bool = False, device: str = "auto", targets: str | None = None) -> Report:
    """Train ``seeds`` seeds (best on devel) and report the challenge metric; or late-fuse runs.

    Args:
        task: ``humor`` | ``reaction`` | ``stress``.
        dataset: ``muse`` (official layout under ``data_root``) or ``synthetic-muse`` (generated into
            ``data_root`` or the cache first).
        features: feature folders fused early (default per task, see ``layout.DEFAULT_FEATURES``).
        model: ``lstm`` (baseline) | ``gru-sa`` | ``temma``; ``d_model``/``layers`` override widths/depths.
        loss: default ``bce`` / ``mse`` / ``ccc``; ``focal`` for humor (α 0.25, γ 2, the team's).
        epochs, batch_size, lr, weight_decay: Adam + cosine schedule (defaults 30, 64, 1e-3, 0: ours).
        seeds: number of seeds from ``seed``; the best on devel gives the reported run.
        win_len, hop_len: stress training windows in steps (200 / 100, the baseline's).
        noise, time_mask, balanced: train-time augmentation (off by default).
        resplit_seed, devel_fraction: redraw train/devel by subject (default: official partition).
        targets: stress only: ``per-dim`` (default, the baseline's: one model per dimension) or ``joint``.
        predict: also write test predictions in the submission CSV shape.
        late, fusion: fuse these run dirs' predictions (``mean`` | ``learned``) instead of training.
        out, force, device: run dir (refused if non-empty without ``force``), ``auto|cpu|cuda[:N]|mps``.

    ``lt train muse --task humor --dataset synthetic-muse --model gru-sa --seeds 3``
    """
    if late:
        if task not in TASKS:
            raise LtError(f"unknown task '{task}'; valid: {', '.join(TASKS)}")
        return late_fusion(late, fusion, out, task, force=force)
    o = MuseOptions(task, model, loss, epochs, batch_size, lr, weight_decay, seeds, seed, d_model, layers,
                    win_len, hop_len, noise, time_mask, balanced, targets).validate()
    if task == "stress":
        window([], win_len, hop_len)  # validates the window flags before any reading
    dev = resolve_device(device)
    D.init_distributed(dev)
    if balanced and D.is_distributed():
        raise LtError("--balanced is not supported under torchrun (its sampler is not sharded); drop it")
    data, root = _load(task, dataset, data_root, features, resplit_seed, devel_fraction)
    out_dir = _shared_out_dir(out, force)
    train = window(data.parts["train"], win_len, hop_len) if task == "stress" else data.parts["train"]
    results = []
    for s in range(seed, seed + seeds):
        log(f"seed {s}: training {model} on {task} ({len(train)} train sequences)")
        results.append(_train_seed(data, o, s, dev, out_dir / f"seed{s}", train))
    rows = [r["row"] for r in results]
    best = int(np.nanargmax([r[f"devel_{MONITOR[task]}"] for r in rows]))
    summary = _summary(data, o, rows, best, root, len(train))
    files = _write_outputs(out_dir, data, results[best]["preds"], predict,
                           {"task": task, "dataset": dataset, "data_root": str(root), "features": data.features,
                            "resplit_seed": resplit_seed, "predict": predict, **asdict(o)}, {**summary, "seeds": rows})
    notes = _notes(data, o, out_dir, rows[best]["seed"], files)
    return Report(f"MuSe 2022 {task} · {model}", rows, {**summary, "out": str(out_dir)}, notes=notes)
