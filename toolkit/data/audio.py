"""Audio datasets for the registry: ``ssbpr`` (under ``--data-root``) and ``synthetic-snore``.

One cross-validation fold as a :class:`DataBundle` of log-mel spectrograms (1, 64, frames) in
[0, 1], so any registry consumer can train on them; ``lt audio ssbpr train`` runs all folds.
Validation, caching and splits are :mod:`toolkit.audio`'s (see ``docs/audio.md``).
"""

from __future__ import annotations

from pathlib import Path

from ..engine.errors import check
from . import register_dataset
from .bundle import DataBundle, class_counts


def _bundle(name: str, root: Path, fold: int, folds: int, split: str, sample_rate: int, duration: float,
            seed: int, cache_dir: str | None) -> DataBundle:
    from ..audio.data import prepare
    from ..audio.features import FeatureParams
    from ..audio.models import SpectrogramSet
    from ..audio.splits import describe, make_folds

    check(1 <= fold <= folds, f"fold must be in 1..{folds} (got {fold})")
    data = prepare(root, FeatureParams(kind="logmel", sample_rate=sample_rate, duration=duration), cache_dir=cache_dir)
    tr, te = make_folds(data.labels, data.subjects, split, folds, seed)[fold - 1]
    train = SpectrogramSet([data.feats[i] for i in tr], data.labels[tr])
    test = SpectrogramSet([data.feats[i] for i in te], data.labels[te])
    return DataBundle(name=name, train=train, test=test, num_classes=len(data.class_names),
                      train_counts=class_counts(data.labels[tr].tolist(), len(data.class_names)),
                      class_names=data.class_names, input_shape=tuple(train.x.shape[1:]),
                      info={"split": describe(split, folds, len(set(data.subjects))), "fold": fold,
                            "skipped": len(data.skipped), "root": str(root)})


@register_dataset("ssbpr")
def ssbpr(root=None, download=False, fold: int = 1, folds: int = 5, split: str = "subject", sample_rate: int = 16000,
          duration: float = 2.0, split_seed: int = 0, cache_dir: str | None = "$LT_CACHE_DIR/audio-features") -> DataBundle:
    """The SSBPR snore set under ``root`` (released layout or CSV manifest); fold ``fold`` of ``folds``."""
    from ..audio.data import resolve_root

    check(not download, "ssbpr is distributed on request by its authors; it cannot be downloaded")
    return _bundle("ssbpr", resolve_root("ssbpr", root, cache_dir), fold, folds, split, sample_rate, duration,
                   split_seed, cache_dir)


@register_dataset("synthetic-snore")
def synthetic_snore(root=None, download=False, fold: int = 1, folds: int = 4, split: str = "subject",
                    sample_rate: int = 16000, duration: float = 2.0, subjects: int = 8, clips: int = 5,
                    split_seed: int = 0, cache_dir: str | None = "$LT_CACHE_DIR/audio-features") -> DataBundle:
    """Generated snores (seeded, written as .wav in the released layout); fold ``fold`` of ``folds``."""
    from ..audio.data import resolve_root

    r = resolve_root("synthetic-snore", root, cache_dir, subjects, clips, split_seed)
    return _bundle("synthetic-snore", r, fold, folds, split, sample_rate, duration, split_seed, cache_dir)
