"""Optional PNG plots (the ``plot`` extra). Without matplotlib a plot is skipped with a log line."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from .checkpoint import atomic_path
from .report import log


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        return plt
    except ImportError:
        log("matplotlib not installed (pip install 'lt-toolkit[plot]'): plot skipped")
        return None


def save_figure(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    return path


def plot_per_class(path: Path, train_counts: Sequence[int], per_class: Sequence[float], title: str = "") -> Path | None:
    """Per-class test accuracy against training count (log x), one dot per class."""
    plt = _pyplot()
    if plt is None:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(list(train_counts), [100 * a for a in per_class], s=14)
    ax.set_xscale("log")
    ax.set_xlabel("training samples of the class")
    ax.set_ylabel("test accuracy of the class (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    try:
        return save_figure(fig, path)
    finally:
        plt.close(fig)
