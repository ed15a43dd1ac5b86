"""MuSe 2022 loaders on fixtures in the official layouts, normalisation, windowing, re-split, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.data.muse_loaders import Sample, load_muse, resplit
from toolkit.data.muse_sequences import SeqDataset, collate, window
from toolkit.data.muse_synthetic import MARKER, SynthSpec, ensure_synthetic, write_synthetic
from toolkit.engine.errors import DataError, LtError

TINY = SynthSpec(seed=3, coaches=5, videos_per_coach=1, segments_per_video=10, reaction_videos=12,
                 stress_subjects=5, stress_steps=60)


@pytest.fixture(scope="module")
def syn(tmp_path_factory) -> Path:
    return write_synthetic(tmp_path_factory.mktemp("muse") / "syn", TINY)


def _csv(path: Path, df: pd.DataFrame) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False)


def _humor_fixture(root: Path) -> Path:
    """Two coaches; coach a (train) has segment 1 (two rows) and 2 (a missing 500 ms row); b is devel."""
    base = root / "c1_muse_humor"
    _csv(base / "metadata" / "partition.csv", pd.DataFrame({"Id": ["a", "b"], "Partition": ["train", "devel"]}))
    fa = pd.DataFrame({"timestamp": [0, 500, 1000, 1500, 2000, 3000, 3500], "segment_id": [1, 1, 1, 1, 2, 2, 2],
                       "f0": [1.0, 2, 3, 4, 5, 6, 7], "f1": [0.0, 0, 0, 0, 1, 1, 1]})
    _csv(base / "feature_segments" / "egemaps" / "a" / "v0.csv", fa)
    # another segment at the same timestamps: must not leak into segment 1 of coach a
    _csv(base / "feature_segments" / "egemaps" / "b" / "v0.csv",
         pd.DataFrame({"timestamp": [0, 500], "segment_id": [9, 9], "f0": [100.0, 100], "f1": [5.0, 5]}))
    _csv(base / "label_segments" / "a" / "v0.csv", pd.DataFrame(
        {"timestamp_start": [0, 2000, 4000], "timestamp_end": [2000, 4000, 6000], "segment_id": [1, 2, 3],
         "label": [0, 1, 0]}))
    _csv(base / "label_segments" / "b" / "v0.csv", pd.DataFrame(
        {"timestamp_start": [0], "timestamp_end": [1000], "segment_id": [9], "label": [1]}))
    return root


def test_humor_alignment_by_segment_id_and_timestamps(tmp_path):
    data = load_muse(_humor_fixture(tmp_path), "humor", ["egemaps"])
    train = {s.key: s for s in data.parts["train"]}
    mean, std = data.normalizer.mean["egemaps"], data.normalizer.std["egemaps"]
    np.testing.assert_allclose(mean, [4.0, 3 / 7])  # fitted on coach a's rows only (train)
    s1 = train["a/1/0"]
    np.testing.assert_allclose(s1.x, (np.array([[1, 0], [2, 0], [3, 0], [4, 0]]) - mean) / std, rtol=1e-6)
    s2 = train["a/2/2000"]
    assert s2.x.shape == (4, 2) and float(s2.y[0]) == 1.0
    np.testing.assert_allclose(s2.x[1], 0.0)  # t=2500 has no row: zeros, counted
    np.testing.assert_allclose(s2.x[2], (np.array([6, 1]) - mean) / std, rtol=1e-6)
    assert s1.meta == [0, 2000, 1]
    assert data.stats["labels_without_features"] == 1  # segment 3 has no feature rows at all
    assert data.stats["missing_steps"]["egemaps"] == 1 + 4  # a/2: t=2500; a/3: all four steps
    assert [s.key for s in data.parts["devel"]] == ["b/9/0"]


def test_reaction_file_id_brackets(syn):
    data = load_muse(syn, "reaction")
    labels = pd.read_csv(syn / "c2_muse_reaction" / "labels.csv", dtype={"File_ID": str})
    s = data.parts["train"][0]
    assert s.key.startswith("[") and s.key.endswith("]") and s.meta == [s.key]
    row = labels[labels.File_ID == s.key].iloc[0, 1:].to_numpy(float)
    np.testing.assert_allclose(s.y, row, rtol=1e-6)
    assert data.label_names[0] == "Adoration" and s.y.shape == (7,)
    feat = pd.read_csv(syn / "c2_muse_reaction" / "feats" / "eGeMAPS" / f"{s.key[1:-1]}.csv")
    assert len(s.x) == len(feat)  # 500 ms grid over the video = the eGeMAPS rows
    assert s.x.shape[1] == sum(data.dims)


def test_stress_windowing_200_100():
    x, y = np.zeros((450, 3), np.float32), np.zeros((450, 2), np.float32)
    s = Sample("1", "1", x, y, [["1", t, 0] for t in range(450)])
    wins = window([s], 200, 100)
    assert [len(w.x) for w in wins] == [200, 200, 200, 150]
    assert [w.meta[0][1] for w in wins] == [0, 100, 200, 300]
    assert len(window([Sample("2", "2", x[:150], y[:150], [])], 200, 100)) == 1
    with pytest.raises(LtError):
        window([s], 100, 200)


def test_stress_loader_and_collate(syn):
    data = load_muse(syn, "stress")
    s = data.parts["train"][0]
    assert s.x.shape == (TINY.stress_steps, sum(data.dims)) and s.y.shape == (TINY.stress_steps, 2)
    assert data.periods == {"egemaps": 500.0, "vggface2": 500.0, "bert-4": 500.0}  # on the label time line
    ds = SeqDataset(window(data.parts["train"], 50, 20))  # 60 steps: windows of 50 and 40
    batch = collate([ds[0], ds[len(ds) - 1]])
    assert batch["x"].shape[0] == 2 and batch["mask"].dtype.is_floating_point is False
    assert batch["y"].shape[:2] == batch["x"].shape[:2]
    assert bool(batch["mask"][0].all()) and not bool(batch["mask"][1].all())


def test_normalisation_statistics_come_from_train_only(syn, tmp_path):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(syn, root)
    data = load_muse(root, "stress", ["egemaps"])
    train_ids = [s.key for s in data.parts["train"]]
    feats = root / "c3_muse_stress_2022" / "feature_segments" / "egemaps"
    rows = np.concatenate([pd.read_csv(feats / f"{i}.csv").iloc[:, 2:].to_numpy() for i in train_ids])
    np.testing.assert_allclose(data.normalizer.mean["egemaps"], rows.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(data.normalizer.std["egemaps"], rows.std(0), rtol=1e-5)
    for s in data.parts["devel"] + data.parts["test"]:  # blow up devel/test features: stats must not move
        p = root / "c3_muse_stress_2022" / "feature_segments" / "egemaps" / f"{s.key}.csv"
        df = pd.read_csv(p)
        df.iloc[:, 2:] *= 1000
        df.to_csv(p, index=False)
    again = load_muse(root, "stress", ["egemaps"])
    np.testing.assert_allclose(again.normalizer.mean["egemaps"], data.normalizer.mean["egemaps"], rtol=1e-6)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from(["train", "devel", "test"]), min_size=3, max_size=30), st.integers(0, 99),
       st.integers(1, 5), st.floats(0.1, 0.9))
def test_resplit_never_puts_a_subject_in_two_partitions(parts, seed, n_groups, frac):
    ids = [f"v{i}" for i in range(len(parts))]
    partition = dict(zip(ids, parts, strict=True))
    groups = {i: f"s{k % n_groups}" for k, i in enumerate(ids)}
    if len({groups[i] for i, p in partition.items() if p != "test"}) < 2:
        with pytest.raises(LtError):
            resplit(partition, groups, frac, seed)
        return
    new = resplit(partition, groups, frac, seed)
    seen: dict[str, set] = {}
    for i, p in new.items():
        seen.setdefault(groups[i], set()).add(p)
        assert (p == "test") == (partition[i] == "test")
    for g, ps in seen.items():
        assert len(ps - {"test"}) <= 1, f"subject {g} in {ps}"
    assert {"train", "devel"} <= set(new.values())


def test_resplit_seed_in_loader(syn):
    data = load_muse(syn, "humor", resplit_seed=1, devel_fraction=0.4)
    tr = {s.group for s in data.parts["train"]}
    dv = {s.group for s in data.parts["devel"]}
    assert tr and dv and not tr & dv


# -- bad input -------------------------------------------------------------------------------------

def test_missing_task_folder_names_the_path(tmp_path):
    (tmp_path / "c1_muse_humor").mkdir()
    with pytest.raises(DataError, match=r"c3_muse_stress_2022.*found in .*c1_muse_humor"):
        load_muse(tmp_path, "stress")


def test_missing_feature_folder_lists_found(syn):
    with pytest.raises(DataError,
                       match=r"feature 'ds' not found: expected .*feature_segments/ds; features found: .*egemaps"):
        load_muse(syn, "humor", ["egemaps", "ds"])


def test_feature_csv_with_other_column_count_is_named(syn, tmp_path):
    import shutil

    root = tmp_path / "bad"
    shutil.copytree(syn, root)
    p = sorted((root / "c3_muse_stress_2022" / "feature_segments" / "egemaps").glob("*.csv"))[-1]
    df = pd.read_csv(p)
    df["extra"] = 0.0
    df.to_csv(p, index=False)
    with pytest.raises(DataError, match=rf"{p.name}' has {df.shape[1]} columns but its sibling"):
        load_muse(root, "stress", ["egemaps"])


def test_labels_without_features_are_counted(syn, tmp_path):
    import shutil

    root = tmp_path / "nofeat"
    shutil.copytree(syn, root)
    part = pd.read_csv(root / "c2_muse_reaction" / "partition.csv", dtype=str)
    vid = part[part.Split == "train"].File_ID.iloc[0][1:-1]
    for f in ("eGeMAPS", "VGGFace2", "FAUs"):
        (root / "c2_muse_reaction" / "feats" / f / f"{vid}.csv").unlink()
    data = load_muse(root, "reaction")
    assert data.stats["labels_without_features"] == 1
    assert f"[{vid}]" not in {s.key for s in data.parts["train"]}


def test_partition_id_in_two_partitions(syn, tmp_path):
    import shutil

    root = tmp_path / "dup"
    shutil.copytree(syn / "c3_muse_stress_2022", root / "c3_muse_stress_2022")
    p = root / "c3_muse_stress_2022" / "metadata" / "partition.csv"
    p.write_text(p.read_text() + "1,devel\n")
    with pytest.raises(DataError, match="'1' is in both"):
        load_muse(root, "stress")


def test_unknown_task():
    with pytest.raises(LtError, match="unknown task 'humour'.*did you mean: humor"):
        load_muse(".", "humour")


def test_synthetic_cache_is_reused_and_foreign_dirs_refused(tmp_path):
    spec = SynthSpec(seed=1, coaches=4, videos_per_coach=1, segments_per_video=4, reaction_videos=4,
                     stress_subjects=4, stress_steps=20)
    root = ensure_synthetic(tmp_path / "cache", spec)
    stamp = (root / MARKER).stat().st_mtime_ns
    assert ensure_synthetic(root, spec) == root and (root / MARKER).stat().st_mtime_ns == stamp
    assert json.loads((root / MARKER).read_text())["seed"] == 1
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(DataError, match="will not write into it"):
        ensure_synthetic(tmp_path / "mine", spec)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"


def test_synthetic_features_have_different_frame_rates(syn):
    data = load_muse(syn, "humor")
    assert data.periods == {"egemaps": 500.0, "vggface2": 1000.0, "bert-4-sentence-level": 2000.0}
    assert data.stats["missing_steps"]["egemaps"] > 0  # dropped rows are imputed and counted


def test_dataset_registry_entries(syn):
    from toolkit.data import get_dataset, list_datasets

    assert {"muse", "synthetic-muse"} <= set(list_datasets())
    b = get_dataset("muse", root=str(syn), task="stress", win_length=30, hop_length=15)
    x, y = b.train[0]
    assert b.num_classes == 2 and x.shape == (30, sum(b.info["dims"])) and y.shape == (30, 2)
    assert len(b.val) >= 1 and b.class_names == ["arousal", "valence"]
    with pytest.raises(LtError, match="needs --data-root"):
        get_dataset("muse", task="humor")


def test_time_mask_and_noise_augment_only_when_asked():
    import torch

    x = np.ones((20, 3), np.float32)
    s = Sample("k", "g", x, np.array([1.0], np.float32), [])
    torch.manual_seed(0)
    plain = SeqDataset([s])[0][0]
    assert torch.equal(plain, torch.ones(20, 3))
    zeros = [int((SeqDataset([s], time_mask=0.5)[0][0] == 0).all(1).sum()) for _ in range(30)]
    assert max(zeros) > 0 and max(zeros) <= 10  # one span, at most half the steps
    noisy = SeqDataset([s], noise=0.5)[0][0]
    assert not torch.equal(noisy, plain)
