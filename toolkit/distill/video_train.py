"""Train a video classifier (a UKD teacher, or a baseline) through the engine loop: ``lt train video``.

Clips come from ``arid`` / ``synthetic-dark`` (:mod:`toolkit.data.video`), one stream per model
(``rgb``, ``gamma`` or ``flow``); the test split is scored with multi-view averaging (mean of the
softmax over ``views`` fixed clips per video), giving top-1, top-5 and per-class accuracy.

Defaults follow the official ARID training recipe (Xu et al., arXiv 2006.03876, repo
xuyu0010/ARID_v1): 16-frame clips at interval 2, batch 16, SGD lr 0.01 with step decay, 50 epochs.
Our choices where it is silent: decay x0.1 at 60% and 80% of the epochs, momentum 0.9, weight decay
5e-4, 3 test views.

    lt train video --dataset arid --data-root ARID_v1 --stream gamma --model r3d_18
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
import torch.nn.functional as F

from ..data import get_dataset
from ..data.bundle import DataBundle
from ..engine.device import resolve_device
from ..engine.errors import check
from ..engine.loop import TrainConfig, fit, load_best_into
from ..engine.report import Report
from ..engine.runs import prepare_out_dir, write_json
from ..engine.seed import seed_everything
from ..models.video import build_video_model


def multiview_forward(model: torch.nn.Module, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, V, C, T, H, W) clips -> log of the mean softmax over the V views, and the targets."""
    x, y = batch[0], batch[1]
    b, v = x.shape[:2]
    probs = F.softmax(model(x.flatten(0, 1)).float(), dim=1).view(b, v, -1).mean(1)
    return probs.clamp_min(1e-12).log(), y


def video_data(dataset: str, data_root: str | None, *, split: int = 1, stream: str = "rgb", gamma: float = 1.8,
               frames: int | None = None, interval: int | None = None, size: int | None = None,
               views: int = 3, skip_bad: bool = False, options: dict | None = None) -> DataBundle:
    """Build a video bundle; unset (None) clip options keep the dataset's defaults."""
    check(views >= 1, f"--views must be >= 1 (got {views})")
    opts = {"split": split, "stream": stream, "gamma": gamma, "views": views, "skip_bad": skip_bad,
            "frames": frames, "interval": interval, "size": size, **(options or {})}
    return get_dataset(dataset, root=data_root, **{k: v for k, v in opts.items() if v is not None})


def data_config(bundle: DataBundle, dataset: str, data_root: str | None) -> dict:
    """What a checkpoint records about its data (UKD reads the teacher's stream and gamma from it)."""
    spec = bundle.train.spec
    return {"dataset": dataset, "data_root": data_root, "split": bundle.info.get("split"),
            **dataclasses.asdict(spec), "options": bundle.info.get("generator")}


def video_train_config(epochs: int, batch_size: int, lr: float, weight_decay: float, scheduler: str,
                       seed: int, num_workers: int) -> TrainConfig:
    milestones = sorted({m for m in (int(epochs * 0.6), int(epochs * 0.8)) if 0 < m < epochs})
    return TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay, scheduler=scheduler,
                       milestones=milestones if scheduler == "multistep" else (), seed=seed,
                       num_workers=num_workers).validate()


def peak_memory_mib(device: torch.device) -> float:
    """Peak RSS of this process (CPU) or ``torch.cuda.max_memory_allocated`` (CUDA), in MiB."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def score_rows(name: str, metrics: dict, class_names: list[str]) -> tuple[dict, list[dict]]:
    row = {"model": name, "top1": metrics["top1"], "top5": metrics["top5"]}
    per_class = [{"class": c, name: a} for c, a in zip(class_names, metrics["per_class"])]
    return row, per_class


def train_video(*, dataset: str = "synthetic-dark", model: str = "tiny3d", stream: str = "rgb",
                data_root: str | None = None, split: int = 1, gamma: float = 1.8, frames: int | None = None,
                interval: int | None = None, size: int | None = None, views: int = 3, skip_bad: bool = False,
                epochs: int = 50, batch_size: int = 16, lr: float = 0.01, weight_decay: float = 5e-4,
                scheduler: str = "multistep", workers: int = 0, device: str = "auto", seed: int = 0,
                out: str | None = None, force: bool = False, resume: bool = False,
                data_options: dict | None = None) -> Report:
    """Train ``model`` on one stream of a video dataset; write a run dir; report test top-1/top-5/per-class.

    ``lt train video --dataset synthetic-dark --stream gamma --model tiny3d --epochs 10``
    """
    from ..engine.metrics import classification_metrics

    dev = resolve_device(device)
    seed_everything(seed)
    bundle = video_data(dataset, data_root, split=split, stream=stream, gamma=gamma, frames=frames,
                        interval=interval, size=size, views=views, skip_bad=skip_bad, options=data_options)
    cfg = video_train_config(epochs, batch_size, lr, weight_decay, scheduler, seed, workers)
    out_dir = prepare_out_dir(out, "train", "video", force=force, resume=resume)
    net = build_video_model(model, bundle.num_classes, stream)
    run_config = {"command": "train video", "model": model, "data": data_config(bundle, dataset, data_root)}
    write_json(out_dir / "config.json", {**run_config, "train": dataclasses.asdict(cfg)})
    result = fit(net, bundle.train, bundle.test, cfg=cfg, device=dev, out_dir=out_dir,
                 resume=out_dir if resume else None, eval_forward=multiview_forward, run_config=run_config)
    load_best_into(net, out_dir)
    from ..engine.loop import evaluate, make_loader

    loader = make_loader(bundle.test, batch_size, train=False, num_workers=workers)
    logits, targets = evaluate(net, loader, dev, forward=multiview_forward)
    metrics = classification_metrics(logits, targets)
    row, per_class = score_rows(f"{model} ({stream})", metrics, bundle.class_names)
    write_json(out_dir / "metrics.json", {"test": metrics, "best_epoch": result.best_epoch})
    return Report(title=f"lt train video: {model} on {dataset} ({stream})", rows=[row],
                  summary={"top1": metrics["top1"], "top5": metrics["top5"], "best_epoch": result.best_epoch,
                           "train_videos": len(bundle.train), "test_videos": len(bundle.test),
                           "peak_mem_mib": round(peak_memory_mib(dev), 1), "out": str(out_dir)},
                  sections=[Report(title="per-class top-1", rows=per_class)],
                  notes=["model selection on the test split (ARID has no validation split)"])


__all__ = ["train_video", "multiview_forward", "video_data", "data_config", "video_train_config", "peak_memory_mib"]
