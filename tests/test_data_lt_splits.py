"""ImageNet-LT / Places-LT loaders on tiny fixtures in the OLTR split-file format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from toolkit.data import get_dataset
from toolkit.data.longtail import shot_groups
from toolkit.engine.errors import DataError, LtError

PREFIX = {"imagenet-lt": "ImageNet_LT", "places-lt": "Places_LT"}
TRAIN_COUNTS = [6, 3, 1]


def write_image(path: Path, seed: int, size=(12, 10), fmt="JPEG") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(arr).save(path, format=fmt)


def write_oltr(root: Path, prefix: str, split_dir: Path | None = None) -> dict[str, list[str]]:
    """ImageNet-style tree plus ``<prefix>_{train,val,test}.txt`` (``relative/path label`` per line)."""
    lines: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    per_split = {"train": TRAIN_COUNTS, "val": [2, 2, 2], "test": [3, 3, 3]}
    seed = 0
    for split, counts in per_split.items():
        for label, n in enumerate(counts):
            for k in range(n):
                rel = f"{split}/n0{label}/n0{label}_{k}.JPEG"
                write_image(root / rel, seed)
                seed += 1
                lines[split].append(f"{rel} {label}")
    out = split_dir or root
    out.mkdir(parents=True, exist_ok=True)
    for split, ls in lines.items():
        (out / f"{prefix}_{split}.txt").write_text("\n".join(ls) + "\n")
    return lines


@pytest.fixture(params=sorted(PREFIX))
def oltr(request, tmp_path):
    name = request.param
    lines = write_oltr(tmp_path, PREFIX[name])
    return name, tmp_path, lines


def test_loads_all_three_splits(oltr):
    name, root, lines = oltr
    b = get_dataset(name, root=str(root), image_size=16)
    assert b.num_classes == 3 and b.train_counts == TRAIN_COUNTS
    assert (len(b.train), len(b.val), len(b.test)) == (10, 6, 9)
    assert b.input_shape == (3, 16, 16)
    assert shot_groups(b.train_counts, many=5, few=2) == {"many": [0], "medium": [1], "few": [2]}
    for ds in (b.train, b.val, b.test):
        x, y = ds[0]
        assert x.dtype == torch.float32 and x.shape == (3, 16, 16) and 0 <= float(x.min()) <= float(x.max()) <= 1
    first = lines["test"][0].split()[0]
    assert b.test.items[0] == (root / first, 0)


def test_default_transforms_are_the_imagenet_lt_recipe(oltr):
    from torchvision.transforms import v2

    name, root, _ = oltr
    b = get_dataset(name, root=str(root))
    kinds = [type(t) for t in b.train.transform.transforms]
    assert kinds == [v2.RandomResizedCrop, v2.RandomHorizontalFlip, v2.ColorJitter]
    jitter = b.train.transform.transforms[2]
    assert jitter.brightness == (0.6, 1.4) and jitter.contrast == (0.6, 1.4) and jitter.saturation == (0.6, 1.4)
    resize, crop = b.test.transform.transforms
    assert resize.size == [256] and crop.size == (224, 224)
    assert b.test[0][0].shape == (3, 224, 224) and b.train[0][0].shape == (3, 224, 224)
    no_aug = get_dataset(name, root=str(root), augment=False, image_size=112, resize_size=128)
    assert no_aug.train.transform is no_aug.test.transform and no_aug.test[0][0].shape == (3, 112, 112)


def test_split_dir_option(tmp_path):
    write_oltr(tmp_path / "data", "ImageNet_LT", split_dir=tmp_path / "splits")
    b = get_dataset("imagenet-lt", root=str(tmp_path / "data"), split_dir=str(tmp_path / "splits"), image_size=8)
    assert b.train_counts == TRAIN_COUNTS


@pytest.mark.parametrize("name", sorted(PREFIX))
def test_missing_split_file_is_named(tmp_path, name):
    write_oltr(tmp_path, PREFIX[name])
    (tmp_path / f"{PREFIX[name]}_val.txt").unlink()
    with pytest.raises(DataError, match=rf"expected split file '.*{PREFIX[name]}_val.txt' not found"):
        get_dataset(name, root=str(tmp_path))


@pytest.mark.parametrize("name", sorted(PREFIX))
def test_missing_root_names_the_split_files(name):
    with pytest.raises(DataError, match=rf"--data-root.*{PREFIX[name]}_train.txt"):
        get_dataset(name)


@pytest.mark.parametrize("bad", ["train/n00/x.JPEG", "train/n00/x.JPEG cat", "train/n00/x.JPEG -1"])
def test_malformed_line_reports_file_and_line(tmp_path, bad):
    lines = write_oltr(tmp_path, "ImageNet_LT")
    text = lines["train"][:2] + [bad] + lines["train"][2:]
    (tmp_path / "ImageNet_LT_train.txt").write_text("\n".join(text) + "\n")
    with pytest.raises(DataError, match=r"ImageNet_LT_train.txt:3: expected 'relative/path label'"):
        get_dataset("imagenet-lt", root=str(tmp_path))


def test_empty_split_file(tmp_path):
    write_oltr(tmp_path, "Places_LT")
    (tmp_path / "Places_LT_test.txt").write_text("\n")
    with pytest.raises(DataError, match="Places_LT_test.txt' lists no images"):
        get_dataset("places-lt", root=str(tmp_path))


def test_unreadable_image_named_lazily_and_with_verify(oltr):
    name, root, lines = oltr
    bad = root / lines["train"][4].split()[0]
    bad.write_bytes(b"\x00 not a jpeg")
    b = get_dataset(name, root=str(root), image_size=8)
    with pytest.raises(DataError, match=rf"image '{bad}' is unreadable"):
        b.train[4]
    with pytest.raises(DataError, match=rf"image '{bad}' is unreadable.*--skip-bad"):
        get_dataset(name, root=str(root), verify=True)


def test_skip_bad_skips_and_counts(oltr):
    name, root, lines = oltr
    (root / lines["train"][0].split()[0]).write_bytes(b"garbage")
    (root / lines["test"][1].split()[0]).unlink()
    b = get_dataset(name, root=str(root), skip_bad=True, image_size=8)
    assert b.info["skipped"] == {"train": 1, "val": 0, "test": 1}
    assert b.train_counts == [TRAIN_COUNTS[0] - 1] + TRAIN_COUNTS[1:] and len(b.test) == 8
    assert all(b.train[i][0].shape == (3, 8, 8) for i in range(len(b.train)))


@pytest.mark.parametrize("name", sorted(PREFIX))
def test_download_is_refused(tmp_path, name):
    with pytest.raises(DataError, match="cannot be downloaded"):
        get_dataset(name, root=str(tmp_path), download=True)


def test_bad_image_size(oltr):
    name, root, _ = oltr
    with pytest.raises(LtError, match="image-size must be >= 1"):
        get_dataset(name, root=str(root), image_size=0)


# Through the CLI: one ``Error:`` line naming what is wrong, exit code 2.
def _train(invoke, tmp_path, *args):
    return invoke("train", "ce", "--quiet", "--model", "smallcnn", "--epochs", "1", "--batch-size", "16",
                  "--out", str(tmp_path / "run"), *args)


def test_cli_data_root_required(invoke, tmp_path):
    from conftest import assert_user_error

    assert_user_error(_train(invoke, tmp_path, "--dataset", "imagenet-lt"), "--data-root", "ImageNet_LT_train.txt")


def test_cli_missing_split_file_and_malformed_line(invoke, tmp_path):
    from conftest import assert_user_error

    root = tmp_path / "data"
    lines = write_oltr(root, "Places_LT")
    (root / "Places_LT_test.txt").unlink()
    places = ("--dataset", "places-lt", "--recipe", "imagenet-lt", "--data-root", str(root))
    assert_user_error(_train(invoke, tmp_path, *places),
                      f"expected split file '{root / 'Places_LT_test.txt'}' not found")
    (root / "Places_LT_test.txt").write_text("\n".join(lines["test"][:4] + ["only-a-path.jpg"]) + "\n")
    assert_user_error(_train(invoke, tmp_path, *places),
                      f"{root / 'Places_LT_test.txt'}:5:")


def test_cli_unreadable_image_is_named(invoke, tmp_path):
    from conftest import assert_user_error

    root = tmp_path / "data"
    lines = write_oltr(root, "ImageNet_LT")
    bad = root / lines["train"][2].split()[0]
    bad.write_bytes(b"broken")
    assert_user_error(_train(invoke, tmp_path, "--dataset", "imagenet-lt", "--data-root", str(root)),
                      f"image '{bad}' is unreadable")
