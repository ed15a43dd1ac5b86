"""Image sets for attacks: NIPS-2017 dev layout, TransferAttack layout, ImageFolder, registered sets.

``load_image_set(spec)`` accepts

* a NIPS-2017 dev directory: ``images/`` + ``images.csv`` with ``ImageId``, ``TrueLabel``
  (1-indexed, 1001 classes with background 0, so label = TrueLabel − 1) and optionally
  ``TargetClass`` (1-indexed); images ``images/<ImageId>.<ext>``;
* a TransferAttack directory: ``images/`` + ``labels.csv`` with ``filename,label`` (0-indexed) and
  optionally ``target``; this is also the layout ``lt attack`` writes its adversarial images in;
* an ImageFolder directory: one sub-directory per class (sorted names = class indices);
* a registered dataset name (``digits-lt``, ``cifar10``, ...): its test split.

Rows whose image is missing and unreadable images are errors naming the file. ``image_size``
resizes every image to a square side (bilinear, antialiased); without it all images must share one
size (batches are stacked).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from ..engine.errors import DataError
from .imagefiles import IMAGE_EXTENSIONS, ImageListDataset


@dataclass
class ImageSet:
    """A labelled image dataset plus per-image names (output file stems) and optional targets."""

    dataset: Dataset
    names: list[str]
    labels: list[int]
    layout: str
    source: str
    num_classes: int | None = None
    targets: list[int] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.names)


class _Indexed(Dataset):
    """Yields ``(image, label, index)`` so batches can be traced back to names and targets."""

    def __init__(self, base: Dataset, n: int):
        self.base, self.n = base, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        x, y = self.base[i]
        return x, int(y), i


def indexed(image_set: ImageSet) -> Dataset:
    return _Indexed(image_set.dataset, len(image_set))


class Resize:
    """Resize a (C,H,W) float image to (size, size), bilinear with antialiasing."""

    def __init__(self, size: int):
        self.size = int(size)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] == (self.size, self.size):
            return x
        out = F.interpolate(x[None], size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True)
        return out[0].clamp_(0, 1)


def load_image_set(spec: str, image_size: int | None = None, root: str | None = None,
                   limit: int | None = None) -> ImageSet:
    """Load ``spec`` (a directory in one of the layouts above, or a registered dataset name)."""
    path = Path(spec)
    transform = Resize(image_size) if image_size else None
    if path.is_dir():
        if (path / "images.csv").is_file():
            items, layout = _nips_items(path), "nips2017"
            targets = [t for _, _, t in items] if all(t is not None for _, _, t in items) else None
        elif (path / "labels.csv").is_file():
            items, layout = _transferattack_items(path), "transferattack"
            targets = [t for _, _, t in items] if all(t is not None for _, _, t in items) else None
        else:
            items, targets, layout = _imagefolder_items(path), None, "imagefolder"
        items = items[:limit] if limit else items
        if targets is not None:
            targets = targets[:len(items)]
        pairs = [(p, label) for p, label, _ in items]
        ds = ImageListDataset(pairs, transform=transform, verify=True)
        names = _names([p for p, _ in pairs], layout)
        return ImageSet(ds, names, [label for _, label in pairs], layout, str(path), targets=targets,
                        num_classes=None)
    return _registered(spec, root, transform, limit)


def _read_csv(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"'{path}' could not be read: {e}") from e
    cols = set(rows[0]) if rows else set()
    missing = [c for c in required if c not in cols]
    if not rows or missing:
        raise DataError(f"'{path}' needs columns {', '.join(required)} (found: {', '.join(sorted(cols)) or 'none'})")
    return rows


def _int(value: str, what: str, where: Path) -> int:
    try:
        return int(str(value).strip())
    except ValueError as e:
        raise DataError(f"'{where}': {what} '{value}' is not an integer") from e


def _find_image(folder: Path, stem: str) -> Path | None:
    direct = folder / stem
    if direct.suffix.lower() in IMAGE_EXTENSIONS and direct.is_file():
        return direct
    for ext in IMAGE_EXTENSIONS:
        for cand in (folder / f"{stem}{ext}", folder / f"{stem}{ext.upper()}"):
            if cand.is_file():
                return cand
    return None


def _missing_error(csv_path: Path, missing: list[str]) -> DataError:
    shown = ", ".join(missing[:5]) + (f", ... ({len(missing)} in all)" if len(missing) > 5 else "")
    return DataError(f"'{csv_path}' lists image(s) missing from '{csv_path.parent / 'images'}': {shown}")


def _nips_items(path: Path) -> list[tuple[Path, int, int | None]]:
    csv_path = path / "images.csv"
    rows = _read_csv(csv_path, ("ImageId", "TrueLabel"))
    items, missing = [], []
    for r in rows:
        img = _find_image(path / "images", r["ImageId"].strip())
        if img is None:
            missing.append(r["ImageId"].strip())
            continue
        label = _int(r["TrueLabel"], "TrueLabel", csv_path) - 1
        if label < 0:
            raise DataError(f"'{csv_path}': TrueLabel of {r['ImageId']} is {label + 1}; NIPS-2017 labels are 1-indexed (1..1000)")
        target = _int(r["TargetClass"], "TargetClass", csv_path) - 1 if r.get("TargetClass") else None
        items.append((img, label, target))
    if missing:
        raise _missing_error(csv_path, missing)
    return items


def _transferattack_items(path: Path) -> list[tuple[Path, int, int | None]]:
    csv_path = path / "labels.csv"
    rows = _read_csv(csv_path, ("filename", "label"))
    items, missing = [], []
    for r in rows:
        img = _find_image(path / "images", r["filename"].strip())
        if img is None:
            missing.append(r["filename"].strip())
            continue
        target = _int(r["target"], "target", csv_path) if r.get("target") not in (None, "") else None
        items.append((img, _int(r["label"], "label", csv_path), target))
    if missing:
        raise _missing_error(csv_path, missing)
    return items


def _imagefolder_items(path: Path) -> list[tuple[Path, int, None]]:
    classes = sorted(d.name for d in path.iterdir() if d.is_dir())
    items = [(f, c, None) for c, name in enumerate(classes) for f in sorted((path / name).iterdir())
             if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS]
    if not items:
        raise DataError(f"--data '{path}' holds no images.csv (NIPS-2017), no labels.csv (TransferAttack) "
                        f"and no class sub-directories with images (ImageFolder)")
    return items


def _names(paths: list[Path], layout: str) -> list[str]:
    if layout == "imagefolder":
        return [f"{p.parent.name}__{p.stem}" for p in paths]
    return [p.stem for p in paths]


def _registered(name: str, root: str | None, transform: Any, limit: int | None) -> ImageSet:
    from ..engine.errors import LtError
    from . import get_dataset, list_datasets

    if name not in list_datasets():
        raise LtError(f"--data '{name}' is neither a directory nor a registered dataset; "
                      f"datasets: {', '.join(list_datasets())}")
    bundle = get_dataset(name, root=root)
    test = bundle.test
    n = min(len(test), limit) if limit else len(test)
    labels = [int(v) for v in list(getattr(test, "targets", [test[i][1] for i in range(n)]))[:n]]
    ds = _Transformed(test, transform) if transform else test
    return ImageSet(ds, [f"{i:05d}" for i in range(n)], labels, "registered", name,
                    num_classes=bundle.num_classes)


class _Transformed(Dataset):
    def __init__(self, base: Dataset, transform: Any):
        self.base, self.transform = base, transform

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int):
        x, y = self.base[i]
        return self.transform(x), y
