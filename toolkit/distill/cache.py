"""The UKD teacher-logit cache: one teacher at a time, logits on disk, resumable, keyed by content.

UKD (Jin et al., "Unlimited Knowledge Distillation for Action Recognition in the Dark",
arXiv 2308.09327) assembles many teachers without the memory of holding them all. Our realisation
(the abstract gives no mechanism): each teacher runs alone, in eval mode without gradients, over V
deterministic views of every training video; its logits go to ``<cache_dir>/<key>.pt`` and it is
freed before the next teacher loads. Peak memory is that of one teacher, whatever K is.

A cache file holds tensors and plain values only (``torch.load(..., weights_only=True)``)::

    {"format": 1, "meta": "<json of the key fields>", "logits": float32 (N*V, C), "done": bool (N*V,)}

``key`` = sha256 of the teacher fingerprint (arch, model args, every weight) and the view
parameters (dataset, split, part, item list, stream, gamma, frames, interval, size, views). Changed
weights give a new key (recomputed); unchanged weights reuse the file. Files are written atomically
every ``flush_every`` batches and when interrupted, so an interrupted run resumes where it stopped.

Under torchrun (:func:`fill_cache`) the rows still missing are split across the ranks: each rank loads
the teacher and computes only its share, into its own shard file ``<key>.shard-<rows>.pt`` (same
format, resumable the same way); after a barrier rank 0 merges the shards into ``<key>.pt`` and
removes them, and after a second barrier every rank reads the complete file. Each logit is computed
once, no rank waits for another's whole share (no long one-sided barrier), and memory stays that of
one teacher per process.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn
from torch.utils.data import Dataset, SequentialSampler, Subset

from ..engine import distributed as D
from ..engine.checkpoint import atomic_path
from ..engine.errors import DataError
from ..engine.fingerprint import params_key, state_fingerprint
from ..engine.loop import make_loader, to_device
from ..engine.report import progress

CACHE_FORMAT = 1


fingerprint_state = state_fingerprint  # re-exported name used by the UKD cache and its tests


def teacher_fingerprint(ckpt: dict[str, Any]) -> str:
    """Fingerprint of a loaded lt checkpoint: arch, model args and weights (not optimizer or epoch)."""
    head = json.dumps({"arch": ckpt.get("arch"), "model_args": ckpt.get("model_args")}, sort_keys=True, default=str)
    return hashlib.sha256((head + fingerprint_state(ckpt["state_dict"])).encode()).hexdigest()


def items_fingerprint(items: list[tuple[Path, int]]) -> str:
    """The list of (video, label) pairs a view set is built on."""
    text = "\n".join(f"{Path(p).parent.name}/{Path(p).name}\t{y}" for p, y in items)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cache_key(teacher_fp: str, view_meta: dict[str, Any]) -> str:
    return params_key({"teacher": teacher_fp, **view_meta}, 24)


def _load_partial(path: Path, meta_json: str, rows: int) -> dict | None:
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - a damaged cache file is recomputed, never trusted
        raise DataError(f"teacher-logit cache '{path}' is unreadable ({type(e).__name__}); "
                        "delete it to recompute") from e
    if state.get("format") != CACHE_FORMAT or state.get("meta") != meta_json or state["logits"].shape[0] != rows:
        raise DataError(f"teacher-logit cache '{path}' does not match its key; delete it to recompute")
    return state


def _save(path: Path, state: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _new_state(meta_json: str, rows: int, classes: int) -> dict:
    """An empty cache file's state: ``rows`` rows of ``classes`` logits, none done."""
    return {"format": CACHE_FORMAT, "meta": meta_json, "logits": torch.zeros(rows, classes),
            "done": torch.zeros(rows, dtype=torch.bool)}


def _missing(state: dict | None, rows: int) -> list[int]:
    """The rows still to compute: all without a file, else those not done."""
    return list(range(rows)) if state is None else state["done"].logical_not().nonzero().view(-1).tolist()


def cache_teacher_logits(model: nn.Module, views: Dataset, path: Path, meta: dict[str, Any], *,
                         device: torch.device, batch_size: int = 16, workers: int = 0,
                         flush_every: int = 20, description: str = "teacher") -> tuple[torch.Tensor, str]:
    """Run ``model`` (eval, no grad) over every item of ``views``; return (logits (N, C), status).

    ``views`` yields ``(clip, label)`` in a fixed order. Rows already done in a partial file at
    ``path`` are skipped; progress is saved atomically every ``flush_every`` batches and on any
    interruption. ``status``: ``reused`` (complete file), ``resumed`` or ``computed``.
    """
    path = Path(path)
    meta_json = json.dumps(meta, sort_keys=True, default=str)
    state = _load_partial(path, meta_json, len(views))
    if state is not None and bool(state["done"].all()):
        return state["logits"], "reused"
    return _compute(model, views, path, meta_json, state, device=device, batch_size=batch_size,
                    workers=workers, flush_every=flush_every, description=description)


@torch.no_grad()
def _compute(model: nn.Module, views: Dataset, path: Path, meta_json: str, state: dict | None, *,
             device: torch.device, batch_size: int, workers: int, flush_every: int,
             description: str) -> tuple[torch.Tensor, str]:
    """The missing rows of ``state`` (None: no file yet) computed and saved to ``path``; (logits, status)."""
    status = "resumed" if state is not None else "computed"
    todo = _missing(state, len(views))
    was_training = model.training
    model.eval()
    subset = Subset(views, todo)
    loader = make_loader(subset, batch_size, train=False, workers=workers, sampler=SequentialSampler(subset))
    pos, batches = 0, 0
    try:
        for x, _ in progress(loader, description=description):
            out = model(to_device(x, device)).float().cpu()
            if state is None:
                state = _new_state(meta_json, len(views), out.shape[1])
            rows = torch.tensor(todo[pos:pos + out.shape[0]])
            state["logits"][rows] = out
            state["done"][rows] = True
            pos, batches = pos + out.shape[0], batches + 1
            if batches % flush_every == 0:
                _save(path, state)
    finally:
        if state is not None:
            _save(path, state)
        model.train(was_training)
    return state["logits"], status


def _rows_key(rows: list[int]) -> str:
    return hashlib.sha256(",".join(map(str, rows)).encode()).hexdigest()[:12]


def _shard_path(path: Path, rows: list[int]) -> Path:
    return path.with_name(f"{path.stem}.shard-{_rows_key(rows)}.pt")


def fill_cache(load_model: Callable[[], nn.Module], views: Dataset, path: Path, meta: dict[str, Any], *,
               device: torch.device, batch_size: int = 16, workers: int = 0, flush_every: int = 20,
               description: str = "teacher") -> tuple[torch.Tensor, str]:
    """The complete cache at ``path`` (logits (N, C), status); ``load_model()`` is called only when this
    process has rows to compute. One process: as :func:`cache_teacher_logits`. Under torchrun: the missing
    rows are shared out across the ranks and merged by rank 0 (see the module docstring)."""
    path = Path(path)
    meta_json = json.dumps(meta, sort_keys=True, default=str)
    state = _load_partial(path, meta_json, len(views))
    if state is not None and bool(state["done"].all()):
        return state["logits"], "reused"
    if not D.is_distributed():  # the file just read is continued (not read again)
        return _compute(load_model(), views, path, meta_json, state, device=device, batch_size=batch_size,
                        workers=workers, flush_every=flush_every, description=description)
    todo = _missing(state, len(views))
    shards = [todo[r::D.world_size()] for r in range(D.world_size())]
    mine = shards[D.rank()]
    if mine:
        cache_teacher_logits(load_model(), Subset(views, mine), _shard_path(path, mine),
                             {**meta, "rows": _rows_key(mine)}, device=device, batch_size=batch_size,
                             workers=workers, flush_every=flush_every, description=description)
    D.barrier()
    if D.is_main():
        _merge_shards(path, state, meta_json, len(views), [rows for rows in shards if rows])
    D.barrier()
    return _load_partial(path, meta_json, len(views))["logits"], "computed" if state is None else "resumed"


def _merge_shards(path: Path, state: dict | None, meta_json: str, rows: int, shards: list[list[int]]) -> None:
    """Rank 0: write the shards' logits into ``path`` (complete) and remove every shard file of its key."""
    for idx in shards:
        part = torch.load(_shard_path(path, idx), map_location="cpu", weights_only=True)
        if state is None:
            state = _new_state(meta_json, rows, part["logits"].shape[1])
        state["logits"][torch.tensor(idx)] = part["logits"]
        state["done"][torch.tensor(idx)] = part["done"]
    _save(path, state)
    for stale in path.parent.glob(f"{path.stem}.shard-*.pt"):
        stale.unlink(missing_ok=True)


__all__ = ["fingerprint_state", "teacher_fingerprint", "items_fingerprint", "cache_key", "cache_teacher_logits",
           "fill_cache", "CACHE_FORMAT"]
