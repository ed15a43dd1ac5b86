"""``lt audio``: features, ssbpr train/eval/predict end to end on a tiny synthetic set, and bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cli.main import app
from toolkit.data import snore_synthetic as synth

SR = "8000"
TINY = ["--sample-rate", SR, "--duration", "1"]
CLASSICAL = ("svm", "logreg")  # fitted in one call: no --epochs/--batch-size/--lr


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("snores")
    synth.generate(root, subjects=4, clips=2, sample_rate=8000, duration=1.0, seed=5)
    return root


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


def lt(*args) -> "object":
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def user_error(result, *fragments: str) -> str:
    assert result.exit_code == 2, (result.exit_code, result.output)
    line = [ln for ln in result.stderr.splitlines() if ln.startswith("Error: ")]
    assert len(line) == 1, result.stderr
    for f in fragments:
        assert f in line[0], (f, line[0])
    return line[0]


def jsonl(text: str) -> list[dict]:
    return [json.loads(ln) for ln in text.splitlines() if ln.strip()]


@pytest.mark.parametrize("cmd", [["audio"], ["audio", "features"], ["audio", "ssbpr"], ["audio", "ssbpr", "train"],
                                 ["audio", "ssbpr", "eval"], ["audio", "ssbpr", "predict"]])
def test_help(cmd):
    r = lt(*cmd, "--help")
    assert r.exit_code == 0 and "Usage" in r.output


@pytest.mark.parametrize("npz", [False, True])
def test_features_npy_npz_and_cache(data, tmp_path, npz):
    cache = tmp_path / "cache"
    args = ["audio", "features", data, "--features", "mfcc", *TINY, "--cache-dir", cache, "-f", "json", "-q",
            "--npz" if npz else "--npy"]
    first = json.loads(lt(*args, "--out", tmp_path / "a").stdout)
    second = json.loads(lt(*args, "--workers", "2", "--out", tmp_path / "b").stdout)
    assert first["files"] == second["files"] == 48 and first["cache_hits"] == 0 and second["cache_hits"] == 48
    assert first["shape"] == "60x16" and first["skipped"] == 0
    if npz:
        with np.load(tmp_path / "a" / "features.npz") as z:
            assert len(z["files"]) == 48 and z["f00000"].shape == (60, 16)
    else:
        index = (tmp_path / "b" / "index.csv").read_text().splitlines()
        assert index[0] == "file,feature,shape" and len(index) == 49
        arr = np.load(tmp_path / "b" / index[1].split(",")[1])
        assert arr.shape == (60, 16)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["cnn", "crnn", "resnet18", "svm", "logreg"])
def test_train_every_model(data, cache, tmp_path, model):
    loop = ["--epochs", "1", "--batch-size", "16"] if model not in CLASSICAL else []  # spectrogram models only
    r = lt("audio", "ssbpr", "train", "--data-root", data, "--model", model, "--folds", "2", *loop,
           *TINY, "--cache-dir", cache, "--no-final", "--out", tmp_path / "run", "-f", "json", "-q")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    rows = out["rows"]
    assert [row["fold"] for row in rows] == [1, 2, "mean", "std"]
    assert all(row["split"] == "subject" for row in rows) and sum(row["n_test"] for row in rows[:2]) == 48
    for row in rows[:2]:
        assert 0 <= row["accuracy"] <= 1 and 0 <= row["macro_f1"] <= 1 and 0 <= row["auc"] <= 1
    assert "split=subject" in out["title"] and "none on both sides" in out["notes"][0]
    assert (tmp_path / "run" / "fold-1" / "last.pt").is_file() and (tmp_path / "run" / "metrics.json").is_file()
    assert not (tmp_path / "run" / "last.pt").exists()
    ckpt = torch.load(tmp_path / "run" / "fold-2" / "last.pt", weights_only=True)
    assert ckpt["config"]["resolved"]["model"] == model
    assert ckpt["config"]["info"]["audio"]["class_ids"] == list(range(6))
    confusion = np.array([[v for k, v in row.items() if k != "true"] for row in out["confusion_matrix"]["rows"]])
    assert confusion.sum() == 48 and "split=subject" in out["confusion_matrix"]["notes"][0]
    assert [row["fold"] for row in out["per-class_recall"]["rows"]] == [1, 2, "mean", "std"]


@pytest.mark.slow
@pytest.mark.parametrize("model", ["cnn", "logreg"])
def test_train_final_then_eval_and_predict(data, cache, tmp_path, model):
    run = tmp_path / "run"
    loop = ["--epochs", "2"] if model not in CLASSICAL else []  # spectrogram models only
    r = lt("audio", "ssbpr", "train", "--data-root", data, "--model", model, "--cv", "random", "--folds", "2",
           *loop, *TINY, "--cache-dir", cache, "--out", run, "-f", "jsonl", "-q", "--balanced")
    assert r.exit_code == 0, r.output
    assert all(row["split"] == "random" for row in jsonl(r.stdout) if "split" in row)
    assert (run / "last.pt").is_file() and (run / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    r = lt("audio", "ssbpr", "eval", run, "--data-root", data, "--cache-dir", cache, "-f", "json", "-q")
    assert r.exit_code == 0, r.output
    ev = json.loads(r.stdout)
    assert ev["files"] == 48 and ev["rows"][0]["split"] == "external" and ev["rows"][0]["n_test"] == 48
    files = sorted(str(p) for p in data.rglob("*.wav"))[:2]
    r = lt("audio", "ssbpr", "predict", *files, "--checkpoint", run, "--cache-dir", cache)
    assert r.exit_code == 0, r.output
    preds = jsonl(r.stdout)
    assert [p["file"] for p in preds] == files
    for p in preds:
        assert set(p) == {"file", "label", "label_name", "probabilities"}
        assert list(p["probabilities"]) == list(synth_names())
        assert abs(sum(p["probabilities"].values()) - 1) < 1e-4
        assert p["label_name"] == max(p["probabilities"], key=p["probabilities"].get)
        assert synth_names()[p["label"]] == p["label_name"]


def synth_names() -> tuple[str, ...]:
    from toolkit.data.ssbpr_layout import CLASS_NAMES

    return CLASS_NAMES


def test_train_synthetic_dataset_into_data_root(tmp_path, cache):
    r = lt("audio", "ssbpr", "train", "--dataset", "synthetic-snore", "--data-root", tmp_path / "gen",
           "--subjects", "3",
           "--clips", "1", "--model", "logreg", "--folds", "3", *TINY, "--drop-classes", "5", "--cache-dir", cache,
           "--no-final", "--out", tmp_path / "run", "-f", "json", "-q")
    assert r.exit_code == 0, r.output
    assert len(list((tmp_path / "gen").rglob("*.wav"))) == 3 * 6
    assert sum(row["n_test"] for row in json.loads(r.stdout)["rows"][:3]) == 15  # class 5 dropped


def test_bad_files_skipped_in_run_dir(data, tmp_path, cache):
    root = tmp_path / "d"
    shutil.copytree(data, root)
    (root / "male" / "77-1-2.wav").write_bytes(b"not a wav at all")
    r = lt("audio", "ssbpr", "train", "--data-root", root, "--model", "logreg", "--folds", "2", *TINY,
           "--max-bad", "0.1", "--cache-dir", cache, "--no-final", "--out", tmp_path / "run", "-f", "json")
    assert r.exit_code == 0, r.output
    assert "skipped 1 bad file" in r.stderr and "77-1-2.wav" in r.stderr
    assert json.loads(r.stdout)["skipped"] == 1
    assert "77-1-2.wav" in (tmp_path / "run" / "skipped.csv").read_text()
    r = lt("audio", "ssbpr", "train", "--data-root", root, "--model", "logreg", "--folds", "2", *TINY,
           "--max-bad", "0", "--cache-dir", cache, "--out", tmp_path / "run2")
    user_error(r, "1 of 49 files are bad", "--max-bad")


# -- bad input ----------------------------------------------------------------------------------------
def _one_file_root(tmp_path: Path, name: str, data: Path) -> Path:
    root = tmp_path / "r"
    shutil.copytree(data, root)
    shutil.copy(next(data.rglob("*.wav")), root / "female" / name)
    return root


def test_bad_input(data, tmp_path, cache):
    train = ["audio", "ssbpr", "train", "--model", "logreg", "--folds", "2", "--cache-dir", cache, "--no-final"]
    user_error(lt(*train, "--data-root", tmp_path, *TINY, "--out", tmp_path / "o1"),
               "neither the released layout", "female/ and male/", "CSV manifest")
    for sub, name, why in (("a", "recording7.wav", "does not parse"), ("b", "1-2-9.wav", "label 9 is outside 0-5")):
        # a non-conforming name is listed and skipped like a corrupt file, not fatal
        r = lt(*train, "--data-root", _one_file_root(tmp_path / sub, name, data), *TINY, "--out", tmp_path / f"o{sub}")
        assert r.exit_code == 0, r.stderr
        assert "skipped 1 bad file" in r.stderr and name in r.stderr
        listed = (tmp_path / f"o{sub}" / "skipped.csv").read_text()
        assert name in listed and why in listed
    user_error(lt(*train, "--data-root", data, "--duration", "0", "--out", tmp_path / "o4"), "--duration must be > 0")
    user_error(lt(*train, "--data-root", data, "--sample-rate", "100", "--out", tmp_path / "o5"),
               "--sample-rate 100 Hz cannot be resampled")
    user_error(lt(*train, "--data-root", data, *TINY, "--drop-classes", "7", "--out", tmp_path / "o6"),
               "--drop-classes 7")
    user_error(lt(*train, "--data-root", data, *TINY, "--folds", "5", "--out", tmp_path / "o7"),
               "needs at least 5 patients")
    user_error(lt(*train, *TINY, "--out", tmp_path / "o8"), "needs --data-root")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("keep me")
    user_error(lt(*train, "--data-root", data, *TINY, "--out", tmp_path / "full"), "not empty", "--force")
    assert (tmp_path / "full" / "x").read_text() == "keep me"


def test_class_missing_is_an_error(data, tmp_path, cache):
    root = tmp_path / "d"
    shutil.copytree(data, root)
    for p in root.rglob("*-4.wav"):
        p.unlink()
    r = lt("audio", "ssbpr", "train", "--data-root", root, "--model", "svm", "--folds", "2", *TINY,
           "--cache-dir", cache, "--out", tmp_path / "o")
    user_error(r, "class 4 (right-lateral) has no valid files", "--drop-classes 4")


def test_eval_predict_bad_input(data, tmp_path, cache):
    user_error(lt("audio", "ssbpr", "eval", tmp_path / "none.pt", "--data-root", data), "does not exist")
    foreign = tmp_path / "foreign.pt"
    torch.save({"format_version": 1, "state_dict": {}}, foreign)
    user_error(lt("audio", "ssbpr", "predict", next(data.rglob("*.wav")), "--checkpoint", foreign),
               "not an lt audio ssbpr checkpoint")
    user_error(lt("audio", "features", tmp_path / "missing", "--out", tmp_path / "f"), "does not exist")
    user_error(lt("audio", "features", data, "--fmax", "9000", "--out", tmp_path / "g"), "sample_rate/2")


def test_old_spellings_are_removed(data, tmp_path):
    """--kind (features), --split (ssbpr train) and --model (predict) were removed in 0.3: no alias."""
    for args in (["features", data, "--kind", "stats", "--print-config", "--out", tmp_path / "f"],
                 ["ssbpr", "train", "--data-root", data, "--split", "random", "--print-config",
                  "--out", tmp_path / "t"],
                 ["ssbpr", "predict", next(data.rglob("*.wav")), "--model", tmp_path / "none.pt"]):
        r = lt("audio", *args)
        assert r.exit_code == 2 and "No such option" in r.output, r.output
    assert not (tmp_path / "f").exists() and not (tmp_path / "t").exists()


def test_old_names_are_not_library_options():
    from toolkit.audio.options import FeaturesOptions, SSBPRPredictOptions, SSBPRTrainOptions
    from toolkit.engine.errors import LtError

    for cls, old in ((FeaturesOptions, "kind"), (SSBPRTrainOptions, "split"), (SSBPRPredictOptions, "model"),
                     (SSBPRTrainOptions, "num_workers")):
        with pytest.raises(LtError, match=f"unknown option\\(s\\) --{old.replace('_', '-')}"):
            cls.of(**{old: "x"})


def test_model_and_dataset_are_checked_names(data, tmp_path):
    base = ["audio", "ssbpr", "train", "--data-root", data, "--out", tmp_path / "o"]
    user_error(lt(*base, "--model", "cnnn"), "unknown audio model 'cnnn'", "did you mean: cnn", "valid:")
    user_error(lt(*base, "--dataset", "snores"), "unknown dataset 'snores'", "valid: ssbpr, synthetic-snore")
    user_error(lt(*base, "--subjects", "3"), "--subjects/--clips only apply to --dataset synthetic-snore")
    assert not (tmp_path / "o").exists()


def test_checkpoint_of_the_old_config_layout_still_predicts(data, cache, tmp_path):
    """Runs written before the one config schema kept the audio settings in ``config["audio"]``."""
    from toolkit.audio.ssbpr import audio_settings

    run = tmp_path / "run"
    r = lt("audio", "ssbpr", "train", "--data-root", data, "--model", "logreg", "--folds", "2", *TINY,
           "--cache-dir", cache, "--out", run, "-q")
    assert r.exit_code == 0, r.output
    ckpt = torch.load(run / "last.pt", weights_only=True)
    new = audio_settings(ckpt["config"])
    assert new["model"] == "logreg" and new["cv"] == "subject" and new["features"]["kind"] == "stats"
    old = {"audio": {**{k: new[k] for k in ("model", "dataset", "features", "class_ids", "class_names")},
                     "split": "subject", "folds": 2, "fold": "all"}}
    torch.save({**ckpt, "config": old}, tmp_path / "old.pt")
    assert audio_settings(old) == {**old["audio"], "cv": "subject"}
    wav = next(data.rglob("*.wav"))
    a, b = (jsonl(lt("audio", "ssbpr", "predict", wav, "--checkpoint", c, "--cache-dir", cache).stdout)
            for c in (run, tmp_path / "old.pt"))
    assert a == b and len(a) == 1


def test_workers_checked_before_any_clip_is_generated(data, tmp_path):
    gen = tmp_path / "gen"  # synthetic-snore would be written here
    user_error(lt("audio", "ssbpr", "train", "--dataset", "synthetic-snore", "--data-root", gen, "--workers", "0",
                  "--out", tmp_path / "o"), "--workers must be >= 1 (got 0)")
    user_error(lt("audio", "features", data, "--workers", "0", "--out", tmp_path / "f"), "--workers must be >= 1")
    assert not gen.exists() and not (tmp_path / "o").exists() and not (tmp_path / "f").exists()


def test_cache_dir_typed_with_no_cache_is_refused_not_ignored(data, tmp_path):
    wav = next(data.rglob("*.wav"))
    for cmd in (["features", data, "--out", tmp_path / "f"],
                ["ssbpr", "train", "--data-root", data, "--out", tmp_path / "t"],
                ["ssbpr", "eval", tmp_path / "run", "--data-root", data],
                ["ssbpr", "predict", wav, "--checkpoint", tmp_path / "run"]):
        user_error(lt("audio", *cmd, "--cache-dir", tmp_path / "c", "--no-cache"),
                   "--cache-dir: not used with --no-cache")
    assert not any((tmp_path / d).exists() for d in ("f", "t", "c"))


def test_spectrogram_training_flags_are_refused_for_the_classical_models(data, tmp_path):
    for model in ("svm", "logreg"):
        user_error(lt("audio", "ssbpr", "train", "--data-root", data, "--model", model, "--epochs", "5", "--lr",
                      "0.1", "--out", tmp_path / "o"), f"--epochs, --lr: not used with --model {model}")
    assert not (tmp_path / "o").exists()


def _library_error(fn, **kwargs) -> str:
    from toolkit.engine.errors import LtError

    with pytest.raises(LtError) as e:
        fn(**kwargs)
    return f"Error: {e.value}"


def test_library_calls_raise_the_cli_error_line(data, tmp_path):
    """Every rule of the options classes: a library call with an option that does not apply raises the
    LtError whose text is the CLI's one ``Error:`` line (and nothing is written)."""
    from toolkit.audio.extract import extract_features
    from toolkit.audio.ssbpr import eval_ssbpr, predict_ssbpr, train_ssbpr

    wav = next(data.rglob("*.wav"))
    cases = [  # (library call, kwargs, CLI args, expected fragment)
        (extract_features, {"path": str(data), "cache_dir": str(tmp_path / "c"), "cache": False},
         ["features", data, "--cache-dir", tmp_path / "c", "--no-cache"], "--cache-dir: not used with --no-cache"),
        (train_ssbpr, {"data_root": str(data), "cache_dir": str(tmp_path / "c"), "cache": False},
         ["ssbpr", "train", "--data-root", data, "--cache-dir", tmp_path / "c", "--no-cache"],
         "--cache-dir: not used with --no-cache"),
        (eval_ssbpr, {"checkpoint": str(tmp_path / "run"), "data_root": str(data), "cache_dir": "c", "cache": False},
         ["ssbpr", "eval", tmp_path / "run", "--data-root", data, "--cache-dir", "c", "--no-cache"],
         "--cache-dir: not used with --no-cache"),
        (predict_ssbpr, {"files": [str(wav)], "checkpoint": "r", "cache_dir": "c", "cache": False},
         ["ssbpr", "predict", wav, "--checkpoint", "r", "--cache-dir", "c", "--no-cache"],
         "--cache-dir: not used with --no-cache"),
        (train_ssbpr, {"data_root": str(data), "model": "svm", "epochs": 5, "lr": 0.1},
         ["ssbpr", "train", "--data-root", data, "--model", "svm", "--epochs", "5", "--lr", "0.1"],
         "--epochs, --lr: not used with --model svm"),
        (train_ssbpr, {"data_root": str(data), "model": "logreg", "optimizer": "sgd", "amp": "off", "grad_clip": 1.0,
                       "warmup_epochs": 1, "compile": True},
         ["ssbpr", "train", "--data-root", data, "--model", "logreg", "--optimizer", "sgd", "--amp", "off",
          "--grad-clip", "1", "--warmup-epochs", "1", "--compile"],
         "not used with --model logreg"),
        (train_ssbpr, {"data_root": str(data), "model": "cnnn"}, ["ssbpr", "train", "--data-root", data, "--model",
                                                                   "cnnn"], "unknown audio model 'cnnn'"),
        (train_ssbpr, {"data_root": str(data), "subjects": 3}, ["ssbpr", "train", "--data-root", data, "--subjects",
                                                                 "3"], "--subjects/--clips only apply"),
        (train_ssbpr, {"data_root": str(data), "drop_classes": (0, 1, 2, 3, 4)},
         ["ssbpr", "train", "--data-root", data, "--drop-classes", "0,1,2,3,4"], "at least two classes"),
        (train_ssbpr, {"data_root": str(data), "scheduler": "none", "milestones": (3,)},
         ["ssbpr", "train", "--data-root", data, "--scheduler", "none", "--milestones", "3"],
         "--milestones: not used with --scheduler none"),
        (predict_ssbpr, {"files": (), "checkpoint": "r"}, None, "give at least one audio file to predict"),
    ]
    for fn, kwargs, argv, fragment in cases:
        line = _library_error(fn, out=str(tmp_path / "o"), **kwargs) if fn in (extract_features, train_ssbpr) \
            else _library_error(fn, **kwargs)
        assert fragment in line, (fragment, line)
        if argv is not None:
            out = ["--out", tmp_path / "o"] if argv[0] in ("features", "train") or argv[1] == "train" else []
            assert user_error(lt("audio", *argv, *out), fragment) == line
    assert not any((tmp_path / d).exists() for d in ("o", "c"))


def test_engine_options_resolve_for_spectrogram_models_and_stay_none_for_classical(data, tmp_path):
    """cnn gets its defaults (AdamW, 1e-3, 1e-4, 32, 30, cosine) and any engine flag; svm records them as None."""
    from toolkit.audio.options import SSBPRTrainOptions

    cnn = SSBPRTrainOptions(data_root=str(data)).validate()
    assert (cnn.optimizer, cnn.lr, cnn.weight_decay, cnn.batch_size, cnn.epochs, cnn.scheduler, cnn.momentum) == \
        ("adamw", 1e-3, 1e-4, 32, 30, "cosine", None)
    sgd = SSBPRTrainOptions(data_root=str(data), optimizer="sgd", warmup_epochs=2, amp="off").validate()
    assert (sgd.optimizer, sgd.momentum, sgd.warmup_epochs, sgd.amp) == ("sgd", 0.9, 2, "off")
    svm = SSBPRTrainOptions(data_root=str(data), model="svm").validate()
    assert all(getattr(svm, k) is None for k in ("epochs", "batch_size", "lr", "optimizer", "scheduler", "amp"))
    r = lt("audio", "ssbpr", "train", "--data-root", data, "--model", "crnn", "--optimizer", "sgd", "--grad-clip",
           "2", "--print-config", "--out", tmp_path / "o")
    assert r.exit_code == 0, r.output
    resolved = json.loads(r.stdout)["resolved"]
    assert (resolved["optimizer"], resolved["momentum"], resolved["grad_clip"], resolved["lr"]) == ("sgd", 0.9, 2.0,
                                                                                                     1e-3)
    r = lt("audio", "ssbpr", "train", "--data-root", data, "--model", "svm", "--print-config", "--out", tmp_path / "o")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["resolved"]["epochs"] is None
    assert not (tmp_path / "o").exists()
