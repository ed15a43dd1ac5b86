"""ISDA machinery: online (weighted) covariances, the closed-form bound, λ = 0 reductions, the isda loss."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from toolkit.longtail.isda import (
    ISDALoss,
    OnlineCovariance,
    choose_covariance,
    isda_logits,
    isda_sigma,
    ramp,
    statistics_bytes,
)
from toolkit.longtail.losses import LOSSES, get_loss


def _feed(stats: OnlineCovariance, x: torch.Tensor, w: torch.Tensor, sizes) -> None:
    i = 0
    for b in sizes:
        stats.update(x[i:i + b], w[i:i + b])
        i += b
    assert i == len(x)


@settings(max_examples=25, deadline=None)
@given(sizes=st.lists(st.integers(1, 23), min_size=1, max_size=8), kind=st.sampled_from(["full", "diag"]),
       seed=st.integers(0, 10_000), offset=st.floats(-50, 50))
def test_online_covariance_equals_pooled_batch_covariance(sizes, kind, seed, offset):
    g = torch.Generator().manual_seed(seed)
    n, d = sum(sizes), 6
    x = torch.randn(n, d, generator=g, dtype=torch.float64) * torch.linspace(0.5, 3, d, dtype=torch.float64) + offset
    stats = OnlineCovariance(1, d, kind)
    _feed(stats, x, torch.ones(n, 1, dtype=torch.float64), sizes)
    ref = np.cov(x.numpy(), rowvar=False, bias=True).reshape(d, d)
    ref = ref if kind == "full" else np.diag(ref)
    np.testing.assert_allclose(stats.cov[0].numpy(), ref, rtol=0, atol=1e-10)
    np.testing.assert_allclose(stats.mean[0].numpy(), x.numpy().mean(0), rtol=0, atol=1e-10)
    assert stats.count[0].item() == n


@pytest.mark.parametrize("kind", ["full", "diag"])
@pytest.mark.parametrize("weights", ["soft", "onehot"])
def test_weighted_group_covariances_equal_explicit_formula(kind, weights):
    g = torch.Generator().manual_seed(1)
    n, d, groups = 97, 5, 4
    x = torch.randn(n, d, generator=g, dtype=torch.float64) * 2 + 3
    if weights == "soft":
        w = torch.softmax(torch.randn(n, groups, generator=g, dtype=torch.float64) * 3, 1)
    else:  # per-class statistics; group 3 never appears in the first batches
        y = torch.randint(0, groups - 1, (n,), generator=g)
        y[-5:] = groups - 1
        w = F.one_hot(y, groups).double()
    stats = OnlineCovariance(groups, d, kind)
    _feed(stats, x, w, [1, 30, 7, 40, 19])
    for k in range(groups):
        wk = w[:, k]
        mu = (wk[:, None] * x).sum(0) / wk.sum()
        cov = ((wk[:, None] * (x - mu)).t() @ (x - mu)) / wk.sum()
        ref = cov if kind == "full" else cov.diagonal()
        torch.testing.assert_close(stats.cov[k], ref, rtol=0, atol=1e-10)
        torch.testing.assert_close(stats.mean[k], mu, rtol=0, atol=1e-10)


def test_unseen_group_stays_zero_and_state_roundtrips():
    stats = OnlineCovariance(3, 4, "full")
    x = torch.randn(10, 4, dtype=torch.float64)
    stats.update(x, F.one_hot(torch.zeros(10, dtype=torch.long), 3).double())
    assert stats.count.tolist() == [10, 0, 0] and stats.cov[1:].abs().max() == 0
    other = OnlineCovariance(3, 4, "full")
    other.load_state_dict(stats.state_dict())
    assert torch.equal(other.cov, stats.cov) and torch.equal(other.mean, stats.mean)
    with pytest.raises(Exception, match="do not fit"):
        OnlineCovariance(3, 4, "diag").load_state_dict(stats.state_dict())


def _brute_sigma(weight, y, cov, assign):
    out = torch.zeros(len(y), weight.shape[0], dtype=weight.dtype)
    for i in range(len(y)):
        covs = cov if cov.dim() == 3 else torch.diag_embed(cov)
        s = (assign[i][:, None, None] * covs).sum(0)
        for j in range(weight.shape[0]):
            dw = weight[j] - weight[y[i]]
            out[i, j] = dw @ s @ dw
    return out


@pytest.mark.parametrize("kind", ["full", "diag"])
def test_sigma_matches_explicit_quadratic_form(kind):
    g = torch.Generator().manual_seed(2)
    c, d, groups, b = 7, 5, 3, 9
    weight = torch.randn(c, d, generator=g, dtype=torch.float64)
    a = torch.randn(groups, d, d, generator=g, dtype=torch.float64)
    cov = a @ a.transpose(1, 2)
    cov = cov if kind == "full" else cov.diagonal(dim1=1, dim2=2)
    y = torch.randint(0, c, (b,), generator=g)
    assign = torch.softmax(torch.randn(b, groups, generator=g, dtype=torch.float64), 1)
    sig = isda_sigma(weight, y, cov, assign)
    torch.testing.assert_close(sig, _brute_sigma(weight, y, cov, assign), rtol=1e-10, atol=1e-10)
    assert torch.all(sig.gather(1, y[:, None]).abs() < 1e-10)  # σ_yy = 0
    assert torch.all(sig > -1e-10)


def _model(d_in=12, d=8, c=5, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d_in, d), nn.ReLU(), nn.Linear(d, c))


@pytest.mark.parametrize("baseline,rebalance", [("ce", "none"), ("balanced-softmax", "balanced-softmax")])
@pytest.mark.parametrize("lambda0,epoch", [(0.0, 3), (0.5, 0)])
def test_lambda_zero_equals_ce_and_balanced_softmax_exactly(baseline, rebalance, lambda0, epoch):
    counts = [50, 20, 9, 4, 2]
    x, y = torch.randn(16, 12), torch.randint(0, 5, (16,))
    model = _model()
    ref = get_loss(baseline, counts, 10).loss(model, (x, y), epoch)[0]
    got = ISDALoss(counts, 10, lambda0=lambda0, rebalance=rebalance).loss(model, (x, y), epoch)[0]
    assert torch.equal(got, ref)


@pytest.mark.parametrize("kind", ["full", "diag"])
@pytest.mark.parametrize("assign", ["class", "latent"])
def test_closed_form_bound_is_at_least_monte_carlo_expectation(kind, assign):
    """E_{ã~N(a, λΣ(x))}[CE(Wã + b, y)] <= CE(z + λ/2 σ, y), per sample (Jensen)."""
    g = torch.Generator().manual_seed(3)
    b, d, c, groups, lam, samples = 6, 4, 5, 3, 0.8, 40_000
    a = torch.randn(b, d, generator=g, dtype=torch.float64)
    weight = torch.randn(c, d, generator=g, dtype=torch.float64)
    bias = torch.randn(c, generator=g, dtype=torch.float64)
    y = torch.randint(0, c, (b,), generator=g)
    m = torch.randn(groups, d, d, generator=g, dtype=torch.float64)
    cov = m @ m.transpose(1, 2) / d
    cov = cov if kind == "full" else cov.diagonal(dim1=1, dim2=2)
    if assign == "class":
        groups_of = torch.randint(0, groups, (b,), generator=g)
        weights = F.one_hot(groups_of, groups).double()
    else:
        weights = torch.softmax(torch.randn(b, groups, generator=g, dtype=torch.float64), 1)
    logits = a @ weight.t() + bias
    bound = F.cross_entropy(isda_logits(logits, weight, y, cov, weights, lam).double(), y, reduction="none")
    full = cov if kind == "full" else torch.diag_embed(cov)
    for i in range(b):
        s = lam * (weights[i][:, None, None] * full).sum(0)
        chol = torch.linalg.cholesky(s + 1e-12 * torch.eye(d, dtype=torch.float64))
        eps = torch.randn(samples, d, generator=g, dtype=torch.float64)
        aug = a[i] + eps @ chol.t()
        ce = F.cross_entropy(aug @ weight.t() + bias, y[i].expand(samples), reduction="none")
        mc, se = ce.mean(), ce.std() / math.sqrt(samples)
        assert bound[i] >= mc - 4 * se, (i, float(bound[i]), float(mc), float(se))
        plain = F.cross_entropy(logits[i:i + 1], y[i:i + 1])
        assert bound[i] >= plain - 1e-12  # augmentation never lowers the loss


def test_ramp_and_covariance_choice():
    assert ramp(0.5, 0, 10) == 0 and ramp(0.5, 5, 10) == 0.25
    assert choose_covariance("auto", 64, 64) == "full"
    assert choose_covariance("auto", 64, 2048) == "diag"       # ResNeXt-50 feature: 2 GiB full
    assert choose_covariance("auto", 1000, 2048) == "diag"
    assert choose_covariance("full", 1000, 2048) == "full"
    assert statistics_bytes("full", 64, 64) == (64 * 64 * 64 + 64 * 64 + 64) * 8
    with pytest.raises(Exception, match="valid: auto, full, diag"):
        choose_covariance("dense", 1, 1)


class _Scale(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.s = s

    def forward(self, x):
        return x * self.s


@pytest.mark.parametrize("lambda_norm", ["feature", "none"])
def test_no_nan_with_large_feature_norms(lambda_norm):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 8), nn.ReLU(), _Scale(1e4), nn.Linear(8, 5))
    obj = ISDALoss([30, 20, 10, 5, 2], 4, lambda0=7.5, lambda_norm=lambda_norm)
    for epoch in range(4):
        x, y = torch.randn(32, 12), torch.randint(0, 5, (32,))
        loss, logits, _ = obj.loss(model, (x, y), epoch)
        model.zero_grad()
        loss.backward()
        assert torch.isfinite(loss)
        assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    extra = loss.item() - F.cross_entropy(logits, y).item()
    assert extra > 0
    if lambda_norm == "feature":  # scaled: the augmentation term stays O(λ‖w_j - w_y‖²), not O(1e8)
        assert extra < 50


def test_isda_is_a_registered_baseline_and_trains(tmp_path):
    from toolkit.engine.loop import TrainConfig, fit

    assert "isda" in LOSSES.names()
    obj = get_loss("isda", [40, 10, 3], 3, lambda0=0.5)
    assert isinstance(obj, ISDALoss)
    torch.manual_seed(0)
    x = torch.randn(53, 12)
    y = torch.cat([torch.zeros(40), torch.ones(10), 2 * torch.ones(3)]).long()
    x = x + 2 * F.one_hot(y, 12).float()
    ds = torch.utils.data.TensorDataset(x, y)
    model = _model(c=3)
    res = fit(model, ds, ds, cfg=TrainConfig(epochs=3, batch_size=16, lr=0.1), device=torch.device("cpu"),
              objective=obj, out_dir=tmp_path)
    assert res.history[-1]["top1"] > 0.6
    assert obj.stats is not None and obj.stats.count.tolist() == [120, 30, 9]
    state = torch.load(tmp_path / "last.pt", weights_only=True)["objective"]
    again = get_loss("isda", [40, 10, 3], 3)
    again.load_state_dict(state)
    again.loss(_model(c=3), (x[:4], y[:4]), 0)  # stats built lazily from the saved state, then updated
    assert again.stats.count.tolist() == [124, 30, 9]
    torch.testing.assert_close(again.stats.cov[1:], obj.stats.cov[1:])


def test_cli_ce_with_isda_loss(invoke, tmp_path):
    res = invoke("train", "ce", "--dataset", "digits-lt", "--model", "mlp", "--loss", "isda", "--epochs", "1",
                 "--out", tmp_path / "run", "--format", "json", "--quiet")
    assert res.exit_code == 0, res.output
    assert '"loss": "isda"' in res.stdout
