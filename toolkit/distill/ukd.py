"""``lt distill kd`` (one live teacher) and ``lt distill ukd`` (K cached teachers, memory flat in K).

UKD: Jin, Lin, Wu, Lin, Li, Li, Chen, "Unlimited Knowledge Distillation for Action Recognition in
the Dark", arXiv 2308.09327 (abstract only; no code). Our design, where the abstract is silent:

* phase 1 (:mod:`toolkit.distill.cache`): each teacher alone, eval mode, no grad, in its own stream
  (read from its checkpoint's embedded config, :func:`teacher_view`; ``--teacher-streams``
  overrides) over V deterministic views of every training video; logits cached on disk; the teacher
  is freed before the next loads. Under torchrun the ranks share each teacher's missing rows and rank
  0 merges them (:func:`toolkit.distill.cache.fill_cache`): every logit is computed once;
* phase 2: the student trains through the engine loop; each epoch it draws one cached view per
  video, so it sees exactly the clip its teachers scored; loss ``w*CE + (1-w)*combine(...)`` with
  ``w = --ce-weight`` (:mod:`toolkit.distill.losses`).
* ``--mode live``: the naive baseline keeping all K teachers resident and running them on every
  batch (same views, same loss) -- for the memory comparison (``benchmarks/ukd_memory.py``).

Defaults (our choice): ce-weight 0.5, tau 4, ``mean-kl``, V = 4 training views, 3 test views.
Both commands go through the one run lifecycle (``config.json`` in the one schema, ``--resume``,
``--config``, torchrun); what the teachers and the cache turned out to be goes to ``info``
(``teachers``, ``teacher_cache``: computed, resumed, reused or live per teacher).

    lt distill ukd --teachers runs/t-rgb,runs/t-gamma --student tiny3d --dataset synthetic-dark --views 4
    lt distill kd --teacher runs/t-gamma --student tiny3d --dataset synthetic-dark
"""

from __future__ import annotations

import dataclasses
import gc
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from ..data.video import STREAMS, VideoClipDataset
from ..engine.cache import cache_dir as lt_cache_dir
from ..engine.cache import resolve_path
from ..engine.checkpoint import load_checkpoint, resolve_checkpoint_path
from ..engine.errors import LtError, check
from ..engine.lifecycle import Run, start_run
from ..engine.loop import Objective, TrainConfig, fit, load_best_into
from ..engine.metrics import classification_metrics
from ..engine.report import Report, log
from ..models import build_from_checkpoint
from ..models.video import build_video_model
from .cache import cache_key, fill_cache, items_fingerprint, teacher_fingerprint
from .losses import kd_loss
from .options import DistillOptions, KDOptions, UKDOptions, check_teachers
from .video_train import (
    bundle_of,
    check_model_name,
    data_config,
    evaluate_multiview,
    multiview_forward,
    peak_memory_mib,
    score_rows,
)


@dataclass
class Teacher:
    path: str
    fingerprint: str
    arch: str
    num_classes: int | None
    stream: str
    gamma: float


def teacher_view(config: Any) -> tuple[str | None, float | None]:
    """The stream and gamma a teacher was trained on, from its checkpoint's embedded ``config``.

    Runs of the one config schema record them as ``resolved.stream`` / ``resolved.gamma``; teacher
    runs made before it (``lt train video`` of lt 0.1) as ``data.stream`` / ``data.gamma``, still read
    so existing teachers keep working. (None, None) when neither is there (e.g. a bare checkpoint).
    """
    config = config if isinstance(config, dict) else {}
    block = config.get("resolved") if isinstance(config.get("resolved"), dict) else config.get("data")
    block = block if isinstance(block, dict) else {}
    return block.get("stream"), block.get("gamma")


def read_teachers(paths: list[str], streams: list[str] | None, num_classes: int) -> list[Teacher]:
    """Fingerprint each teacher checkpoint (one at a time) and check its class count and stream."""
    check_teachers(paths, streams)
    out = []
    for k, p in enumerate(paths):
        ckpt = load_checkpoint(p)
        own_stream, own_gamma = teacher_view(ckpt.get("config"))
        stream = streams[k] if streams else own_stream or "rgb"
        check(stream in STREAMS, f"unknown stream '{stream}' for teacher '{p}'; valid: {', '.join(STREAMS)}")
        n = (ckpt.get("model_args") or {}).get("num_classes")
        if n is not None and n != num_classes:
            raise LtError(f"teacher '{p}' predicts {n} classes but the student and data have {num_classes}")
        out.append(Teacher(ckpt["path"], teacher_fingerprint(ckpt), str(ckpt.get("arch")), n, stream,
                           float(own_gamma if own_gamma is not None else 1.8)))
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
        logits, status = fill_cache(lambda t=t: _load_teacher(t, device), ds, path,
                                    {"teacher": t.fingerprint, **view_meta}, device=device, batch_size=batch_size,
                                    workers=workers,
                                    description=f"teacher {k + 1}/{len(teachers)} {t.arch}/{t.stream} {part}")
        _release(device)
        log(f"teacher {k + 1}/{len(teachers)} ({t.arch}, {t.stream}) {part} logits {status}: {path}")
        tables.append(logits.view(len(base.items), views, -1))
        statuses.append(status)
    return torch.stack(tables, 2), statuses


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

    def __init__(self, ce_weight: float, tau: float, combine: str):
        self.ce_weight, self.tau, self.combine = ce_weight, tau, combine

    def loss(self, model, batch, epoch):
        x, y, t = batch
        z = model(x)
        return kd_loss(z, t, y, self.ce_weight, self.tau, self.combine), z, y


class LiveKD(CachedKD):
    """KD with every teacher resident, run on each batch (the naive multi-teacher baseline, and plain KD)."""

    def __init__(self, teachers: list[tuple[torch.nn.Module, str]], ce_weight: float, tau: float, combine: str):
        super().__init__(ce_weight, tau, combine)
        self.teachers = teachers

    def to(self, device):
        self.teachers = [(m.to(device).eval(), s) for m, s in self.teachers]
        return self

    def loss(self, model, batch, epoch):
        x, y, clips = batch
        with torch.no_grad():
            t = torch.stack([m(clips[s]).float() for m, s in self.teachers], 1)
        z = model(x)
        return kd_loss(z, t, y, self.ce_weight, self.tau, self.combine), z, y


def _teacher_test_rows(teachers: list[Teacher], test_table: torch.Tensor, targets: torch.Tensor,
                       class_names: list[str]) -> list[dict]:
    """Each teacher's and the ensemble's multi-view test accuracy, from the cached test logits
    (``targets`` in the dataset's order, as the table's rows)."""
    rows = []
    probs = test_table.float().softmax(-1).mean(1)  # (N, K, C): mean over views
    for k, t in enumerate(teachers):
        m = classification_metrics(probs[:, k].clamp_min(1e-12).log(), targets)
        rows.append(score_rows(f"teacher {k + 1}: {Path(t.path).parent.name}/{Path(t.path).name} "
                               f"({t.arch}, {t.stream})", m, class_names)[0])
    m = classification_metrics(probs.mean(1).clamp_min(1e-12).log(), targets)
    rows.append(score_rows(f"teacher ensemble (mean prob, K={len(teachers)})", m, class_names)[0])
    return rows


def _student_data(run: Run, specs: list[Teacher], bundle, mode: str, views: int, test_views: int, cache_dir: str | None,
                  batch_size: int, workers: int, ce_weight: float, tau: float, combine: str):
    """Phase 1 (cached test logits for the report; in ukd mode the training views' logits too), then the
    student's training set and objective; each teacher's cache status."""
    cdir = resolve_path(cache_dir) if cache_dir else lt_cache_dir("ukd")
    meta = {"dataset": bundle.name, "split": bundle.info.get("split"), "root": bundle.info.get("root")}
    test_table, _ = teacher_tables(specs, bundle.test, test_views, meta, cdir, run.device, batch_size, workers, "test")
    if mode == "ukd":
        table, statuses = teacher_tables(specs, bundle.train, views, meta, cdir, run.device, batch_size, workers,
                                         "train")
        return CachedViews(bundle.train, table), CachedKD(ce_weight, tau, combine), test_table, statuses
    # each teacher sees its own stream of the same clip, at its own gamma for the gamma stream
    live = [(_load_teacher(t, run.device), f"gamma@{t.gamma}" if t.stream == "gamma" else t.stream) for t in specs]
    train_set = MultiStream(bundle.train, [s for _, s in live], None if mode == "kd" else views)
    return train_set, LiveKD(live, ce_weight, tau, combine), test_table, ["live"] * len(specs)


def distill_kd(opts: KDOptions | None = None, *, data_options: dict | None = None, **values: Any) -> Report:
    """Plain KD from one live teacher on random training clips: ``lt distill kd``.

    ``opts`` (or its fields as keywords) is validated first; ``data_options`` (library callers) go to the
    dataset builder.

        lt distill kd --teacher runs/t-gamma --student tiny3d --dataset synthetic-dark
    """
    opts = KDOptions.of(opts, **values).validate()
    streams = [opts.teacher_stream] if opts.teacher_stream else None
    return _distill(opts, ("distill", "kd"), "kd", [opts.teacher], streams, views=1, combine="mean-kl",
                    cache_dir=None, data_options=data_options)


def distill_ukd(opts: UKDOptions | None = None, *, data_options: dict | None = None, **values: Any) -> Report:
    """Distil K teachers into the student: ``lt distill ukd``. ``--mode ukd``: their logits cached, one teacher
    at a time; ``live``: all teachers resident, on fixed views (the baseline).

        lt distill ukd --teachers runs/t-rgb,runs/t-gamma --student tiny3d --dataset synthetic-dark --views 4
    """
    opts = UKDOptions.of(opts, **values).validate()
    return _distill(opts, ("distill", "ukd"), opts.mode, list(opts.teachers), list(opts.teacher_streams) or None,
                    views=opts.views, combine=opts.combine, cache_dir=opts.cache_dir, data_options=data_options)


def _distill(opts: DistillOptions, command: tuple[str, str], mode: str, teachers: list[str],
             teacher_streams: list[str] | None, *, views: int, combine: str, cache_dir: str | None,
             data_options: dict | None) -> Report:
    """Distil ``teachers`` into ``opts.student``. ``mode``: ``ukd`` (cached, one teacher at a time), ``live``
    (all teachers resident, fixed views) or ``kd`` (one live teacher, random augmented clips)."""
    cfg = TrainConfig.of_options(opts, seed=opts.seed, deterministic=opts.deterministic)
    check_model_name(opts.student)
    run = start_run(command, opts)
    for p in teachers:  # a wrong path is an error before any video is read or generated
        resolve_checkpoint_path(p)
    bundle = bundle_of(opts, data_options)
    specs = read_teachers(teachers, teacher_streams, bundle.num_classes)
    train_set, objective, test_table, statuses = _student_data(
        run, specs, bundle, mode, views, opts.test_views, cache_dir, opts.batch_size, opts.workers, opts.ce_weight,
        opts.tau, combine)
    run.update_info(num_classes=bundle.num_classes, data=data_config(bundle, opts.dataset, opts.data_root),
                    teachers=[dataclasses.asdict(t) for t in specs], teacher_cache=statuses)
    run.reseed()  # after the teachers: the same initial student weights whether or not the cache was reused
    student, stream = opts.student, opts.stream
    net = build_video_model(student, bundle.num_classes, stream)
    result = fit(net, train_set, bundle.test, cfg=cfg, device=run.device, objective=objective, out_dir=run.out_dir,
                 resume=run.resume_from(), eval_forward=multiview_forward, run_config=run.config)
    load_best_into(net, run.out_dir)
    metrics = classification_metrics(*evaluate_multiview(net, bundle, run.device, opts.batch_size, opts.workers))
    rows = _teacher_test_rows(specs, test_table, torch.tensor(bundle.test.targets), bundle.class_names)
    row, per_class = score_rows(f"student {student} ({stream})", metrics, bundle.class_names)
    rows.append(row)
    run.finish({"test": metrics, "teachers": rows, "best_epoch": result.best_epoch})
    return Report(title=f"lt distill {mode}: {len(specs)} teacher(s) -> {student} on {opts.dataset}", rows=rows,
                  summary={"student_top1": metrics["top1"], "student_top5": metrics["top5"],
                           "best_epoch": result.best_epoch, "teachers": len(specs), "combine": combine,
                           "peak_mem_mib": round(peak_memory_mib(run.device), 1), "out": str(run.out_dir)},
                  sections=[Report(title="student per-class top-1", rows=per_class)],
                  notes=["teacher rows: test logits from the cache (multi-view mean); model selection on test"])


__all__ = ["distill_kd", "distill_ukd", "read_teachers", "teacher_view", "teacher_tables",
           "CachedViews", "MultiStream", "CachedKD", "LiveKD"]
