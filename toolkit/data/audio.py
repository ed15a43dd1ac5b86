"""Audio datasets for the registry: ``ssbpr`` (under ``--data-root``) and ``synthetic-snore``.

``get_dataset("ssbpr", root=..., fold=k, folds=n, cv="subject", features="logmel")`` returns an
:class:`AudioBundle`: fold ``k`` of the cross-validation as ``train`` / ``test`` (log-mel
spectrograms (1, 64, frames) in [0, 1] for ``logmel``, the raw feature arrays for ``mfcc`` /
``stats``), plus what ``lt audio ssbpr train`` runs every fold from: ``data`` (every valid file with
its features, labels and patient) and ``folds`` (all (train, test) index pairs). ``fold=0`` is no
cross-validation: every valid file in ``test`` (an external set to score, ``lt audio ssbpr eval``).
The format readers (layouts, manifests, clip reader), features, validation, caching and splits
live here in ``toolkit/data`` (``ssbpr_layout``, ``audio_features``, ``ssbpr_prepare``, ``audio_splits``,
``snore_synthetic``); the family ``toolkit.audio`` imports them (see ``docs/audio.md``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..engine.errors import check
from . import register_dataset
from .audio_features import DEFAULT_CACHE
from .bundle import DataBundle, class_counts


@dataclass
class AudioBundle(DataBundle):
    """Fold ``info["fold"]`` as train/test, plus ``data`` (:class:`toolkit.data.ssbpr_prepare.AudioData`: every
    valid file, its features, label, patient; what was skipped) and ``folds`` (every fold's
    ``(train_idx, test_idx)`` into ``data``; empty for ``fold=0``)."""

    data: Any = None
    folds: list = field(default_factory=list)


def _subset(data: Any, idx: Any, kind: str):
    """The files ``idx`` of ``data`` as a dataset: spectrograms in [0, 1] for logmel, else raw arrays."""
    import numpy as np
    import torch

    from .ssbpr_prepare import SpectrogramSet

    if kind == "logmel" and len(idx):
        return SpectrogramSet([data.feats[i] for i in idx], data.labels[idx])
    x = torch.from_numpy(np.stack([data.feats[i] for i in idx]).astype(np.float32)) if len(idx) else torch.empty(0)
    return torch.utils.data.TensorDataset(x, torch.as_tensor(data.labels[idx], dtype=torch.long))


def _bundle(name: str, root: Path, *, fold: int, folds: int, cv: str, features: str, sample_rate: int,
            duration: float, drop_classes: Sequence[int], max_bad: float, class_ids: Sequence[int] | None,
            split_seed: int, workers: int, cache_dir: str | None, feature_params: dict | None) -> AudioBundle:
    import numpy as np

    from .audio_features import FeatureParams
    from .audio_splits import describe, make_folds
    from .ssbpr_layout import subjects_required
    from .ssbpr_prepare import prepare

    params = FeatureParams(**(feature_params or {"kind": features, "sample_rate": sample_rate, "duration": duration}))
    data = prepare(root, params.resolved(), drop_classes=drop_classes, max_bad=max_bad, workers=workers,
                   cache_dir=cache_dir, class_ids=class_ids)
    n = len(set(data.subjects))
    if fold == 0:
        pairs, (tr, te), split = [], (np.arange(0), np.arange(len(data.labels))), f"every valid file ({n} patients)"
    else:
        check(1 <= fold <= folds, f"fold must be in 1..{folds} (got {fold})")
        if cv == "subject":
            subjects_required(data.items)
        pairs = make_folds(data.labels, data.subjects, cv, folds, split_seed)
        (tr, te), split = pairs[fold - 1], describe(cv, folds, n)
    train, test = _subset(data, tr, params.kind), _subset(data, te, params.kind)
    c = len(data.class_names)
    return AudioBundle(name=name, train=train, test=test, num_classes=c,
                       train_counts=class_counts(data.labels[tr].tolist(), c), class_names=data.class_names,
                       input_shape=tuple(test[0][0].shape), data=data, folds=pairs,
                       info={"split": split, "fold": fold, "files": len(data.labels), "skipped": len(data.skipped),
                             "root": str(root), "layout": data.layout})


@register_dataset("ssbpr")
def ssbpr(root=None, download=False, fold: int = 1, folds: int = 5, cv: str = "subject", features: str = "logmel",
          sample_rate: int = 16000, duration: float = 2.0, drop_classes: Sequence[int] = (), max_bad: float = 0.05,
          class_ids: Sequence[int] | None = None, split_seed: int = 0, workers: int = 1,
          cache_dir: str | None = DEFAULT_CACHE, feature_params: dict | None = None) -> AudioBundle:
    """The SSBPR snore set under ``root`` (released layout or CSV manifest); fold ``fold`` of ``folds``.

    ``features``: logmel | mfcc | stats, read at ``sample_rate`` Hz and cut to ``duration`` s
    (``feature_params``, every :class:`FeatureParams` field, e.g. a checkpoint's, replaces those three);
    ``drop_classes`` leaves labels out, ``class_ids`` fixes the classes (a trained model's);
    ``max_bad``: largest tolerated fraction of bad files; ``split_seed`` shuffles the folds.
    """
    from .ssbpr_prepare import resolve_root

    check(not download, "ssbpr is distributed on request by its authors; it cannot be downloaded")
    return _bundle("ssbpr", resolve_root("ssbpr", root, cache_dir), fold=fold, folds=folds, cv=cv, features=features,
                   sample_rate=sample_rate, duration=duration, drop_classes=drop_classes, max_bad=max_bad,
                   class_ids=class_ids, split_seed=split_seed, workers=workers, cache_dir=cache_dir,
                   feature_params=feature_params)


@register_dataset("synthetic-snore")
def synthetic_snore(root=None, download=False, fold: int = 1, folds: int = 4, cv: str = "subject",
                    features: str = "logmel", sample_rate: int = 16000, duration: float = 2.0, subjects: int = 8,
                    clips: int = 5, drop_classes: Sequence[int] = (), max_bad: float = 0.05, split_seed: int = 0,
                    workers: int = 1, cache_dir: str | None = DEFAULT_CACHE) -> AudioBundle:
    """Generated snores (seeded by ``split_seed``, written as .wav in the released layout into ``root`` or
    the cache); fold ``fold`` of ``folds``. Options as ``ssbpr``; ``subjects`` patients, ``clips`` per
    patient and class."""
    from .ssbpr_prepare import resolve_root

    r = resolve_root("synthetic-snore", root, cache_dir, subjects, clips, split_seed)
    return _bundle("synthetic-snore", r, fold=fold, folds=folds, cv=cv, features=features, sample_rate=sample_rate,
                   duration=duration, drop_classes=drop_classes, max_bad=max_bad, class_ids=None,
                   split_seed=split_seed, workers=workers, cache_dir=cache_dir, feature_params=None)
