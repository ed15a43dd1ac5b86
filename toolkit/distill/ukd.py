"""``lt distill kd`` (one live teacher) and ``lt distill ukd`` (K cached teachers, memory flat in K).

UKD: Jin, Lin, Wu, Lin, Li, Li, Chen, "Unlimited Knowledge Distillation for Action Recognition in
the Dark", arXiv 2308.09327 (abstract only; no code). Our design, where the abstract is silent:

* phase 1 (:mod:`toolkit.distill.cache`): each teacher alone, eval mode, no grad, in its own stream
  (read from its checkpoint's ``config.data``; ``--teacher-streams`` overrides) over V deterministic
  views of every training video; logits cached on disk; the teacher is freed before the next loads;
* phase 2: the student trains through the engine loop; each epoch it draws one cached view per
  video, so it sees exactly the clip its teachers scored; loss ``alpha*CE + (1-alpha)*combine(...)``
  (:mod:`toolkit.distill.losses`).
* ``--mode live``: the naive baseline keeping all K teachers resident and running them on every
  batch (same views, same loss) -- for the memory comparison (``benchmarks/ukd_memory.py``).

Defaults (our choice): alpha 0.5, tau 4, ``mean-kl``, V = 4 training views, 3 test views.

    lt distill ukd --teachers runs/t-rgb,runs/t-gamma --student tiny3d --dataset synthetic-dark --views 4
    lt distill kd --teacher runs/t-gamma --student tiny3d --dataset synthetic-dark
"""

from __future__ import annotations

import dataclasses
import gc
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset

from ..data.video import STREAMS, VideoClipDataset
from ..engine.cache import cache_dir as lt_cache_dir
from ..engine.cache import resolve_path
from ..engine.checkpoint import load_checkpoint
from ..engine.device import resolve_device
from ..engine.errors import LtError, check
from ..engine.loop import Objective, evaluate, fit, load_best_into, make_loader
from ..engine.metrics import classification_metrics
from ..engine.report import Report, log
from ..engine.runs import prepare_out_dir, write_json
from ..engine.seed import seed_everything
from ..models import build_from_checkpoint
from ..models.video import build_video_model
from .cache import cache_key, cache_teacher_logits, items_fingerprint, teacher_fingerprint
from .losses import check_kd_args, kd_loss
from .video_train import data_config, multiview_forward, peak_memory_mib, score_rows, video_data, video_train_config


@dataclass
class Teacher:
    path: str
    fingerprint: str
    arch: str
    num_classes: int | None
    stream: str
    gamma: float


def read_teachers(paths: list[str], streams: list[str] | None, num_classes: int) -> list[Teacher]:
    """Fingerprint each teacher checkpoint (one at a time) and check its class count and stream."""
    check(len(paths) >= 1, "give at least one teacher checkpoint")
    check(not streams or len(streams) == len(paths),
          f"--teacher-streams gives {len(streams or [])} stream(s) for {len(paths)} teacher(s)")
    out = []
    for k, p in enumerate(paths):
        ckpt = load_checkpoint(p)
        data = (ckpt.get("config") or {}).get("data") or {}
        stream = streams[k] if streams else data.get("stream", "rgb")
        check(stream in STREAMS, f"unknown stream '{stream}' for teacher '{p}'; valid: {', '.join(STREAMS)}")
        n = (ckpt.get("model_args") or {}).get("num_classes")
        if n is not None and n != num_classes:
            raise LtError(f"teacher '{p}' predicts {n} classes but the student and data have {num_classes}")
        out.append(Teacher(ckpt["path"], teacher_fingerprint(ckpt), str(ckpt.get("arch")), n, stream,
                           float(data.get("gamma", 1.8))))
        del ckpt
        _release(torch.device("cpu"))
    return out


def _load_teacher(t: Teacher, device: torch.device) -> torch.nn.Module:
    return build_from_checkpoint(load_checkpoint(t.path)).to(device).eval()


def _release(device: torch.device) -> None:
    """Free a teacher: collect, empty the CUDA cache, and hand freed heap pages back to the OS
    (glibc ``malloc_trim``) so a fragmented heap does not hold one teacher's weights into the next."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to trim
        pass


def teacher_tables(teachers: list[Teacher], base: VideoClipDataset, views: int, meta: dict, cache_dir: Path,
                   device: torch.device, batch_size: int, workers: int, part: str) -> tuple[torch.Tensor, list[str]]:
    """Phase 1 over one split: (N, V, K, C) cached logits and each teacher's cache status."""
    tables, statuses = [], []
    for k, t in enumerate(teachers):
        ds = base.with_options(mode="views", stream=t.stream, gamma=t.gamma, views=views)
        spec = dataclasses.asdict(ds.spec)
        view_meta = {**meta, "part": part, "items": items_fingerprint(ds.items), "stream": t.stream,
                     "gamma": t.gamma if t.stream == "gamma" else None, "frames": spec["frames"],
                     "interval": spec["interval"], "size": spec["size"], "views": views}
        path = cache_dir / f"{cache_key(t.fingerprint, view_meta)}.pt"
        model = None if path.is_file() and _complete(path) else _load_teacher(t, device)
        logits, status = cache_teacher_logits(model, ds, path, {"teacher": t.fingerprint, **view_meta},
                                              device=device, batch_size=batch_size, num_workers=workers,
                                              description=f"teacher {k + 1}/{len(teachers)} {t.arch}/{t.stream} {part}")
        del model
        _release(device)
        log(f"teacher {k + 1}/{len(teachers)} ({t.arch}, {t.stream}) {part} logits {status}: {path}")
        tables.append(logits.view(len(base.items), views, -1))
        statuses.append(status)
    return torch.stack(tables, 2), statuses


def _complete(path: Path) -> bool:
    from .cache import cache_status

    return cache_status(path) == "complete"


class CachedViews(Dataset):
    """Student items: one of the V cached views of video i (drawn each epoch) and its (K, C) teacher logits."""

    def __init__(self, base: VideoClipDataset, table: torch.Tensor):
        self.base, self.table, self.views = base.with_options(views=table.shape[1]), table, table.shape[1]

    def __len__(self) -> int:
        return len(self.base.items)

    def __getitem__(self, i: int):
        v = int(torch.randint(self.views, (1,)))
        s = self.base.spec.stream
        return self.base.render(i, v, [s])[s], self.base.items[i][1], self.table[i, v]


class MultiStream(Dataset):
    """Live items: the same clip in the student's and every teacher stream (``views``: one of V fixed views)."""

    def __init__(self, base: VideoClipDataset, streams: list[str], views: int | None):
        self.base = base if views is None else base.with_options(views=views)
        self.streams, self.views = sorted(set(streams)), views

    def __len__(self) -> int:
        return len(self.base.items)

    def __getitem__(self, i: int):
        v = None if self.views is None else int(torch.randint(self.views, (1,)))
        s = self.base.spec.stream
        clips = self.base.render(i, v, sorted({s, *self.streams}), train=v is None)
        return clips[s], self.base.items[i][1], {k: clips[k] for k in self.streams}


class CachedKD(Objective):
    """KD against cached teacher logits carried in the batch."""

    def __init__(self, alpha: float, tau: float, combine: str):
        self.alpha, self.tau, self.combine = alpha, tau, combine

    def loss(self, model, batch, epoch):
        x, y, t = batch
        z = model(x)
        return kd_loss(z, t, y, self.alpha, self.tau, self.combine), z, y


class LiveKD(CachedKD):
    """KD with every teacher resident, run on each batch (the naive multi-teacher baseline, and plain KD)."""

    def __init__(self, teachers: list[tuple[torch.nn.Module, str]], alpha: float, tau: float, combine: str):
        super().__init__(alpha, tau, combine)
        self.teachers = teachers

    def to(self, device):
        self.teachers = [(m.to(device).eval(), s) for m, s in self.teachers]
        return self

    def loss(self, model, batch, epoch):
        x, y, clips = batch
        with torch.no_grad():
            t = torch.stack([m(clips[s]).float() for m, s in self.teachers], 1)
        z = model(x)
        return kd_loss(z, t, y, self.alpha, self.tau, self.combine), z, y


def _teacher_test_rows(teachers, test_table, targets, class_names) -> list[dict]:
    rows = []
    probs = test_table.float().softmax(-1).mean(1)  # (N, K, C): mean over views
    for k, t in enumerate(teachers):
        m = classification_metrics(probs[:, k].clamp_min(1e-12).log(), targets)
        rows.append(score_rows(f"teacher {k + 1}: {Path(t.path).parent.name}/{Path(t.path).name} ({t.arch}, {t.stream})",
                               m, class_names)[0])
    m = classification_metrics(probs.mean(1).clamp_min(1e-12).log(), targets)
    rows.append(score_rows(f"teacher ensemble (mean prob, K={len(teachers)})", m, class_names)[0])
    return rows


def distill(*, teachers: list[str], student: str, mode: str = "ukd", dataset: str = "synthetic-dark",
            data_root: str | None = None, split: int = 1, stream: str = "rgb", gamma: float = 1.8,
            frames: int | None = None, interval: int | None = None, size: int | None = None, views: int = 4,
            test_views: int = 3, teacher_streams: list[str] | None = None, combine: str = "mean-kl",
            alpha: float = 0.5, tau: float = 4.0, cache_dir: str | None = None, skip_bad: bool = False,
            epochs: int = 50, batch_size: int = 16, lr: float = 0.01, weight_decay: float = 5e-4,
            scheduler: str = "multistep", workers: int = 0, device: str = "auto", seed: int = 0,
            out: str | None = None, force: bool = False, resume: bool = False,
            data_options: dict | None = None) -> Report:
    """Distil K teachers into ``student``. ``mode``: ``ukd`` (cached, one teacher at a time), ``live``
    (all teachers resident, fixed views) or ``kd`` (live, random augmented clips; the plain KD recipe)."""
    check(mode in ("ukd", "live", "kd"), f"--mode must be ukd or live (got {mode})")
    check(views >= 1, f"--views must be >= 1 (got {views})")
    check_kd_args(alpha, tau, combine)
    dev = resolve_device(device)
    seed_everything(seed)
    bundle = video_data(dataset, data_root, split=split, stream=stream, gamma=gamma, frames=frames, interval=interval,
                        size=size, views=test_views, skip_bad=skip_bad, options=data_options)
    specs = read_teachers(teachers, teacher_streams, bundle.num_classes)
    cfg = video_train_config(epochs, batch_size, lr, weight_decay, scheduler, seed, workers)
    out_dir = prepare_out_dir(out, "distill", mode, force=force, resume=resume)
    cdir = resolve_path(cache_dir) if cache_dir else lt_cache_dir("ukd")
    meta = {"dataset": dataset, "split": bundle.info.get("split"), "root": bundle.info.get("root")}
    test_table, _ = teacher_tables(specs, bundle.test, test_views, meta, cdir, dev, batch_size, workers, "test")
    if mode == "ukd":
        table, statuses = teacher_tables(specs, bundle.train, views, meta, cdir, dev, batch_size, workers, "train")
        train_set, objective = CachedViews(bundle.train, table), CachedKD(alpha, tau, combine)
    else:
        statuses = ["live"] * len(specs)
        live = [(_load_teacher(t, dev), t.stream) for t in specs]
        train_set = MultiStream(bundle.train, [s for _, s in live], None if mode == "kd" else views)
        objective = LiveKD(live, alpha, tau, combine)
    net = build_video_model(student, bundle.num_classes, stream)
    run_config = {"command": f"distill {mode}", "model": student, "data": data_config(bundle, dataset, data_root),
                  "teachers": [dataclasses.asdict(t) for t in specs],
                  "distill": {"alpha": alpha, "tau": tau, "combine": combine, "views": views, "mode": mode}}
    write_json(out_dir / "config.json", {**run_config, "train": dataclasses.asdict(cfg)})
    result = fit(net, train_set, bundle.test, cfg=cfg, device=dev, objective=objective, out_dir=out_dir,
                 resume=out_dir if resume else None, eval_forward=multiview_forward, run_config=run_config)
    load_best_into(net, out_dir)
    logits, targets = evaluate(net, make_loader(bundle.test, batch_size, train=False, num_workers=workers), dev,
                               forward=multiview_forward)
    metrics = classification_metrics(logits, targets)
    rows = _teacher_test_rows(specs, test_table, targets, bundle.class_names)
    row, per_class = score_rows(f"student {student} ({stream})", metrics, bundle.class_names)
    rows.append(row)
    write_json(out_dir / "metrics.json", {"test": metrics, "teachers": rows, "best_epoch": result.best_epoch})
    return Report(title=f"lt distill {mode}: {len(specs)} teacher(s) -> {student} on {dataset}", rows=rows,
                  summary={"student_top1": metrics["top1"], "student_top5": metrics["top5"],
                           "best_epoch": result.best_epoch, "teachers": len(specs), "combine": combine,
                           "cache": ",".join(statuses), "peak_mem_mib": round(peak_memory_mib(dev), 1),
                           "out": str(out_dir)},
                  sections=[Report(title="student per-class top-1", rows=per_class)],
                  notes=["teacher rows: test logits from the cache (multi-view mean); model selection on test"])


__all__ = ["distill", "read_teachers", "teacher_tables", "CachedViews", "MultiStream", "CachedKD", "LiveKD"]
