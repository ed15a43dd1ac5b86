"""Dataset registry entries ``muse`` and ``synthetic-muse`` (MuSe 2022 feature sequences).

``get_dataset("muse", root=..., task="humor", features=[...])`` returns a :class:`MuseBundle`: a
:class:`DataBundle` whose splits (train / val = devel / test) yield ``(x (T, D) float32, y)`` (pad
with :func:`toolkit.data.muse_sequences.collate`), stress train sequences windowed ``win_length`` 200 /
``hop_length`` 100, plus ``data``, the loaded partitions (:class:`toolkit.data.muse_loaders.MuseData`)
that ``lt train muse`` trains and exports from. ``synthetic-muse`` first writes the seeded official
layout into ``root`` (or the cache, :func:`toolkit.data.muse_synthetic.default_cache`).

The MuSe format readers live here in the data layer (``muse_layout``: folders, partition and feature
CSVs; ``muse_loaders``: the three tasks, early fusion; ``muse_synthetic``: the generator;
``muse_sequences``: windowing, padding collate); ``toolkit.muse`` (training, metrics, export) imports them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..engine.errors import LtError
from . import register_dataset
from .bundle import DataBundle

NEEDS_ROOT = ("dataset 'muse' needs --data-root (the folder holding c1_muse_humor/, c2_muse_reaction/, "
              "c3_muse_stress_2022/); or use --dataset synthetic-muse")


@dataclass
class MuseBundle(DataBundle):
    """A MuSe task's splits plus ``data`` (its :class:`MuseData`: partitions of samples with their
    export metadata, feature dims, label names, alignment statistics). ``num_classes`` is the number
    of model outputs (humor 1 logit, reaction 7, stress 2)."""

    data: Any = None


def _bundle(name: str, root, task: str, features, win_length: int, hop_length: int, resplit_seed: int | None,
            devel_fraction: float) -> MuseBundle:
    from .muse_layout import OUTPUTS
    from .muse_loaders import load_muse
    from .muse_sequences import SeqDataset, window

    window([], win_length, hop_length)  # validates the window sizes before any reading
    data = load_muse(root, task, features, resplit_seed=resplit_seed, devel_fraction=devel_fraction)
    train = window(data.parts["train"], win_length, hop_length) if task == "stress" else data.parts["train"]
    return MuseBundle(name=name, train=SeqDataset(train), val=SeqDataset(data.parts["devel"]),
                      test=SeqDataset(data.parts["test"]), num_classes=OUTPUTS[task], train_counts=[],
                      class_names=list(data.label_names), input_shape=(sum(data.dims),),
                      info={"task": task, "features": data.features, "dims": data.dims, "stats": data.stats,
                            "root": str(root)}, data=data)


@register_dataset("muse")
def muse(root: str | None = None, download: bool = False, task: str = "humor", features=None,
         win_length: int = 200, hop_length: int = 100, resplit_seed: int | None = None,
         devel_fraction: float = 0.2) -> MuseBundle:
    """The MuSe 2022 release under ``root`` (EULA; never downloaded); one task's partitions."""
    if download:
        raise LtError("MuSe 2022 cannot be downloaded (EULA); place it under --data-root")
    if not root:
        raise LtError(NEEDS_ROOT)
    return _bundle("muse", root, task, features, win_length, hop_length, resplit_seed, devel_fraction)


@register_dataset("synthetic-muse")
def synthetic_muse(root: str | None = None, download: bool = False, task: str = "humor", features=None,
                   win_length: int = 200, hop_length: int = 100, resplit_seed: int | None = None,
                   devel_fraction: float = 0.2) -> MuseBundle:
    """Generated MuSe 2022 layout (seeded), written into ``root`` or the cache first."""
    from .muse_synthetic import ensure_synthetic

    return _bundle("synthetic-muse", ensure_synthetic(root), task, features, win_length, hop_length, resplit_seed,
                   devel_fraction)
