"""Options defined once (toolkit/engine/options.py): groups, validation shared by the library and the CLI,
generated flags, --config replay, and the engine features every trainer gets (--compile,
--channels-last, --early-stop)."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import assert_user_error
from toolkit.engine.errors import LtError
from toolkit.engine.options import Options, TrainOptions, flag, parse_fraction, parse_list
from toolkit.longtail.options import CEOptions, EvalOptions, LCRegOptions


def _groups() -> list[type]:
    """Every options class the CLI is generated from (imported by the CLI's modules)."""
    import cli.main  # noqa: F401  (imports every group's options)

    seen, todo = [], list(Options.__subclasses__())
    while todo:
        cls = todo.pop()
        if cls not in seen:
            seen.append(cls)
            todo.extend(cls.__subclasses__())
    return sorted(seen, key=lambda c: c.__qualname__)


def _command_classes() -> dict[str, type]:
    """command path -> the options class its flags are generated from (every command of the tree)."""
    from cli.docs import commands

    return commands()


@pytest.mark.parametrize("cls", _groups(), ids=lambda c: c.__qualname__)
def test_every_group_documents_each_option(cls):
    import dataclasses

    for f in dataclasses.fields(cls):
        assert f.metadata.get("help"), f"{cls.__qualname__}.{f.name} has no help"
        assert flag(f.name).startswith("--")


def test_every_command_is_generated_from_an_options_class():
    classes = _command_classes()
    assert {"train ce", "train lcreg", "train mdl", "train video", "train muse", "defend facm", "defend eval",
            "distill kd", "distill ukd", "audio ssbpr train", "audio features", "prune run", "attack dta",
            "attack eval"} <= set(classes)


# Values for the fields a command requires (a model name, a ratio), and a dataset where the default is "the
# run's": enough for every command's options to validate without files.
SAMPLE = {"ratio": 0.5, "sparsities": (0.2, 0.5)}
DATASET = {"train muse": "synthetic-muse", "audio ssbpr train": "synthetic-snore"}


@pytest.mark.parametrize("name, cls", sorted(_command_classes().items()), ids=lambda x: x if isinstance(x, str) else "")
def test_every_command_options_validate_and_round_trip(name, cls):
    import dataclasses

    fs = {f.name: f for f in dataclasses.fields(cls)}
    values = {n: SAMPLE.get(n, "resnet18") for n, f in fs.items()
              if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    if name in DATASET:
        values["dataset"] = DATASET[name]
    elif "dataset" in fs and fs["dataset"].default is None:
        values["dataset"] = "digits"
    opts = cls(**values).validate()
    assert opts.validate() == opts  # idempotent
    assert list(opts.to_dict()) == [f.name for f in dataclasses.fields(cls)]
    json.dumps(opts.to_dict())  # config.json-ready


def test_recipe_fills_only_what_was_not_given():
    opts = CEOptions(dataset="digits-lt", epochs=3).validate()
    assert (opts.recipe, opts.epochs, opts.lr, opts.model, opts.momentum) == ("digits-lt", 3, 0.05, "smallcnn", 0.9)
    cifar = CEOptions(dataset="cifar10-lt", scheduler="cosine").validate()
    assert cifar.milestones == () and cifar.warmup_epochs == 5  # cifar-lt's milestones only with multistep
    assert CEOptions(dataset="cifar10-lt").validate().milestones == (160, 180)


def test_unknown_dataset_has_no_recipe_until_it_names_one():
    with pytest.raises(LtError, match="has no training recipe: pass --recipe .*digits-lt"):
        CEOptions(dataset="cifar10").validate()
    assert CEOptions(dataset="cifar10", recipe="cifar-lt").validate().model == "resnet32"
    with pytest.raises(LtError, match="unknown dataset 'cifar-10'; did you mean"):
        CEOptions(dataset="cifar-10").validate()


@pytest.mark.parametrize("values, cli, message", [
    ({"optimizer": "adam", "momentum": 0.5}, ["--optimizer", "adam", "--momentum", "0.5"],
     "--momentum: not used with --optimizer adam"),
    ({"milestones": (3,)}, ["--milestones", "3"], "--milestones: not used with --scheduler cosine"),
    ({"scheduler": "multistep", "milestones": (2, 3), "lr_factors": (0.1,)},
     ["--scheduler", "multistep", "--milestones", "2,3", "--lr-factors", "0.1"], "--lr-factors gives 1 factor(s)"),
    ({"epochs": 0}, ["--epochs", "0"], "--epochs must be >= 1"),
    ({"amp": "maybe"}, ["--amp", "maybe"], "--amp must be one of auto, on, off"),
    ({"loss": "nope"}, ["--loss", "nope"], "--loss must be one of ce, balanced-softmax"),
])
def test_library_and_cli_refuse_with_the_same_text(invoke, tmp_path, values, cli, message):
    from toolkit.longtail.train import train_ce

    with pytest.raises(LtError) as e:
        train_ce(dataset="digits-lt", out=str(tmp_path / "lib"), **values)
    assert message in str(e.value)
    res = invoke("train", "ce", "--dataset", "digits-lt", "--out", tmp_path / "cli", *cli)
    assert_user_error(res, str(e.value))
    assert not (tmp_path / "cli").exists() and not (tmp_path / "lib").exists()


def test_lcreg_rule_lives_once_for_library_model_and_cli(invoke):
    from toolkit.longtail.lcreg import build_lcreg_model

    with pytest.raises(LtError) as lib:
        LCRegOptions(latent_k=0, head_input="concat").validate()
    with pytest.raises(LtError) as model:
        build_lcreg_model("mlp", 5, latent_k=0, head_input="concat")
    assert str(lib.value) == str(model.value) and "--head-input concat needs --latent-k > 0" in str(lib.value)
    assert_user_error(invoke("train", "lcreg", "--latent-k", "0", "--head-input", "concat"), str(lib.value))


def test_unknown_library_keyword_names_the_flag():
    from toolkit.longtail.train import train_ce

    with pytest.raises(LtError, match="unknown option.*--no-such"):
        train_ce(no_such=1)


def test_text_forms_parse_in_one_place():
    assert parse_fraction("8/255", "--eps") == pytest.approx(8 / 255)
    assert parse_list("160, 180", int, "--milestones") == (160, 180)
    with pytest.raises(LtError, match="--milestones must be a comma-separated list of numbers"):
        parse_list("1,x", int, "--milestones")
    assert CEOptions(scheduler="multistep", milestones="2,4", epochs=5).validate().milestones == (2, 4)


def test_print_config_records_the_options_under_their_names(invoke):
    res = invoke("train", "ce", "--model", "mlp", "--early-stop", "4", "--print-config")
    cfg = json.loads(res.stdout)
    assert cfg["command"] == ["train", "ce"]
    expected = CEOptions(model="mlp", early_stop=4).validate().to_dict()
    assert cfg["resolved"] == {**expected, "device": "auto", "seed": 0, "deterministic": False}


def test_config_of_another_command_group_is_refused(invoke, tmp_path):
    mdl_like = tmp_path / "other.json"
    mdl_like.write_text(json.dumps({"command": ["prune", "run"], "resolved": {"ratio": 0.5}}))
    assert_user_error(invoke("train", "ce", "--config", mdl_like), "is a config of 'lt prune run'")
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps({"ratio": 0.5}))
    assert_user_error(invoke("train", "ce", "--config", plain), "unknown option 'ratio' for 'lt train ce'")


def test_config_replays_into_the_same_fields(invoke, tmp_path):
    res = invoke("train", "ce", "--model", "mlp", "--scheduler", "multistep", "--milestones", "2,3",
                 "--epochs", "4", "--print-config")
    path = tmp_path / "config.json"
    path.write_text(res.stdout)
    again = json.loads(invoke("train", "ce", "--config", path, "--print-config").stdout)
    assert again["resolved"] == json.loads(res.stdout)["resolved"]


def test_every_trainer_option_reaches_the_engine_config():
    from toolkit.engine.loop import TrainConfig

    opts = TrainOptions(grad_clip=1.5, warmup_epochs=2, optimizer="sgd", momentum=0.5, early_stop=3,
                        channels_last=True, compile=True, workers=1, amp="off")
    cfg = TrainConfig.of_options(opts, monitor="top1")
    for name in ("grad_clip", "warmup_epochs", "momentum", "early_stop", "channels_last", "compile", "workers", "amp"):
        assert getattr(cfg, name) == getattr(opts, name)


def test_eval_options_need_a_checkpoint():
    with pytest.raises(TypeError):
        EvalOptions()


# -- engine features ---------------------------------------------------------------------------------
def _tiny_fit(out_dir, resume=None, **cfg):
    from torch.utils.data import TensorDataset

    from toolkit.engine.loop import TrainConfig, fit

    torch.manual_seed(0)
    data = TensorDataset(torch.randn(32, 1, 4, 4), torch.randint(0, 3, (32,)))
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    model.arch = "tiny"
    constant = lambda out, tgt: {"top1": 0.5}  # noqa: E731 - never improves after epoch 1
    return fit(model, data, data, cfg=TrainConfig(epochs=6, batch_size=16, lr=0.01, **cfg), device=torch.device("cpu"),
               metrics_fn=constant, out_dir=out_dir, resume=resume)


def test_early_stop_stops_and_resume_stops_at_the_same_epoch(tmp_path):
    res = _tiny_fit(tmp_path, early_stop=2)
    assert len(res.history) == 3 and res.best_epoch == 1  # epochs 2 and 3 did not improve: stop
    again = _tiny_fit(tmp_path, resume=tmp_path / "last.pt", early_stop=2)
    assert len(again.history) == 3  # resumed after epoch 3: already stale, nothing more trained
    assert len(_tiny_fit(tmp_path / "off", early_stop=0).history) == 6


def test_channels_last_refuses_inputs_that_are_not_images():
    from toolkit.engine.loop import to_device

    x = to_device((torch.zeros(2, 3, 4, 4), torch.zeros(2)), torch.device("cpu"), channels_last=True)[0]
    assert x.is_contiguous(memory_format=torch.channels_last)
    with pytest.raises(LtError, match="--channels-last needs 4-D image inputs .* 3-D"):
        to_device((torch.zeros(2, 5, 7), torch.zeros(2)), torch.device("cpu"), channels_last=True)


def test_compile_unavailable_is_one_clear_error(invoke, tmp_path, monkeypatch):
    monkeypatch.delattr(torch, "compile")
    res = invoke("train", "ce", "--model", "mlp", "--epochs", "1", "--compile", "--out", tmp_path / "c")
    assert_user_error(res, "--compile needs torch.compile")


def test_compile_wraps_the_model_the_loop_trains(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(torch, "compile", lambda m: seen.append(m) or m)
    _tiny_fit(tmp_path, compile=True, early_stop=1)
    assert len(seen) == 1 and isinstance(seen[0], torch.nn.Sequential)


def test_image_size_resizes_every_split():
    from toolkit.data import get_dataset

    bundle = get_dataset("digits-lt", image_size=12)
    assert bundle.input_shape[-2:] == (12, 12) and bundle.test[0][0].shape[-2:] == (12, 12)
    assert bundle.train_counts == get_dataset("digits-lt").train_counts


def test_docs_option_tables_are_current():
    """docs/options.md is generated from the same option groups as the flags (python -m cli.docs)."""
    from pathlib import Path

    from cli.docs import render

    page = Path(__file__).parents[1] / "docs" / "options.md"
    assert page.read_text(encoding="utf-8") == render(), "regenerate: python -m cli.docs > docs/options.md"


def test_compile_failing_at_the_first_step_is_one_clear_error(tmp_path, monkeypatch):
    """torch.compile compiles lazily: a compiler missing at the first step is an LtError, not a traceback."""

    class InductorError(RuntimeError):
        __module__ = "torch._inductor.exc"

    class Broken(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            raise InductorError("InvalidCxxCompiler: No working C++ compiler found")

    monkeypatch.setattr(torch, "compile", Broken)
    with pytest.raises(LtError, match="--compile: torch.compile failed here .*InvalidCxxCompiler.*drop --compile"):
        _tiny_fit(tmp_path, compile=True)
    with pytest.raises(InductorError):  # without --compile the same error is not relabelled
        monkeypatch.setattr(torch.nn.Linear, "forward", Broken.forward)
        _tiny_fit(tmp_path / "plain")
