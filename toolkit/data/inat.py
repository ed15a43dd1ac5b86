"""iNaturalist 2018 from its COCO-like JSON files: ``inat2018``.

Van Horn et al., "The iNaturalist Species Classification and Detection Dataset", CVPR 2018
(arXiv 1707.06642). 437,513 training images, 8,142 classes; val 24,426 (the split everyone reports
on, so it is our ``test``; there is no separate val split). Files under ``--data-root``:

    <data-root>/train2018.json, val2018.json
        {"images": [{"id", "file_name"}...], "annotations": [{"image_id", "category_id"}...],
         "categories": [{"id", "name"}...]}
    <data-root>/train_val2018/Plantae/7477/3b60c9486db1d2ee875f11a669fbde4b.jpg ...  (file_name)

Category ids are mapped to contiguous class indices in sorted id order (the identity on the
official files, ids 0..8141). Transforms as ImageNet-LT (see ``lt_splits.imagenet_transforms``):
the recipe in ``shared/methods/longtail.md`` names none for iNat, so this is our choice.
``verify`` / ``skip_bad`` as in ``imagenet-lt``.

    lt train ce --dataset inat2018 --data-root /data/inat2018 --model resnet50
"""

from __future__ import annotations

import json
from pathlib import Path

from ..engine.errors import DataError, check
from . import register_dataset
from .bundle import DataBundle, class_counts
from .imagefiles import ImageListDataset
from .lt_splits import imagenet_transforms, require_root

FILES = ("train2018.json", "val2018.json")


def _load_json(path: Path) -> dict:
    if not path.is_file():
        raise DataError(f"expected annotation file '{path}' not found")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}:{e.lineno}:{e.colno}: invalid JSON ({e.msg})") from e
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e.reason})") from e
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object with 'images', 'annotations', 'categories'")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise DataError(f"{path}: missing list '{key}' (COCO-like iNat format)")
    return data


def _field(path: Path, key: str, i: int, entry, name: str):
    if not isinstance(entry, dict) or name not in entry:
        raise DataError(f"{path}: {key}[{i}] lacks '{name}'")
    return entry[name]


def parse_inat(path: Path, root: Path) -> tuple[list[tuple[Path, int]], dict[int, str]]:
    """``[(image path, category id)]`` in file order and ``{category id: name}`` from one JSON file."""
    data = _load_json(path)
    cats = {}
    for i, c in enumerate(data["categories"]):
        cats[_field(path, "categories", i, c, "id")] = str(c.get("name", c["id"]))
    files = {}
    for i, im in enumerate(data["images"]):
        files[_field(path, "images", i, im, "id")] = _field(path, "images", i, im, "file_name")
    labels: dict = {}
    for i, a in enumerate(data["annotations"]):
        image_id = _field(path, "annotations", i, a, "image_id")
        cat = _field(path, "annotations", i, a, "category_id")
        if image_id not in files:
            raise DataError(f"{path}: annotations[{i}] refers to unknown image_id {image_id!r}")
        if cat not in cats:
            raise DataError(f"{path}: annotations[{i}] has category_id {cat!r} not in 'categories'")
        if labels.setdefault(image_id, cat) != cat:
            raise DataError(f"{path}: image_id {image_id!r} has two different category_id annotations")
    unlabeled = [k for k in files if k not in labels]
    if unlabeled:
        raise DataError(f"{path}: {len(unlabeled)} image(s) without annotation, e.g. image_id {unlabeled[0]!r}")
    if not files:
        raise DataError(f"{path}: lists no images")
    return [(root / str(files[k]).lstrip("/"), labels[k]) for k in files], cats


@register_dataset("inat2018")
def inat2018(root=None, download=False, image_size: int = 224, resize_size: int | None = None,
             augment: bool = True, verify: bool = False, skip_bad: bool = False) -> DataBundle:
    """iNaturalist 2018: train from ``train2018.json``, test from ``val2018.json``."""
    check(not download, "inat2018 cannot be downloaded by lt; put the images and JSON files under --data-root",
          DataError)
    base = require_root("inat2018", root, f"{' and '.join(FILES)} and the images their 'file_name's list")
    (train_items, train_cats), (test_items, test_cats) = (parse_inat(base / f, base) for f in FILES)
    cat_ids = sorted({**train_cats, **test_cats}, key=lambda c: (str(type(c)), c))
    index = {c: i for i, c in enumerate(cat_ids)}
    names = {**test_cats, **train_cats}
    train_tf, test_tf = imagenet_transforms(image_size, resize_size, augment)
    train = ImageListDataset([(p, index[c]) for p, c in train_items], train_tf, verify=verify, skip_bad=skip_bad)
    test = ImageListDataset([(p, index[c]) for p, c in test_items], test_tf, verify=verify, skip_bad=skip_bad)
    n = len(cat_ids)
    info = {"root": str(base), "files": [str(base / f) for f in FILES], "val": "none (val2018 is the test split)",
            "sizes": {"train": len(train), "test": len(test)},
            "skipped": {"train": train.skipped, "test": test.skipped},
            "official": {"classes": 8142, "train": 437513, "val": 24426}}
    return DataBundle(name="inat2018", train=train, test=test, num_classes=n,
                      train_counts=class_counts(train.targets, n), val=None,
                      class_names=[names[c] for c in cat_ids], input_shape=(3, image_size, image_size), info=info)
