"""SSBPR loaders on the released layout (tests/fixtures/ssbpr.py, not our generator): counts, patients,
the non-conforming file name listed in skipped.csv and skipped (not fatal), UAR beside macro-F1."""

from __future__ import annotations

import csv
import json

import pytest

from tests.fixtures.ssbpr import write_ssbpr
from toolkit.data import ssbpr_layout as io
from toolkit.data.audio_features import FeatureParams
from toolkit.data.ssbpr_prepare import prepare
from toolkit.engine.errors import DataError

SR = 8000


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    root = tmp_path_factory.mktemp("ssbpr")
    return root, write_ssbpr(root, sample_rate=SR)


def test_released_layout_counts_and_patients(release):
    root, want = release
    skipped: list[dict] = []
    items, layout = io.find_items(root, skipped)
    assert layout == "released" and len(items) == want["recordings"]
    assert sorted({it.subject for it in items}) == want["subjects"]
    assert sorted(it.label for it in items) == sorted(list(range(6)) * want["patients"])
    assert [s["path"].endswith(want["bad_name"]) for s in skipped] == [True]
    assert "label '3 (copy)' is not an integer 0-5" in skipped[0]["reason"]
    with pytest.raises(DataError, match="3 \\(copy\\)"):  # strict mode (no list): the name is the error
        io.find_items(root)


def test_prepare_skips_the_bad_name_and_counts_it(release, tmp_path):
    root, want = release
    params = FeatureParams(kind="stats", sample_rate=SR, duration=1.0).resolved()
    data = prepare(root, params, cache_dir=None, out_dir=tmp_path)
    assert len(data.labels) == want["recordings"] and len(data.skipped) == want["skipped"]
    with open(tmp_path / "skipped.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["path"].endswith(want["bad_name"]) for r in rows] == [True] and rows[0]["label"] == ""
    with pytest.raises(DataError, match=f"1 of {want['recordings'] + 1} files are bad"):
        prepare(root, params, cache_dir=None, max_bad=0.0)


def test_train_on_the_release_reports_uar_and_lists_the_skip(release, tmp_path, invoke):
    root, want = release
    out = tmp_path / "run"
    r = invoke("audio", "ssbpr", "train", "--data-root", root, "--model", "logreg", "--folds", "2", "--sample-rate",
               SR, "--duration", "1", "--no-cache", "--no-final", "--out", out, "--format", "json", "--quiet")
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["files"] == want["recordings"] and res["skipped"] == 1
    assert 0.0 <= res["uar"] <= 1.0 and "macro_f1" in res
    assert all("uar" in row for row in res["rows"])
    assert want["bad_name"] in (out / "skipped.csv").read_text()
