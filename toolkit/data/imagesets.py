"""Image sets for attacks: NIPS-2017 dev layout, TransferAttack layout, ImageFolder, registered sets.

``load_image_set(spec)`` accepts

* a NIPS-2017 dev set: the competition kit's ``dev_dataset.csv`` or the ``images.csv`` later repos
  rename it to (columns ``ImageId,URL,x1,y1,x2,y2,TrueLabel,TargetClass,...``; ``TrueLabel`` and
  ``TargetClass`` 1-indexed over 1001 classes with background 0, so label = TrueLabel - 1), images
  ``<ImageId>.png`` in ``images/`` beside the CSV or in the CSV's own folder;
* a TransferAttack directory: ``images/`` + ``labels.csv`` with ``filename,label`` (0-indexed) and
  optionally ``target``; this is also the layout ``lt attack`` writes its adversarial images in;
* one of those CSV files given directly (``--dataset DIR/my_list.csv``): the kind is read from its header;
* an ImageFolder directory: at least two sub-directories, one per class (sorted names = class indices);
* a registered dataset name (``digits-lt``, ``cifar10``, ...): its test split.

Nothing is guessed: a directory holding more than one label CSV, a CSV whose header is neither
NIPS-2017 (``ImageId``, ``TrueLabel``) nor TransferAttack (``filename``, ``label``), a known file name
with the other kind's header, or an ``images/`` folder with no CSV beside it (which ImageFolder would
read as one class, every label 0) is an error naming the file.
Rows whose image is missing and unreadable images are errors naming the file. ``image_size``
resizes every image to a square side (bilinear, antialiased); without it all images must share one
size (batches are stacked).

    lt attack mifgsm --surrogate resnet50 --weights IMAGENET1K_V2 --dataset nips17/dev_dataset.csv
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


NIPS_NAMES = ("images.csv", "dev_dataset.csv")  # later repos' name, the competition kit's name
TA_NAMES = ("labels.csv",)
KINDS = {"nips2017": ("ImageId", "TrueLabel"), "transferattack": ("filename", "label")}


def load_image_set(spec: str, image_size: int | None = None, root: str | None = None,
                   limit: int | None = None) -> ImageSet:
    """Load ``spec`` (a directory or CSV in one of the layouts above, or a registered dataset name)."""
    path = Path(spec)
    transform = Resize(image_size) if image_size else None
    if path.is_file() or path.is_dir():
        items, layout = _items(path)
        targets = ([t for _, _, t in items]
                   if layout != "imagefolder" and all(t is not None for _, _, t in items) else None)
        items = items[:limit] if limit else items
        if targets is not None:
            targets = targets[:len(items)]
        pairs = [(p, label) for p, label, _ in items]
        ds = ImageListDataset(pairs, transform=transform, verify=True)
        names = _names([p for p, _ in pairs], layout)
        return ImageSet(ds, names, [label for _, label in pairs], layout, str(path), targets=targets,
                        num_classes=None)
    return _registered(spec, root, transform, limit)


def _items(path: Path) -> tuple[list[tuple[Path, int, int | None]], str]:
    """Items and layout name of a directory or a CSV file; every unclear case is a DataError."""
    csv_path = path if path.is_file() else _label_csv(path)
    if csv_path is None:
        return _imagefolder_items(path), "imagefolder"
    kind = csv_kind(csv_path)
    read = _nips_items if kind == "nips2017" else _transferattack_items
    return read(csv_path), kind


def _label_csv(folder: Path) -> Path | None:
    """The label CSV of ``folder``: the one with a known name, else the one with a known header.

    None when the folder holds no CSV (ImageFolder). Two candidates, or only CSVs of unknown name and
    header, are errors: which file labels the images would be a guess.
    """
    csvs = sorted(f for f in folder.iterdir() if f.is_file() and f.suffix.lower() == ".csv")
    known = [f for f in csvs if f.name in NIPS_NAMES + TA_NAMES]
    if not known:
        known = [f for f in csvs if _header_kinds(_header(f))]
    if len(known) > 1:
        raise DataError(f"--dataset '{folder}' holds {len(known)} label CSVs ({', '.join(f.name for f in known)}); "
                        f"which one labels the images is ambiguous: pass the CSV itself, e.g. --dataset {known[0]}")
    if not known and csvs:
        csv_kind(csvs[0])  # raises: neither a known name nor a readable header
    return known[0] if known else None


def _header_kinds(header: list[str]) -> list[str]:
    return [k for k, cols in KINDS.items() if all(c in header for c in cols)]


def csv_kind(csv_path: Path) -> str:
    """``nips2017`` or ``transferattack`` from the file name and header; they must agree."""
    header = _header(csv_path)
    by_header = _header_kinds(header)
    by_name = ("nips2017" if csv_path.name in NIPS_NAMES else "transferattack" if csv_path.name in TA_NAMES
               else None)
    expected = "; ".join(f"{k}: {', '.join(cols)}" for k, cols in KINDS.items())
    if len(by_header) != 1:
        what = "a known name" if by_name else "neither a known name (images.csv, dev_dataset.csv, labels.csv) nor"
        raise DataError(f"'{csv_path}' has {what} a readable header: found columns "
                        f"{', '.join(header) or 'none'}; expected {expected}")
    if by_name is not None and by_name != by_header[0]:
        raise DataError(f"'{csv_path}' is named like a {by_name} file but its header is {by_header[0]}'s "
                        f"({', '.join(header)}); rename it or fix its header")
    return by_header[0]


def _header(csv_path: Path) -> list[str]:
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as f:
            row = next(csv.reader(f), [])
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"'{csv_path}' could not be read: {e}") from e
    return [c.strip() for c in row]


def _image_dir(csv_path: Path) -> Path:
    """``images/`` beside the CSV when it exists, else the CSV's own folder."""
    sub = csv_path.parent / "images"
    return sub if sub.is_dir() else csv_path.parent


def _read_csv(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
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
    return DataError(f"'{csv_path}' lists image(s) missing from '{_image_dir(csv_path)}': {shown}")


def _nips_items(csv_path: Path) -> list[tuple[Path, int, int | None]]:
    rows = _read_csv(csv_path, KINDS["nips2017"])
    folder = _image_dir(csv_path)
    items, missing = [], []
    for r in rows:
        img = _find_image(folder, r["ImageId"].strip())
        if img is None:
            missing.append(r["ImageId"].strip())
            continue
        label = _int(r["TrueLabel"], "TrueLabel", csv_path) - 1
        if label < 0:
            raise DataError(f"'{csv_path}': TrueLabel of {r['ImageId']} is {label + 1}; NIPS-2017 labels are "
                            f"1-indexed over 1001 classes with 0 = background (1..1000)")
        target = _int(r["TargetClass"], "TargetClass", csv_path) - 1 if r.get("TargetClass") else None
        items.append((img, label, target))
    if missing:
        raise _missing_error(csv_path, missing)
    return items


def _transferattack_items(csv_path: Path) -> list[tuple[Path, int, int | None]]:
    rows = _read_csv(csv_path, KINDS["transferattack"])
    folder = _image_dir(csv_path)
    items, missing = [], []
    for r in rows:
        img = _find_image(folder, r["filename"].strip())
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
        raise DataError(f"--dataset '{path}' holds no dev_dataset.csv / images.csv (NIPS-2017), no labels.csv "
                        f"(TransferAttack) and no class sub-directories with images (ImageFolder)")
    used = sorted({name for name in classes if any(p.parent.name == name for p, _, _ in items)})
    if len(used) < 2:
        hint = (" -- a NIPS-2017 set needs its dev_dataset.csv (or images.csv) beside images/"
                if used == ["images"] else "")
        raise DataError(f"--dataset '{path}' has no label CSV and only one class folder with images ('{used[0]}/'); "
                        f"read as ImageFolder every label would be 0{hint}")
    return items


def _names(paths: list[Path], layout: str) -> list[str]:
    if layout == "imagefolder":
        return [f"{p.parent.name}__{p.stem}" for p in paths]
    return [p.stem for p in paths]


def _registered(name: str, root: str | None, transform: Any, limit: int | None) -> ImageSet:
    from ..engine.errors import LtError
    from . import get_dataset, list_datasets

    if name not in list_datasets():
        raise LtError(f"--dataset '{name}' is neither a directory nor a registered dataset; "
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
