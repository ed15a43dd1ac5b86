"""MuSe 2022 loaders on the released layouts (tests/fixtures/muse.py, not our generator), and rows that
do not align with the labels (one ``Error:`` line naming the file and the row)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import assert_user_error
from tests.fixtures import muse as fx
from toolkit.data.muse_loaders import load_muse
from toolkit.data.muse_sequences import window
from toolkit.engine.errors import DataError


def _rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as f:
        return list(csv.reader(f))


def _rewrite(path: Path, rows: list[list]) -> None:
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)


def test_humor_counts_label_last_column_and_meta(tmp_path):
    want = fx.write_humor(tmp_path, label_name="humour_binary")
    data = load_muse(tmp_path, "humor")
    assert {p: len(v) for p, v in data.parts.items()} == want["segments"]
    labels = _rows(tmp_path / "c1_muse_humor" / "label_segments" / "c01" / "1.csv")
    s = next(s for s in data.parts["train"] if s.key == f"c01/{labels[3][2]}/{labels[3][0]}")
    assert float(s.y[0]) == float(labels[3][3])  # the last column, whatever its name
    assert s.meta == [int(v) for v in labels[3][:3]] and len(s.x) == want["steps_per_segment"]
    assert data.stats["missing_steps"] == {f: 0 for f in fx.HUMOR_FEATURES}
    assert data.dims == [2, 3, 4]  # features are the columns from index 2 on


def test_partition_read_by_position_not_by_name(tmp_path):
    want = fx.write_stress(tmp_path / "a")
    fx.write_stress(tmp_path / "b", partition_header=("subject_code", "gender", "set"))
    a, b = load_muse(tmp_path / "a", "stress"), load_muse(tmp_path / "b", "stress")
    assert [[s.key for s in a.parts[p]] for p in a.parts] == [[s.key for s in b.parts[p]] for p in b.parts]
    assert {p: len(v) for p, v in b.parts.items()} == want["subjects"]


def test_reaction_file_id_feature_files_load(tmp_path):
    want = fx.write_reaction(tmp_path)
    data = load_muse(tmp_path, "reaction")
    assert {p: len(v) for p, v in data.parts.items()} == want["videos"]
    assert data.label_names == list(fx.EMOTIONS) and data.dims == [2, 3, 4]
    s = data.parts["train"][1]
    labels = {r[0]: [float(v) for v in r[1:]] for r in _rows(tmp_path / "c2_muse_reaction" / "labels.csv")[1:]}
    assert s.key == "[00001]" and np.allclose(s.y, labels["[00001]"]) and len(s.x) == want["rows"]


def test_reaction_labels_by_position(tmp_path):
    fx.write_reaction(tmp_path)
    p = tmp_path / "c2_muse_reaction" / "labels.csv"
    rows = _rows(p)
    rows[0] = ["File_ID"] + [f"emotion_{k}" for k in range(7)]
    _rewrite(p, rows)
    data = load_muse(tmp_path, "reaction")
    assert data.label_names == [f"emotion_{k}" for k in range(7)]
    assert np.allclose(data.parts["train"][0].y, [float(v) for v in rows[1][1:]])


def test_stress_counts_and_windows(tmp_path):
    from toolkit.data import get_dataset

    want = fx.write_stress(tmp_path)
    data = load_muse(tmp_path, "stress")
    assert {p: len(v) for p, v in data.parts.items()} == want["subjects"]
    assert all(len(s.x) == want["steps"] for v in data.parts.values() for s in v)
    assert len(window(data.parts["train"], 200, 100)) == want["train_windows"]
    assert len(get_dataset("muse", root=str(tmp_path), task="stress").train) == want["train_windows"]
    y = [float(r[1]) for r in _rows(tmp_path / "c3_muse_stress_2022" / "label_segments" / "valence" / "1.csv")[1:]]
    assert np.allclose(data.parts["train"][0].y[:, 1], y)


# -- rows that do not align with the labels -----------------------------------------------------------
def test_stress_feature_off_the_label_time_line(tmp_path, invoke):
    fx.write_stress(tmp_path)
    p = tmp_path / "c3_muse_stress_2022" / "feature_segments" / "vggface2" / "2.csv"
    rows = _rows(p)
    rows[5][0] = str(int(rows[5][0]) + 250)  # data row 5 shifted by 250 ms
    _rewrite(p, rows)
    with pytest.raises(DataError, match=r"2.csv' row 5 \(line 6\) does not align with the labels"):
        load_muse(tmp_path, "stress")
    r = invoke("train", "muse", "--task", "stress", "--data-root", tmp_path, "--epochs", "1", "--out", tmp_path / "run")
    assert_user_error(r, str(p), "row 5", "timestamp 2250", "physio-arousal")
    assert r.stdout == "" and not (tmp_path / "run").exists()


def test_stress_feature_in_seconds_is_refused(tmp_path):
    fx.write_stress(tmp_path)
    p = tmp_path / "c3_muse_stress_2022" / "feature_segments" / "egemaps" / "1.csv"
    rows = _rows(p)
    for r in rows[1:]:
        r[0] = str(int(r[0]) / 1000)
    _rewrite(p, rows)
    with pytest.raises(DataError, match=r"1.csv' row 2 \(line 3\).*timestamp 0.5 is not a label timestamp"):
        load_muse(tmp_path, "stress")


def test_humor_feature_file_matching_no_window(tmp_path, invoke):
    fx.write_humor(tmp_path)
    p = tmp_path / "c1_muse_humor" / "feature_segments" / "vggface2" / "c02" / "1.csv"
    rows = _rows(p)
    for r in rows[1:]:
        r[0] = str(int(r[0]) / 1000)  # seconds instead of ms
        r[1] = "99"  # and segment ids its label file does not have
    _rewrite(p, rows)
    r = invoke("train", "muse", "--task", "humor", "--data-root", tmp_path, "--epochs", "1", "--out", tmp_path / "run")
    assert_user_error(r, str(p), "row 1 (line 2)", "does not align with the labels", "1.csv")
    assert r.stdout == ""


def test_reaction_file_id_of_another_video(tmp_path, invoke):
    fx.write_reaction(tmp_path)
    p = tmp_path / "c2_muse_reaction" / "feats" / "FAUs" / "00003.csv"
    rows = _rows(p)
    rows[4][0] = "[00004]"
    _rewrite(p, rows)
    r = invoke("train", "muse", "--task", "reaction", "--data-root", tmp_path, "--epochs", "1",
               "--out", tmp_path / "run")
    assert_user_error(r, str(p), "row 4 (line 5)", "File_ID '[00004]'", "'[00003]'")


def test_non_numeric_feature_row_is_named(tmp_path):
    fx.write_stress(tmp_path)
    p = tmp_path / "c3_muse_stress_2022" / "feature_segments" / "bert-4" / "3.csv"
    rows = _rows(p)
    rows[7][3] = "n/a?"
    _rewrite(p, rows)
    with pytest.raises(DataError, match=r"3.csv' row 7 \(line 8\): a feature value is not a number"):
        load_muse(tmp_path, "stress")


# -- stress targets -----------------------------------------------------------------------------------
def test_stress_per_dim_trains_one_model_per_dimension(tmp_path, invoke):
    import json

    fx.write_stress(tmp_path / "d", steps=60)
    fast = ["--task", "stress", "--data-root", tmp_path / "d", "--model", "lstm", "--epochs", "1", "--d-model", "8",
            "--win-length", "30", "--hop-length", "15", "--device", "cpu", "--quiet", "--format", "json"]
    per = json.loads(invoke("train", "muse", *fast, "--out", tmp_path / "per").stdout)
    joint = json.loads(invoke("train", "muse", *fast, "--targets", "joint", "--out", tmp_path / "joint").stdout)
    assert per["targets"] == "per-dim" and joint["targets"] == "joint"
    assert (tmp_path / "per" / "seed0" / "arousal" / "best.pt").is_file()
    assert (tmp_path / "per" / "seed0" / "valence" / "best.pt").is_file()
    assert (tmp_path / "joint" / "seed0" / "best.pt").is_file()
    assert not (tmp_path / "joint" / "seed0" / "arousal").exists()
    for res in (per, joint):
        row = res["rows"][0]
        assert row["devel_ccc"] == pytest.approx((row["devel_ccc_arousal"] + row["devel_ccc_valence"]) / 2)
        assert np.isfinite(res["devel_ccc_pop"]) and res["devel_ccc_pop"] != res["devel_ccc"]


def test_targets_flag_refused_where_it_cannot_apply(tmp_path, invoke):
    fx.write_humor(tmp_path)
    r = invoke("train", "muse", "--task", "humor", "--data-root", tmp_path, "--targets", "joint",
               "--out", tmp_path / "o")
    assert_user_error(r, "--targets: not used with --task humor")
    r = invoke("train", "muse", "--task", "stress", "--data-root", tmp_path, "--targets", "both",
               "--out", tmp_path / "o")
    assert_user_error(r, "both", "per-dim", "joint")
