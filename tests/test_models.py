"""Model registry: every image model builds, takes [0,1] input, normalises inside, reloads."""

from __future__ import annotations

import pytest
import torch

from toolkit.engine.checkpoint import save_checkpoint
from toolkit.engine.errors import LtError
from toolkit.models import NormedLinear, build_from_checkpoint, get_model, list_models, load_model

IMAGE_MODELS = ["resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "smallcnn", "mlp"]


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_lt_models_forward_and_rebuild(name, tmp_path):
    torch.manual_seed(0)
    m = get_model(name, num_classes=7).eval()
    x = torch.rand(2, 3, 32, 32)
    y = m(x)
    assert y.shape == (2, 7)
    save_checkpoint(tmp_path / "m.pt", {"arch": m.arch, "model_args": m.model_args, "state_dict": m.state_dict()})
    again = load_model(str(tmp_path / "m.pt"))
    assert torch.equal(again(x), y)


def test_cifar_resnet_depths_have_the_right_number_of_blocks():
    for depth in (20, 32, 44, 56, 110):
        net = get_model(f"resnet{depth}").net
        convs = sum(1 for mod in net.modules() if isinstance(mod, torch.nn.Conv2d))
        assert convs + 1 == depth  # 6n conv layers in blocks + stem conv + fc


def test_normalisation_lives_inside_the_wrapper():
    m = get_model("smallcnn", 3).eval()
    x = torch.rand(2, 3, 16, 16)
    manual = m.net((x - 0.5) / 0.5)
    assert torch.allclose(m(x), manual)


def test_torchvision_model_head_replaced_and_inception_resized():
    m = get_model("resnet18", num_classes=5).eval()
    assert m.net.fc.out_features == 5 and m(torch.rand(1, 3, 32, 32)).shape == (1, 5)
    inc = get_model("inception_v3", num_classes=4)
    assert inc.input_size == 299


def test_normed_head_roundtrip():
    m = get_model("resnet20", num_classes=6, normed_head=True).eval()
    assert isinstance(m.net.fc, NormedLinear)
    again = build_from_checkpoint({"arch": m.arch, "model_args": m.model_args, "state_dict": m.state_dict()})
    x = torch.rand(2, 3, 32, 32)
    assert torch.equal(again.eval()(x), m(x))
    assert m(x).abs().max() <= 1 + 1e-5  # cosine logits


def test_unknown_model_lists_close_matches():
    with pytest.raises(LtError, match="did you mean: .*resnet50"):
        get_model("resnet5O")
    assert "resnet32" in list_models() and "resnet50" in list_models()


def test_checkpoint_class_count_mismatch(tmp_path):
    m = get_model("smallcnn", num_classes=3)
    save_checkpoint(tmp_path / "m.pt", {"arch": m.arch, "model_args": m.model_args, "state_dict": m.state_dict()})
    with pytest.raises(LtError, match="predicts 3 classes but the data has 10"):
        load_model(str(tmp_path / "m.pt"), num_classes=10)


def test_unknown_weights_name_and_missing_weight_file():
    with pytest.raises(LtError, match="unknown weights"):
        get_model("resnet18", 10, weights="NOPE_V9")
    with pytest.raises(LtError, match="neither a known weights name nor an existing file"):
        get_model("resnet32", 10, weights="/nonexistent/w.pt")
