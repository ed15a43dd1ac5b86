"""Train a video classifier (a UKD teacher, or a baseline) through the engine loop: ``lt train video``.

Clips come from ``arid`` / ``synthetic-dark`` (:mod:`toolkit.data.video`), one stream per model
(``rgb``, ``gamma`` or ``flow``); the test split is scored with multi-view averaging (mean of the
softmax over ``test_views`` fixed clips per video), giving top-1, top-5 and per-class accuracy
(fractions in [0, 1]).

Defaults follow the official ARID training recipe (Xu et al., arXiv 2006.03876, repo
xuyu0010/ARID_v1): 16-frame clips at interval 2, batch 16, SGD lr 0.01 with step decay, 50 epochs.
Our choices where it is silent: decay x0.1 at 60% and 80% of the epochs, momentum 0.9, weight decay
5e-4, 3 test views. The options are :class:`toolkit.distill.options.VideoTrainOptions` (every engine
option included).

The run goes through the one run lifecycle (:func:`toolkit.engine.lifecycle.start_run`): its
``config.json`` (and every checkpoint's embedded ``config``) records the options under their CLI
names in ``resolved`` -- ``lt distill`` reads a teacher's ``stream`` and ``gamma`` from there -- and
what the data turned out to be in ``info``. It runs under torchrun and continues exactly with ``--resume``.

    lt train video --dataset arid --data-root ARID_v1 --stream gamma --model r3d_18
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
import torch.nn.functional as F

from ..data import get_dataset
from ..data.bundle import DataBundle
from ..engine.errors import LtError
from ..engine.lifecycle import start_run
from ..engine.loop import TrainConfig, evaluate, fit, load_best_into, make_loader
from ..engine.registry import unknown_name_message
from ..engine.report import Report
from ..models.video import build_video_model
from .options import VideoOptions, VideoTrainOptions


def multiview_forward(model: torch.nn.Module, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, V, C, T, H, W) clips -> log of the mean softmax over the V views, and the targets."""
    x, y = batch[0], batch[1]
    b, v = x.shape[:2]
    probs = F.softmax(model(x.flatten(0, 1)).float(), dim=1).view(b, v, -1).mean(1)
    return probs.clamp_min(1e-12).log(), y


def video_models() -> list[str]:
    """The architectures that take clips: lt's video models (``tiny3d``, ``s3d``) and torchvision's."""
    import torchvision.models as tvm

    from ..models import MODELS, list_models

    list_models(False)  # registers lt's models
    own = [n for n in MODELS.names() if MODELS.get(n).__module__ == "toolkit.models.video"]
    return sorted({*own, *tvm.list_models(module=tvm.video)})


def check_model_name(name: str) -> None:
    """An unknown architecture, or one that does not take clips (an image or sequence model), is a user
    error before the run starts."""
    from ..models import list_models

    video = video_models()
    if name in video:
        return
    if name in list_models():
        raise LtError(f"'{name}' is not a video model; video models: {', '.join(video)}")
    raise LtError(unknown_name_message("model", name, video))


def video_data(dataset: str, data_root: str | None, *, official_split: int = 1, stream: str = "rgb",
               gamma: float | None = None, frames: int | None = None, interval: int | None = None,
               image_size: int | None = None, test_views: int = 3, skip_bad: bool = False, download: bool = False,
               data_options: dict | None = None) -> DataBundle:
    """Build a video bundle; unset (None) clip options keep the dataset's defaults."""
    opts = {"split": official_split, "stream": stream, "gamma": gamma, "views": test_views, "skip_bad": skip_bad,
            "frames": frames, "interval": interval, "size": image_size, **(data_options or {})}
    return get_dataset(dataset, root=data_root, download=download,
                       **{k: v for k, v in opts.items() if v is not None})


def bundle_of(opts: VideoOptions, data_options: dict | None = None) -> DataBundle:
    """The bundle of validated video options (``data_options``: the dataset builder's own, library only)."""
    return video_data(opts.dataset, opts.data_root, official_split=opts.official_split, stream=opts.stream,
                      gamma=opts.gamma, frames=opts.frames, interval=opts.interval, image_size=opts.image_size,
                      test_views=opts.test_views, skip_bad=opts.skip_bad, download=opts.download,
                      data_options=data_options)


def data_config(bundle: DataBundle, dataset: str, data_root: str | None) -> dict:
    """What a run records about its clips in ``config.json``'s ``info.data`` (the spec actually used)."""
    spec = bundle.train.spec
    return {"dataset": dataset, "data_root": data_root, "official_split": bundle.info.get("split"),
            **dataclasses.asdict(spec), "input_shape": list(bundle.input_shape),
            "options": bundle.info.get("generator")}


def peak_memory_mib(device: torch.device) -> float:
    """Peak RSS of this process (CPU) or ``torch.cuda.max_memory_allocated`` (CUDA), in MiB."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def score_rows(name: str, metrics: dict, class_names: list[str]) -> tuple[dict, list[dict]]:
    row = {"model": name, "top1": metrics["top1"], "top5": metrics["top5"]}
    per_class = [{"class": c, name: a} for c, a in zip(class_names, metrics["per_class"], strict=True)]
    return row, per_class


def evaluate_multiview(model: torch.nn.Module, bundle: DataBundle, device: torch.device, batch_size: int,
                       workers: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Multi-view test log-probabilities and targets (every rank takes part under torchrun)."""
    loader = make_loader(bundle.test, batch_size, train=False, workers=workers)
    return evaluate(model, loader, device, forward=multiview_forward)


def train_video(opts: VideoTrainOptions | None = None, *, data_options: dict | None = None, **values: Any) -> Report:
    """Train ``opts.model`` on one stream of a video dataset; write a run dir; report test top-1/top-5/per-class.

    ``opts`` (or its fields as keywords) is validated first: clip options left None take the dataset's.
    ``data_options`` (library callers only) go to the dataset builder (e.g. synthetic-dark's
    ``videos_per_class``) and are recorded in ``info.data``.

    ``lt train video --dataset synthetic-dark --stream gamma --model tiny3d --epochs 10``
    """
    from ..engine.metrics import classification_metrics

    opts = VideoTrainOptions.of(opts, **values).validate()
    cfg = TrainConfig.of_options(opts, seed=opts.seed, deterministic=opts.deterministic)
    check_model_name(opts.model)
    run = start_run(("train", "video"), opts)
    bundle = bundle_of(opts, data_options)
    run.update_info(num_classes=bundle.num_classes, data=data_config(bundle, opts.dataset, opts.data_root),
                    train_videos=len(bundle.train), test_videos=len(bundle.test))
    run.reseed()  # the same initial weights on every rank
    net = build_video_model(opts.model, bundle.num_classes, opts.stream)
    result = fit(net, bundle.train, bundle.test, cfg=cfg, device=run.device, out_dir=run.out_dir,
                 resume=run.resume_from(), eval_forward=multiview_forward, run_config=run.config)
    load_best_into(net, run.out_dir)
    metrics = classification_metrics(*evaluate_multiview(net, bundle, run.device, opts.batch_size, opts.workers))
    run.finish({"test": metrics, "best_epoch": result.best_epoch})
    model, stream, dataset = opts.model, opts.stream, opts.dataset
    row, per_class = score_rows(f"{model} ({stream})", metrics, bundle.class_names)
    return Report(title=f"lt train video: {model} on {dataset} ({stream})", rows=[row],
                  summary={"top1": metrics["top1"], "top5": metrics["top5"], "best_epoch": result.best_epoch,
                           "train_videos": len(bundle.train), "test_videos": len(bundle.test),
                           "peak_mem_mib": round(peak_memory_mib(run.device), 1), "out": str(run.out_dir)},
                  sections=[Report(title="per-class top-1", rows=per_class)],
                  notes=["model selection on the test split (ARID has no validation split)"])


__all__ = ["train_video", "multiview_forward", "video_data", "bundle_of", "data_config", "peak_memory_mib",
           "video_models", "check_model_name", "evaluate_multiview", "score_rows"]
