"""Dataset registry entries ``muse`` and ``synthetic-muse`` (MuSe 2022 feature sequences).

``get_dataset("muse", root=..., task="humor", features=[...])`` returns a :class:`DataBundle` whose
splits yield ``(x (T, D) float32, y)`` (pad with :func:`toolkit.muse.dataset.collate`); stress
train sequences are windowed 200/hop 100. ``synthetic-muse`` first writes the seeded official
layout into ``root`` (or the cache, :func:`toolkit.muse.synthetic.default_cache`).
``lt train muse`` uses :mod:`toolkit.muse` directly; these entries let other code reuse the sets.
"""

from __future__ import annotations

from ..engine.errors import LtError
from . import register_dataset
from .bundle import DataBundle


def _bundle(name: str, root, task: str, features, win_len: int, hop_len: int) -> DataBundle:
    from ..muse.dataset import SeqDataset, window
    from ..muse.loaders import load_muse

    data = load_muse(root, task, features)
    train = window(data.parts["train"], win_len, hop_len) if task == "stress" else data.parts["train"]
    n_out = {"humor": 1, "reaction": 7, "stress": 2}[task]
    return DataBundle(name=name, train=SeqDataset(train), val=SeqDataset(data.parts["devel"]),
                      test=SeqDataset(data.parts["test"]), num_classes=n_out, train_counts=[],
                      class_names=list(data.label_names), input_shape=(sum(data.dims),),
                      info={"task": task, "features": data.features, "dims": data.dims, "stats": data.stats})


@register_dataset("muse")
def muse(root: str | None = None, download: bool = False, task: str = "humor", features=None,
         win_len: int = 200, hop_len: int = 100) -> DataBundle:
    if download:
        raise LtError("MuSe 2022 cannot be downloaded (EULA); place it under --data-root")
    if not root:
        raise LtError("dataset 'muse' needs --data-root (the folder holding c1_muse_humor/ ...)")
    return _bundle("muse", root, task, features, win_len, hop_len)


@register_dataset("synthetic-muse")
def synthetic_muse(root: str | None = None, download: bool = False, task: str = "humor", features=None,
                   win_len: int = 200, hop_len: int = 100) -> DataBundle:
    from ..muse.synthetic import ensure_synthetic

    return _bundle("synthetic-muse", ensure_synthetic(root), task, features, win_len, hop_len)
