"""Attack image sets on fixtures written from the documented formats (tests/fixtures/images.py):
NIPS-2017 ``dev_dataset.csv`` and ``images.csv``, TransferAttack ``labels.csv``, a CSV given directly,
and every ambiguous layout as one error."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fixtures.images import nips_dev, png, transferattack

from conftest import assert_user_error
from toolkit.data.imagesets import load_image_set
from toolkit.engine.errors import DataError


@pytest.mark.parametrize("csv_name", ["dev_dataset.csv", "images.csv"])
def test_nips_dev_set_under_either_name(tmp_path, csv_name):
    rows = nips_dev(tmp_path / "nips", n=5, csv_name=csv_name)
    s = load_image_set(str(tmp_path / "nips"))
    assert s.layout == "nips2017" and len(s) == 5
    assert s.names == [r["ImageId"] for r in rows]
    assert s.labels == [int(r["TrueLabel"]) - 1 for r in rows]  # 1-indexed over 1001 classes
    assert s.targets == [int(r["TargetClass"]) - 1 for r in rows]
    assert len(set(s.labels)) == 5  # not all 0 (what ImageFolder would have said)


def test_kit_layout_with_images_beside_the_csv_and_the_csv_given_directly(tmp_path):
    rows = nips_dev(tmp_path / "kit", n=3, images="")
    s = load_image_set(str(tmp_path / "kit" / "dev_dataset.csv"))
    assert s.labels == [int(r["TrueLabel"]) - 1 for r in rows] and s.source.endswith("dev_dataset.csv")
    x, y = s.dataset[0]
    pixels = np.asarray(x.mul(255).round().byte().permute(1, 2, 0))
    assert y == s.labels[0] and np.array_equal(pixels, png(tmp_path / "again.png", 0))


def test_a_csv_of_another_name_is_read_by_its_header(tmp_path):
    rows = nips_dev(tmp_path / "d", n=2, csv_name="my_subset.csv")
    s = load_image_set(str(tmp_path / "d"))
    assert s.layout == "nips2017" and s.labels == [int(r["TrueLabel"]) - 1 for r in rows]
    transferattack(tmp_path / "ta", labels=(4, 0, 9), targets=(1, 2, 3))
    s = load_image_set(str(tmp_path / "ta"))
    assert s.layout == "transferattack" and s.labels == [4, 0, 9] and s.targets == [1, 2, 3]


def test_csv_with_neither_known_name_nor_readable_header_is_one_error_line(invoke, tmp_path):
    d = tmp_path / "d"
    (d / "images").mkdir(parents=True)
    png(d / "images" / "a.png", 0)
    (d / "list.csv").write_text("name,class\na.png,3\n")
    r = invoke("attack", "fgsm", "--surrogate", "smallcnn", "--victims", "smallcnn", "--dataset", d,
               "--out", tmp_path / "adv", "--device", "cpu")
    assert_user_error(r, "list.csv", "neither a known name", "found columns name, class")
    assert not (tmp_path / "adv").exists()
    with pytest.raises(DataError, match="neither a known name"):
        load_image_set(str(d / "list.csv"))


def test_two_label_csvs_are_ambiguous(tmp_path):
    nips_dev(tmp_path / "d", n=2, csv_name="dev_dataset.csv")
    nips_dev(tmp_path / "d", n=2, csv_name="images.csv")
    with pytest.raises(DataError, match=r"holds 2 label CSVs \(dev_dataset.csv, images.csv\).*ambiguous"):
        load_image_set(str(tmp_path / "d"))
    s = load_image_set(str(tmp_path / "d" / "images.csv"))  # naming the file resolves it
    assert len(s) == 2


def test_known_name_with_the_other_kinds_header_is_an_error(tmp_path):
    transferattack(tmp_path / "d")
    (tmp_path / "d" / "labels.csv").rename(tmp_path / "d" / "dev_dataset.csv")
    with pytest.raises(DataError, match="named like a nips2017 file but its header is transferattack"):
        load_image_set(str(tmp_path / "d"))


def test_images_folder_without_its_csv_is_not_read_as_one_class(tmp_path):
    nips_dev(tmp_path / "d", n=3)
    (tmp_path / "d" / "dev_dataset.csv").unlink()
    with pytest.raises(DataError, match="only one class folder.*every label would be 0.*dev_dataset.csv"):
        load_image_set(str(tmp_path / "d"))


def test_nips_row_whose_image_is_missing_is_named(tmp_path):
    rows = nips_dev(tmp_path / "d", n=3)
    (tmp_path / "d" / "images" / f"{rows[1]['ImageId']}.png").unlink()
    with pytest.raises(DataError,
                       match=rf"dev_dataset.csv' lists image\(s\) missing from .*images': {rows[1]['ImageId']}"):
        load_image_set(str(tmp_path / "d"))


def test_attack_output_dir_reads_back_despite_its_metrics_csv(tmp_path):
    transferattack(tmp_path / "adv", labels=(1, 2))
    (tmp_path / "adv" / "metrics.csv").write_text("role,model,asr\nvictim,m,50\n")
    assert load_image_set(str(tmp_path / "adv")).labels == [1, 2]


@pytest.mark.parametrize("kind", ["gray16", "palette", "gray-alpha"])
def test_deep_and_palette_pngs_scale_to_the_same_pixels(tmp_path, kind):
    """A 16-bit PNG is scaled by 255/65535 (PIL's convert clipped it to white); palette and LA keep their colours."""
    from PIL import Image

    from toolkit.data.imagefiles import read_image

    ramp = np.linspace(0, 65535, 32 * 32).reshape(32, 32).astype(np.uint16)
    want = np.rint(ramp * (255 / 65535)).astype(np.uint8)
    path = tmp_path / f"{kind}.png"
    if kind == "gray16":
        Image.fromarray(ramp).save(path)
    elif kind == "palette":
        Image.fromarray(want, mode="L").convert("P").save(path)
    else:
        Image.fromarray(np.stack([want, np.full_like(want, 255)], -1), mode="LA").save(path)
    x = read_image(path)
    assert x.dtype == torch.uint8 and x.shape == (3, 32, 32)
    assert np.abs(x[0].numpy().astype(int) - want).max() <= 1
    assert torch.equal(x[0], x[1]) and torch.equal(x[1], x[2])
