"""Long-tailed profiles and shot groups (see shared/methods/longtail.md).

Exponential profile: n_i = floor(n_max * IF^(-i/(C-1))), classes in index order, samples of each
class drawn with a fixed seed *without replacement*.
Shot groups from training counts (``shot_groups``, defined in :mod:`toolkit.engine.metrics`):
Decoupling convention many > 100, few < 20 (default); OLTR convention many >= 100, few <= 20.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ..engine.errors import LtError
from ..engine.metrics import SHOT_CONVENTIONS, shot_groups  # noqa: F401  (the shot groups live with the metrics)


def exp_profile(n_max: int, num_classes: int, imbalance: float) -> list[int]:
    """Per-class counts of the exponential long-tail profile."""
    if imbalance < 1:
        raise LtError(f"--imbalance must be >= 1 (got {imbalance})")
    if num_classes == 1:
        return [n_max]
    return [int(math.floor(n_max * imbalance ** (-i / (num_classes - 1)) + 1e-9)) for i in range(num_classes)]


def longtail_indices(labels: Sequence[int], counts: Sequence[int], seed: int = 0) -> list[int]:
    """Indices taking ``counts[c]`` samples of class c without replacement (fixed seed), in index order."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    out: list[int] = []
    for c, n in enumerate(counts):
        idx = np.flatnonzero(labels == c)
        if n > len(idx):
            raise LtError(f"class {c} has {len(idx)} samples, the profile asks for {n}")
        out.extend(sorted(rng.choice(idx, size=n, replace=False).tolist()))
    return out
