"""Every training command on the one run lifecycle: distributed (torchrun, 2 CPU processes, gloo),
resumable (Ctrl-C then --resume gives the weights of an uninterrupted run, deterministic mode), and
replayable (--config of a run reproduces its metrics).

A command joins by adding its tiny, seeded argument list to TRAINERS: every test here runs for it.
A command that needs another run first (a teacher, a backbone) names it as ``{name}`` in its
arguments; PREREQUISITES[name] is then run once per module and its run dir put in its place.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from toolkit.engine.checkpoint import load_checkpoint

ROOT = Path(__file__).parents[1]

# command -> arguments of a tiny run (>= 2 epochs, so that an interrupt at epoch 2 leaves one to resume)
TRAINERS: dict[str, list[str]] = {
    "train ce": ["train", "ce", "--dataset", "digits-lt", "--model", "mlp", "--epochs", "2", "--batch-size", "64"],
    "train lcreg": ["train", "lcreg", "--dataset", "digits-lt", "--model", "mlp", "--epochs", "2", "--batch-size", "64",
                    "--latent-k", "4"],
    "train mdl": ["train", "mdl", "--dataset", "digits", "--model", "mlp", "--epochs", "2", "--batch-size", "64",
                  "--adversarial", "fgsm", "--mask", "random"],
    "defend facm": ["defend", "facm", "--backbone", "{backbone}", "--dataset", "digits", "--epochs", "2",
                    "--batch-size", "64", "--adv-attack", "pgd", "--steps", "2", "--fa-hidden", "16",
                    "--latent-dim", "4", "--lr", "0.01"],
    # two seeds: two sub-runs (seed0/, seed1/); the interrupted one continues, the other starts after it
    "train muse": ["train", "muse", "--task", "humor", "--dataset", "synthetic-muse", "--model", "gru-sa",
                   "--epochs", "2",
                   "--seeds", "2", "--d-model", "8", "--layers", "1", "--batch-size", "32", "--predict"],
    # stress per-dim: one sub-run per dimension (seed0/arousal/, seed0/valence/)
    "train muse stress": ["train", "muse", "--task", "stress", "--dataset", "synthetic-muse", "--model", "lstm",
                          "--epochs", "2", "--d-model", "8", "--layers", "1", "--batch-size", "16",
                          "--win-length", "100", "--hop-length", "50"],
    # two folds (fold-1/, fold-2/) and the final model (the run dir itself)
    "audio ssbpr train": ["audio", "ssbpr", "train", "--dataset", "synthetic-snore", "--model", "cnn", "--folds", "2",
                          "--epochs", "2", "--subjects", "4", "--clips", "1", "--sample-rate", "8000",
                          "--duration", "1", "--batch-size", "8"],
    "train video": ["train", "video", "--dataset", "synthetic-dark", "--model", "tiny3d", "--frames", "4",
                    "--test-views", "2", "--epochs", "2", "--batch-size", "16"],
    "distill kd": ["distill", "kd", "--teacher", "{teacher}", "--student", "tiny3d", "--frames", "4",
                   "--test-views", "2",
                   "--epochs", "2", "--batch-size", "16"],
    "distill ukd": ["distill", "ukd", "--teachers", "{teacher},{teacher}", "--teacher-streams", "rgb,gamma",
                    "--student", "tiny3d", "--frames", "4", "--views", "2", "--test-views", "2", "--epochs", "2",
                    "--batch-size", "16"],
}
# Runs some trainers need first: name -> arguments; "{name}" in a TRAINERS entry stands for its run dir.
PREREQUISITES: dict[str, list[str]] = {
    "backbone": ["train", "ce", "--dataset", "digits", "--model", "mlp", "--epochs", "1", "--warmup-epochs", "0",
                 "--batch-size", "128"],
    "teacher": ["train", "video", "--dataset", "synthetic-dark", "--model", "tiny3d", "--frames", "4",
                "--test-views", "2", "--epochs", "1", "--batch-size", "16"],
}
# Figures that measure time or memory, not the result: left out when two runs are compared.
TIMING = ("seconds", "per_s", "peak_mem", "time", "created", "wall")


def _run(invoke, args: list[str], out: Path, *extra: str):
    return invoke(*args, "--out", out, "--deterministic", "--quiet", "--format", "json", *extra)


@pytest.fixture(scope="module")
def trainer_args(tmp_path_factory):
    """``get(name)``: TRAINERS[name] with every "{prerequisite}" replaced by the dir of that run (made on first use)."""
    from typer.testing import CliRunner

    from cli.main import app

    made: dict[str, str] = {}

    def get(name: str) -> list[str]:
        args = []
        for arg in TRAINERS[name]:
            for pre in (p for p in PREREQUISITES if "{" + p + "}" in arg):
                if pre not in made:
                    out = tmp_path_factory.mktemp("prerequisite") / pre
                    res = CliRunner().invoke(app, [*PREREQUISITES[pre], "--out", str(out), "--quiet"],
                                             catch_exceptions=False)
                    assert res.exit_code == 0, res.output
                    made[pre] = str(out)
                arg = arg.replace("{" + pre + "}", made[pre])
            args.append(arg)
        return args

    return get


@pytest.fixture(scope="module")
def straight(tmp_path_factory, trainer_args):
    """Each command once, uninterrupted (module scope: shared by the tests below)."""
    from typer.testing import CliRunner

    from cli.main import app

    done: dict[str, tuple[Path, dict]] = {}

    def get(name: str) -> tuple[Path, dict]:
        if name not in done:
            out = tmp_path_factory.mktemp("straight") / name.replace(" ", "-")
            args = [*trainer_args(name), "--out", str(out), "--deterministic", "--quiet", "--format", "json"]
            res = CliRunner().invoke(app, args, catch_exceptions=False)
            assert res.exit_code == 0, res.output
            done[name] = (out, json.loads(res.stdout))
        return done[name]

    return get


def _checkpoints(out: Path) -> dict[str, dict]:
    return {str(p.relative_to(out)): load_checkpoint(p)["state_dict"] for p in sorted(out.rglob("last.pt"))}


def _results(obj):
    """A report or metrics dict without its timing figures (run dirs differ too: 'out' dropped)."""
    if isinstance(obj, dict):
        return {k: _results(v) for k, v in obj.items() if k != "out" and not any(t in k for t in TIMING)}
    if isinstance(obj, list):
        return [_results(v) for v in obj]
    return obj


def _shape(report: dict) -> tuple:
    rows = report.get("rows") or []
    return tuple(sorted(k for k in report if k != "title")), tuple(sorted(rows[0])) if rows else ()


@pytest.fixture
def interrupt_at(monkeypatch):
    """Simulate Ctrl-C once, when the engine loop starts epoch ``epoch`` (0-based) of any fit."""
    from toolkit.engine import loop

    def arm(epoch: int) -> None:
        original, fired = loop.Trainer.train_epoch, []

        def train_epoch(self, e):
            if e == epoch and not fired:
                fired.append(e)
                raise KeyboardInterrupt
            return original(self, e)

        monkeypatch.setattr(loop.Trainer, "train_epoch", train_epoch)

    return arm


@pytest.mark.parametrize("name", list(TRAINERS))
def test_resume_after_interrupt_equals_uninterrupted(name, straight, trainer_args, invoke, interrupt_at, tmp_path):
    ref_dir, ref_report = straight(name)
    out = tmp_path / "run"
    interrupt_at(1)
    res = _run(invoke, trainer_args(name), out)
    assert res.exit_code == 130, res.output
    assert "--resume" in res.stderr and (out / "config.json").is_file()
    res = _run(invoke, trainer_args(name), out, "--resume")
    assert res.exit_code == 0, res.output
    ref, got = _checkpoints(ref_dir), _checkpoints(out)
    assert ref and list(ref) == list(got)
    for where in ref:
        for key, tensor in ref[where].items():
            assert torch.equal(tensor, got[where][key]), (where, key)
    assert _results(json.loads(res.stdout)) == _results(ref_report)


@pytest.mark.parametrize("name", list(TRAINERS))
def test_config_replays_the_run(name, straight, invoke, tmp_path):
    ref_dir, ref_report = straight(name)
    config = json.loads((ref_dir / "config.json").read_text())
    assert config["command"] == TRAINERS[name][:len(config["command"])] and config["resolved"]["deterministic"]
    res = invoke(*config["command"], "--config", ref_dir / "config.json", "--out", tmp_path / "again",
                 "--quiet", "--format", "json")
    assert res.exit_code == 0, res.output
    assert _results(json.loads(res.stdout)) == _results(ref_report)
    again = json.loads((tmp_path / "again" / "config.json").read_text())
    assert _results({**again["resolved"], "out": None}) == _results({**config["resolved"], "out": None})


@pytest.mark.parametrize("name", list(TRAINERS))
def test_print_config_runs_nothing(name, trainer_args, invoke, tmp_path):
    res = invoke(*trainer_args(name), "--out", tmp_path / "p", "--print-config")
    assert res.exit_code == 0, res.output
    config = json.loads(res.stdout)
    assert config["command"] == TRAINERS[name][:len(config["command"])]
    # the recipe/default values are resolved to numbers, not left as "the default"
    assert all(isinstance(config["resolved"][k], (int, float)) for k in ("epochs", "lr", "batch_size"))
    assert not (tmp_path / "p").exists()


@pytest.mark.slow
@pytest.mark.parametrize("name", list(TRAINERS))
def test_torchrun_two_cpu_processes(name, straight, trainer_args, tmp_path):
    out = tmp_path / "ddp"
    port = str(29600 + sorted(TRAINERS).index(name))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", port,
           "-m", "cli", *trainer_args(name), "--device", "cpu", "--out", str(out), "--quiet", "--format", "json"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    report = json.loads(res.stdout)  # rank 0 alone prints: one JSON document
    assert _shape(report) == _shape(straight(name)[1])
    config = json.loads((out / "config.json").read_text())
    assert config["command"] == TRAINERS[name][:len(config["command"])]
    assert (out / "metrics.json").is_file() and not list(out.rglob("*.tmp"))
    for where, ck in ((p, load_checkpoint(p)) for p in out.rglob("last.pt")):
        assert ck["config"]["resolved"] == config["resolved"], where


# Every engine flag, at a value no trainer uses by default; and what TrainConfig must hold then.
ENGINE_FLAGS = ["--amp", "off", "--grad-clip", "0.5", "--warmup-epochs", "1", "--optimizer", "sgd", "--momentum", "0.8",
                "--scheduler", "multistep", "--milestones", "1", "--lr-factors", "0.5", "--workers", "0",
                "--early-stop", "3", "--compile"]
ENGINE_VALUES = {"amp": "off", "grad_clip": 0.5, "warmup_epochs": 1, "optimizer": "sgd", "momentum": 0.8,
                 "scheduler": "multistep", "milestones": (1,), "lr_factors": (0.5,), "workers": 0, "early_stop": 3,
                 "compile": True}
# Trainers whose model input is a 4-D image batch (channels_last applies); the others refuse it.
IMAGE_TRAINERS = ("train ce", "train lcreg", "train mdl", "defend facm", "audio ssbpr train")


class _Captured(Exception):
    pass


@pytest.fixture
def engine_config(monkeypatch):
    """The TrainConfig the first ``fit`` of a command receives (the run stops right there)."""
    from toolkit.engine import loop

    seen = []

    def init(self, *args, cfg, **kwargs):
        seen.append(cfg.validate())
        raise _Captured

    monkeypatch.setattr(loop.Trainer, "__init__", init)
    return seen


@pytest.mark.parametrize("name", list(TRAINERS))
def test_every_engine_flag_reaches_the_engine_and_is_recorded(name, trainer_args, invoke, engine_config, tmp_path):
    args = [*trainer_args(name), *ENGINE_FLAGS, *(["--channels-last"] if name in IMAGE_TRAINERS else [])]
    expected = {**ENGINE_VALUES, "channels_last": name in IMAGE_TRAINERS}
    engine = dict(expected)
    if name == "audio ssbpr train":
        # --workers there are the feature-extraction processes (>= 1); the loop reads in-memory spectrograms
        args[args.index("--workers") + 1] = "2"
        expected["workers"], engine["workers"] = 2, 0
    printed = invoke(*args, "--print-config")
    assert printed.exit_code == 0, printed.output
    resolved = json.loads(printed.stdout)["resolved"]
    assert {k: resolved[k] for k in expected} == {k: list(v) if isinstance(v, tuple) else v
                                                  for k, v in expected.items()}
    with pytest.raises(_Captured):
        invoke(*args, "--out", tmp_path / "run", "--quiet")
    cfg = engine_config[0]
    assert {k: getattr(cfg, k) for k in engine} == {k: tuple(v) if isinstance(v, tuple) else v
                                                    for k, v in engine.items()}


@pytest.mark.parametrize("name", [n for n in TRAINERS if n not in IMAGE_TRAINERS])
def test_channels_last_on_inputs_that_are_not_images_is_one_error(name, trainer_args, invoke, tmp_path):
    from conftest import assert_user_error

    res = invoke(*trainer_args(name), "--channels-last", "--epochs", "1", "--out", tmp_path / "run", "--quiet")
    assert_user_error(res, "--channels-last needs 4-D image inputs")
