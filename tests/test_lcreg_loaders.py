"""``lt train lcreg`` fed by the ImageNet-LT / Places-LT (OLTR split files) and iNat2018 (COCO-like JSON)
loaders, on tiny fixtures written in the official formats."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

TRAIN_PER_CLASS = (4, 2, 1)


def _image(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 256, size=(20, 24, 3), dtype=np.uint8)
    Image.fromarray(arr).save(path, format="JPEG")


def _oltr(root: Path, prefix: str) -> None:
    """``<prefix>_{train,val,test}.txt`` with ``relative/path label`` lines, long-tailed train split."""
    seed = 0
    for split in ("train", "val", "test"):
        lines = []
        for c, n in enumerate(TRAIN_PER_CLASS if split == "train" else (1, 1, 1)):
            for k in range(n):
                rel = f"{split}/n0{c:07d}/n0{c:07d}_{k}.JPEG"
                _image(root / rel, seed)
                seed += 1
                lines.append(f"{rel} {c}")
        (root / f"{prefix}_{split}.txt").write_text("\n".join(lines) + "\n")


def _inat(root: Path) -> None:
    """``train2018.json`` / ``val2018.json`` (images, annotations, categories) with sparse category ids."""
    cats = [{"id": 11, "name": "Quercus robur"}, {"id": 3, "name": "Felis catus"}, {"id": 27, "name": "Apis mellifera"}]
    image_id = 1
    for name, per_cat in (("train2018.json", dict(zip((3, 11, 27), TRAIN_PER_CLASS, strict=True))),
                          ("val2018.json", {3: 1, 11: 1, 27: 1})):
        images, annotations = [], []
        for cat, n in per_cat.items():
            for _ in range(n):
                rel = f"train_val2018/Plantae/{cat}/{image_id:032x}.jpg"
                _image(root / rel, image_id)
                images.append({"id": image_id, "file_name": rel, "width": 24, "height": 20})
                annotations.append({"id": image_id, "image_id": image_id, "category_id": cat})
                image_id += 1
        (root / name).write_text(json.dumps({"images": images, "annotations": annotations, "categories": cats}))


def _smallcnn_weights(path: Path) -> Path:
    from toolkit.models import get_model

    torch.manual_seed(1)
    torch.save(get_model("smallcnn", 3).net.state_dict(), path)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["imagenet-lt", "places-lt", "inat2018"])
def test_lcreg_trains_on_official_format_fixture(invoke, tmp_path, dataset):
    root = tmp_path / "data"
    if dataset == "inat2018":
        _inat(root)
    else:
        _oltr(root, "ImageNet_LT" if dataset == "imagenet-lt" else "Places_LT")
    extra = ["--weights", str(_smallcnn_weights(tmp_path / "w.pt"))] if dataset == "places-lt" else []
    res = invoke("train", "lcreg", "--dataset", dataset, "--data-root", root, "--model", "smallcnn", "--epochs", "1",
                 "--batch-size", "4", "--latent-k", "2", "--lambda0", "0.5", "--many", "3", "--few", "2",
                 "--out", tmp_path / "run", "--quiet", "--format", "json", *extra)
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    assert rep["dataset"] == dataset and rep["method"] == "lcreg"
    assert rep["selected_on"] == "val"   # iNat has no val split: one is carved from train (never test)
    # iNat: 0.1 of each class, at least 1 where a class has >= 2 images: (4, 2, 1) -> val (1, 1, 0)
    trained = (3, 1, 1) if dataset == "inat2018" else TRAIN_PER_CLASS
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["info"]["train_counts"] == list(trained)
    assert config["resolved"]["recipe"] == dataset and config["resolved"]["lambda0"] == 0.5
    ckpt = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert ckpt["arch"] == "lcreg" and ckpt["objective"]["stats"]["count"].sum().item() == pytest.approx(sum(trained))
    assert len(json.loads((tmp_path / "run" / "metrics.json").read_text())["per_class"]) == 3


def test_places_lt_recipe_defaults_and_imagenet_lambda(invoke, tmp_path):
    """Places-LT's recipe refuses a random init before reading any data; its default λ₀ is 7.5."""
    from conftest import assert_user_error
    from toolkit.longtail.options import default_lambda0

    res = invoke("train", "lcreg", "--dataset", "places-lt", "--data-root", tmp_path / "missing",
                 "--out", tmp_path / "r")
    assert_user_error(res, "--weights", "places-lt")
    assert default_lambda0("places-lt") == 7.5 and default_lambda0("imagenet-lt") == 7.5
    assert default_lambda0("cifar-lt") == 0.5 and default_lambda0("digits-lt") == 0.5
