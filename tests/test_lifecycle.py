"""The run lifecycle (toolkit/engine/lifecycle.py) and the --config / --print-config plumbing (cli/common.py)."""

from __future__ import annotations

import json

import pytest
import typer

from cli.options import command
from conftest import assert_user_error
from toolkit.engine.errors import LtError
from toolkit.engine.lifecycle import CONFIG_KEYS, build_config, first_difference, start_run
from toolkit.engine.options import RunOptions, option, options


@options
class ToyOptions(RunOptions):
    """A toy command's options: an epoch count resolved from a default that depends on nothing given."""

    epochs: int | None = option(None, "Training epochs.", min=1, default_text="30")
    loss: str = option("ce", "Loss function.", choices=("ce", "balanced-softmax"))

    def _resolve(self):
        return self.replace(epochs=self.epochs or 30)


def test_config_schema_records_the_options(tmp_path):
    opts = ToyOptions(out=str(tmp_path / "a"), device="cpu", seed=3).validate()
    r = start_run(("train", "toy"), opts)
    cfg = json.loads((tmp_path / "a" / "config.json").read_text())
    assert tuple(cfg) == CONFIG_KEYS
    assert cfg["command"] == ["train", "toy"]
    # the resolved value wins over None; the seed and determinism actually used are always recorded
    assert cfg["resolved"] == {**opts.to_dict(), "epochs": 30, "device": "cpu", "seed": 3, "deterministic": False}
    assert r.device.type == "cpu" and r.out_dir == tmp_path / "a"
    r.finish({"top1": 0.5})
    assert json.loads((tmp_path / "a" / "metrics.json").read_text()) == {"top1": 0.5}


def test_refuses_nonempty_out_and_resume_needs_out(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x").write_text("keep")
    with pytest.raises(LtError, match="not empty"):
        start_run(("train", "toy"), out=tmp_path / "a", device="cpu")
    assert (tmp_path / "a" / "x").read_text() == "keep"
    with pytest.raises(LtError, match="--resume needs --out"):
        start_run(("train", "toy"), out=None, resume=True, device="cpu")


def test_resume_names_first_differing_option(tmp_path):
    start_run(("train", "toy"), out=tmp_path / "a", device="cpu", resolved={"epochs": 5, "lr": 0.1, "device": "cpu"})
    (tmp_path / "a" / "last.pt").write_bytes(b"x")
    with pytest.raises(LtError, match="option 'lr' is 0.1 .* but 0.2 now"):
        start_run(("train", "toy"), out=tmp_path / "a", resume=True, device="cpu",
                  resolved={"epochs": 5, "lr": 0.2, "device": "auto"})
    with pytest.raises(LtError, match="run of 'lt train toy'"):
        start_run(("train", "other"), out=tmp_path / "a", resume=True, device="cpu", resolved={"epochs": 5})
    r = start_run(("train", "toy"), out=tmp_path / "a", resume=True, device="cpu",
                  resolved={"epochs": 5, "lr": 0.1, "device": "auto"})  # device is run control: not compared
    assert r.resume and r.out_dir == tmp_path / "a"


def test_first_difference_ignores_run_control():
    assert first_difference({"a": 1, "force": False}, {"a": 1, "force": True}) is None
    assert first_difference({"a": 1, "b": [1, 2]}, {"b": (1, 3), "a": 1}) == ("b", [1, 2], (1, 3))


def test_build_config_is_the_options_and_nothing_ambient():
    cfg = build_config(("train", "toy"), {"lr": 0.1, "epochs": 2})
    assert cfg["resolved"] == {"lr": 0.1, "epochs": 2} and cfg["command"] == ["train", "toy"]


def _toy(opts: ToyOptions) -> None:
    r = start_run(("train", "toy"), opts)
    r.finish({"epochs": opts.epochs, "loss": opts.loss})


def _toy_app(tmp_path, entry=_toy):
    """A two-level app with one generated command that goes through the lifecycle."""
    app = typer.Typer()
    group = typer.Typer()
    app.add_typer(group, name="train")

    @app.callback()
    def root() -> None:
        """Root."""

    command(group, "toy", ToyOptions, entry, run=("train", "toy"), doc="Toy.")
    return app


def test_config_replays_and_flags_override(tmp_path, runner):
    app = _toy_app(tmp_path)
    a, b, c = (str(tmp_path / n) for n in "abc")
    res = runner.invoke(app, ["train", "toy", "--epochs", "4", "--loss", "balanced-softmax", "--out", a])
    assert res.exit_code == 0
    res = runner.invoke(app, ["train", "toy", "--config", f"{a}/config.json", "--out", b])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "b" / "metrics.json").read_text()) == {"epochs": 4, "loss": "balanced-softmax"}
    res = runner.invoke(app, ["train", "toy", "--config", f"{a}/config.json", "--epochs", "6", "--out", c])
    assert res.exit_code == 0 and json.loads((tmp_path / "c" / "metrics.json").read_text())["epochs"] == 6
    # replaying without --out would reuse a's dir: refused, a's files untouched
    before = (tmp_path / "a" / "config.json").read_text()
    assert_user_error(runner.invoke(app, ["train", "toy", "--config", f"{a}/config.json"]), "not empty")
    assert (tmp_path / "a" / "config.json").read_text() == before


def test_print_config_prints_resolved_json_and_writes_nothing(tmp_path, runner):
    res = runner.invoke(_toy_app(tmp_path), ["train", "toy", "--print-config", "--out", str(tmp_path / "p")])
    assert res.exit_code == 0, res.output
    cfg = json.loads(res.stdout)
    assert cfg["resolved"]["epochs"] == 30 and cfg["command"] == ["train", "toy"]
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize("content, fragment", [
    (None, "does not exist"),
    ("{not json", "is not valid JSON"),
    ('{"command": ["train", "lcreg"], "resolved": {}}', "config of 'lt train lcreg'"),
    ('{"command": ["train", "toy"], "resolved": {"epochz": 3}}', "unknown option 'epochz'"),
    ('[1, 2]', "must hold a JSON object"),
])
def test_bad_config_files(tmp_path, runner, content, fragment):
    path = tmp_path / "cfg.json"
    if content is not None:
        path.write_text(content)
    res = runner.invoke(_toy_app(tmp_path), ["train", "toy", "--config", str(path), "--out", str(tmp_path / "o")])
    assert_user_error(res, fragment)
    assert not (tmp_path / "o").exists()


def _fail(opts: ToyOptions) -> None:
    start_run(("train", "toy"), opts)
    raise LtError("unknown model 'nosuch'")


def _failing_app():
    """``lt train toy [--out DIR]``: starts its run, then fails as a bad model name would."""
    return _toy_app(None, _fail)


def test_a_failed_call_removes_only_what_it_created(tmp_path, runner, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = _failing_app()
    # default --out: runs/train-toy-<time> and runs/ itself were made by the failed call: both go
    assert_user_error(runner.invoke(app, ["train", "toy"]), "unknown model")
    assert not (tmp_path / "runs").exists()
    # an existing runs/ with the user's files stays; only the new run dir goes
    (tmp_path / "runs" / "mine").mkdir(parents=True)
    assert_user_error(runner.invoke(app, ["train", "toy"]), "unknown model")
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["mine"]
    # an empty dir the user made for the run stays, empty again; new nested dirs go with their parents
    (tmp_path / "given").mkdir()
    assert_user_error(runner.invoke(app, ["train", "toy", "--out", "given"]), "unknown model")
    assert (tmp_path / "given").is_dir() and not any((tmp_path / "given").iterdir())
    assert_user_error(runner.invoke(app, ["train", "toy", "--out", "a/b/c"]), "unknown model")
    assert not (tmp_path / "a").exists()
    # a run dir that got more than its config (a checkpoint, an output) stays
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "last.pt").write_bytes(b"x")
    assert_user_error(runner.invoke(app, ["train", "toy", "--out", "kept", "--force"]), "unknown model")
    assert {p.name for p in (tmp_path / "kept").iterdir()} == {"last.pt", "config.json"}
