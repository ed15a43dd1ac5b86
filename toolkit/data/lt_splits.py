"""ImageNet-LT and Places-LT from the OLTR split files: ``imagenet-lt``, ``places-lt``.

Liu et al., "Large-Scale Long-Tailed Recognition in an Open World" (OLTR), CVPR 2019,
arXiv 1904.05160. The splits are plain text files, one ``relative/path label`` per line, the path
relative to the data root:

    <data-root>/ImageNet_LT_train.txt   115,846 images, 1,000 classes (1,280 -> 5 per class)
    <data-root>/ImageNet_LT_val.txt      20,000 images (20 per class)
    <data-root>/ImageNet_LT_test.txt     50,000 images (50 per class)
    <data-root>/Places_LT_{train,val,test}.txt   62,500 / 7,300 / 36,500 images, 365 classes
    <data-root>/train/n01440764/n01440764_190.JPEG ...   (whatever the split files list)

Without ``split_dir`` the files are looked for in ``<data-root>/``, then where the OLTR repo keeps
them, ``<data-root>/data/<DS>/`` (``data/ImageNet_LT/ImageNet_LT_train.txt``,
``data/Places_LT/Places_LT_train.txt``), then ``<data-root>/<DS>/``; two of those holding different
files is an error (pass ``--split-dir``). ``split_dir`` may point elsewhere for the ``.txt`` files
(paths inside stay relative to the root). A leading ``/`` on a listed path is read as relative to
the root too, as OLTR's loader does. The first image of each split must exist (a cheap check that the
root is the one the files were written for); the test splits list the original *validation*
images, which ImageNet and Places-365 release flat, so they must first be arranged into the listed
paths (see ``docs/data.md``). The class count is the
largest label + 1 over the three files (a tiny subset stays tiny).

Transforms (the ImageNet-LT recipe in ``shared/methods/longtail.md``, our default for Places-LT and
iNat2018 too): train RandomResizedCrop ``image_size`` (224) + horizontal flip +
ColorJitter(0.4, 0.4, 0.4); val/test Resize ``resize_size`` (256; default image_size * 8/7) then
CenterCrop ``image_size``. Images are read lazily; ``verify=True`` opens each file once up front
(an unreadable one is an error naming it), ``skip_bad=True`` drops such files and counts them in
``info["skipped"]``.

    lt train ce --dataset imagenet-lt --data-root /data/imagenet --model resnext50_32x4d
"""

from __future__ import annotations

from pathlib import Path

from ..engine.errors import DataError, check
from . import register_dataset
from .bundle import DataBundle, class_counts
from .imagefiles import ImageListDataset

SPLITS = ("train", "val", "test")
OFFICIAL = {"ImageNet_LT": {"classes": 1000, "train": 115846, "val": 20000, "test": 50000},
            "Places_LT": {"classes": 365, "train": 62500, "val": 7300, "test": 36500}}


def require_root(name: str, root: str | Path | None, expected: str) -> Path:
    """The data root as a Path; missing (None or absent on disk) is a DataError saying what goes there."""
    if root is None:
        raise DataError(f"dataset '{name}' needs --data-root: a directory with {expected}")
    path = Path(root).expanduser()
    if not path.is_dir():
        raise DataError(f"--data-root '{root}' is not a directory; dataset '{name}' expects there {expected}")
    return path


def imagenet_transforms(image_size: int = 224, resize_size: int | None = None, augment: bool = True):
    """(train, test) torchvision v2 transforms of the ImageNet-LT recipe on float [0,1] tensors."""
    from torchvision.transforms import v2

    check(image_size >= 1, f"--image-size must be >= 1 (got {image_size})")
    resize = resize_size if resize_size is not None else round(image_size * 256 / 224)
    check(resize >= image_size, f"resize_size ({resize}) must be >= image_size ({image_size})")
    test = v2.Compose([v2.Resize(resize, antialias=True), v2.CenterCrop(image_size)])
    if not augment:
        return test, test
    train = v2.Compose([v2.RandomResizedCrop(image_size, antialias=True), v2.RandomHorizontalFlip(),
                        v2.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4)])
    return train, test


def read_split_file(path: Path, root: Path) -> list[tuple[Path, int]]:
    """Parse an OLTR split file; a malformed line is a DataError naming ``file:line``."""
    if not path.is_file():
        raise DataError(f"expected split file '{path}' not found")
    items: list[tuple[Path, int]] = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, start=1):
            text = line.strip()
            if not text:
                continue
            parts = text.rsplit(maxsplit=1)
            if len(parts) != 2 or not parts[1].isdigit():
                raise DataError(f"{path}:{n}: expected 'relative/path label' (label a non-negative integer), "
                                f"got '{text[:80]}'")
            items.append((root / parts[0].lstrip("/"), int(parts[1])))
    if not items:
        raise DataError(f"split file '{path}' lists no images")
    return items


def find_split_dir(base: Path, prefix: str) -> Path:
    """Where the split files are: the root, the OLTR repo's ``data/<DS>/``, or ``<DS>/`` (see above)."""
    cands = [base, base / "data" / prefix, base / prefix]
    have = [d for d in cands if (d / f"{prefix}_train.txt").is_file()]
    if not have:
        where = ", ".join(str(d) for d in cands[1:])
        raise DataError(f"expected split file '{base / f'{prefix}_train.txt'}' not found (also looked in {where}); "
                        f"pass --split-dir DIR for split files kept elsewhere")
    texts = {d: tuple((d / f"{prefix}_{s}.txt").read_bytes() if (d / f"{prefix}_{s}.txt").is_file() else b""
                      for s in SPLITS) for d in have}
    if len(set(texts.values())) > 1:
        raise DataError(f"split files {prefix}_*.txt in {' and '.join(str(d) for d in have)} differ; "
                        f"which split is meant is ambiguous: pass --split-dir")
    return have[0]


def _check_first_images(name: str, base: Path, items: dict[str, list[tuple[Path, int]]], sdir: Path,
                        prefix: str) -> None:
    for split, rows in items.items():
        first = rows[0][0]
        if not first.exists():
            hint = (" (the test split lists the original validation images, released flat: arrange them into "
                    "the listed paths, see docs/data.md)" if split == "test" else "")
            raise DataError(f"image '{first}' (line 1 of {sdir / f'{prefix}_{split}.txt'}) does not exist: is "
                            f"--data-root '{base}' the folder the {name} split paths are relative to?{hint}")


def _build(name: str, prefix: str, root, split_dir, image_size: int, resize_size: int | None,
           augment: bool, verify: bool, skip_bad: bool) -> DataBundle:
    files = ", ".join(f"{prefix}_{s}.txt" for s in SPLITS)
    base = require_root(name, root, f"the OLTR split files {files} and the images they list")
    sdir = Path(split_dir).expanduser() if split_dir else find_split_dir(base, prefix)
    items = {s: read_split_file(sdir / f"{prefix}_{s}.txt", base) for s in SPLITS}
    if not skip_bad:
        _check_first_images(name, base, items, sdir, prefix)
    num_classes = 1 + max(label for split in items.values() for _, label in split)
    train_tf, test_tf = imagenet_transforms(image_size, resize_size, augment)
    sets = {s: ImageListDataset(items[s], train_tf if s == "train" else test_tf, verify=verify, skip_bad=skip_bad)
            for s in SPLITS}
    skipped = {s: d.skipped for s, d in sets.items()}
    info = {"root": str(base), "split_files": [str(sdir / f"{prefix}_{s}.txt") for s in SPLITS],
            "sizes": {s: len(d) for s, d in sets.items()}, "official": OFFICIAL[prefix], "skipped": skipped}
    return DataBundle(name=name, train=sets["train"], val=sets["val"], test=sets["test"], num_classes=num_classes,
                      train_counts=class_counts(sets["train"].targets, num_classes),
                      class_names=[str(c) for c in range(num_classes)], input_shape=(3, image_size, image_size),
                      info=info)


@register_dataset("imagenet-lt")
def imagenet_lt(root=None, download=False, split_dir: str | None = None, image_size: int = 224,
                resize_size: int | None = None, augment: bool = True, verify: bool = False,
                skip_bad: bool = False) -> DataBundle:
    """ImageNet-LT (OLTR splits): train / val / test from ``ImageNet_LT_{train,val,test}.txt``."""
    check(not download, "imagenet-lt cannot be downloaded; put ImageNet and the OLTR split files under --data-root",
          DataError)
    return _build("imagenet-lt", "ImageNet_LT", root, split_dir, image_size, resize_size, augment, verify, skip_bad)


@register_dataset("places-lt")
def places_lt(root=None, download=False, split_dir: str | None = None, image_size: int = 224,
              resize_size: int | None = None, augment: bool = True, verify: bool = False,
              skip_bad: bool = False) -> DataBundle:
    """Places-LT (OLTR splits): train / val / test from ``Places_LT_{train,val,test}.txt``."""
    check(not download, "places-lt cannot be downloaded; put Places-365 and the OLTR split files under --data-root",
          DataError)
    return _build("places-lt", "Places_LT", root, split_dir, image_size, resize_size, augment, verify, skip_bad)
