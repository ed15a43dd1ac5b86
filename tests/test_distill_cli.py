"""``lt train video`` and ``lt distill kd|ukd`` end to end (CliRunner, tiny ARID tree), and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from conftest import assert_user_error
from toolkit.data.video import generate_synthetic_dark
from toolkit.engine.checkpoint import load_checkpoint, save_checkpoint
from toolkit.models import get_model

DATA = ["--dataset", "arid", "--size", "16", "--frames", "4", "--interval", "2", "--batch-size", "8", "-q"]


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cli") / "ARID_v1"
    generate_synthetic_dark(root, videos_per_class=2, n_frames=10, size=16, seed=1)
    return root


@pytest.fixture(scope="module")
def teachers(tree, tmp_path_factory):
    from typer.testing import CliRunner

    from cli.main import app

    out = tmp_path_factory.mktemp("teachers")
    runs = []
    for stream in ("rgb", "gamma"):
        r = CliRunner().invoke(app, ["train", "video", *DATA, "--data-root", str(tree), "--stream", stream,
                                     "--epochs", "1", "--out", str(out / stream), "-f", "json"], catch_exceptions=False)
        assert r.exit_code == 0, r.output
        runs.append(out / stream)
    return runs


def _json(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_help_lists_commands(invoke):
    for args in (["distill", "--help"], ["distill", "ukd", "--help"], ["distill", "kd", "--help"],
                 ["train", "video", "--help"]):
        r = invoke(*args)
        assert r.exit_code == 0, r.output
    assert "--combine" in invoke("distill", "ukd", "--help").stdout
    assert "--stream" in invoke("train", "video", "--help").stdout


def test_train_video_writes_a_teacher_checkpoint(teachers):
    ckpt = load_checkpoint(teachers[1])
    assert ckpt["arch"] == "tiny3d" and ckpt["config"]["data"]["stream"] == "gamma"
    metrics = json.loads((teachers[1] / "metrics.json").read_text())
    assert 0.0 <= metrics["test"]["top1"] <= 1.0 and len(metrics["test"]["per_class"]) == 11


def test_ukd_trains_the_student_from_the_cache_then_reuses_it(invoke, tree, teachers, tmp_path):
    args = ["distill", "ukd", *DATA, "--data-root", str(tree), "--teachers", ",".join(map(str, teachers)),
            "--student", "tiny3d", "--views", "2", "--epochs", "1", "--cache-dir", str(tmp_path / "cache"), "-f", "json"]
    first = _json(invoke(*args, "--out", str(tmp_path / "s1")))
    assert first["cache"] == "computed,computed" and first["teachers"] == 2
    names = [r["model"] for r in first["rows"]]
    assert names[0].startswith("teacher 1") and "gamma" in names[1] and names[-1].startswith("student tiny3d")
    # test logits cached for 2 teachers + train logits for 2 teachers
    assert len(list((tmp_path / "cache").glob("*.pt"))) == 4
    second = _json(invoke(*args, "--out", str(tmp_path / "s2"), "--combine", "confidence"))
    assert second["cache"] == "reused,reused"
    for name in ("best.pt", "last.pt", "config.json", "metrics.json", "metrics.csv"):
        assert (tmp_path / "s2" / name).is_file()


def test_live_mode_and_plain_kd_run(invoke, tree, teachers, tmp_path):
    live = _json(invoke("distill", "ukd", *DATA, "--data-root", str(tree), "--teachers", ",".join(map(str, teachers)),
                        "--student", "tiny3d", "--views", "2", "--epochs", "1", "--mode", "live",
                        "--cache-dir", str(tmp_path / "c"), "--out", str(tmp_path / "live"), "-f", "json"))
    assert live["cache"] == "live,live"
    kd = _json(invoke("distill", "kd", *DATA, "--data-root", str(tree), "--teacher", str(teachers[1]),
                      "--student", "tiny3d", "--epochs", "1", "--out", str(tmp_path / "kd"), "-f", "json"))
    assert kd["teachers"] == 1 and 0.0 <= kd["student_top1"] <= 1.0


def test_bad_views_teacher_classes_and_stream(invoke, tree, teachers, tmp_path):
    base = ["distill", "ukd", *DATA, "--data-root", str(tree), "--student", "tiny3d", "--out", str(tmp_path / "o")]
    assert_user_error(invoke(*base, "--teachers", str(teachers[0]), "--views", "0"), "--views must be >= 1")
    m = get_model("tiny3d", num_classes=5)
    save_checkpoint(tmp_path / "five.pt", {"arch": m.arch, "model_args": m.model_args, "state_dict": m.state_dict()})
    assert_user_error(invoke(*base, "--teachers", f"{teachers[0]},{tmp_path / 'five.pt'}"),
                      "five.pt' predicts 5 classes but the student and data have 11")
    assert_user_error(invoke(*base, "--teachers", str(tmp_path / "nope.pt")), "nope.pt' does not exist")
    assert_user_error(invoke(*base, "--teachers", str(teachers[0]), "--teacher-streams", "rgb,gamma"),
                      "--teacher-streams gives 2 stream(s) for 1 teacher(s)")
    assert_user_error(invoke("train", "video", *DATA, "--data-root", str(tree), "--stream", "flow", "--epochs", "1",
                             "--out", str(tmp_path / "flow")),
                      "stream 'flow' needs precomputed flow frames; expected folder", "flow/")
    assert_user_error(invoke("train", "video", *DATA, "--data-root", str(tree), "--model", "r3d_81",
                             "--out", str(tmp_path / "m")), "unknown model 'r3d_81'")


def test_missing_and_undecodable_videos_via_the_cli(invoke, tree, tmp_path):
    import shutil

    root = tmp_path / "broken"
    shutil.copytree(tree, root)
    (root / "raw" / "data" / "Jump" / "Jump_1_1.avi").unlink()
    common = ["train", "video", *DATA, "--data-root", str(root), "--epochs", "1"]
    assert_user_error(invoke(*common, "--out", str(tmp_path / "a")), "Jump/Jump_1_1.avi' listed in", "does not exist")
    r = invoke(*common, "--skip-bad", "--out", str(tmp_path / "b"), "-f", "json")
    assert r.exit_code == 0 and "skipped 1 bad video" in r.stderr
    assert "Jump_1_1.avi' listed in" in "".join(r.stderr.splitlines())
    (root / "raw" / "data" / "Run" / "Run_2_1.avi").write_bytes(b"\x00" * 64)
    assert_user_error(invoke(*common, "--skip-bad", "--out", str(tmp_path / "c"), "--no-skip-bad"),
                      "does not exist")
    r = invoke(*common, "--skip-bad", "--out", str(tmp_path / "d"), "-f", "json")
    assert r.exit_code == 0 and "Run_2_1.avi' could not be decoded" in "".join(r.stderr.splitlines())


def test_undecodable_video_named_when_not_skipping(invoke, tree, tmp_path):
    import shutil

    root = tmp_path / "corrupt"
    shutil.copytree(tree, root)
    for p in (root / "raw" / "data").rglob("*.avi"):
        p.write_bytes(b"garbage" * 20)
    assert_user_error(invoke("train", "video", *DATA, "--data-root", str(root), "--epochs", "1",
                             "--out", str(tmp_path / "x")), "could not be decoded")


def test_out_dir_is_never_overwritten_without_force(invoke, tree, teachers):
    assert_user_error(invoke("train", "video", *DATA, "--data-root", str(tree), "--epochs", "1",
                             "--out", str(teachers[0])), "exists and is not empty")
    assert torch.load(teachers[0] / "best.pt", weights_only=True)["arch"] == "tiny3d"
