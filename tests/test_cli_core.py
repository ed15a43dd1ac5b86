"""The `lt` root, `lt train ce/eval`, and the user-error contract (one Error: line, exit 2, nothing lost)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import assert_user_error

FAST = ["--epochs", "1", "--batch-size", "128", "--model", "mlp", "--quiet"]


def _all_commands():
    """Every command path in the CLI tree (groups included), for --help tests."""
    import typer.main

    from cli.main import app

    out = []

    def walk(cmd, path):
        out.append(path)
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):
            walk(sub, path + [name])

    walk(typer.main.get_command(app), [])
    return out


@pytest.mark.parametrize("path", _all_commands(), ids=lambda p: " ".join(p) or "lt")
def test_help_for_every_command(invoke, path):
    res = invoke(*path, "--help")
    assert res.exit_code == 0 and "Usage" in res.output


@pytest.mark.parametrize("argv", [[], ["train"], ["prune"], ["attack"], ["defend"], ["distill"], ["audio"],
                                  ["train", "lcreg"], ["attack", "dta"], ["prune", "run"], ["audio", "ssbpr", "train"]])
def test_help_does_not_import_torch(argv):
    code = (f"import sys; sys.argv = ['lt', *{argv!r}, '--help']\nfrom cli.main import main\ntry:\n    main()\n"
            "except SystemExit:\n    pass\nprint('TORCH' if 'torch' in sys.modules else 'NO-TORCH', file=sys.stderr)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert res.stderr.strip().endswith("NO-TORCH"), res.stderr
    assert "Usage" in res.stdout
    if not argv:
        for group in ("train", "prune", "attack", "defend", "distill", "audio"):
            assert group in res.stdout


def test_version(invoke):
    res = invoke("--version")
    assert res.exit_code == 0 and res.output.startswith("lt ")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny digits-lt run shared by the tests below."""
    from typer.testing import CliRunner

    from cli.main import app

    out = tmp_path_factory.mktemp("runs") / "ce"
    res = CliRunner().invoke(app, ["train", "ce", "--dataset", "digits-lt", *FAST, "--epochs", "2", "--out", str(out),
                                   "--format", "json"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return out, json.loads(res.stdout)


def test_train_ce_writes_the_run_dir(trained):
    out, report = trained
    assert ({"config.json", "metrics.json", "metrics.csv", "best.pt", "last.pt", "per_class.png"}
            <= {p.name for p in out.iterdir()})
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["per_class"]) == 10 and metrics["selected_on"] == "val"
    row = report["rows"][0]
    assert set(row) >= {"top1", "many", "medium", "few"} and 0 <= row["top1"] <= 1
    assert metrics["top1"] == pytest.approx(row["top1"])


def test_train_eval_reproduces_the_final_test_accuracy(invoke, trained):
    out, report = trained
    res = invoke("train", "eval", out, "--dataset", "digits-lt", "--format", "json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["rows"][0]["top1"] == pytest.approx(report["rows"][0]["top1"])


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "table"])
def test_eval_formats(invoke, trained, fmt):
    res = invoke("--format", fmt, "train", "eval", trained[0], "--dataset", "digits-lt")
    assert res.exit_code == 0 and "top1" in res.stdout


@pytest.mark.parametrize("args,fragments", [
    (["--dataset", "imagenet-lx"], ["unknown dataset 'imagenet-lx'", "imagenet-lt"]),
    (["--model", "resnet3"], ["unknown model 'resnet3'", "resnet32"]),
    (["--loss", "focal"], ["--loss must be one of", "balanced-softmax", "'focal'"]),
    (["--epochs", "0"], ["--epochs must be >= 1"]),
    (["--lr", "-0.1"], ["--lr must be > 0"]),
    (["--imbalance", "0.5"], ["--imbalance must be >= 1"]),
    (["--recipe", "cifar"], ["unknown recipe 'cifar'", "cifar-lt"]),
    (["--dataset", "places-lt", "--data-root", "/nonexistent"], ["--weights"]),
])
def test_train_bad_input(invoke, tmp_path, args, fragments):
    res = invoke("train", "ce", *FAST, "--out", tmp_path / "o", *args)
    assert_user_error(res, *fragments)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA error path")
def test_device_cuda_without_cuda(invoke, tmp_path):
    assert_user_error(invoke("train", "ce", *FAST, "--out", tmp_path / "o", "--device", "cuda"),
                      "CUDA is not available")


def test_out_exists_is_refused_and_untouched(invoke, tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert_user_error(invoke("train", "ce", *FAST, "--out", out), "not empty", "--force")
    assert [p.name for p in out.iterdir()] == ["keep.txt"] and (out / "keep.txt").read_text() == "mine"


def test_resume_errors(invoke, tmp_path):
    assert_user_error(invoke("train", "ce", *FAST, "--resume"), "--resume needs --out")
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "x").write_text("")
    assert_user_error(invoke("train", "ce", *FAST, "--out", tmp_path / "r", "--resume"), "holds no run to continue")
    foreign = tmp_path / "f"
    foreign.mkdir()
    torch.save({"weights": torch.zeros(1)}, foreign / "last.pt")
    assert_user_error(invoke("train", "ce", *FAST, "--out", foreign, "--resume"), "holds no config.json")


def test_resume_refuses_a_foreign_checkpoint_in_its_run(invoke, trained, tmp_path):
    import shutil

    out = tmp_path / "run"
    shutil.copytree(trained[0], out)
    torch.save({"weights": torch.zeros(1)}, out / "last.pt")
    assert_user_error(invoke("train", "ce", "--dataset", "digits-lt", *FAST, "--epochs", "2", "--out", out, "--resume"),
                      "not an lt checkpoint")


def test_eval_refuses_missing_and_code_pickling_checkpoints(invoke, tmp_path):
    assert_user_error(invoke("train", "eval", tmp_path / "nope.pt"), "does not exist")
    evil = tmp_path / "evil.pt"
    torch.save({"format_version": 1, "state_dict": {}, "x": subprocess.CompletedProcess(["a"], 0)}, evil)
    assert_user_error(invoke("train", "eval", evil), "weights_only")


def test_resume_continues_a_finished_run(invoke, trained, tmp_path):
    import shutil

    out = tmp_path / "cont"
    shutil.copytree(trained[0], out)
    before = (out / "metrics.csv").read_text()
    # more epochs is another run: --resume refuses and names the option
    assert_user_error(invoke("train", "ce", "--dataset", "digits-lt", *FAST, "--epochs", "3", "--out", out, "--resume"),
                      "option 'epochs' is 2", "but 3 now")
    res = invoke("train", "ce", "--dataset", "digits-lt", *FAST, "--epochs", "2", "--out", out, "--resume",
                 "--format", "json")
    assert res.exit_code == 0, res.output  # nothing left to train: the finished run is evaluated again
    assert json.loads(res.stdout)["rows"][0]["top1"] == trained[1]["rows"][0]["top1"]
    assert (out / "metrics.csv").read_text() == before


def test_models_lists_lt_and_torchvision_names(invoke):
    from toolkit.models import list_models

    res = invoke("models", "--format", "json")
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)["rows"]
    assert sorted(r["model"] for r in rows) == list_models()
    by_name = {r["model"]: r for r in rows}
    assert by_name["resnet32"]["source"] == "lt" and by_name["resnet50"]["weights"] == 2
    assert by_name["r3d_18"]["source"] == "torchvision.video"


@pytest.mark.parametrize("pattern,expected", [("resnet5*", {"resnet50", "resnet56"}),
                                              ("wide_resnet", {"wide_resnet50_2", "wide_resnet101_2"})])
def test_models_pattern(invoke, pattern, expected):
    res = invoke("models", pattern, "--format", "json")
    assert res.exit_code == 0, res.output
    assert {r["model"] for r in json.loads(res.stdout)["rows"]} == expected


def test_models_bad_input(invoke):
    assert_user_error(invoke("models", "zzz*"), "no model name matches 'zzz*'")
    assert_user_error(invoke("models", "weights", "resnt50"), "unknown model 'resnt50'", "resnet50")
    assert_user_error(invoke("models", "weights", "resnet32"), "lt model", "--weights FILE")


def test_datasets_lists_every_registered_set_with_its_layout(invoke):
    from toolkit.data import list_datasets

    res = invoke("datasets", "--format", "json")
    assert res.exit_code == 0, res.output
    rows = {r["dataset"]: r for r in json.loads(res.stdout)["rows"]}
    assert sorted(rows) == list_datasets()
    assert all(r["layout"] not in ("", "-") for r in rows.values())
    assert "Places_LT_{train,val,test}.txt" in rows["places-lt"]["layout"]
    assert "imbalance=10.0" in rows["digits-lt"]["options"]
    csv_out = invoke("datasets", "cifar*", "--format", "csv").stdout.splitlines()
    assert csv_out[0] == "dataset,layout,options,present" and len(csv_out) == 1 + 4
