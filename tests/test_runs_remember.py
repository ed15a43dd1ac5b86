"""Runs remember their data: eval / defend eval / prune / attack take the dataset from the run's config.json."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import assert_user_error
from toolkit.engine.runs import recorded_data, write_json

FAST = ["--model", "mlp", "--epochs", "1", "--batch-size", "128"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tiny digits-lt run trained with a non-default imbalance (20), so its data is not the default's."""
    from typer.testing import CliRunner

    from cli.main import app

    out = tmp_path_factory.mktemp("remember") / "ce"
    res = CliRunner().invoke(app, ["train", "ce", "--dataset", "digits-lt", "--imbalance", "20", *FAST,
                                   "--out", str(out), "--quiet", "--format", "json"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return out


def _said(res, *fragments):
    lines = [ln for ln in res.stderr.splitlines() if "from " in ln and "config" in ln]
    assert len(lines) == 1, res.stderr
    for f in fragments:
        assert f in lines[0], (f, lines[0])


def test_recorded_data_of_a_training_run(run_dir):
    data, source = recorded_data(run_dir)
    assert data == {"dataset": "digits-lt", "imbalance": 20.0, "num_classes": 10}
    assert source == str(run_dir / "config.json")
    assert recorded_data(run_dir / "best.pt")[0] == data  # a checkpoint inside the run dir
    assert recorded_data("resnet50") == ({}, None)  # a model name records nothing


def test_train_eval_takes_dataset_and_imbalance_from_the_run(invoke, run_dir):
    res = invoke("train", "eval", run_dir, "--format", "json")
    assert res.exit_code == 0, res.output
    _said(res, "--dataset digits-lt", "--imbalance 20.0", str(run_dir / "config.json"))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    report = json.loads(res.stdout)
    assert report["title"].endswith("on digits-lt")
    assert report["rows"][0]["top1"] == pytest.approx(metrics["top1"])
    # shot groups follow the imbalance-20 training counts the run recorded
    expected = ", ".join(f"{k}={v}" for k, v in metrics["shot_groups"].items())
    assert report["shot_groups"].endswith(expected)


def test_a_given_flag_wins_and_another_dataset_takes_nothing(invoke, run_dir):
    res = invoke("train", "eval", run_dir, "--dataset", "digits", "--format", "json")
    assert res.exit_code == 0, res.output
    assert "config.json" not in res.stderr
    assert json.loads(res.stdout)["title"].endswith("on digits")


def test_checkpoint_moved_out_of_its_run_dir_uses_its_embedded_config(invoke, run_dir, tmp_path):
    shutil.copy(run_dir / "best.pt", tmp_path / "moved.pt")
    res = invoke("train", "eval", tmp_path / "moved.pt", "--format", "json")
    assert res.exit_code == 0, res.output
    _said(res, "--dataset digits-lt", "(its config)")


def test_defend_eval_uses_the_run_dataset_not_digits(invoke, run_dir, tmp_path):
    res = invoke("defend", "eval", run_dir, "--limit", "16", "--steps", "1", "--restarts", "1", "--apgd-steps", "0",
                 "--square-queries", "0", "--no-curve", "--out", tmp_path / "e", "--format", "json")
    assert res.exit_code == 0, res.output
    _said(res, "--dataset digits-lt")
    assert json.loads(res.stdout)["dataset"] == "digits-lt"


EVAL_QUICK = ["--limit", "16", "--steps", "1", "--restarts", "1", "--apgd-steps", "0", "--square-queries", "0",
              "--no-curve", "--format", "json"]


def test_mdl_and_facm_runs_remember_their_data(invoke, run_dir, tmp_path):
    """Both defense trainers record their dataset (FACM also follows its --backbone run); defend eval takes it."""
    res = invoke("train", "mdl", "--dataset", "digits-lt", "--model", "mlp", "--epochs", "1", "--out", tmp_path / "mdl",
                 "--quiet", "--format", "json")
    assert res.exit_code == 0, res.output
    res = invoke("defend", "facm", "--backbone", run_dir, "--dataset", "digits-lt", "--epochs", "1", "--adv-attack",
                 "none", "--fa-hidden", "8", "--latent-dim", "4", "--out", tmp_path / "facm", "--quiet",
                 "--format", "json")
    assert res.exit_code == 0, res.output
    assert recorded_data(tmp_path / "mdl")[0] == {"dataset": "digits-lt", "num_classes": 10}
    assert recorded_data(tmp_path / "facm" / "best.pt")[0]["dataset"] == "digits-lt"
    for name in ("mdl", "facm"):
        res = invoke("defend", "eval", tmp_path / name, *EVAL_QUICK, "--out", tmp_path / f"eval-{name}")
        assert res.exit_code == 0, res.output
        _said(res, "--dataset digits-lt", str(tmp_path / name / "config.json"))
        assert json.loads(res.stdout)["dataset"] == "digits-lt"


def test_prune_run_calibrates_on_the_run_dataset(invoke, run_dir, tmp_path):
    res = invoke("prune", "--ratio", "0.5", run_dir, "--calib-size", "64", "--method", "lamp",
                 "--out", tmp_path / "p", "--format", "json")
    assert res.exit_code == 0, res.output
    _said(res, "--dataset digits-lt")
    assert json.loads((tmp_path / "p" / "config.json").read_text())["resolved"]["dataset"] == "digits-lt"
    assert json.loads(res.stdout)["top1_before"] is not None
    noise = invoke("prune", "--ratio", "0.5", run_dir, "--dataset", "noise", "--calib-size", "64",
                   "--method", "lamp", "--out", tmp_path / "n", "--format", "json")
    assert noise.exit_code == 0, noise.output
    assert "config.json" not in noise.stderr and json.loads(noise.stdout)["top1_before"] is None


def test_attack_with_a_run_surrogate_takes_its_data(invoke, run_dir, tmp_path):
    res = invoke("attack", "fgsm", "--surrogate", run_dir, "--victims", run_dir, "--limit", "8",
                 "--out", tmp_path / "a", "--format", "json")
    assert res.exit_code == 0, res.output
    _said(res, "--dataset digits-lt", "--num-classes 10")
    config = json.loads((tmp_path / "a" / "config.json").read_text())
    assert config["resolved"]["dataset"] == "digits-lt" and config["resolved"]["num_classes"] == 10
    assert config["info"]["images"] == 8 and config["info"]["num_classes"] == 10


def test_attack_without_data_and_a_named_surrogate_is_an_error(invoke, tmp_path):
    res = invoke("attack", "fgsm", "--surrogate", "resnet18", "--victims", "resnet18", "--out", tmp_path / "a")
    assert_user_error(res, "give --dataset", "'resnet18'")
    assert not (tmp_path / "a").exists()


def test_prune_of_a_pruned_run_follows_its_source(run_dir, tmp_path):
    """A noise-calibrated prune run records no dataset; its MODEL run does."""
    (tmp_path / "p").mkdir()
    write_json(tmp_path / "p" / "config.json", {"model": str(run_dir), "calib": {"data": "noise", "input_size": 32}})
    assert recorded_data(tmp_path / "p")[0]["dataset"] == "digits-lt"
    write_json(tmp_path / "p" / "config.json", {"model": "resnet18", "calib": {"data": "noise", "input_size": 64}})
    assert recorded_data(tmp_path / "p")[0] == {"image_size": 64}


def test_noise_pruned_run_follows_its_model_run(invoke, run_dir, tmp_path):
    """The one schema: a noise prune run records dataset noise and its MODEL run; its data (and that of
    its pruned checkpoint moved elsewhere) is the MODEL run's, and lt prune of it calibrates on that."""
    first = invoke("prune", "--ratio", "0.3", run_dir, "--dataset", "noise", "--calib-size", "64", "--method", "lamp",
                   "--out", tmp_path / "n", "--format", "json")
    assert first.exit_code == 0, first.output
    resolved = json.loads((tmp_path / "n" / "config.json").read_text())["resolved"]
    assert (resolved["dataset"], resolved["model"]) == ("noise", str(run_dir))
    assert recorded_data(tmp_path / "n")[0] == recorded_data(run_dir)[0]
    shutil.copy(tmp_path / "n" / "last.pt", tmp_path / "moved.pt")
    assert recorded_data(tmp_path / "moved.pt")[0] == recorded_data(run_dir)[0]
    again = invoke("prune", "--ratio", "0.5", tmp_path / "n", "--calib-size", "64", "--method", "lamp",
                   "--out", tmp_path / "m", "--format", "json")
    assert again.exit_code == 0, again.output
    _said(again, "--dataset digits-lt", str(tmp_path / "n" / "config.json"))
    assert json.loads(again.stdout)["top1_before"] is not None


def test_facm_run_takes_its_root_from_the_backbone_run(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "f").mkdir()
    write_json(tmp_path / "b" / "config.json", {"command": "train mdl", "dataset": "cifar10", "data_root": "/d"})
    write_json(tmp_path / "f" / "config.json", {"command": "defend facm", "dataset": "cifar10",
                                                "backbone": str(tmp_path / "b")})
    assert recorded_data(tmp_path / "f")[0] == {"dataset": "cifar10", "data_root": "/d"}


def test_missing_run_is_an_error(invoke, tmp_path):
    assert_user_error(invoke("train", "eval", tmp_path / "nope"), "does not exist")


@pytest.mark.parametrize("args, expect", [
    (["train", "eval", "{run}"], {"dataset": "digits-lt", "imbalance": 20}),
    (["attack", "fgsm", "--surrogate", "{run}", "--victims", "{run}"], {"dataset": "digits-lt", "num_classes": 10}),
    (["prune", "--ratio", "0.5", "{run}"], {"dataset": "digits-lt"}),
    (["defend", "eval", "{run}"], {"dataset": "digits-lt"}),
])
def test_print_config_shows_the_data_the_run_will_use(invoke, run_dir, tmp_path, args, expect):
    """--print-config resolves what a run dir recorded (the options' RunData) before printing: what runs."""
    out = [] if args[:2] == ["train", "eval"] else ["--out", tmp_path / "p"]  # eval writes no run dir
    res = invoke(*[str(run_dir) if a == "{run}" else a for a in args], "--print-config", *out)
    assert res.exit_code == 0, res.output
    resolved = json.loads(res.stdout)["resolved"]
    assert {k: resolved[k] for k in expect} == expect
    assert not (tmp_path / "p").exists()
