"""Model selection never on the test split unless asked by name: the one place every trainer that picks a
best epoch asks which split it picks on (``lt train ce|lcreg|mdl``, ``lt defend facm``).

``--select-on val`` (default): the dataset's own val split; a dataset without one (CIFAR(-LT), MNIST,
Fashion-MNIST(-LT), iNat2018) gets one carved from train: ``--val-fraction`` (default 0.1) of *each
class* (stratified, at least one image of every class with two or more; a class with one image stays
in train), drawn with a fixed seed (0: the same split whatever ``--seed``, so methods and seeds are
compared on the same data). The carved val images get the test split's transform (no augmentation);
the training counts (and so the shot groups and the re-balancing losses) are those of what is left.
On a long-tailed set the carved val is long-tailed like train. ``--select-on last``: no selection, the
last epoch is reported. ``--select-on test``: the old, biased behaviour, only by name, with a
warning on stderr and in the report's notes.

    lt train ce --dataset fashion-mnist-lt --val-fraction 0.1          # selected_on: val (carved)
    lt train mdl --dataset fashion-mnist --select-on last
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Sequence

import numpy as np
from torch.utils.data import Dataset

from ..engine.errors import LtError
from ..engine.report import warn
from .bundle import DataBundle, Resized, TensorImageDataset, class_counts

SPLIT_SEED = 0
TEST_WARNING = ("--select-on test: the best epoch is picked on the test split, so the test numbers are "
                "optimistically biased (not a held-out estimate)")


class IndexedSubset(Dataset):
    """``base`` restricted to ``indices`` (keeps ``targets``)."""

    def __init__(self, base: Dataset, indices: Sequence[int]):
        self.base, self.indices = base, list(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        return self.base[self.indices[i]]

    @property
    def targets(self) -> list[int]:
        t = self.base.targets
        return [t[i] for i in self.indices]


def stratified_split(labels: Sequence[int], fraction: float, seed: int = SPLIT_SEED) -> tuple[list[int], list[int]]:
    """(train, val) indices: ``round(fraction * n_c)`` (at least 1 when n_c >= 2) of each class c to val."""
    if not 0 < fraction < 1:
        raise LtError(f"--val-fraction must be in (0, 1) (got {fraction})")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        k = 0 if len(idx) < 2 else min(len(idx) - 1, max(1, round(fraction * len(idx))))
        val += idx[:k].tolist()
        train += idx[k:].tolist()
    return sorted(train), sorted(val)


def _split(ds: Dataset, train_idx: list[int], val_idx: list[int], val_transform) -> tuple[Dataset, Dataset]:
    """``ds`` cut in two; the val part gets ``val_transform`` where ``ds`` has a ``transform``."""
    if isinstance(ds, Resized):
        tr, va = _split(ds.base, train_idx, val_idx, val_transform)
        return Resized(tr, ds.size), Resized(va, ds.size)
    if isinstance(ds, TensorImageDataset):
        return (TensorImageDataset(ds.images[train_idx], ds.labels[train_idx], ds.transform),
                TensorImageDataset(ds.images[val_idx], ds.labels[val_idx], val_transform))
    val_base = ds
    if hasattr(ds, "transform"):
        val_base = copy.copy(ds)
        val_base.transform = val_transform
    return IndexedSubset(ds, train_idx), IndexedSubset(val_base, val_idx)


def _test_transform(bundle: DataBundle):
    test = bundle.test.base if isinstance(bundle.test, Resized) else bundle.test
    return getattr(test, "transform", None)


def carve_val(bundle: DataBundle, fraction: float, seed: int = SPLIT_SEED) -> DataBundle:
    """``bundle`` with a stratified val split carved from its train split (its train counts updated)."""
    labels = list(bundle.train.targets)
    train_idx, val_idx = stratified_split(labels, fraction, seed)
    train, val = _split(bundle.train, train_idx, val_idx, _test_transform(bundle))
    note = (f"carved from train: {fraction:g} of each class (stratified, seed {seed}), {len(val_idx)} images; "
            f"train keeps {len(train_idx)}")
    return replace(bundle, train=train, val=val, train_counts=class_counts([labels[i] for i in train_idx],
                                                                           bundle.num_classes),
                   info={**bundle.info, "val": note, "val_fraction": fraction})


def selection_split(bundle: DataBundle, select_on: str, val_fraction: float | None
                    ) -> tuple[DataBundle, Dataset | None, str]:
    """(bundle, the split the best epoch is picked on or None for the last epoch, ``selected_on``).

    ``select_on`` is ``val`` (carving one from train when the dataset has none), ``last`` or ``test``
    (warned). Call it before anything reads ``bundle.train_counts``."""
    if select_on == "last":
        return bundle, None, "last"
    if select_on == "test":
        warn(TEST_WARNING)
        return bundle, bundle.test, "test"
    if select_on != "val":
        raise LtError(f"--select-on must be one of val, last, test (got '{select_on}')")
    if bundle.val is None:
        bundle = carve_val(bundle, 0.1 if val_fraction is None else val_fraction)
    return bundle, bundle.val, "val"


def selection_notes(selected_on: str) -> list[str]:
    """The report's note on how the reported epoch was chosen (the warning for ``test``)."""
    if selected_on == "test":
        return ["WARNING: " + TEST_WARNING]
    if selected_on == "last":
        return ["no model selection: the last epoch is reported (--select-on last)"]
    return []


__all__ = ["IndexedSubset", "SPLIT_SEED", "TEST_WARNING", "carve_val", "selection_notes", "selection_split",
           "stratified_split"]
