"""PNGs of the rate-distortion curves and the layer allocation (needs the ``plot`` extra: matplotlib)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..engine.checkpoint import atomic_path
from ..engine.report import log


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib is not installed (pip install 'lt-toolkit[plot]'); skipping plots")
        return None
    return plt


def _save(fig, plt, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def plot_curves(curves: np.ndarray, names: list[str], path: Path) -> bool:
    """d_l(a) for every layer on a log scale (zeros drawn at the floor)."""
    plt = _pyplot()
    if plt is None:
        return False
    a = np.linspace(0, 1, curves.shape[1])
    positive = curves[curves > 0]
    floor = float(positive.min()) / 10 if positive.size else 1e-12
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for row, name in zip(curves, names, strict=True):
        ax.plot(a, np.maximum(row, floor), lw=1, label=name if len(names) <= 12 else None)
    ax.set_yscale("log")
    ax.set_xlabel("pruned fraction of the layer")
    ax.set_ylabel("output distortion d_l")
    ax.set_title("rate-distortion curves (one layer pruned at a time)")
    if len(names) <= 12:
        ax.legend(fontsize=6)
    _save(fig, plt, path)
    return True


def plot_allocation(names: list[str], pruned: list[float], target: float, path: Path) -> bool:
    """Pruned fraction per layer, with the global target as a line."""
    plt = _pyplot()
    if plt is None:
        return False
    fig, ax = plt.subplots(figsize=(max(6, 0.18 * len(names)), 4))
    ax.bar(range(len(names)), pruned)
    ax.axhline(target, color="k", ls="--", lw=1, label=f"target {target}")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=90, fontsize=6)
    ax.set_ylim(0, 1)
    ax.set_ylabel("pruned fraction")
    ax.legend()
    _save(fig, plt, path)
    return True
