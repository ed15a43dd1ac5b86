"""Pretrained weights offline: weights names from a fake torch hub cache, weight files, never the network."""

from __future__ import annotations

import json
import urllib.request

import pytest
import torch
import torchvision.models as tvm

from conftest import assert_user_error
from toolkit.engine.checkpoint import save_checkpoint
from toolkit.engine.errors import LtError
from toolkit.models import build_from_checkpoint, get_model
from toolkit.models.weights import cache_file, read_weights_file, resolve_weights

R18_FILE = "resnet18-f37072fd.pth"  # torchvision's name for ResNet18_Weights.IMAGENET1K_V1 (its URL's basename)


@pytest.fixture(autouse=True)
def no_network(monkeypatch, tmp_path):
    """An empty torch hub cache of our own, and every download path raises."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args[:1]}")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr("torchvision.models._api.load_state_dict_from_url", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def _imagenet_resnet18(seed: int = 0) -> dict:
    torch.manual_seed(seed)
    return tvm.resnet18(num_classes=1000).state_dict()


def _fill_cache(seed: int = 0) -> dict:
    sd = _imagenet_resnet18(seed)
    path = cache_file(resolve_weights("resnet18", "IMAGENET1K_V1"))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(sd, path)
    return sd


def test_cache_file_is_torchvision_name_under_torch_home(tmp_path):
    path = cache_file(resolve_weights("resnet18", "DEFAULT"))
    assert path == tmp_path / "torch" / "hub" / "checkpoints" / R18_FILE


@pytest.mark.parametrize("name", ["DEFAULT", "IMAGENET1K_V1", "ResNet18_Weights.IMAGENET1K_V1"])
def test_weights_name_loads_from_the_cache(name, capsys):
    sd = _fill_cache()
    m = get_model("resnet18", num_classes=1000, weights=name)
    for k in ("conv1.weight", "layer3.1.bn2.running_mean", "fc.weight"):
        assert torch.equal(m.net.state_dict()[k], sd[k]), k
    assert "loaded 122 tensors" in capsys.readouterr().err


def test_weights_name_with_new_class_count_replaces_only_the_head(capsys):
    sd = _fill_cache()
    m = get_model("resnet18", num_classes=7, weights="DEFAULT")
    assert m.net.fc.out_features == 7 and torch.equal(m.net.layer4[1].conv2.weight, sd["layer4.1.conv2.weight"])
    err = capsys.readouterr().err
    assert "loaded 122 tensors" in err and "re-initialised 2 (fc.weight, fc.bias) for 7 classes" in err


def test_absent_weights_name_is_one_error_line(invoke, tmp_path):
    res = invoke("prune", "--ratio", "0.5", "resnet18", "--weights", "DEFAULT", "--out", tmp_path / "o")
    assert_user_error(res, R18_FILE, str(tmp_path / "torch" / "hub" / "checkpoints"),
                      "https://download.pytorch.org/models/" + R18_FILE)
    assert res.stdout == "" and not (tmp_path / "o").exists()


def test_unknown_and_foreign_weights_names():
    with pytest.raises(LtError, match="unknown weights 'NOPE_V9' for resnet18; valid: IMAGENET1K_V1, DEFAULT"):
        get_model("resnet18", 10, weights="NOPE_V9")
    with pytest.raises(LtError, match="not weights of resnet50"):
        get_model("resnet50", 10, weights="ResNet18_Weights.IMAGENET1K_V1")


def test_imagenet_file_fine_tunes_to_a_new_class_count(tmp_path, capsys):
    """Backbone loaded first, head replaced after (was: size mismatch for fc.weight)."""
    sd = _imagenet_resnet18()
    torch.save(sd, tmp_path / "r18.pth")
    m = get_model("resnet18", num_classes=365, weights=str(tmp_path / "r18.pth"))
    assert m.net.fc.out_features == 365
    assert all(torch.equal(v, sd[k]) for k, v in m.net.state_dict().items() if not k.startswith("fc."))
    assert not torch.equal(m.net.fc.weight[:5], sd["fc.weight"][:5, :])
    assert ("loaded 122 tensors (state dict); re-initialised 2 (fc.weight, fc.bias) for 365 classes"
            in capsys.readouterr().err)
    again = build_from_checkpoint({"arch": m.arch, "model_args": m.model_args, "state_dict": m.state_dict()})
    assert torch.equal(again.net.fc.weight, m.net.fc.weight)


def test_file_without_class_count_keeps_its_head(tmp_path):
    sd = _imagenet_resnet18()
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in sd.items()}}, tmp_path / "train.pth.tar")
    m = get_model("resnet18", weights=str(tmp_path / "train.pth.tar"))
    assert m.net.fc.out_features == 1000 and torch.equal(m.net.fc.weight, sd["fc.weight"])
    assert m.model_args["num_classes"] == 1000


def test_lt_checkpoint_as_weights_file(tmp_path):
    src = get_model("smallcnn", num_classes=10)
    save_checkpoint(tmp_path / "c.pt", {"arch": src.arch, "model_args": src.model_args, "state_dict": src.state_dict()})
    sd, kind = read_weights_file(tmp_path / "c.pt")
    assert kind == "lt checkpoint" and set(sd) == set(src.net.state_dict())
    m = get_model("smallcnn", num_classes=4, weights=str(tmp_path / "c.pt"))
    head = m.net.state_dict()
    assert all(torch.equal(head[k], v) for k, v in src.net.state_dict().items() if head[k].shape == v.shape)
    assert m(torch.rand(2, 3, 32, 32)).shape == (2, 4)


def test_headless_file_initialises_the_head(tmp_path, capsys):
    sd = {k: v for k, v in _imagenet_resnet18().items() if not k.startswith("fc.")}
    torch.save(sd, tmp_path / "backbone.pth")
    m = get_model("resnet18", num_classes=5, weights=str(tmp_path / "backbone.pth"))
    assert torch.equal(m.net.conv1.weight, sd["conv1.weight"]) and m.net.fc.out_features == 5
    assert "re-initialised 2 (fc.weight, fc.bias)" in capsys.readouterr().err


@pytest.mark.parametrize("model,fragment", [("resnet34", "does not match resnet34"),
                                            ("mobilenet_v2", "matches nothing in mobilenet_v2")])
def test_weights_file_for_another_architecture(invoke, tmp_path, model, fragment):
    torch.save(_imagenet_resnet18(), tmp_path / "r18.pth")
    res = invoke("prune", "--ratio", "0.5", model, "--weights", tmp_path / "r18.pth", "--out", tmp_path / "o")
    assert_user_error(res, fragment, "another architecture")
    assert res.stdout == ""


def test_not_a_state_dict(tmp_path):
    torch.save({"epoch": 3, "lr": 0.1}, tmp_path / "x.pth")
    with pytest.raises(LtError, match="holds no state dict"):
        get_model("resnet18", 10, weights=str(tmp_path / "x.pth"))


def test_models_weights_lists_cache_files_and_presence(invoke, tmp_path):
    res = invoke("models", "weights", "resnet18", "--format", "json")
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)["rows"]
    assert rows == [{"weights": "IMAGENET1K_V1", "default": True, "file": R18_FILE, "present": False,
                     "classes": 1000, "acc@1": 69.758,
                     "url": "https://download.pytorch.org/models/" + R18_FILE}]
    _fill_cache()
    res = invoke("models", "weights", "resnet18", "--format", "json")
    report = json.loads(res.stdout)
    assert report["rows"][0]["present"] is True
    assert report["cache_dir"] == str(tmp_path / "torch" / "hub" / "checkpoints")


def test_absent_weights_name_in_attack_is_one_error_line(invoke, tmp_path):
    res = invoke("attack", "fgsm", "--surrogate", "resnet18", "--weights", "IMAGENET1K_V1", "--victims", "resnet18",
                 "--dataset", "digits", "--limit", "4", "--out", tmp_path / "a")
    assert_user_error(res, R18_FILE, "lt never downloads")
    assert res.stdout == "" and not (tmp_path / "a").exists()


def _places_lt(root):
    """A tiny Places-LT in the OLTR layout: split files at the root, 3 classes, random 36x36 JPEGs."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, per_class in (("train", 3), ("val", 1), ("test", 1)):
        lines = []
        for c in range(3):
            for i in range(per_class):
                rel = f"data_large/{split}/c{c}_{i}.jpg"
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(rng.integers(0, 255, (36, 36, 3), dtype=np.uint8)).save(root / rel)
                lines.append(f"/{rel} {c}")
        (root / f"Places_LT_{split}.txt").write_text("\n".join(lines) + "\n")


@pytest.mark.slow
def test_places_lt_lcreg_fine_tunes_from_an_imagenet_file(invoke, tmp_path):
    """`lt train lcreg --dataset places-lt --weights FILE`: the ImageNet backbone is loaded, the head replaced."""
    _places_lt(tmp_path / "places")
    sd = _imagenet_resnet18()
    torch.save(sd, tmp_path / "imagenet_r18.pth")
    res = invoke("train", "lcreg", "--dataset", "places-lt", "--data-root", tmp_path / "places", "--model", "resnet18",
                 "--weights", tmp_path / "imagenet_r18.pth", "--epochs", "1", "--batch-size", "9", "--latent-k", "2",
                 "--out", tmp_path / "run", "--format", "json")
    assert res.exit_code == 0, res.output
    assert "loaded 122 tensors (state dict); re-initialised 2 (fc.weight, fc.bias) for 3 classes" in res.stderr
    trained = torch.load(tmp_path / "run" / "best.pt", weights_only=True)["state_dict"]
    conv1 = next(v for k, v in trained.items() if k.endswith("conv1.weight") and "layer" not in k)
    assert (conv1 - sd["conv1.weight"]).abs().max() < 0.05  # one small step from the file, not a random init
    assert next(v for k, v in trained.items() if k.endswith("fc.weight")).shape == (3, 512)
