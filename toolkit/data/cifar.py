"""torchvision's CIFAR sets under ``--data-root``: ``cifar10-lt``, ``cifar100-lt`` and balanced ``cifar10``,
``cifar100`` (``mnist``, ``fashion-mnist``, ``fashion-mnist-lt``: :mod:`toolkit.data.mnist`).

CIFAR-LT follows Cui et al., "Class-Balanced Loss Based on Effective Number of Samples", CVPR 2019
(arXiv 1901.05555) and Cao et al., "LDAM", NeurIPS 2019 (arXiv 1906.07413): class i keeps
n_i = floor(n_max * IF^(-i/(C-1))) training images, classes in index order, drawn with a fixed seed
*without replacement* (n_max = 5,000 on CIFAR-10, 500 on CIFAR-100: the smallest class of the
train set). Totals: CIFAR-10-LT 12,406 / 13,996 / 20,431 and CIFAR-100-LT 10,847 / 12,608 / 19,573
for IF 100 / 50 / 10. The test set is the balanced original; there is no val split (model
selection then uses test, and reports say so).

Files (torchvision's layout; ``download=True`` / ``--download`` fetches them, nothing else does):

    <data-root>/cifar-10-batches-py/data_batch_1..5, test_batch, batches.meta
    <data-root>/cifar-100-python/train, test, meta

CIFAR files are read by torchvision's own parser; a file whose checksum differs from the official
release (a subset, a re-pickled copy) is read with a warning instead of refused. The pickle format
executes code when loaded: only point ``--data-root`` at files you trust.

Options: ``imbalance`` (IF = n_max/n_min, default 100, the common benchmark setting), ``split_seed``
(0, our choice), ``augment`` (CIFAR: RandomCrop 32 pad 4 + horizontal flip, the community recipe).

    lt train ce --dataset cifar100-lt --imbalance 100 --data-root ~/data --model resnet32
"""

from __future__ import annotations

import pickle
from pathlib import Path

import torch

from ..engine.errors import DataError
from ..engine.report import warn
from . import register_dataset
from .bundle import DataBundle, TensorImageDataset, class_counts
from .longtail import exp_profile, longtail_indices
from .lt_splits import require_root

_CIFAR = {10: ("CIFAR10", "cifar-10-batches-py", ["data_batch_1", "data_batch_2", "data_batch_3",
                                                  "data_batch_4", "data_batch_5", "test_batch", "batches.meta"]),
          100: ("CIFAR100", "cifar-100-python", ["train", "test", "meta"])}


def _missing(base: Path, files: list[str]) -> str | None:
    for f in files:
        if not (base / f).is_file():
            return str(base / f)
    return None


def _lenient(tv_cls):
    """torchvision's CIFAR class with the per-file md5 checks relaxed to 'the file exists'."""
    return type(f"Lenient{tv_cls.__name__}", (tv_cls,), {
        "train_list": [[f, None] for f, _ in tv_cls.train_list],
        "test_list": [[f, None] for f, _ in tv_cls.test_list],
        "meta": {**tv_cls.meta, "md5": None}})


def _official_checksums(tv_cls, base: Path) -> bool:
    from torchvision.datasets.utils import check_integrity

    files = tv_cls.train_list + tv_cls.test_list + [[tv_cls.meta["filename"], tv_cls.meta["md5"]]]
    return all(check_integrity(str(base / f), md5) for f, md5 in files)


def load_cifar(name: str, num_classes: int, root, download: bool):
    """(train_images uint8 (N,3,32,32), train_labels, test_images, test_labels, class_names)."""
    import torchvision.datasets as tvd

    cls_name, folder, files = _CIFAR[num_classes]
    expected = f"{folder}/ ({', '.join(files)}), torchvision's CIFAR-{num_classes} python layout"
    base = require_root(name, root, expected)
    tv_cls = getattr(tvd, cls_name)
    reader = _lenient(tv_cls)
    if download:  # torchvision fetches the archive and checks its md5 (skipped when the files exist)
        try:
            reader(str(base), train=True, download=True)
        except (OSError, RuntimeError) as e:
            raise DataError(f"downloading CIFAR-{num_classes} into '{base}' failed: {e}") from e
    missing = _missing(base / folder, files)
    if missing:
        raise DataError(f"expected file '{missing}' not found (dataset '{name}' reads {expected}; "
                        f"pass --download to fetch it)")
    if not _official_checksums(tv_cls, base / folder):
        warn(f"{base / folder}: checksums differ from the official CIFAR-{num_classes} release; reading it anyway")
    out = []
    for train in (True, False):
        try:
            ds = reader(str(base), train=train, download=False)
        except (pickle.UnpicklingError, EOFError, KeyError, ValueError, TypeError, RuntimeError) as e:
            raise DataError(f"CIFAR-{num_classes} files in '{base / folder}' are unreadable "
                            f"({type(e).__name__}: {e})") from e
        out += [torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous(), list(ds.targets)]
    return out[0], out[1], out[2], out[3], list(ds.classes)


def _cifar_transform(augment: bool):
    if not augment:
        return None
    from torchvision.transforms import v2

    return v2.Compose([v2.RandomCrop(32, padding=4), v2.RandomHorizontalFlip()])


def _cifar_bundle(name: str, num_classes: int, root, download: bool, augment: bool,
                  imbalance: float | None, split_seed: int) -> DataBundle:
    if imbalance is not None:
        exp_profile(1, num_classes, imbalance)  # validates imbalance >= 1 before any file is read
    x_tr, y_tr, x_te, y_te, names = load_cifar(name, num_classes, root, download)
    info: dict = {"root": str(root), "val": "none (select on test)", "test": "balanced original test set"}
    if imbalance is not None:
        pool_counts = class_counts(y_tr, num_classes)
        counts = exp_profile(min(pool_counts), num_classes, imbalance)
        idx = longtail_indices(y_tr, counts, seed=split_seed)
        x_tr, y_tr = x_tr[idx], [y_tr[i] for i in idx]
        info.update(imbalance=imbalance, split_seed=split_seed, n_max=min(pool_counts), sampling="without replacement")
    train = TensorImageDataset(x_tr, y_tr, _cifar_transform(augment))
    return DataBundle(name=name, train=train, test=TensorImageDataset(x_te, y_te), num_classes=num_classes,
                      train_counts=class_counts(y_tr, num_classes), val=None, class_names=names,
                      input_shape=(3, 32, 32), info=info)


@register_dataset("cifar10-lt")
def cifar10_lt(root=None, download=False, imbalance: float = 100.0, split_seed: int = 0,
               augment: bool = True) -> DataBundle:
    """CIFAR-10-LT: exponential profile with ``imbalance`` (100 -> 12,406 training images)."""
    return _cifar_bundle("cifar10-lt", 10, root, download, augment, imbalance, split_seed)


@register_dataset("cifar100-lt")
def cifar100_lt(root=None, download=False, imbalance: float = 100.0, split_seed: int = 0,
                augment: bool = True) -> DataBundle:
    """CIFAR-100-LT: exponential profile with ``imbalance`` (100 -> 10,847 training images)."""
    return _cifar_bundle("cifar100-lt", 100, root, download, augment, imbalance, split_seed)


@register_dataset("cifar10")
def cifar10(root=None, download=False, augment: bool = True) -> DataBundle:
    """Balanced CIFAR-10 (50,000 train / 10,000 test)."""
    return _cifar_bundle("cifar10", 10, root, download, augment, None, 0)


@register_dataset("cifar100")
def cifar100(root=None, download=False, augment: bool = True) -> DataBundle:
    """Balanced CIFAR-100 (50,000 train / 10,000 test)."""
    return _cifar_bundle("cifar100", 100, root, download, augment, None, 0)
