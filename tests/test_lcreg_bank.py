"""LCReg issue 14: a scale-invariant λ, no NaN at ISDA's setting, a bank that learns categories,
and the engine's stop on a non-finite loss."""

from __future__ import annotations

import csv
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from conftest import assert_user_error
from toolkit.engine.loop import NonFiniteLoss, Objective, TrainConfig, fit
from toolkit.longtail.bank import assignment_stats, kmeanspp_rows, sharpness_loss
from toolkit.longtail.lcreg import LCRegNet, LCRegObjective, train_lcreg

COUNTS = [40, 20, 10, 5, 2]


class _Scale(nn.Module):
    def __init__(self, s: float):
        super().__init__()
        self.s = s

    def forward(self, x):
        return x * self.s


def _scaled_net(s: float, latent_k: int) -> LCRegNet:
    """Features × s and head weights × 1/s (the bank rows × s): the same logits for every s."""
    torch.manual_seed(0)
    base = nn.Sequential(nn.Linear(12, 8), nn.ReLU(), _Scale(s), nn.Linear(8, 5)).double()
    base[3].weight.data /= s
    net = LCRegNet(base, 5, latent_k=latent_k).double()
    if latent_k:
        torch.manual_seed(1)
        net.bank.data = torch.randn(latent_k, 8, dtype=torch.float64) * s
    return net


def _augmentation_terms(s: float, lambda_norm: str, latent_k: int) -> list[float]:
    """loss(λ₀ = 0.5) − loss(λ₀ = 0) over a few batches at epoch 2 of 4."""
    net = _scaled_net(s, latent_k)
    kw = dict(latent_k=latent_k, lambda_norm=lambda_norm, diversity_weight=0, balance_weight=0, sharpness_weight=0,
              bank_init="random")
    aug = LCRegObjective(COUNTS, 4, 8, lambda0=0.5, **kw)
    plain = LCRegObjective(COUNTS, 4, 8, lambda0=0.0, **kw)
    g = torch.Generator().manual_seed(0)
    out = []
    for _ in range(3):
        x, y = torch.randn(32, 12, generator=g, dtype=torch.float64), torch.randint(0, 5, (32,), generator=g)
        out.append(aug.loss(net, (x, y), 2)[0].item() - plain.loss(net, (x, y), 2)[0].item())
    return out


@settings(max_examples=15, deadline=None)
@given(s=st.floats(0.05, 20.0), latent_k=st.sampled_from([0, 3]))
def test_default_lambda_norm_is_invariant_to_feature_rescaling(s, latent_k):
    """Item 10: features × s, head × 1/s (same outputs) -> the same augmentation term (default ``none``)."""
    ref = _augmentation_terms(1.0, "none", latent_k)
    got = _augmentation_terms(s, "none", latent_k)
    assert min(ref) > 1e-3
    assert got == pytest.approx(ref, rel=1e-6)


def test_feature_lambda_norm_is_not_invariant_as_documented():
    """``--lambda-norm feature`` (no longer the default) scales the term by 1/s², as the docs now say."""
    ref, got = _augmentation_terms(1.0, "feature", 0), _augmentation_terms(10.0, "feature", 0)
    assert got == pytest.approx([r / 100 for r in ref], rel=0.05)


def test_latent_covariance_is_within_class():
    """Σ_k holds h − μ_y (running class means), so between-class scatter does not enter the augmentation."""
    torch.manual_seed(0)
    base = nn.Sequential(nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 5)).double()
    net = LCRegNet(base, 5, latent_k=0).double()
    centred = LCRegObjective(COUNTS, 4, 8, latent_k=0, lambda0=0.5)
    raw = LCRegObjective(COUNTS, 4, 8, latent_k=0, lambda0=0.5, cov_center="none")
    g = torch.Generator().manual_seed(0)
    hs, res = [], []
    sums, counts = torch.zeros(5, 8, dtype=torch.float64), torch.zeros(5, dtype=torch.float64)
    for _ in range(3):
        y = torch.randint(0, 5, (20,), generator=g)
        x = torch.randn(20, 12, generator=g, dtype=torch.float64) + 10 * F.one_hot(y, 12).double()
        centred.loss(net, (x, y), 1)
        raw.loss(net, (x, y), 1)
        with torch.no_grad():
            h = net(x, parts=True)["h"]
        sums.index_add_(0, y, h)
        counts += torch.bincount(y, minlength=5).double()
        res.append(h - (sums / counts.clamp_min(1)[:, None])[y])  # residual to the class mean known then
        hs.append(h)
    r = torch.cat(res)
    expect = ((r - r.mean(0)).t() @ (r - r.mean(0))) / len(r)
    torch.testing.assert_close(centred.stats.cov[0], expect, rtol=0, atol=1e-10)
    h = torch.cat(hs)
    torch.testing.assert_close(raw.stats.cov[0], ((h - h.mean(0)).t() @ (h - h.mean(0))) / len(h), rtol=0, atol=1e-10)
    assert raw.stats.cov[0].trace() > 2 * centred.stats.cov[0].trace()  # the scatter the centring removes


def _digits_run(tmp_path, name, epochs, seed=0, **opts):
    report = train_lcreg(dataset="digits-lt", imbalance=30.0, model="mlp", epochs=epochs, seed=seed,
                         out=str(tmp_path / name), **opts)
    with open(tmp_path / name / "metrics.csv") as f:
        return report, list(csv.DictReader(f))


@pytest.mark.parametrize("head_input", ["add", "concat"])
def test_no_nan_at_isda_setting_on_seed_1(tmp_path, head_input):
    """Item 11: λ₀ 0.5 with raw Σ on seed 1 (NaN at epoch 8 before the within-class Σ), and concat."""
    report, rows = _digits_run(tmp_path, head_input, 15, seed=1, latent_k=16, lambda0=0.5, lambda_norm="none",
                               head_input=head_input)
    assert len(rows) == 15 and all(math.isfinite(float(r["train_loss"])) for r in rows)
    assert max(float(r["train_loss"]) for r in rows) < 5
    assert report.rows[0]["top1"] > 0.7


def test_bank_learns_categories_and_metrics_csv_reports_it(tmp_path):
    """Item 12: after 6 epochs the assignments are far from uniform and several latents are used;
    the issue's configuration (random bank, no sharpness term) stays near uniform."""
    k = 16
    _, rows = _digits_run(tmp_path, "learned", 6, latent_k=k)
    last = rows[-1]
    for col in ("assign_entropy", "assign_top", "usage_entropy", "usage_perplexity", "usage_max", "latents_used"):
        assert col in last
    assert float(last["assign_entropy"]) < 0.6 * math.log(k)
    assert float(last["assign_top"]) > 0.4
    assert float(last["usage_perplexity"]) > 4 and int(last["latents_used"]) >= 5
    assert float(rows[0]["assign_entropy"]) > float(last["assign_entropy"])
    _, old = _digits_run(tmp_path, "old", 6, latent_k=k, tau=0.1, bank_init="random", sharpness_weight=0.0,
                         assign_grad="all")
    assert float(old[-1]["assign_entropy"]) > 0.9 * math.log(k)


def test_bank_helpers():
    x = torch.cat([torch.randn(20, 6) * 0.01 + torch.eye(6)[i] for i in range(3)])
    rows = kmeanspp_rows(x, 3, torch.Generator().manual_seed(0))
    assert sorted(int(F.normalize(r, dim=0).argmax()) for r in rows) == [0, 1, 2]  # one row per cluster
    assert kmeanspp_rows(x[:2], 4, torch.Generator().manual_seed(0)).shape == (4, 6)
    uniform = torch.full((4, 8), 1 / 8)
    assert float(sharpness_loss(uniform)) == pytest.approx(math.log(8))
    onehot = F.one_hot(torch.tensor([0, 1, 1, 3]), 8).float()
    assert float(sharpness_loss(onehot)) == pytest.approx(0.0, abs=1e-6)
    stats = assignment_stats(0.0, onehot.sum(0).double(), 4.0, 4.0, torch.bincount(onehot.argmax(1), minlength=8))
    assert stats["latents_used"] == 3 and stats["usage_max"] == pytest.approx(0.5)
    assert stats["usage_perplexity"] == pytest.approx(math.exp(-(0.25 * math.log(0.25) * 2 + 0.5 * math.log(0.5))))


class _NanAt(Objective):
    """Cross-entropy, NaN from ``epoch`` (0-based) on."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def loss(self, model, batch, epoch):
        loss, logits, y = super().loss(model, batch, epoch)
        return (loss * float("nan") if epoch >= self.epoch else loss), logits, y


def test_non_finite_loss_stops_with_the_epoch_and_keeps_the_last_good_checkpoint(tmp_path):
    torch.manual_seed(0)
    ds = torch.utils.data.TensorDataset(torch.randn(32, 6), torch.randint(0, 3, (32,)))
    model = nn.Sequential(nn.Linear(6, 3))
    with pytest.raises(NonFiniteLoss,
                       match=r"loss became nan at epoch 3; the last good checkpoint is .*last\.pt \(epoch 2\)"):
        fit(model, ds, ds, cfg=TrainConfig(epochs=5, batch_size=8), device=torch.device("cpu"), objective=_NanAt(2),
            out_dir=tmp_path)
    ckpt = torch.load(tmp_path / "last.pt", weights_only=True)
    assert ckpt["epoch"] == 2 and all(torch.isfinite(v).all() for v in ckpt["state_dict"].values())
    with pytest.raises(NonFiniteLoss, match="epoch 1; no epoch finished, nothing was saved"):
        fit(nn.Linear(6, 3), ds, ds, cfg=TrainConfig(epochs=2, batch_size=8), device=torch.device("cpu"),
            objective=_NanAt(0), out_dir=tmp_path / "fresh")


def test_cli_non_finite_loss_is_one_error_line(invoke, tmp_path):
    res = invoke("train", "lcreg", "--dataset", "digits-lt", "--model", "mlp", "--epochs", "2", "--latent-k", "4",
                 "--lr", "1e30", "--out", tmp_path / "run", "--quiet")
    assert_user_error(res, "at epoch 1", "lower --lr")


@pytest.mark.parametrize("args,fragment", [
    (["--sharpness-weight", "-1"], "--sharpness-weight must be >= 0"),
    (["--balance-weight", "nan"], "--balance-weight must be a finite number >= 0"),
    (["--lambda0", "-inf"], "--lambda0 must be a finite number >= 0"),
])
def test_cli_bank_options_bad_input(invoke, tmp_path, args, fragment):
    res = invoke("train", "lcreg", "--dataset", "digits-lt", *args, "--out", tmp_path / "run")
    assert_user_error(res, fragment)
    assert not (tmp_path / "run").exists()


class _InfBuffer(Objective):
    """Cross-entropy; from ``epoch`` on, writes inf into the BatchNorm's running_var (parameters stay finite)."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def loss(self, model, batch, epoch):
        if epoch >= self.epoch:
            model[1].running_var.fill_(float("inf"))
        return super().loss(model, batch, epoch)


def test_non_finite_buffers_stop_the_run_like_a_non_finite_loss(tmp_path):
    """The check after each epoch reads buffers too: a run whose BatchNorm statistics diverged keeps the epoch
    before as the last good checkpoint instead of saving inf running_var as 'good'."""
    torch.manual_seed(0)
    ds = torch.utils.data.TensorDataset(torch.randn(32, 6), torch.randint(0, 3, (32,)))
    model = nn.Sequential(nn.Linear(6, 3), nn.BatchNorm1d(3))
    with pytest.raises(NonFiniteLoss, match=r"1\.running_var became non-finite at epoch 2; .*last\.pt \(epoch 1\)"):
        fit(model, ds, ds, cfg=TrainConfig(epochs=3, batch_size=8), device=torch.device("cpu"), objective=_InfBuffer(1),
            out_dir=tmp_path)
    ckpt = torch.load(tmp_path / "last.pt", weights_only=True)
    assert ckpt["epoch"] == 1 and all(torch.isfinite(v).all() for v in ckpt["state_dict"].values()
                                      if v.is_floating_point())
