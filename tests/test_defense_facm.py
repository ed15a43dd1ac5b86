"""FACM: decision rules, hooked FA heads, frozen backbone, checkpoint round trip, ``lt defend facm``."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import torch
from torch.utils.data import TensorDataset

from conftest import assert_user_error
from toolkit.defense.facm import FACM, FACMObjective, build_facm, decide, default_layers
from toolkit.engine.errors import LtError
from toolkit.models import get_model, load_model


def _small_backbone(seed: int = 0, classes: int = 4):
    torch.manual_seed(seed)
    return get_model("smallcnn", num_classes=classes, width=8)


def _spec(net) -> dict:
    return {"arch": net.arch, "model_args": dict(net.model_args)}


def test_decide_mean_matches_hand_computation():
    a = torch.tensor([[0.6, 0.4]]).log()
    b = torch.tensor([[0.2, 0.8]]).log()
    out = decide([a, b], "mean")
    assert torch.allclose(out.exp(), torch.tensor([[0.4, 0.6]]), atol=1e-6)


def test_decide_vote_majority_and_backbone_tie_break():
    def onehotish(c, k=3, hi=2.0):
        z = torch.zeros(1, k)
        z[0, c] = hi
        return z

    # votes: class 1 twice, class 0 once -> 1
    assert decide([onehotish(0), onehotish(1), onehotish(1)], "vote").argmax(1).item() == 1
    # 2-2 tie between classes 0 and 2; the backbone (first) votes 0 -> 0
    assert decide([onehotish(0), onehotish(2), onehotish(2), onehotish(0)], "vote").argmax(1).item() == 0
    # tie between 1 and 2 that the backbone is not part of: its probability decides (2 > 1)
    bb = torch.tensor([[3.0, 0.5, 1.0]])
    out = decide([bb, onehotish(1), onehotish(2), onehotish(1), onehotish(2)], "vote")
    assert out.argmax(1).item() == 2
    with pytest.raises(LtError, match="--decision"):
        decide([bb], "max")


def test_fa_heads_read_the_layers_they_name():
    net = _small_backbone()
    layers = ["features.3", "features.7"]
    facm = build_facm(net, layers, 4, (3, 16, 16), backbone_spec=_spec(net)).eval()
    seen = {}
    for name in layers:
        net.net.get_submodule(name).register_forward_hook(
            lambda m, a, o, n=name: seen.__setitem__(n, o.detach().clone()))
    x = torch.rand(5, 3, 16, 16)
    logits, feats = facm.features(x)
    assert torch.allclose(logits, net(x))
    for name, f in zip(layers, feats, strict=True):
        assert torch.allclose(f, seen[name].mean((2, 3)))
    assert [h[0].in_features for h in facm.fa] == [8, 16]
    members = facm.members(x)
    assert torch.allclose(members[1], facm.fa[0](feats[0])) and torch.allclose(members[2], facm.fa[1](feats[1]))
    assert len(members) == 4  # backbone, two FA heads, CMPD


def test_default_layers_per_family_and_unknown_layer():
    assert default_layers(get_model("smallcnn", num_classes=3, width=4)) == ["features.3", "features.7"]
    assert default_layers(get_model("resnet20", num_classes=3)) == ["layer1", "layer2"]
    assert default_layers(get_model("mlp", num_classes=3, in_features=12, hidden=8)) == ["body.2"]
    with pytest.raises(LtError, match=r"--feature-layers: no module 'features\.99'.*features\.3"):
        build_facm(_small_backbone(), ["features.99"], 4, (3, 16, 16))


def _fit_facm(tmp_path, freeze: bool, fa_only: bool = False):
    from toolkit.defense.common import make_adversary
    from toolkit.engine.loop import TrainConfig, fit

    net = _small_backbone()
    facm = build_facm(net, None, 4, (3, 16, 16), backbone_spec=_spec(net), freeze=freeze, cmpd=not fa_only,
                      fa_hidden=16, latent=4, cmpd_hidden=16)
    g = torch.Generator().manual_seed(0)
    ds = TensorDataset(torch.rand(48, 3, 16, 16, generator=g), torch.randint(0, 4, (48,), generator=g))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    cfg = TrainConfig(epochs=1, batch_size=16, lr=1e-2, optimizer="adam", weight_decay=0.0)
    fit(facm, ds, ds, cfg=cfg, device=torch.device("cpu"), out_dir=tmp_path,
        objective=FACMObjective(make_adversary("fgsm", eps=8 / 255)))
    return facm, net, before, ds


def test_frozen_backbone_is_bit_identical_and_checkpoint_round_trips(tmp_path):
    from toolkit.engine.loop import load_best_into

    facm, net, before, ds = _fit_facm(tmp_path, freeze=True)
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # weights and BN running statistics
    load_best_into(facm, tmp_path)
    facm.eval()
    loaded = load_model(str(tmp_path / "best.pt"), num_classes=4)
    assert isinstance(loaded, FACM) and loaded.layers == facm.layers and loaded.cmpd is not None
    x = ds.tensors[0][:10]
    assert torch.equal(loaded(x), facm(x))
    # a fresh interpreter (nothing of toolkit.defense imported) rebuilds it through load_model
    code = (f"from toolkit.models import load_model; m = load_model({str(tmp_path / 'best.pt')!r}); "
            f"print(type(m).__name__, m.arch)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["FACM", "facm"]


def test_unfrozen_backbone_changes_and_fa_only_has_no_cmpd(tmp_path):
    facm, net, before, _ = _fit_facm(tmp_path, freeze=False, fa_only=True)
    assert facm.cmpd is None
    assert any(not torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_training_goes_through_the_wrapper_forward():
    """The objective calls the (DDP-)wrapped pipeline, so DDP synchronises the heads' gradients."""
    facm = build_facm(_small_backbone(), None, 4, (3, 16, 16), fa_hidden=8, latent=4, cmpd_hidden=8)

    class Wrapper(torch.nn.Module):  # stands in for DDP: unwrap() finds the pipeline under _orig_mod
        def __init__(self):
            super().__init__()
            self._orig_mod, self.calls = facm, 0

        def forward(self, *args, **kwargs):
            self.calls += 1
            return self._orig_mod(*args, **kwargs)

    wrapper = Wrapper()
    x, y = torch.rand(6, 3, 16, 16), torch.randint(0, 4, (6,))
    loss, out, target = FACMObjective(None).loss(wrapper, (x, y), 0)
    loss.backward()
    assert wrapper.calls == 1 and out.shape == (6, 4) and torch.equal(target, y)
    assert all(p.grad is not None for p in facm.fa.parameters())
    assert all(p.grad is not None for p in facm.cmpd.parameters())


# ---------------------------------------------------------------- CLI
@pytest.fixture(scope="module")
def mlp_backbone(tmp_path_factory):
    """A small MLP trained on digits for 3 epochs, saved as an lt checkpoint."""
    from toolkit.data import get_dataset
    from toolkit.engine.loop import TrainConfig, fit

    out = tmp_path_factory.mktemp("backbone")
    bundle = get_dataset("digits", augment=False)
    torch.manual_seed(0)
    net = get_model("mlp", num_classes=10, hidden=64)
    fit(net, bundle.train, bundle.val, cfg=TrainConfig(epochs=3, batch_size=64, lr=0.05), device=torch.device("cpu"),
        out_dir=out)
    return out / "best.pt"


def test_cli_help(invoke):
    r = invoke("defend", "facm", "--help")
    assert r.exit_code == 0
    assert "--feature-layers" in r.stdout and "--latent-dim" in r.stdout and "--fa-only" in r.stdout


@pytest.mark.slow
def test_cli_facm_end_to_end(invoke, mlp_backbone, tmp_path):
    r = invoke("defend", "facm", "--backbone", mlp_backbone, "--dataset", "digits", "--epochs", "1",
               "--adv-attack", "fgsm", "--lr", "0.01", "--out", tmp_path / "f", "--format", "json", "--quiet")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert rep["layers"] == "body.2" and rep["modules"] == "FA+CMPD"
    members = {row["member"]: row for row in rep["rows"]}
    assert set(members) == {"backbone", "fa:body.2", "cmpd", "facm"}
    assert all(0 <= row["fgsm_on_backbone_acc"] <= 1 for row in members.values())
    m = load_model(rep["out"], num_classes=10)
    assert isinstance(m, FACM) and m.decision == "mean"


def test_cli_facm_bad_layers_lists_available(invoke, mlp_backbone, tmp_path):
    r = invoke("defend", "facm", "--backbone", mlp_backbone, "--feature-layers", "body.9", "--out", tmp_path / "f")
    assert_user_error(r, "--feature-layers: no module 'body.9'", "body.2")
    assert not (tmp_path / "f").exists()


def test_cli_facm_print_config_resolves_layers_and_adversary(invoke, mlp_backbone, tmp_path):
    r = invoke("defend", "facm", "--backbone", mlp_backbone, "--feature-layers", "body.2", "--latent-dim", "8",
               "--steps", "3", "--out", tmp_path / "f", "--print-config")
    assert r.exit_code == 0, r.output
    assert "deprecated" not in r.stderr
    resolved = json.loads(r.stdout)["resolved"]
    assert resolved["feature_layers"] == ["body.2"] and resolved["latent_dim"] == 8 and resolved["steps"] == 3
    assert resolved["backbone"] == str(mlp_backbone) and resolved["dataset"] == "digits"
    assert resolved["eps"] == pytest.approx(8 / 255) and resolved["alpha"] == pytest.approx(2.5 * (8 / 255) / 3)
    assert resolved["optimizer"] == "adam" and resolved["lr"] == 1e-3 and resolved["weight_decay"] == 0.0
    assert not (tmp_path / "f").exists()
    default = invoke("defend", "facm", "--backbone", mlp_backbone, "--out", tmp_path / "g", "--print-config")
    assert json.loads(default.stdout)["resolved"]["feature_layers"] == ["body.2"]  # the family's default, resolved
    fa = invoke("defend", "facm", "--backbone", mlp_backbone, "--fa-only", "--out", tmp_path / "g", "--print-config")
    resolved = json.loads(fa.stdout)["resolved"]
    assert resolved["latent_dim"] is None and resolved["kl_weight"] is None  # no CMPD: not used, not recorded


def test_cli_facm_class_count_mismatch(invoke, tmp_path):
    from toolkit.engine.checkpoint import save_checkpoint

    net = get_model("mlp", num_classes=5, hidden=8)
    save_checkpoint(tmp_path / "five.pt",
                    {"arch": net.arch, "model_args": net.model_args, "state_dict": net.state_dict()})
    r = invoke("defend", "facm", "--backbone", tmp_path / "five.pt", "--dataset", "digits", "--out", tmp_path / "f")
    assert_user_error(r, "predicts 5 classes but the data has 10")


@pytest.mark.parametrize("eps, frag", [("0", "--eps must be > 0"), ("1.5", "--eps must be <= 1"),
                                       ("-8/255", "--eps must be > 0")])
def test_cli_facm_eps_outside_range(invoke, mlp_backbone, tmp_path, eps, frag):
    r = invoke("defend", "facm", "--backbone", mlp_backbone, "--eps", eps, "--out", tmp_path / "f")
    assert_user_error(r, frag)


def test_cli_facm_refuses_missing_backbone(invoke, tmp_path):
    r = invoke("defend", "facm", "--backbone", tmp_path / "none.pt", "--out", tmp_path / "f")
    assert_user_error(r, "does not exist")


def test_decision_outputs_are_finite_logits():
    facm = build_facm(_small_backbone(), None, 4, (3, 16, 16), decision="vote").eval()
    with torch.no_grad():
        out = facm(torch.rand(3, 3, 16, 16))
    assert out.shape == (3, 4) and torch.isfinite(out).all()
    assert math.isclose(float(out.sum(1)[0].floor()), 4.0)  # 4 members vote once each


@pytest.mark.parametrize("args, frag", [
    (["--adv-attack", "none", "--eps", "0.1"], "--eps: not used with --adv-attack none"),
    (["--adv-attack", "fgsm", "--alpha", "1/255", "--steps", "3"], "--alpha, --steps: not used with --adv-attack fgsm"),
    (["--fa-only", "--latent-dim", "8", "--kl-weight", "2"], "--latent-dim, --kl-weight: not used with --fa-only"),
])
def test_cli_facm_refuses_a_typed_flag_the_run_would_ignore(invoke, tmp_path, args, frag):
    r = invoke("defend", "facm", "--backbone", tmp_path / "any.pt", *args, "--out", tmp_path / "f")
    assert_user_error(r, frag)
    assert not (tmp_path / "f").exists()


@pytest.mark.parametrize("args, frag", [(["--fa-hidden", "0"], "--fa-hidden must be >= 1"),
                                        (["--latent-dim", "0"], "--latent-dim must be >= 1")])
def test_cli_facm_refuses_empty_heads(invoke, mlp_backbone, tmp_path, args, frag):
    """A zero-width FA head or CMPD latent used to train (a head that outputs its bias only)."""
    r = invoke("defend", "facm", "--backbone", mlp_backbone, *args, "--out", tmp_path / "f")
    assert_user_error(r, frag)
    assert not (tmp_path / "f").exists()


@pytest.mark.parametrize("args, values", [
    (["--adv-attack", "none", "--eps", "0.1"], {"adv_attack": "none", "eps": 0.1}),
    (["--adv-attack", "fgsm", "--alpha", "1/255", "--steps", "3"],
     {"adv_attack": "fgsm", "alpha": "1/255", "steps": 3}),
    (["--adv-attack", "none", "--steps", "3"], {"adv_attack": "none", "steps": 3}),
    (["--fa-only", "--latent-dim", "8", "--kl-weight", "2"], {"fa_only": True, "latent_dim": 8, "kl_weight": 2.0}),
    (["--fa-only", "--kl-weight", "2"], {"fa_only": True, "kl_weight": 2.0}),
])
def test_library_call_refuses_with_the_cli_message(invoke, mlp_backbone, tmp_path, args, values):
    """train_facm(...) with an option that does not apply raises the LtError the CLI prints (nothing runs)."""
    from toolkit.defense.facm import train_facm

    r = invoke("defend", "facm", "--backbone", mlp_backbone, *args, "--out", tmp_path / "f")
    assert_user_error(r)
    with pytest.raises(LtError) as e:
        train_facm(backbone=str(mlp_backbone), out=str(tmp_path / "g"), **values)
    assert r.stderr.strip() == f"Error: {e.value}"
    assert not (tmp_path / "f").exists() and not (tmp_path / "g").exists()


def test_every_engine_option_reaches_the_config(invoke, mlp_backbone, tmp_path):
    r = invoke("defend", "facm", "--backbone", mlp_backbone, "--optimizer", "sgd", "--momentum", "0.8",
               "--grad-clip", "2", "--warmup-epochs", "1", "--image-size", "32", "--out", tmp_path / "f",
               "--print-config")
    assert r.exit_code == 0, r.output
    resolved = json.loads(r.stdout)["resolved"]
    assert resolved["optimizer"] == "sgd" and resolved["momentum"] == 0.8 and resolved["grad_clip"] == 2.0
    assert resolved["warmup_epochs"] == 1 and resolved["image_size"] == 32 and resolved["epochs"] == 10
