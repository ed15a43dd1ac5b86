"""LCReg: model wrapper, objective reductions, bank terms, checkpoints, and the ``lt train lcreg`` CLI."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import assert_user_error
from toolkit.engine.loop import TrainConfig, fit
from toolkit.engine.seed import seed_everything
from toolkit.longtail.lcreg import (
    LCRegNet,
    LCRegObjective,
    balance_loss,
    build_lcreg_model,
    diversity_loss,
)
from toolkit.longtail.losses import get_loss
from toolkit.longtail.options import default_lambda0
from toolkit.models import get_model, load_model

COUNTS = [60, 30, 15, 8, 4]


def _batch(n=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 32, 32, generator=g), torch.randint(0, 5, (n,), generator=g)


@pytest.mark.parametrize("rebalance,baseline", [("balanced-softmax", "balanced-softmax"), ("none", "ce")])
@pytest.mark.parametrize("arch", ["smallcnn", "resnet20"])
def test_k0_lambda0_equals_baseline_loss_same_seed(rebalance, baseline, arch):
    x, y = _batch(8)
    seed_everything(7)
    ref_model = get_model(arch, 5)
    ref = get_loss(baseline, COUNTS, 10).loss(ref_model, (x, y), 3)[0]
    seed_everything(7)
    model = build_lcreg_model(arch, 5, latent_k=0)
    obj = LCRegObjective(COUNTS, 10, model.feature_dim, latent_k=0, lambda0=0.0, rebalance=rebalance)
    got = obj.loss(model, (x, y), 3)[0]
    assert torch.equal(got, ref)


def test_k0_lambda0_trains_identically_to_baseline():
    """Two epochs of fit: same weights (the head moved from base.net.fc to fc) and history."""
    x, y = _batch(40)
    ds = torch.utils.data.TensorDataset(x, y)
    cfg = TrainConfig(epochs=2, batch_size=16, lr=0.05)
    seed_everything(3)
    ref = get_model("mlp", 5)
    h_ref = fit(ref, ds, ds, cfg=cfg, device=torch.device("cpu"),
                objective=get_loss("balanced-softmax", COUNTS, 2)).history
    seed_everything(3)
    model = build_lcreg_model("mlp", 5, latent_k=0)
    obj = LCRegObjective(COUNTS, 2, model.feature_dim, latent_k=0, lambda0=0.0)
    h = fit(model, ds, ds, cfg=cfg, device=torch.device("cpu"), objective=obj).history
    sd_ref = {k.replace("net.fc.", "fc."): v for k, v in ref.state_dict().items()}
    sd = {k.replace("base.", "", 1): v for k, v in model.state_dict().items()}
    assert sd.keys() == sd_ref.keys()
    assert all(torch.equal(sd[k], sd_ref[k]) for k in sd)
    assert [r["train_loss"] for r in h] == [r["train_loss"] for r in h_ref]


def test_model_parts_and_head_split():
    torch.manual_seed(0)
    model = build_lcreg_model("resnet20", 5, latent_k=8)
    assert isinstance(model.base.net.fc, nn.Identity) and model.fc.in_features == 64
    x, _ = _batch(4)
    parts = model(x, parts=True)
    assert parts["logits"].shape == (4, 5) and parts["h"].shape == (4, 64) and parts["assign"].shape == (4, 8)
    torch.testing.assert_close(parts["assign"].sum(1), torch.ones(4))
    assert torch.equal(model(x), parts["logits"])
    f = model.base(x)
    torch.testing.assert_close(parts["h"], f + parts["assign"] @ model.bank)
    cat = build_lcreg_model("smallcnn", 5, latent_k=4, head_input="concat", assign_metric="dot")
    p = cat(x, parts=True)
    assert p["h"].shape == (4, 2 * 128) and cat.fc.in_features == 256


def test_torchvision_backbone_is_split_at_fc():
    torch.manual_seed(0)
    model = build_lcreg_model("resnet18", 7, latent_k=4)
    assert isinstance(model.base.net.fc, nn.Identity) and model.fc.in_features == 512
    out = model(torch.rand(2, 3, 32, 32), parts=True)
    assert out["logits"].shape == (2, 7) and out["h"].shape == (2, 512)


def test_latent_statistics_are_assignment_weighted():
    """The objective's Σ_k equal the explicit A-weighted covariance of h over the batches seen."""
    torch.manual_seed(0)
    model = build_lcreg_model("mlp", 5, latent_k=3).double()
    obj = LCRegObjective(COUNTS, 4, model.feature_dim, latent_k=3, lambda0=0.5, covariance="full", cov_center="none")
    hs, As = [], []
    for seed in range(3):
        x, y = _batch(10 + seed, seed)
        x = x.double()
        obj.loss(model, (x, y), 1)
        with torch.no_grad():
            p = model(x, parts=True)
        hs.append(p["h"])
        As.append(p["assign"])
    h, a = torch.cat(hs), torch.cat(As)
    for k in range(3):
        w = a[:, k]
        mu = (w[:, None] * h).sum(0) / w.sum()
        cov = ((w[:, None] * (h - mu)).t() @ (h - mu)) / w.sum()
        torch.testing.assert_close(obj.stats.cov[k], cov, rtol=0, atol=1e-10)


def test_bank_regularisers():
    eye = torch.eye(4, 6)
    assert diversity_loss(eye).item() == pytest.approx(0.0, abs=1e-7)
    assert diversity_loss(torch.ones(4, 6)).item() == pytest.approx(1.0, abs=1e-6)
    assert balance_loss(torch.full((5, 4), 0.25)).item() == pytest.approx(0.0, abs=1e-7)
    collapsed = F.one_hot(torch.zeros(5, dtype=torch.long), 4).float()
    assert balance_loss(collapsed).item() == pytest.approx(math.log(4), abs=1e-6)


def test_augmentation_raises_the_loss_and_gradients_reach_the_bank():
    torch.manual_seed(0)
    model = build_lcreg_model("mlp", 5, latent_k=6)
    x, y = _batch(32)
    base = LCRegObjective(COUNTS, 10, model.feature_dim, latent_k=6, lambda0=0.0, diversity_weight=0, balance_weight=0)
    aug = LCRegObjective(COUNTS, 10, model.feature_dim, latent_k=6, lambda0=5.0, diversity_weight=0, balance_weight=0)
    l0 = base.loss(model, (x, y), 5)[0]
    l1 = aug.loss(model, (x, y), 5)[0]
    assert l1 > l0
    full = LCRegObjective(COUNTS, 10, model.feature_dim, latent_k=6)
    full.loss(model, (x, y), 5)[0].backward()
    assert model.bank.grad is not None and model.bank.grad.abs().sum() > 0


def test_no_nan_at_default_lambda0_with_large_feature_norms():
    torch.manual_seed(0)
    base = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 16), nn.ReLU(), nn.Linear(16, 16))
    big = nn.Sequential(base, nn.Linear(16, 5))
    big[0][3].weight.data *= 1e4
    model = LCRegNet(big, 5, latent_k=4)
    for lam0 in (default_lambda0("cifar-lt"), default_lambda0("imagenet-lt")):
        obj = LCRegObjective(COUNTS, 3, model.feature_dim, latent_k=4, lambda0=lam0)
        for epoch in range(3):
            x, y = _batch(16, epoch)
            loss = obj.loss(model, (x, y), epoch)[0]
            model.zero_grad()
            loss.backward()
            assert torch.isfinite(loss)
            assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_bad_options_are_user_errors():
    with pytest.raises(Exception, match="--latent-k must be >= 0"):
        build_lcreg_model("mlp", 5, latent_k=-1)
    for bad in (-0.1, float("nan"), float("inf")):
        with pytest.raises(Exception, match="--lambda0 must be a finite number >= 0"):
            LCRegObjective(COUNTS, 3, 8, lambda0=bad)
    with pytest.raises(Exception, match="concat needs"):
        build_lcreg_model("mlp", 5, latent_k=0, head_input="concat")
    with pytest.raises(Exception, match="valid: latent, class"):
        LCRegObjective(COUNTS, 3, 8, cov_groups="sample")


# -- CLI ----------------------------------------------------------------------------------------------

def test_help_states_statistics_memory(invoke):
    res = invoke("train", "lcreg", "--help")
    assert res.exit_code == 0
    for text in ("--latent-k", "--lambda0", "--cov-groups", "MiB", "diagonal", "--milestones", "--momentum"):
        assert text in res.stdout, text


@pytest.mark.parametrize("args,fragments", [
    (["--latent-k", "-1"], ["--latent-k must be >= 0"]),
    (["--lambda0", "-0.5"], ["--lambda0 must be >= 0", "-0.5"]),
    (["--lambda0", "nan"], ["--lambda0 must be a finite number >= 0", "nan"]),
    (["--lambda0", "inf"], ["--lambda0 must be a finite number >= 0", "inf"]),
    (["--recipe", "cifar-ltt"], ["unknown recipe 'cifar-ltt'", "cifar-lt", "imagenet-lt"]),
    (["--dataset", "places-lt", "--data-root", "."], ["--weights", "random init"]),
    (["--milestones", "10,x"], ["--milestones"]),
    (["--tau", "0"], ["--tau must be > 0"]),
    (["--epochs", "0"], ["--epochs must be >= 1"]),
    (["--dataset", "nope-lt"], ["unknown dataset 'nope-lt'"]),
])
def test_cli_bad_input(invoke, tmp_path, args, fragments):
    res = invoke("train", "lcreg", *args, "--out", tmp_path / "run")
    assert_user_error(res, *fragments)
    assert not (tmp_path / "run" / "last.pt").exists()


@pytest.mark.slow
def test_end_to_end_digits_lt_beats_chance_and_evaluates(invoke, tmp_path):
    res = invoke("train", "lcreg", "--dataset", "digits-lt", "--model", "mlp", "--latent-k", "8", "--epochs", "6",
                 "--quiet", "--format", "json", "--out", tmp_path / "run")
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    assert rep["rows"][0]["top1"] > 0.5   # chance is 0.1
    assert rep["selected_on"] == "val" and rep["method"] == "lcreg"
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert len(metrics["per_class"]) == 10 and (tmp_path / "run" / "per_class.png").stat().st_size > 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["resolved"]["latent_k"] == 8 and config["resolved"]["lambda0"] == 0.5
    history = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert len(history) == 7 and all(k in history[0] for k in ("many", "medium", "few", "top1"))
    ev = invoke("train", "eval", tmp_path / "run", "--dataset", "digits-lt", "--format", "json", "--quiet")
    assert ev.exit_code == 0, ev.output
    assert json.loads(ev.stdout)["rows"][0]["top1"] == pytest.approx(rep["rows"][0]["top1"])


def test_resume_continues_exactly_with_statistics(tmp_path, monkeypatch):
    from toolkit.engine.errors import LtError
    from toolkit.longtail import lcreg

    def go(out, resume=False):
        return lcreg.train_lcreg(dataset="digits-lt", model="mlp", epochs=2, batch_size=128, out=str(out),
                                 resume=resume, device="cpu", latent_k=4)

    straight = go(tmp_path / "a")

    def stop(self, epoch, model):
        if epoch == 1:
            raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(lcreg.LCRegObjective, "on_epoch_start", stop)
        with pytest.raises(LtError, match="interrupted after 1"):
            go(tmp_path / "b")
    half = torch.load(tmp_path / "b" / "last.pt", weights_only=True)
    assert half["epoch"] == 1 and half["objective"]["stats"]["count"].sum() > 0
    resumed = go(tmp_path / "b", resume=True)
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=True)
    # equal up to float rounding (BLAS results may depend on buffer alignment across processes/loads)
    for key in ("cov", "mean", "count"):
        torch.testing.assert_close(a["objective"]["stats"][key], b["objective"]["stats"][key], rtol=1e-5, atol=1e-6)
    for k in a["state_dict"]:
        torch.testing.assert_close(a["state_dict"][k], b["state_dict"][k], rtol=1e-5, atol=1e-6)
    assert resumed.rows[0]["top1"] == pytest.approx(straight.rows[0]["top1"])


def test_checkpoint_rebuilds_lcreg_model(tmp_path):
    x, y = _batch(20)
    model = build_lcreg_model("smallcnn", 5, latent_k=4)
    obj = LCRegObjective(COUNTS, 1, model.feature_dim, latent_k=4)
    fit(model, torch.utils.data.TensorDataset(x, y), None, cfg=TrainConfig(epochs=1, batch_size=10),
        device=torch.device("cpu"), objective=obj, out_dir=tmp_path)
    again = load_model(str(tmp_path / "last.pt"))
    assert isinstance(again, LCRegNet) and again.latent_k == 4
    model.eval()
    torch.testing.assert_close(again(x), model(x))


@pytest.mark.slow
def test_ddp_two_cpu_processes_share_global_statistics(tmp_path):
    """Under torchrun (gloo, 2 processes) the covariance statistics are all-reduced: rank 0's checkpoint
    counts every training sample of the global batch (461 images, padded to 462 by the sampler)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29541",
           "-m", "cli", "--format", "json", "train", "lcreg", "--dataset", "digits-lt", "--model", "mlp",
           "--latent-k", "4", "--epochs", "1", "--batch-size", "64", "--device", "cpu", "--out", str(out), "--quiet"]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=Path(__file__).parents[1], timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert 0 <= json.loads(res.stdout)["rows"][0]["top1"] <= 1
    stats = torch.load(out / "last.pt", weights_only=True)["objective"]["stats"]
    assert stats["count"].sum().item() == pytest.approx(462, abs=1e-3)   # one rank alone: 231
