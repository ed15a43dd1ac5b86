"""Prepare an SSBPR run's data: find files, drop classes, validate and featurise, list what was skipped.

Every file is read once up front (through the feature cache): unreadable, empty, NaN or silent
files, and released-layout files whose names do not follow ``A-B-C.wav``, are listed in a warning
and in ``skipped.csv`` and left out, so training never meets a bad
file mid-epoch; more than ``max_bad`` (default 5 %) bad files stop the run with a clear error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ..engine.cache import cache_root, resolve_path
from ..engine.errors import DataError, check
from ..engine.report import log, warn
from .audio_features import DEFAULT_CACHE, FeatureParams, compute_many
from .ssbpr_layout import CLASS_NAMES, DATASETS, Item, check_source, find_items, parse_drop  # noqa: F401


@dataclass
class AudioData:
    """Valid items with their features; ``labels`` are indices into ``class_names``."""

    items: list[Item]
    feats: list[np.ndarray]
    labels: np.ndarray
    class_ids: list[int]
    class_names: list[str]
    layout: str
    root: str
    skipped: list[dict] = field(default_factory=list)

    @property
    def subjects(self) -> list[str]:
        return [it.subject for it in self.items]


def resolve_root(dataset: str, data_root: str | None, cache_dir: str | Path | None,
                 subjects: int | None = None, clips: int | None = None, seed: int = 0) -> Path:
    """The folder (or CSV) to read: ``--data-root`` for ssbpr; generated files for synthetic-snore."""
    check_source(dataset, data_root, subjects, clips)
    if dataset == "ssbpr":
        return Path(data_root)
    from .snore_synthetic import ensure_generated, synthetic_root

    opts = {"subjects": subjects, "clips": clips, "seed": seed}  # written at 16 kHz, resampled on reading
    if data_root is not None:  # write the synthetic set into --data-root (once)
        return ensure_generated(data_root, **opts)
    return synthetic_root(resolve_path(cache_dir).parent if cache_dir else cache_root(), **opts)


def prepare(root: str | Path, params: FeatureParams, *, drop_classes: Sequence[int] = (), max_bad: float = 0.05,
            workers: int = 1, cache_dir: str | Path | None = DEFAULT_CACHE, out_dir: Path | None = None,
            class_ids: Sequence[int] | None = None) -> AudioData:
    """Items under ``root`` with valid features. ``class_ids`` (from a checkpoint) fixes the classes."""
    from ..engine.runs import write_csv

    check(0 <= max_bad <= 1, f"--max-bad must be in [0, 1] (got {max_bad})")
    bad_names: list[dict] = []
    items, layout = find_items(root, bad_names)
    drop = parse_drop(drop_classes)
    kept = list(class_ids) if class_ids is not None else [c for c in range(len(CLASS_NAMES)) if c not in drop]
    items = [it for it in items if it.label in kept]
    if not items:
        raise DataError(f"no files of classes {kept} under '{root}'")
    log(f"{len(items)} files ({layout} layout) under {root}")
    feats, reasons, hits = compute_many([it.path for it in items], params, workers=workers, cache_dir=cache_dir,
                                        description=f"{params.kind} features")
    if hits:
        log(f"{hits}/{len(items)} features read from the cache")
    skipped = bad_names + [{"path": it.path, "label": it.label, "reason": r}
                           for it, r in zip(items, reasons, strict=True) if r]
    if skipped:
        if out_dir is not None:
            write_csv(out_dir / "skipped.csv", skipped)
        where = f"; listed in {out_dir / 'skipped.csv'}" if out_dir is not None else ""
        shown = "; ".join(f"{Path(s['path']).name}: {s['reason']}" for s in skipped[:5])
        more = f" (and {len(skipped) - 5} more)" if len(skipped) > 5 else ""
        warn(f"skipped {len(skipped)} bad file(s): {shown}{more}{where}")
    total = len(items) + len(bad_names)
    if len(skipped) > max_bad * total:
        raise DataError(f"{len(skipped)} of {total} files are bad ({len(skipped) / total:.1%} > --max-bad "
                        f"{max_bad:.1%}); fix the data or raise --max-bad")
    good = [i for i, r in enumerate(reasons) if not r]
    index = {c: k for k, c in enumerate(kept)}
    labels = np.array([index[items[i].label] for i in good], dtype=np.int64)
    for c in kept:
        if not np.any(labels == index[c]):
            raise DataError(f"class {c} ({CLASS_NAMES[c]}) has no valid files after validation; "
                            f"pass --drop-classes {c} to leave it out")
    return AudioData(items=[items[i] for i in good], feats=[feats[i] for i in good], labels=labels, class_ids=kept,
                     class_names=[CLASS_NAMES[c] for c in kept], layout=layout, root=str(root), skipped=skipped)


def to_unit(logmel_db: np.ndarray) -> np.ndarray:
    """dB in [-80, 0] (ref = clip maximum) -> [0, 1], the models' input range."""
    return np.clip(logmel_db / 80.0 + 1.0, 0.0, 1.0).astype(np.float32)


class SpectrogramSet(Dataset):
    """(1, n_mels, frames) tensors in [0, 1] with integer labels."""

    def __init__(self, feats: Sequence[np.ndarray], labels: Sequence[int]):
        self.x = torch.from_numpy(np.stack([to_unit(f) for f in feats])).unsqueeze(1)
        self.y = torch.as_tensor(np.asarray(labels), dtype=torch.long)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        return self.x[i], self.y[i]

    @property
    def targets(self) -> list[int]:
        return self.y.tolist()
