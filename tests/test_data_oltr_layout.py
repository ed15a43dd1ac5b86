"""OLTR split files found where the OLTR repo keeps them (data/<DS>/<DS>_*.txt), on fixtures written
from the documented format (tests/fixtures/oltr.py)."""

from __future__ import annotations

import pytest
from fixtures.oltr import oltr

from conftest import assert_user_error
from toolkit.data import get_dataset
from toolkit.engine.errors import DataError

NAMES = {"imagenet-lt": "ImageNet_LT", "places-lt": "Places_LT"}


@pytest.mark.parametrize("name", sorted(NAMES))
@pytest.mark.parametrize("where", ["repo", "folder", "root"])
def test_split_files_found_without_split_dir(tmp_path, name, where):
    counts = oltr(tmp_path, NAMES[name], where=where)
    b = get_dataset(name, root=str(tmp_path), image_size=8)
    assert {s: b.info["sizes"][s] for s in counts} == counts
    assert b.num_classes == 3 and b.train_counts == [4, 2, 1]
    sub = {"repo": f"data/{NAMES[name]}/", "folder": f"{NAMES[name]}/", "root": ""}[where]
    assert b.info["split_files"][0] == str(tmp_path / f"{sub}{NAMES[name]}_train.txt")
    x, y = b.test[0]
    assert x.shape == (3, 8, 8) and y == 0


def test_leading_slash_paths_are_relative_to_the_root(tmp_path):
    oltr(tmp_path, "Places_LT")
    first = (tmp_path / "data/Places_LT/Places_LT_test.txt").read_text().split()[0]
    assert first.startswith("/val/")
    b = get_dataset("places-lt", root=str(tmp_path), image_size=8)
    assert b.test.items[0][0] == tmp_path / first.lstrip("/")


def test_two_different_copies_are_ambiguous(tmp_path):
    oltr(tmp_path, "ImageNet_LT", where="repo")
    oltr(tmp_path, "ImageNet_LT", where="root", counts={"train": (1, 1, 1), "val": (1, 1, 1), "test": (1, 1, 1)})
    with pytest.raises(DataError, match="differ; which split is meant is ambiguous: pass --split-dir"):
        get_dataset("imagenet-lt", root=str(tmp_path), image_size=8)
    b = get_dataset("imagenet-lt", root=str(tmp_path), split_dir=str(tmp_path / "data/ImageNet_LT"), image_size=8)
    assert b.info["sizes"]["train"] == 7


def test_no_split_files_anywhere_names_the_places_looked(tmp_path):
    with pytest.raises(DataError, match=r"Places_LT_train.txt' not found \(also looked in .*data/Places_LT"):
        get_dataset("places-lt", root=str(tmp_path), image_size=8)


def test_flat_validation_images_are_an_error_with_the_rearrangement_hint(invoke, tmp_path):
    oltr(tmp_path, "ImageNet_LT")
    val = tmp_path / "val"
    for p in list(val.rglob("*.JPEG")):  # as released: flat, not by class
        p.rename(val / p.name)
    r = invoke("train", "ce", "--dataset", "imagenet-lt", "--data-root", tmp_path, "--epochs", "1",
               "--out", tmp_path / "run")
    assert_user_error(r, "ILSVRC2012_val_00000001.JPEG", "line 1 of", "ImageNet_LT_test.txt",
                      "original validation images, released flat")
