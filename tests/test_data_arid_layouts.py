"""ARID releases read as released (v1.0 repo/release layouts, .mp4 or .avi; v1.5; ARID1.1 CSVs), on
fixtures written from the documented formats (tests/fixtures/video.py), and the layout errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from fixtures.video import CLASSES, arid11, arid_v10, arid_v15

from conftest import assert_user_error
from toolkit.data import get_dataset
from toolkit.data.video import decode_video
from toolkit.engine.errors import DataError, LtError

SMALL = {"size": 16, "frames": 4, "views": 1}


@pytest.mark.parametrize("sub", ["", "raw"])
def test_v10_repo_layout_from_ARID_or_ARID_raw(tmp_path, sub):
    arid_v10(tmp_path / "ARID")
    for k in (1, 2, 3):
        b = get_dataset("arid", root=str(tmp_path / "ARID" / sub), split=k, **SMALL)
        assert b.info["release"] == "v1.0" and (len(b.train), len(b.test)) == (6, 3)
        assert b.num_classes == 11 and b.train_counts[0] == 2 and b.train_counts[10] == 2
        assert all(p.parent.parent.name == "data" for p, _ in b.train.items)


def test_v10_released_mp4_clips_are_read_for_avi_lists(tmp_path):
    frames = arid_v10(tmp_path / "ARID_v1", clips_ext=".mp4", layout="release")
    assert "Drink/Drink_1_1.avi" in (tmp_path / "ARID_v1/list_cvt/ARID_split1_test.txt").read_text()
    b = get_dataset("arid", root=str(tmp_path / "ARID_v1"), **SMALL)
    assert {p.suffix for p, _ in b.train.items + b.test.items} == {".mp4"}
    path, label = b.test.items[0]
    assert path.name == "Drink_1_1.mp4" and label == 0
    got = decode_video(path)
    want = torch.from_numpy(frames["Drink/Drink_1_1.avi"])
    assert got.shape == want.shape and (got.float() - want.float()).abs().mean() < 6  # MPEG-4 is lossy
    x, y = b.test[0]
    assert x.shape == (1, 3, 4, 16, 16) and y == 0


def test_v15_split_k_reads_split_k_minus_1(tmp_path):
    arid_v15(tmp_path / "ARID_v1_5")
    for k in (1, 2, 3):
        b = get_dataset("arid", root=str(tmp_path / "ARID_v1_5"), split=k, **SMALL)
        assert b.info["release"] == "v1.5"
        assert b.info["lists"]["train"].endswith(f"split_{k - 1}/split{k - 1}_train.txt")
        assert (len(b.train), len(b.test)) == (4, 2) and b.train_counts[1] + b.train_counts[5] == 4
    assert all(p.parent.parent.name == "clips_v1.5" for p, _ in b.train.items)


def test_arid11_challenge_csvs(tmp_path):
    counts = arid11(tmp_path / "ARID", labels=(5, 10), per_class=2, n_test=3)
    b = get_dataset("arid", root=str(tmp_path / "ARID"), **SMALL)
    assert b.info["release"] == "ARID1.1" and b.info["label_ids"] == [5, 6, 7, 8, 9, 10]
    assert b.class_names == list(CLASSES[5:]) and b.num_classes == 6
    assert (len(b.train), len(b.test)) == (counts["train"], counts["test"])
    assert b.train_counts == [2, 0, 0, 0, 0, 2]  # Run (5) -> 0, Wave (10) -> 5
    assert [y for _, y in b.test.items] == [0, 5, 0]
    assert b.test.items[1][0].name == "1.mp4" and b.test.items[1][0].parent.name == "test_data"
    with pytest.raises(LtError, match="one split"):
        get_dataset("arid", root=str(tmp_path / "ARID"), split=2, **SMALL)


def test_arid11_public_validation_without_labels_is_an_error(tmp_path):
    arid11(tmp_path / "ARID", labelled_test=False)
    with pytest.raises(DataError, match="ARID1.1_t1_validation_gt_pub.csv' has columns VideoID, Video.*no ClassID"):
        get_dataset("arid", root=str(tmp_path / "ARID"), **SMALL)


def test_clips_but_no_split_lists_is_one_error_line(invoke, tmp_path):
    arid_v10(tmp_path / "ARID")
    for f in (tmp_path / "ARID/raw/list_cvt").glob("ARID_split*"):
        f.unlink()
    r = invoke("train", "video", "--dataset", "arid", "--data-root", tmp_path / "ARID", "--epochs", "1",
               "--out", tmp_path / "run")
    assert_user_error(r, "holds clips but no split lists", "ARID_split1_{train,test}.txt", "split_0/split0_")
    assert not (tmp_path / "run").exists()


def test_two_releases_side_by_side_is_ambiguous(tmp_path):
    arid_v10(tmp_path / "ARID", layout="release")
    arid_v15(tmp_path / "ARID")
    with pytest.raises(DataError, match="v1.0 and v1.5 side by side"):
        get_dataset("arid", root=str(tmp_path / "ARID"), **SMALL)


def test_listed_clip_missing_everywhere_is_named(tmp_path):
    arid_v10(tmp_path / "ARID")
    (tmp_path / "ARID/raw/data/Jump").mkdir()
    (tmp_path / "ARID/raw/data/Wave/Wave_2_1.avi").unlink()
    with pytest.raises(DataError, match=r"Wave/Wave_2_1.avi' listed in ARID_split1_train.txt does not exist"):
        get_dataset("arid", root=str(tmp_path / "ARID"), **SMALL)


def test_video_synthetic_imports_on_its_own():
    for mod in ("toolkit.data.video_synthetic", "toolkit.data.video"):
        r = subprocess.run([sys.executable, "-c", f"import {mod}"], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-c", "from toolkit.data.video_synthetic import generate_synthetic_dark; "
                        "from toolkit.data import list_datasets; assert 'synthetic-dark' in list_datasets()"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    # no import circle: the generator depends on the ARID reader, the reader not on the generator
    r = subprocess.run([sys.executable, "-c", "import sys, toolkit.data.video; "
                        "assert 'toolkit.data.video_synthetic' not in sys.modules"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_synthetic_dark_writes_the_official_repo_layout(tmp_path):
    from toolkit.data.video_synthetic import generate_synthetic_dark

    generate_synthetic_dark(tmp_path / "s", videos_per_class=2, n_frames=4, size=8, seed=0)
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["raw"]
    assert sorted(p.name for p in (tmp_path / "s/raw").iterdir()) == ["data", "list_cvt"]
    assert len(list((tmp_path / "s/raw/data").glob("*/*.avi"))) == 22
    assert not (tmp_path / "s/clips_v1").exists()
