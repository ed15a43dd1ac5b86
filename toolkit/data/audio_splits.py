"""Cross-validation splits for SSBPR (``--cv``): subject-wise (default) or stratified random.

``subject``: scikit-learn's ``StratifiedGroupKFold`` grouped by patient, so no patient is ever on
both sides of a fold (the method page's point: a random split lets a model recognise the patient's
timbre and scores far higher). ``random``: ``StratifiedKFold``. Both shuffled with the seed.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from ..engine.errors import LtError, check

SPLITS = ("subject", "random")


def describe(split: str, folds: int, n_subjects: int) -> str:
    """The protocol line printed with every result table."""
    if split == "subject":
        return (f"split=subject: {folds}-fold stratified group k-fold by patient "
                f"({n_subjects} patients; none on both sides)")
    return f"split=random: {folds}-fold stratified random k-fold (patients may appear on both sides)"


def make_folds(labels: Sequence[int], subjects: Sequence[str], split: str = "subject", folds: int = 5,
               seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``folds`` (train_idx, test_idx) pairs over the items."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    check(split in SPLITS, f"unknown --cv '{split}'; valid: {', '.join(SPLITS)}")
    check(folds >= 2, f"--folds must be >= 2 (got {folds})")
    y = np.asarray(labels)
    idx = np.arange(len(y))
    if split == "subject":
        groups = np.asarray(subjects)
        n = len(set(groups.tolist()))
        if n < folds:
            raise LtError(f"--cv subject with --folds {folds} needs at least {folds} patients; the data has {n}")
        if np.bincount(y).max(initial=0) < folds:
            raise LtError(f"--folds {folds} needs at least {folds} files of some class")
        splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
        with warnings.catch_warnings():  # "least populated class has only k members" is expected here
            warnings.simplefilter("ignore", UserWarning)
            return [(tr, te) for tr, te in splitter.split(idx, y, groups)]
    counts = np.bincount(y)
    smallest = int(counts[counts > 0].min()) if y.size else 0
    if smallest < folds:
        raise LtError(f"--cv random with --folds {folds} needs at least {folds} files per class; "
                      f"the smallest class has {smallest}")
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return [(tr, te) for tr, te in splitter.split(idx, y)]
