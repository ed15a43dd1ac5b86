"""Calibration images for distortion curves: a deterministic data subset or zero-data noise.

Data mode (``--dataset DATASET``): the first ``calib_size`` images of a seeded permutation of the
training split, with test-time transforms (the dataset built with ``augment=False`` where it takes
that option; the authors' CIFAR code kept random crop/flip here, so even d_l(0) != 0 there).
Noise mode (``--dataset noise``, the default for a model that records no dataset): N(0, 1) images in
the model's *normalised* input space, i.e. ``mean + std * z`` in the [0,1] pixel space our models take
(Xu et al. ICCV 2023 zero-data mode). Authors' sizes: 1024 images (CIFAR), 256 (ImageNet); our default is 256.
``lt prune --ratio 0.7 MODEL --dataset digits --calib-size 256`` / ``--dataset noise --image-size 224``.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import torch
from torch import nn

from ..engine.errors import DataError, LtError
from ..engine.report import progress, warn
from ..models import input_side
from .options import NOISE, check_image_size


@dataclass
class Calibration:
    """Calibration inputs (pixel space) split into batches, plus how they were made (for fingerprints)."""

    images: torch.Tensor
    batch_size: int
    spec: dict = field(default_factory=dict)
    test_set: object | None = None

    def batches(self) -> list[torch.Tensor]:
        return list(torch.split(self.images, self.batch_size))

    def __len__(self) -> int:
        return self.images.shape[0]


def noise_images(model: nn.Module, n: int, image_size: int, seed: int, channels: int = 3) -> torch.Tensor:
    """N(0,1) in normalised space: ``mean + std * z`` per channel (plain z when the model has no norm)."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, channels, image_size, image_size, generator=g)
    mean, std = getattr(model, "mean", None), getattr(model, "std", None)
    if mean is None or mean.numel() == 0:
        return z
    return mean.cpu().view(1, -1, 1, 1) + std.cpu().view(1, -1, 1, 1) * z


def calibration_bundle(name: str, root: str | None = None, download: bool = False):
    """The dataset built with test-time transforms (``augment=False``) where its builder takes that."""
    from ..data import DATASETS, get_dataset, list_datasets

    builder = DATASETS.get(name) if name in list_datasets() else None
    if builder is not None and "augment" in inspect.signature(builder).parameters:
        return get_dataset(name, root=root, download=download, augment=False)
    bundle = get_dataset(name, root=root, download=download)
    warn(f"dataset '{name}' has no augment option; calibrating on its training split as built")
    return bundle


def build_calibration(model: nn.Module, bundle, calib_size: int, batch_size: int, *,
                      image_size: int | None = None, seed: int = 0) -> Calibration:
    """Noise (``bundle`` None) or a seeded subset of ``bundle.train``; refuses fewer images than one batch.

    ``spec`` (part of the curves cache key) keeps its lt 0.1 field names, so existing caches stay valid.
    """
    check_sizes(calib_size, batch_size)
    if bundle is None:
        size = image_size or input_side(model)
        images = noise_images(model, calib_size, size, seed)
        spec, test_set = {"data": NOISE, "size": calib_size, "input_size": size, "seed": seed}, None
    else:
        check_image_size(bundle.name, image_size)
        train = bundle.train
        g = torch.Generator().manual_seed(seed)
        idx = torch.randperm(len(train), generator=g)[:calib_size].tolist()
        if len(idx) < calib_size:
            warn(f"--calib-size {calib_size} > {len(train)} training images; using all of them")
        picked = [train[i][0] for i in progress(idx, description="calibration images")]
        images = torch.stack(picked) if picked else torch.empty(0)
        spec = {"data": bundle.name, "size": len(idx), "seed": seed}
        test_set = bundle.test
    if images.shape[0] < batch_size:
        raise DataError(f"calibration set has {images.shape[0]} images, fewer than one batch "
                        f"(--batch-size {batch_size}); raise --calib-size or lower --batch-size")
    return Calibration(images=images, batch_size=batch_size, spec=spec, test_set=test_set)


def check_sizes(calib_size: int, batch_size: int) -> None:
    if calib_size < 1 or batch_size < 1:
        raise LtError(f"--calib-size and --batch-size must be >= 1 (got {calib_size}, {batch_size})")

