"""``lt train muse`` end to end on tiny official-layout data: metrics, predictions, late fusion, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from cli.main import app
from toolkit.data.muse_layout import REACTION_LABELS
from toolkit.data.muse_synthetic import SynthSpec, write_synthetic

TINY = SynthSpec(seed=5, coaches=6, videos_per_coach=1, segments_per_video=12, reaction_videos=16,
                 stress_subjects=5, stress_steps=60)
FAST = ["--epochs", "2", "--d-model", "8", "--layers", "1", "--batch-size", "16", "--device", "cpu", "--quiet"]
runner = CliRunner()



@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return write_synthetic(tmp_path_factory.mktemp("musecli") / "data", TINY)


def lt(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def _json(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["lstm", "gru-sa", "temma"])
def test_humor_each_model_predicts_in_submission_shape(root, tmp_path, model):
    out = tmp_path / model
    res = _json(lt("train", "muse", "--task", "humor", "--data-root", root, "--model", model, "--seeds", "2",
                   "--predict", "--out", out, "--format", "json", *FAST))
    assert res["protocol"] == "ROC-AUC over all segments pooled" and res["metric"] == "auc"
    assert len(res["rows"]) == 2 and res["best_seed"] in (0, 1)
    assert 0.0 <= res["devel_auc"] <= 1.0 and res["devel_auc"] == max(r["devel_auc"] for r in res["rows"])
    sub = pd.read_csv(out / "predictions_test.csv")
    assert list(sub.columns) == ["meta_col_0", "meta_col_1", "meta_col_2", "prediction"]
    assert len(sub) == 12  # one test coach x 12 segments
    assert sub.prediction.between(0, 1).all()
    assert (out / "seed0" / "best.pt").is_file() and (out / "metrics.json").is_file()


@pytest.mark.slow
def test_reaction_and_stress_report_their_protocols(root, tmp_path):
    r = _json(lt("train", "muse", "--task", "reaction", "--data-root", root, "--model", "gru-sa", "--predict",
                 "--out", tmp_path / "r", "--format", "json", *FAST))
    assert r["protocol"] == "mean of the 7 per-emotion Pearson r" and "devel_pearson" in r
    sub = pd.read_csv(tmp_path / "r" / "predictions_test.csv", dtype={"File_ID": str})
    assert list(sub.columns) == ["File_ID", *REACTION_LABELS] and sub.File_ID.str.match(r"^\[\d{5}\]$").all()
    s = _json(lt("train", "muse", "--task", "stress", "--data-root", root, "--model", "lstm", "--win-length", "30",
                 "--hop-length", "15", "--predict", "--out", tmp_path / "s", "--format", "json", *FAST))
    assert s["protocol"].startswith("CCC over all videos concatenated")
    row = s["rows"][0]
    assert row["devel_ccc"] == pytest.approx((row["devel_ccc_arousal"] + row["devel_ccc_valence"]) / 2)
    assert s["train_sequences"] == 2 * 3  # 2 train subjects x windows 0-30, 15-45, 30-60
    for d in ("physio-arousal", "valence"):
        df = pd.read_csv(tmp_path / "s" / f"predictions_test_{d}.csv")
        assert list(df.columns) == ["meta_col_0", "meta_col_1", "meta_col_2", "prediction"]
        assert len(df) == 2 * 60  # 2 test subjects


@pytest.mark.slow
def test_late_fusion_mean_and_learned(root, tmp_path):
    runs = []
    for model in ("lstm", "gru-sa"):
        runs.append(tmp_path / model)
        _json(lt("train", "muse", "--task", "humor", "--data-root", root, "--model", model, "--predict",
                 "--out", runs[-1], "--format", "json", *FAST))
    # a run dir written before the one config schema (lt 0.1.0: the task at the top level) still fuses
    (runs[1] / "config.json").write_text(json.dumps({"task": "humor", "dataset": "muse", "model": "gru-sa"}))
    for fusion in ("mean", "learned"):
        res = _json(lt("train", "muse", "--task", "humor", "--late-fusion", f"{runs[0]},{runs[1]}", "--fusion", fusion,
                       "--out", tmp_path / f"fused-{fusion}", "--format", "json", "--quiet"))
        config = json.loads((tmp_path / f"fused-{fusion}" / "config.json").read_text())
        assert config["command"] == ["train", "muse"] and config["resolved"]["fusion"] == fusion
        assert config["resolved"]["late_fusion"] == [str(r) for r in runs]
        metrics = json.loads((tmp_path / f"fused-{fusion}" / "metrics.json").read_text())
        assert metrics["fused_devel_auc"] == res["fused_devel_auc"] and len(metrics["runs"]) == 3
        assert len(res["rows"]) == 3 and 0 <= res["fused_devel_auc"] <= 1
        fused = pd.read_csv(tmp_path / f"fused-{fusion}" / "predictions_test.csv")
        a, b = (pd.read_csv(r / "predictions_test.csv") for r in runs)
        assert list(fused.columns) == list(a.columns)
        if fusion == "mean":
            pd.testing.assert_series_equal(fused.prediction, (a.prediction + b.prediction) / 2, check_names=False)
    bad = lt("train", "muse", "--task", "reaction", "--late-fusion", f"{runs[0]},{runs[1]}", "--out", tmp_path / "x")
    assert bad.exit_code == 2 and "Error:" in bad.output and "is task 'humor'" in bad.output


@pytest.mark.slow
@pytest.mark.parametrize("task", ["reaction", "stress"])
def test_late_fusion_other_tasks(root, tmp_path, task):
    runs = [tmp_path / m for m in ("lstm", "gru-sa")]
    windows = ["--win-length", "30", "--hop-length", "15"] if task == "stress" else []  # stress only
    for run in runs:
        _json(lt("train", "muse", "--task", task, "--data-root", root, "--model", run.name, "--predict",
                 *windows, "--out", run, "--format", "json", *FAST))
    res = _json(lt("train", "muse", "--task", task, "--late-fusion", f"{runs[0]},{runs[1]}", "--fusion", "learned",
                   "--out", tmp_path / "fused", "--format", "json", "--quiet"))
    key = "fused_devel_pearson" if task == "reaction" else "fused_devel_ccc"
    assert -1 <= res[key] <= 1 and any("in-sample" in n for n in res["notes"])
    names = (["predictions_test.csv"] if task == "reaction"
             else [f"predictions_test_{d}.csv" for d in ("physio-arousal", "valence")])
    for name in names:
        fused, a = pd.read_csv(tmp_path / "fused" / name), pd.read_csv(runs[0] / name)
        assert list(fused.columns) == list(a.columns) and len(fused) == len(a)


def test_labels_without_features_are_reported(root, tmp_path):
    data = tmp_path / "holes"
    shutil.copytree(root / "c2_muse_reaction", data / "c2_muse_reaction")
    part = pd.read_csv(data / "c2_muse_reaction" / "partition.csv", dtype=str)
    vid = part[part.Split == "devel"].File_ID.iloc[0]
    for f in ("eGeMAPS", "VGGFace2", "FAUs"):
        (data / "c2_muse_reaction" / "feats" / f / f"{vid[1:-1]}.csv").unlink()
    res = _json(lt("train", "muse", "--task", "reaction", "--data-root", data, "--out", tmp_path / "run",
                   "--format", "json", "--epochs", "1", "--d-model", "8", "--layers", "1", "--device", "cpu",
                   "--quiet"))
    assert res["labels_without_features"] == 1
    assert any(vid in n and "no feature rows" in n for n in res["notes"])


def test_synthetic_muse_dataset_writes_and_trains(tmp_path):
    res = _json(lt("train", "muse", "--task", "humor", "--dataset", "synthetic-muse", "--data-root", tmp_path / "cache",
                   "--out", tmp_path / "run", "--format", "json", "--epochs", "1", "--d-model", "8", "--layers", "1",
                   "--device", "cpu", "--quiet"))
    assert (tmp_path / "cache" / "c1_muse_humor" / "metadata" / "partition.csv").is_file()
    assert res["missing_steps"]["egemaps"] > 0 and res["data_root"] == str(tmp_path / "cache")


def test_focal_loss_with_augmentation(root, tmp_path):
    res = _json(lt("train", "muse", "--task", "humor", "--data-root", root, "--loss", "focal", "--balanced",
                   "--noise", "0.1", "--time-mask", "0.3", "--resplit-seed", "2", "--out", tmp_path / "f",
                   "--format", "json", *FAST))
    cfg = json.loads((tmp_path / "f" / "config.json").read_text())["resolved"]
    assert res["loss"] == "focal" and cfg["balanced"] and cfg["time_mask"] == 0.3 and cfg["resplit_seed"] == 2


def _bad(*args) -> str:
    r = lt("train", "muse", *args)
    assert r.exit_code == 2, r.output
    assert "Error:" in r.output
    return r.output


def test_bad_input_is_one_error_line(root, tmp_path):
    assert "--task must be one of humor, reaction, stress (got 'humour')" in _bad("--task", "humour", "--data-root",
                                                                                  root)
    assert "--model must be one of lstm, gru-sa, temma (got 'transformer')" in _bad("--model", "transformer",
                                                                                    "--data-root", root)
    assert "does not fit task 'stress'" in _bad("--task", "stress", "--loss", "bce", "--data-root", root)
    assert "needs --data-root" in _bad("--task", "humor")
    empty = tmp_path / "empty"
    empty.mkdir()
    out = _bad("--task", "reaction", "--data-root", empty)
    assert "c2_muse_reaction" in out and str(empty) in out
    out = _bad("--task", "humor", "--features", "egemaps,faus", "--data-root", root)
    assert "feature 'faus' not found" in out and "features found:" in out and "vggface2" in out
    broken = tmp_path / "broken"
    shutil.copytree(root / "c1_muse_humor", broken / "c1_muse_humor")
    f = sorted((broken / "c1_muse_humor" / "feature_segments" / "vggface2").rglob("*.csv"))[2]
    df = pd.read_csv(f)
    df.drop(columns=df.columns[-1]).to_csv(f, index=False)
    assert f"'{f}' has" in _bad("--task", "humor", "--data-root", broken, "--out", tmp_path / "o1").replace("\n", "")
    assert "--seeds must be >= 1" in _bad("--seeds", "0", "--data-root", root)
    assert "--balanced: not used with --task reaction" in _bad("--task", "reaction", "--balanced", "--data-root", root)
    assert "--time-mask must be < 1" in _bad("--time-mask", "1.5", "--data-root", root)
    assert "--time-mask must be >= 0" in _bad("--time-mask", "-0.1", "--data-root", root)
    assert "--hop-length" in _bad("--task", "stress", "--win-length", "10", "--hop-length", "20", "--data-root", root)
    assert "needs at least two run dirs" in _bad("--late-fusion", str(tmp_path), "--out", tmp_path / "lf")
    assert "--resume applies to training" in _bad("--late-fusion", f"{tmp_path},{tmp_path}", "--resume",
                                                   "--out", tmp_path / "lf")
    assert "not an lt train muse run dir" in _bad("--late-fusion", f"{tmp_path},{tmp_path}", "--out", tmp_path / "lf")
    assert not (tmp_path / "lf").exists()  # a refused fusion makes no run dir


def test_resume_reuses_finished_sub_runs_and_continues_the_interrupted_one(root, tmp_path, monkeypatch):
    """Stress per-dim: arousal finishes, valence is interrupted before its 2nd epoch; --resume trains only
    valence's last epoch (arousal re-used as it is) and ends with the uninterrupted run's weights and figures."""
    from toolkit.engine import loop
    from toolkit.engine.checkpoint import load_checkpoint

    args = ["train", "muse", "--task", "stress", "--data-root", root, "--model", "lstm", "--win-length", "30",
            "--hop-length", "15", "--deterministic", "--format", "json", *FAST]
    ref = _json(lt(*args, "--out", tmp_path / "ref"))
    original, epochs = loop.Trainer.train_epoch, []

    def train_epoch(self, e):
        epochs.append(e)
        if len(epochs) == 4:  # arousal 0, 1; valence 0; Ctrl-C as valence starts epoch 1
            raise KeyboardInterrupt
        return original(self, e)

    monkeypatch.setattr(loop.Trainer, "train_epoch", train_epoch)
    r = lt(*args, "--out", tmp_path / "run")
    assert r.exit_code == 130 and "--resume" in r.stderr
    epochs.clear()
    got = _json(lt(*args, "--out", tmp_path / "run", "--resume"))
    assert epochs == [1]  # valence's second epoch only
    for sub in ("seed0/arousal", "seed0/valence"):
        a, b = (load_checkpoint(tmp_path / d / sub / "last.pt")["state_dict"] for d in ("ref", "run"))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), sub
    figures = ("devel_ccc", "test_ccc", "devel_ccc_pop", "test_ccc_pop")
    assert {k: got[k] for k in figures} == {k: ref[k] for k in figures}
    assert [r["best_epoch"] for r in got["rows"]] == [r["best_epoch"] for r in ref["rows"]]


@pytest.mark.slow
def test_ddp_two_cpu_processes_keep_prediction_rows_in_order(root, tmp_path):
    import os
    import subprocess
    import sys

    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29561",
           "-m", "cli", "--format", "json", "train", "muse", "--task", "humor", "--data-root", str(root),
           "--model", "gru-sa", "--predict", "--out", str(out), *FAST]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=Path(__file__).parents[1], timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    report = json.loads(res.stdout)  # rank 0 alone prints
    assert 0 <= report["devel_auc"] <= 1
    labels = pd.read_csv(root / "c1_muse_humor" / "label_segments" / "coach_05" / "0.csv")
    sub = pd.read_csv(out / "predictions_test.csv")
    assert sub.meta_col_2.tolist() == labels.segment_id.tolist()  # every row once, in label order
    dev = pd.read_csv(out / "predictions_devel.csv")
    assert len(dev) == 2 * 12 and dev.label.isin([0, 1]).all()


def test_print_config_resolves_defaults(tmp_path):
    r = lt("train", "muse", "--task", "stress", "--dataset", "synthetic-muse", "--model", "lstm", "--win-length", "30",
           "--hop-length", "15", "--print-config", "--out", tmp_path / "p")
    assert r.exit_code == 0, r.output
    resolved = json.loads(r.stdout)["resolved"]
    assert (resolved["win_length"], resolved["hop_length"]) == (30, 15)
    assert (resolved["d_model"], resolved["layers"], resolved["loss"], resolved["targets"]) == (64, 2, "ccc", "per-dim")
    assert resolved["features"] == ["egemaps", "vggface2", "bert-4"]
    # MuSe's engine defaults (every TrainOptions field is a flag of lt train muse)
    assert {k: resolved[k] for k in ("optimizer", "lr", "epochs", "batch_size", "scheduler", "amp", "weight_decay",
                                     "momentum", "seeds", "dataset")} == {
        "optimizer": "adam", "lr": 1e-3, "epochs": 30, "batch_size": 64, "scheduler": "cosine", "amp": "off",
        "weight_decay": 0.0, "momentum": None, "seeds": 1, "dataset": "synthetic-muse"}
    assert not (tmp_path / "p").exists()


def test_a_flag_the_run_would_not_use_is_refused(root, tmp_path):
    """Typed where it cannot act, a flag is one Error: line, not parsed, recorded and ignored."""
    out = tmp_path / "o"
    assert "--win-length: not used with --task humor" in _bad("--task", "humor", "--data-root", root,
                                                             "--win-length", "30", "--out", out)
    assert "--hop-length: not used with --task reaction" in _bad("--task", "reaction", "--data-root", root,
                                                                "--hop-length", "15", "--out", out)
    assert "--devel-fraction: not used without --resplit-seed" in _bad("--data-root", root, "--devel-fraction",
                                                                       "0.3", "--out", out)
    assert "--fusion: not used without --late-fusion" in _bad("--data-root", root, "--fusion", "learned",
                                                              "--out", out)
    assert "--model, --epochs: not used with --late-fusion" in _bad("--late-fusion", f"{root},{root}", "--model",
                                                                    "lstm", "--epochs", "3", "--out", out)
    assert not out.exists()


# (CLI flags, the same options as library keywords): each one refused by MuseOptions' rules.
REFUSED = [
    (["--task", "humor", "--win-length", "30"], {"task": "humor", "win_length": 30}),
    (["--task", "reaction", "--hop-length", "15"], {"task": "reaction", "hop_length": 15}),
    (["--task", "humor", "--targets", "joint"], {"task": "humor", "targets": "joint"}),
    (["--task", "stress", "--balanced"], {"task": "stress", "balanced": True}),
    (["--devel-fraction", "0.3"], {"devel_fraction": 0.3}),
    (["--fusion", "learned"], {"fusion": "learned"}),
    (["--late-fusion", "a,b", "--model", "lstm", "--epochs", "3"], {"late_fusion": "a,b", "model": "lstm",
                                                                     "epochs": 3}),
    (["--late-fusion", "a,b", "--dataset", "synthetic-muse"], {"late_fusion": ("a", "b"), "dataset": "synthetic-muse"}),
    (["--late-fusion", "a,b", "--amp", "on", "--grad-clip", "1"], {"late_fusion": "a,b", "amp": "on",
                                                                    "grad_clip": 1.0}),
    (["--late-fusion", "a,b", "--resume"], {"late_fusion": "a,b", "resume": True}),
    (["--late-fusion", "a"], {"late_fusion": "a"}),
    (["--task", "stress", "--win-length", "10", "--hop-length", "20"], {"task": "stress", "win_length": 10,
                                                                       "hop_length": 20}),
    (["--task", "stress", "--loss", "bce"], {"task": "stress", "loss": "bce"}),
    (["--optimizer", "adam", "--momentum", "0.9"], {"optimizer": "adam", "momentum": 0.9}),
]


@pytest.mark.parametrize("args, values", REFUSED, ids=[" ".join(a) for a, _ in REFUSED])
def test_a_library_call_is_refused_with_the_cli_error_text(root, tmp_path, args, values):
    """The rules are MuseOptions': train_muse(**values) raises the LtError whose text the CLI prints."""
    from toolkit.engine.errors import LtError
    from toolkit.muse.train import train_muse

    out = tmp_path / "o"
    data = {} if "late_fusion" in values else {"data_root": str(root)}  # a fusion reads no dataset
    cli = lt("train", "muse", *[a for k, v in data.items() for a in ("--data-root", v)], *args, "--out", out)
    assert cli.exit_code == 2, cli.output
    err = cli.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("Error: "), cli.stderr
    with pytest.raises(LtError) as e:
        train_muse(out=str(out), **data, **values)
    assert err[0] == f"Error: {e.value}"
    assert not out.exists()
