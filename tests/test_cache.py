"""One cache root ($LT_CACHE_DIR, default ~/.cache/lt), one folder per kind, `lt cache list|clear`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import assert_user_error
from toolkit.engine import cache


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("LT_CACHE_DIR", str(tmp_path / "c"))
    return tmp_path / "c"


def test_root_and_kinds(root, monkeypatch):
    assert cache.cache_dir("prune") == root / "prune"
    assert cache.resolve_path("$LT_CACHE_DIR/audio-features") == root / "audio-features"
    assert cache.resolve_path("/x/y") == Path("/x/y")
    monkeypatch.delenv("LT_CACHE_DIR")
    assert cache.cache_root() == Path.home() / ".cache" / "lt"
    assert cache.resolve_path("$LT_CACHE_DIR/prune") == Path.home() / ".cache" / "lt" / "prune"


def test_defaults_point_into_the_cache(root):
    from toolkit.data.audio_features import DEFAULT_CACHE
    from toolkit.data.muse_synthetic import default_cache
    from toolkit.prune.cache import DEFAULT_CACHE_DIR, cache_file

    assert cache.resolve_path(DEFAULT_CACHE) == root / "audio-features"
    assert cache_file(DEFAULT_CACHE_DIR, "mlp", {"a": 1}).parent == root / "prune"
    assert default_cache(3) == root / "synthetic-muse" / "seed3"


def test_list_then_clear_one_kind_then_all(invoke, root):
    (root / "prune").mkdir(parents=True)
    (root / "prune" / "a.pt").write_bytes(b"12345")
    (root / "ukd" / "sub").mkdir(parents=True)
    (root / "ukd" / "sub" / "b.pt").write_bytes(b"123")
    (root / "mine.txt").write_text("not lt's")  # never touched
    r = invoke("cache", "list", "-f", "json")
    assert r.exit_code == 0, r.output
    rows = {row["kind"]: row for row in json.loads(r.stdout)["rows"]}
    assert set(rows) == set(cache.KINDS)
    assert (rows["prune"]["entries"], rows["prune"]["bytes"]) == (1, 5)
    assert (rows["ukd"]["entries"], rows["ukd"]["bytes"]) == (1, 3)
    assert rows["audio-features"]["entries"] == 0
    r = invoke("cache", "clear", "--kind", "prune", "-f", "jsonl")
    assert r.exit_code == 0, r.output
    assert [json.loads(x) for x in r.stdout.splitlines()] == [
        {"kind": "prune", "removed_entries": 1, "removed_bytes": 5, "path": str(root / "prune")}]
    assert not (root / "prune").exists() and (root / "ukd" / "sub" / "b.pt").is_file()
    r = invoke("cache", "clear", "-f", "json")
    assert r.exit_code == 0 and json.loads(r.stdout)["removed_bytes"] == 3
    assert not (root / "ukd").exists() and (root / "mine.txt").read_text() == "not lt's"


def test_unknown_kind_lists_the_valid_ones(invoke, root):
    assert_user_error(invoke("cache", "clear", "--kind", "prnue"), "unknown cache kind 'prnue'", "prune", "ukd")


def test_tests_never_write_to_the_home_cache():
    assert cache.cache_root() != Path.home() / ".cache" / "lt"
