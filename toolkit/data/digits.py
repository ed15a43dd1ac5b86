"""Embedded sets from scikit-learn's bundled 8x8 digits (no download): ``digits-lt`` and ``digits``.

Images are upscaled to 32x32 RGB so CIFAR models run on them. Per class, 40 images are held out
as a balanced test split and 20 as a balanced val split (fixed seed); the rest form the training
pool. ``digits-lt`` draws a long-tailed train split from the pool with the exponential profile
(``imbalance`` = n_max / n_min, default 10; n_max = the smallest class pool), without replacement.
``digits`` trains on the whole (balanced) pool.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from . import register_dataset
from .bundle import DataBundle, TensorImageDataset, class_counts
from .longtail import exp_profile, longtail_indices

TEST_PER_CLASS = 40
VAL_PER_CLASS = 20


def _load_digits(size: int = 32) -> tuple[torch.Tensor, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).clamp_(0, 1)
    x = (x.repeat(1, 3, 1, 1) * 255).round().to(torch.uint8)
    return x, d.target.astype(np.int64)


def _splits(labels: np.ndarray, seed: int) -> tuple[list[int], list[int], list[int]]:
    rng = np.random.default_rng(seed)
    train, val, test = [], [], []
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(labels == c))
        test += idx[:TEST_PER_CLASS].tolist()
        val += idx[TEST_PER_CLASS:TEST_PER_CLASS + VAL_PER_CLASS].tolist()
        train += idx[TEST_PER_CLASS + VAL_PER_CLASS:].tolist()
    return sorted(train), sorted(val), sorted(test)


def _train_transform(augment: bool):
    if not augment:
        return None
    from torchvision.transforms import v2

    return v2.RandomCrop(32, padding=2)


def _bundle(name: str, train_idx, val_idx, test_idx, images, labels, augment: bool, info: dict) -> DataBundle:
    train = TensorImageDataset(images[train_idx], labels[train_idx], _train_transform(augment))
    val = TensorImageDataset(images[val_idx], labels[val_idx])
    test = TensorImageDataset(images[test_idx], labels[test_idx])
    return DataBundle(name=name, train=train, val=val, test=test, num_classes=10,
                      train_counts=class_counts(labels[train_idx], 10), class_names=[str(i) for i in range(10)],
                      input_shape=(3, 32, 32), info=info)


@register_dataset("digits-lt")
def digits_lt(root=None, download=False, imbalance: float = 10.0, split_seed: int = 0,
              augment: bool = True) -> DataBundle:
    """Long-tailed digits: exponential profile with ``imbalance`` over classes 0..9."""
    images, labels = _load_digits()
    pool, val, test = _splits(labels, split_seed)
    pool_counts = class_counts(labels[pool], 10)
    counts = exp_profile(min(pool_counts), 10, imbalance)
    chosen = longtail_indices(labels[pool], counts, seed=split_seed)
    train = [pool[i] for i in chosen]
    return _bundle("digits-lt", train, val, test, images, labels, augment,
                   {"imbalance": imbalance, "val": "balanced held-out (20/class)",
                    "test": "balanced held-out (40/class)"})


@register_dataset("digits")
def digits(root=None, download=False, split_seed: int = 0, augment: bool = True) -> DataBundle:
    """Balanced digits: the whole training pool (about 120 per class)."""
    images, labels = _load_digits()
    train, val, test = _splits(labels, split_seed)
    return _bundle("digits", train, val, test, images, labels, augment,
                   {"val": "balanced held-out (20/class)", "test": "balanced held-out (40/class)"})
