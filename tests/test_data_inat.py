"""iNaturalist 2018 loader on a tiny fixture in the official COCO-like JSON format."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from toolkit.data import get_dataset
from toolkit.engine.errors import DataError

# Sparse, unsorted category ids: the loader must map them to contiguous indices in id order.
CATEGORIES = [{"id": 7, "name": "Felis catus", "supercategory": "Mammalia"},
              {"id": 2, "name": "Quercus robur", "supercategory": "Plantae"},
              {"id": 40, "name": "Apis mellifera", "supercategory": "Insecta"}]
TRAIN = {2: 5, 7: 3, 40: 1}
VAL = {2: 2, 7: 2, 40: 2}


def _write_split(root: Path, name: str, per_cat: dict[int, int], first_id: int) -> dict:
    images, annotations = [], []
    image_id = first_id
    for cat, n in per_cat.items():
        for _ in range(n):
            rel = f"train_val2018/Kingdom/{cat}/{image_id:08x}.jpg"
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            arr = np.random.default_rng(image_id).integers(0, 256, size=(9, 11, 3), dtype=np.uint8)
            Image.fromarray(arr).save(path, format="JPEG")
            images.append({"id": image_id, "file_name": rel, "width": 11, "height": 9,
                           "license": 1, "rights_holder": "fixture"})
            annotations.append({"id": image_id, "image_id": image_id, "category_id": cat})
            image_id += 1
    data = {"info": {"year": 2018}, "images": images, "annotations": annotations, "categories": CATEGORIES,
            "licenses": [{"id": 1, "name": "CC BY", "url": ""}]}
    (root / name).write_text(json.dumps(data))
    return data


@pytest.fixture()
def inat(tmp_path):
    train = _write_split(tmp_path, "train2018.json", TRAIN, 1000)
    val = _write_split(tmp_path, "val2018.json", VAL, 5000)
    return tmp_path, train, val


def _edit(root: Path, name: str, fn) -> None:
    data = json.loads((root / name).read_text())
    fn(data)
    (root / name).write_text(json.dumps(data))


def test_loads_train_and_val_as_test(inat):
    root, train, val = inat
    b = get_dataset("inat2018", root=str(root), image_size=16)
    assert b.num_classes == 3 and b.class_names == ["Quercus robur", "Felis catus", "Apis mellifera"]
    assert b.train_counts == [5, 3, 1] and b.val is None
    assert len(b.train) == 9 and len(b.test) == 6
    assert np.bincount(b.test.targets, minlength=3).tolist() == [2, 2, 2]
    assert b.train.items[0] == (root / train["images"][0]["file_name"], 0)
    x, y = b.test[5]
    assert x.dtype == torch.float32 and x.shape == (3, 16, 16) and y == 2 and 0 <= float(x.min()) <= float(x.max()) <= 1


def test_missing_root_and_files(inat, tmp_path_factory):
    with pytest.raises(DataError, match="inat2018' needs --data-root.*train2018.json and val2018.json"):
        get_dataset("inat2018")
    root, _, _ = inat
    (root / "val2018.json").unlink()
    with pytest.raises(DataError, match=r"expected annotation file '.*val2018.json' not found"):
        get_dataset("inat2018", root=str(root))


def test_invalid_json_names_file_and_line(inat):
    root, _, _ = inat
    (root / "train2018.json").write_text('{\n  "images": [\n    {"id": 1,, }\n  ]\n}\n')
    with pytest.raises(DataError, match=r"train2018.json:3:\d+: invalid JSON"):
        get_dataset("inat2018", root=str(root))


@pytest.mark.parametrize("edit,message", [
    (lambda d: d.pop("annotations"), "missing list 'annotations'"),
    (lambda d: d["images"][2].pop("file_name"), r"images\[2\] lacks 'file_name'"),
    (lambda d: d["annotations"][1].pop("category_id"), r"annotations\[1\] lacks 'category_id'"),
    (lambda d: d["annotations"][0].update(category_id=99), r"annotations\[0\] has category_id 99 not in 'categories'"),
    (lambda d: d["annotations"][0].update(image_id=-5), r"annotations\[0\] refers to unknown image_id -5"),
    (lambda d: d["annotations"].pop(), "1 image\\(s\\) without annotation"),
])
def test_malformed_json_structure(inat, edit, message):
    root, _, _ = inat
    _edit(root, "train2018.json", edit)
    with pytest.raises(DataError, match=rf"train2018.json: {message}"):
        get_dataset("inat2018", root=str(root))


def test_unreadable_image_named_and_skip_bad(inat):
    root, train, _ = inat
    bad = root / train["images"][3]["file_name"]
    bad.write_bytes(b"broken")
    with pytest.raises(DataError, match=rf"image '{bad}' is unreadable"):
        get_dataset("inat2018", root=str(root), image_size=8).train[3]
    with pytest.raises(DataError, match="--skip-bad"):
        get_dataset("inat2018", root=str(root), verify=True)
    b = get_dataset("inat2018", root=str(root), skip_bad=True, image_size=8)
    assert b.info["skipped"] == {"train": 1, "test": 0} and b.train_counts == [4, 3, 1]


def test_download_is_refused(inat):
    root, _, _ = inat
    with pytest.raises(DataError, match="cannot be downloaded"):
        get_dataset("inat2018", root=str(root), download=True)
