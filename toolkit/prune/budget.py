"""The cost model of rd's curves: the plan said before measuring and the hint when the ETA is long.

``--curves measured`` (Xu et al., ICCV 2023, arXiv 2308.10438, step 1, on our fx split): sum over
layers of its distinct grid points above its current zeros, times ceil(N / B) suffix passes of at most
B images (N calibration images, B = ``--batch-size``): about L (K+1) ceil(N / B).
``--curves sketch`` (our extension, :mod:`toolkit.prune.sketch`): N forwards and N D backwards at
batch 1 (D = ``--sketch-draws``), independent of L and K, plus L M ceil(N / B) suffix passes for
M = ``--sketch-anchors``. Used by :func:`toolkit.prune.cache.get_curves` for every ``lt prune``
(``lt prune --ratio 0.7 resnet50`` prints ``curves: plan ...`` first, then the ETA after one pass).
"""

from __future__ import annotations

import math

from . import curves
from .curves import _todo


def measured_passes(sizes: list[int], current: list[int], grid: int, batches: int, stack: int = 1) -> int:
    """Suffix passes of ``--curves measured``: distinct grid points above the current zeros, ``stack``
    of them per pass, x batches."""
    return sum(math.ceil(len(_todo(n, grid, c)[0]) / stack) for n, c in zip(sizes, current, strict=True)) * batches


def plan_line(mode: str, sizes: list[int], current: list[int], grid: int, images: int, batch: int,
              draws: int | None = None, anchors: int | None = None, pass_images: int | None = None) -> str:
    """One line: the mode, layers, grid points, images and the passes it will take."""
    batches = math.ceil(images / batch)
    head = f"curves: plan {mode}, {len(sizes)} layers x {grid + 1} grid points, {images} images ({batches} batches)"
    if mode == "measured":
        group = pass_images or batch
        passes = measured_passes(sizes, current, grid, batches, max(1, group // batch))
        return f"{head}: {passes} suffix passes of <= {group} images"
    extra = f" + {len(sizes) * anchors * batches} anchor suffix passes" if anchors else ""
    return (f"{head}: {images} forwards and {images * draws} backwards at batch 1 ({draws} draw(s) per image)"
            f"{extra}, independent of layers x grid")


def hint(mode: str, grid: int, images: int):
    """``fn(eta_seconds) -> line``: which cheaper settings or curve mode would fit in
    :data:`toolkit.prune.curves.LONG_S` (15 min)."""

    def line(eta: float) -> str:
        long_s = curves.LONG_S
        f = min(1.0, long_s / eta)
        fewer = max(1, int(images * f))
        if mode == "measured":
            k = max(2, int(grid * f))
            return (f"hint: this ETA exceeds {long_s // 60} min on this device; --curves sketch costs passes "
                    f"independent of layers x grid (the default), or --grid {k} or --calib-size {fewer} would fit")
        return (f"hint: this ETA exceeds {long_s // 60} min on this device; --calib-size {fewer} (or fewer "
                f"--sketch-draws / --sketch-anchors) would fit")

    return line
