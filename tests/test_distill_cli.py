"""``lt train video`` and ``lt distill kd|ukd`` end to end (CliRunner, tiny ARID tree), and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from conftest import assert_user_error
from toolkit.data.video_synthetic import generate_synthetic_dark
from toolkit.engine.checkpoint import load_checkpoint, save_checkpoint
from toolkit.models import get_model

DATA = ["--dataset", "arid", "--image-size", "16", "--frames", "4", "--interval", "2", "--batch-size", "8", "-q"]


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


def _info(run_dir: Path) -> dict:
    return json.loads((run_dir / "config.json").read_text())["info"]


def test_help_lists_commands(invoke):
    for args in (["distill", "--help"], ["distill", "ukd", "--help"], ["distill", "kd", "--help"],
                 ["train", "video", "--help"]):
        r = invoke(*args)
        assert r.exit_code == 0, r.output
    assert "--combine" in invoke("distill", "ukd", "--help").stdout
    assert "--stream" in invoke("train", "video", "--help").stdout


def test_train_video_writes_a_teacher_checkpoint(teachers):
    ckpt = load_checkpoint(teachers[1])
    assert ckpt["arch"] == "tiny3d" and ckpt["config"]["resolved"]["stream"] == "gamma"
    assert ckpt["config"]["resolved"]["gamma"] == 1.8 and ckpt["config"]["info"]["num_classes"] == 11
    metrics = json.loads((teachers[1] / "metrics.json").read_text())
    assert 0.0 <= metrics["test"]["top1"] <= 1.0 and len(metrics["test"]["per_class"]) == 11


def test_ukd_trains_the_student_from_the_cache_then_reuses_it(invoke, tree, teachers, tmp_path):
    args = ["distill", "ukd", *DATA, "--data-root", str(tree), "--teachers", ",".join(map(str, teachers)),
            "--student", "tiny3d", "--views", "2", "--epochs", "1", "--cache-dir", str(tmp_path / "cache"),
            "-f", "json"]
    first = _json(invoke(*args, "--out", str(tmp_path / "s1")))
    assert _info(tmp_path / "s1")["teacher_cache"] == ["computed", "computed"] and first["teachers"] == 2
    assert [t["stream"] for t in _info(tmp_path / "s1")["teachers"]] == ["rgb", "gamma"]
    names = [r["model"] for r in first["rows"]]
    assert names[0].startswith("teacher 1") and "gamma" in names[1] and names[-1].startswith("student tiny3d")
    # test logits cached for 2 teachers + train logits for 2 teachers
    assert len(list((tmp_path / "cache").glob("*.pt"))) == 4
    second = _json(invoke(*args, "--out", str(tmp_path / "s2"), "--combine", "confidence"))
    assert _info(tmp_path / "s2")["teacher_cache"] == ["reused", "reused"]
    assert second["rows"][:2] == first["rows"][:2]  # the teachers' rows come from the same cached logits
    for name in ("best.pt", "last.pt", "config.json", "metrics.json", "metrics.csv"):
        assert (tmp_path / "s2" / name).is_file()


def test_live_mode_and_plain_kd_run(invoke, tree, teachers, tmp_path):
    live = _json(invoke("distill", "ukd", *DATA, "--data-root", str(tree), "--teachers", ",".join(map(str, teachers)),
                        "--student", "tiny3d", "--views", "2", "--epochs", "1", "--mode", "live",
                        "--cache-dir", str(tmp_path / "c"), "--out", str(tmp_path / "live"), "-f", "json"))
    assert _info(tmp_path / "live")["teacher_cache"] == ["live", "live"] and live["teachers"] == 2
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


def test_teacher_errors_come_before_any_video_is_read_or_generated(invoke, tmp_path):
    gen = tmp_path / "gen"  # synthetic-dark would be written here
    base = ["distill", "ukd", "--dataset", "synthetic-dark", "--data-root", str(gen), "--student", "tiny3d",
            "--out", str(tmp_path / "o")]
    assert_user_error(invoke(*base, "--teachers", str(tmp_path / "nope.pt")), "nope.pt' does not exist")
    assert_user_error(invoke(*base, "--teachers", "a,b", "--teacher-streams", "rgb,dusk"),
                      "unknown teacher stream 'dusk'", "valid: rgb, gamma, flow")
    assert not gen.exists() and not (tmp_path / "o").exists()

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
    assert_user_error(invoke(*common, "--out", str(tmp_path / "c")), "does not exist")
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


_OLD = [(["train", "video"], "--size", "24"), (["train", "video"], "--split", "2"),
        (["train", "video"], "--views", "5"),
        (["distill", "kd", "--teacher", "t", "--student", "tiny3d"], "--alpha", "0.3"),
        (["distill", "kd", "--teacher", "t", "--student", "tiny3d"], "--split", "3"),
        (["distill", "ukd", "--teachers", "t", "--student", "tiny3d"], "--split", "3")]


@pytest.mark.parametrize("command, old, value", _OLD)
def test_old_spellings_are_removed(invoke, tmp_path, command, old, value):
    """--size, --split, --views (train video) and kd's --alpha are gone in 0.3: click's own error."""
    r = invoke(*command, old, value, "--print-config", "--out", tmp_path / "o")
    assert r.exit_code == 2 and "No such option" in r.output and old in r.output, r.output
    assert not (tmp_path / "o").exists()


def test_print_config_resolves_clip_defaults_per_dataset(invoke, tmp_path):
    arid = json.loads(invoke("train", "video", "--dataset", "arid", "--print-config").stdout)["resolved"]
    assert (arid["frames"], arid["interval"], arid["image_size"]) == (16, 2, 112)
    synth = json.loads(invoke("train", "video", "--print-config").stdout)["resolved"]
    assert (synth["frames"], synth["interval"], synth["image_size"]) == (8, 2, None)  # None: the native size
    ukd = json.loads(invoke("distill", "ukd", "--teachers", "a,b", "--student", "tiny3d", "--teacher-streams",
                            "rgb,gamma", "--print-config").stdout)
    assert ukd["command"] == ["distill", "ukd"] and ukd["resolved"]["teachers"] == ["a", "b"]
    assert ukd["resolved"]["teacher_streams"] == ["rgb", "gamma"] and ukd["resolved"]["ce_weight"] == 0.5
    kd = json.loads(invoke("distill", "kd", "--teacher", "a", "--student", "tiny3d", "--print-config").stdout)
    assert kd["resolved"]["teacher"] == "a" and "teachers" not in kd["resolved"] and "views" not in kd["resolved"]


@pytest.mark.slow
def test_ukd_under_torchrun_shares_phase_1_and_fills_the_same_cache(invoke, tree, teachers, tmp_path):
    """Two CPU processes: the missing rows of each teacher are split across the ranks and merged by rank 0,
    giving the cache one process gives; a half-done file is resumed, a complete one reused."""
    import os
    import shutil
    import subprocess
    import sys

    args = ["distill", "ukd", *DATA, "--data-root", str(tree), "--teachers", ",".join(map(str, teachers)),
            "--student", "tiny3d", "--views", "2", "--epochs", "1"]
    one = tmp_path / "one"
    assert invoke(*args, "--cache-dir", one, "--out", tmp_path / "s1").exit_code == 0
    ddp = tmp_path / "ddp"
    shutil.copytree(one, ddp)
    files = sorted(ddp.glob("*.pt"))
    assert len(files) == 4
    half = torch.load(files[0], weights_only=True)
    n = len(half["done"])
    half["done"][n // 2:], half["logits"][n // 2:] = False, 0.0
    torch.save(half, files[0])  # as an interrupted run leaves it
    files[1].unlink()
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29651",
           "-m", "cli",
           *[a for a in args if a != "-q"], "--cache-dir", str(ddp), "--device", "cpu", "--out", str(tmp_path / "s2"),
           "--format", "json"]
    res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
                         cwd=Path(__file__).parents[1], timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    log = "\n".join(line for line in res.stderr.splitlines() if " logits " in line)
    assert log.count("logits resumed") == 1 and log.count("logits computed") == 1 and log.count("logits reused") == 2
    assert sorted(p.name for p in ddp.iterdir()) == sorted(p.name for p in one.iterdir())  # shards merged, removed
    for path in one.glob("*.pt"):
        ref, got = torch.load(path, weights_only=True), torch.load(ddp / path.name, weights_only=True)
        assert bool(got["done"].all()) and got["meta"] == ref["meta"]
        torch.testing.assert_close(got["logits"], ref["logits"], atol=1e-5, rtol=1e-5)
    assert json.loads(res.stdout)["teachers"] == 2


def test_a_dataset_that_is_not_video_is_named_before_the_run_starts(invoke, tmp_path):
    for cmd in (["train", "video"], ["distill", "kd", "--teacher", "t", "--student", "tiny3d"]):
        assert_user_error(invoke(*cmd, "--dataset", "digits", "--out", str(tmp_path / "o")),
                          "dataset 'digits' is not a video dataset", "video datasets: arid, synthetic-dark")
    assert not (tmp_path / "o").exists()


def test_an_architecture_that_takes_no_clips_is_refused_before_the_run_starts(invoke, tmp_path):
    """An image or sequence model would crash in its first forward pass (a traceback): refused up front."""
    for cmd in (["train", "video", "--model", "resnet18"],
                ["distill", "kd", "--teacher", "t", "--student", "lstm"]):
        name = cmd[-1]
        assert_user_error(invoke(*cmd, "--out", str(tmp_path / "o")), f"'{name}' is not a video model",
                          "video models:", "r3d_18", "tiny3d")
    assert not (tmp_path / "o").exists()


def test_gamma_typed_for_another_stream_is_refused_by_train_video(invoke, tmp_path):
    assert_user_error(invoke("train", "video", "--stream", "rgb", "--gamma", "2.2", "--out", str(tmp_path / "o")),
                      "--gamma: not used with --stream rgb")
    assert not (tmp_path / "o").exists()
    r = invoke("train", "video", "--stream", "gamma", "--gamma", "2.2", "--print-config")
    assert r.exit_code == 0 and json.loads(r.stdout)["resolved"]["gamma"] == 2.2


@pytest.mark.parametrize("args, entry, values", [
    (["train", "video", "--stream", "rgb", "--gamma", "2.2"], "train_video", {"stream": "rgb", "gamma": 2.2}),
    (["distill", "kd", "--teacher", "t", "--student", "tiny3d", "--stream", "flow", "--gamma", "2"], "distill_kd",
     {"teacher": "t", "student": "tiny3d", "stream": "flow", "gamma": 2.0}),
    (["distill", "ukd", "--teachers", "a", "--student", "tiny3d", "--gamma", "2"], "distill_ukd",
     {"teachers": ["a"], "student": "tiny3d", "gamma": 2.0}),
    (["distill", "ukd", "--teachers", "a", "--student", "tiny3d", "--teacher-streams", "rgb,gamma"], "distill_ukd",
     {"teachers": ["a"], "student": "tiny3d", "teacher_streams": ["rgb", "gamma"]}),
    (["distill", "ukd", "--teachers", "a,b", "--student", "tiny3d", "--teacher-streams", "rgb,dusk"], "distill_ukd",
     {"teachers": "a,b", "student": "tiny3d", "teacher_streams": "rgb,dusk"}),
    (["train", "video", "--scheduler", "cosine", "--milestones", "3"], "train_video",
     {"scheduler": "cosine", "milestones": (3,)}),
])
def test_a_library_call_raises_the_cli_error(invoke, tmp_path, args, entry, values):
    """Each rule of the video options: the library's LtError is the CLI's one Error: line; no run dir."""
    from toolkit.distill import ukd, video_train
    from toolkit.engine.errors import LtError

    fn = getattr(video_train if entry == "train_video" else ukd, entry)
    with pytest.raises(LtError) as e:
        fn(out=str(tmp_path / "lib"), **values)
    r = invoke(*args, "--out", str(tmp_path / "cli"))
    assert_user_error(r, str(e.value))
    assert r.stderr.strip() == f"Error: {e.value}"
    assert not (tmp_path / "lib").exists() and not (tmp_path / "cli").exists()


def test_the_recipe_defaults_reach_the_engine():
    """Every trainer of the family takes all engine options, with the ARID recipe's defaults."""
    from toolkit.distill.options import KDOptions, UKDOptions, VideoTrainOptions
    from toolkit.engine.loop import TrainConfig

    for cls, extra in ((VideoTrainOptions, {}), (KDOptions, {"teacher": "t", "student": "tiny3d"}),
                       (UKDOptions, {"teachers": ("t",), "student": "tiny3d"})):
        opts = cls(**extra).validate()
        cfg = TrainConfig.of_options(opts)
        assert (cfg.epochs, cfg.batch_size, cfg.lr, cfg.weight_decay, cfg.scheduler, cfg.momentum) == \
            (50, 16, 0.01, 5e-4, "multistep", 0.9)
        assert cfg.milestones == (30, 40) and opts.gamma is None and (opts.frames, opts.interval) == (8, 2)
        cfg = TrainConfig.of_options(cls(**extra, epochs=4, amp="off", grad_clip=1.0, warmup_epochs=1,
                                         optimizer="adamw", early_stop=2, workers=1).validate())
        assert (cfg.amp, cfg.grad_clip, cfg.warmup_epochs, cfg.optimizer, cfg.early_stop, cfg.workers) == \
            ("off", 1.0, 1, "adamw", 2, 1) and cfg.milestones == (2, 3) and cfg.momentum is None
    assert VideoTrainOptions(stream="gamma").validate().gamma == 1.8
