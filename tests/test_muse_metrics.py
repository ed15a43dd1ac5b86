"""MuSe 2022 metrics and losses: golden values against sklearn/scipy and closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import pearsonr
from sklearn.metrics import roc_auc_score

from toolkit.engine.errors import LtError
from toolkit.engine.metrics import ccc, mean_pearson, pearson, roc_auc
from toolkit.muse.losses import LOSSES, TASK_LOSSES, ccc_loss, focal, get_loss
from toolkit.muse.metrics import reaction_metrics, stress_metrics


def closed_form_ccc(p, t):
    p, t = np.asarray(p, float), np.asarray(t, float)
    cov = np.cov(p, t, bias=True)[0, 1]
    return 2 * cov / (np.var(p) + np.var(t) + (p.mean() - t.mean()) ** 2)


def challenge_ccc(p, t):
    """The MuSe 2022 scoring script's form: np.mean for the means, np.cov (ddof 1) for the rest."""
    p, t = np.asarray(p, float), np.asarray(t, float)
    c = np.cov(p, t)
    return 2 * c[0, 1] / (c[0, 0] + c[1, 1] + (np.mean(p) - np.mean(t)) ** 2)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(4, 200), st.booleans())
def test_roc_auc_equals_sklearn(seed, n, ties):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    y[0], y[1] = 0, 1
    s = rng.normal(size=n) + y
    if ties:
        s = np.round(s, 0)  # many tied scores
    assert abs(roc_auc(s, y) - roc_auc_score(y, s)) < 1e-9


def test_roc_auc_one_class_is_nan():
    assert np.isnan(roc_auc([0.1, 0.2], [1, 1]))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(3, 300))
def test_pearson_equals_scipy(seed, n):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n) * rng.uniform(0.1, 100)
    b = 0.3 * a + rng.normal(size=n) + rng.uniform(-50, 50)
    assert abs(pearson(a, b) - pearsonr(a, b)[0]) < 1e-9


def test_mean_pearson_is_mean_of_columns_not_pooled():
    """Shifted base levels per emotion: pooling the 7 columns measures the levels, not the model."""
    rng = np.random.default_rng(0)
    levels = np.linspace(0.1, 0.7, 7)
    target = levels + rng.normal(0, 0.05, (200, 7))
    pred = levels + rng.normal(0, 0.05, (200, 7))  # right levels, no per-video skill
    mean, per = mean_pearson(pred, target)
    scipy_mean = np.mean([pearsonr(pred[:, k], target[:, k])[0] for k in range(7)])
    pooled = pearsonr(pred.ravel(), target.ravel())[0]
    assert abs(mean - scipy_mean) < 1e-9
    assert all(abs(r - pearsonr(pred[:, k], target[:, k])[0]) < 1e-9 for k, r in enumerate(per))
    assert pooled > 0.8 and abs(mean) < 0.2
    out = reaction_metrics(pred, target, ["a", "b", "c", "d", "e", "f", "g"])
    assert out["pearson"] == pytest.approx(mean, abs=1e-12) and "r_a" in out


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 300))
def test_ccc_equals_closed_form(seed, n):
    rng = np.random.default_rng(seed)
    t = rng.normal(size=n)
    p = 0.5 * t + rng.normal(size=n) * 0.5 + rng.uniform(-1, 1)
    assert abs(ccc(p, t) - challenge_ccc(p, t)) < 1e-9
    assert abs(ccc(p, t, ddof=0) - closed_form_ccc(p, t)) < 1e-9


def test_challenge_and_population_ccc_differ_only_with_a_mean_shift():
    t = np.array([0.0, 1.0, 2.0, 3.0])
    same_mean = t * 0.5 + t.mean() * 0.5
    assert ccc(same_mean, t) == pytest.approx(ccc(same_mean, t, ddof=0), abs=1e-12)
    shifted = t + 1.0  # perfect correlation, shifted by 1: 2·s²/(2·s² + 1) with s² by ddof
    assert ccc(shifted, t) == pytest.approx(2 * (5 / 3) / (2 * (5 / 3) + 1), abs=1e-12)
    assert ccc(shifted, t, ddof=0) == pytest.approx(2 * 1.25 / (2 * 1.25 + 1), abs=1e-12)
    out = stress_metrics(np.stack([shifted, shifted], 1), np.stack([t, t], 1), ["arousal", "valence"])
    assert out["ccc"] == pytest.approx(ccc(shifted, t)) and out["ccc_pop"] == pytest.approx(ccc(shifted, t, ddof=0))


def test_ccc_identity_and_bias():
    x = np.linspace(-1, 1, 50)
    assert ccc(x, x) == pytest.approx(1.0)
    assert ccc(x + 0.5, x) < 1.0  # a location shift is penalised (Pearson would stay 1)


def test_stress_ccc_is_over_concatenated_videos():
    rng = np.random.default_rng(1)
    vids = [rng.normal(size=(40, 2)) + k for k in range(3)]
    preds = [v * 0.3 + rng.normal(size=v.shape) * 0.5 for v in vids]
    t, p = np.concatenate(vids), np.concatenate(preds)
    t[3, 0] = np.nan  # a missing label is dropped, not counted
    out = stress_metrics(p, t, ["arousal", "valence"])
    ok = np.isfinite(t[:, 0])
    assert out["ccc_arousal"] == pytest.approx(challenge_ccc(p[ok, 0], t[ok, 0]), abs=1e-9)
    assert out["ccc_valence"] == pytest.approx(challenge_ccc(p[:, 1], t[:, 1]), abs=1e-9)
    assert out["ccc_pop_valence"] == pytest.approx(closed_form_ccc(p[:, 1], t[:, 1]), abs=1e-9)
    assert out["ccc"] == pytest.approx((out["ccc_arousal"] + out["ccc_valence"]) / 2)
    per_video = np.mean([challenge_ccc(pv[:, 1], tv[:, 1]) for pv, tv in zip(preds, vids, strict=True)])
    assert abs(per_video - out["ccc_valence"]) > 0.05  # a different number, as the spec warns


def test_ccc_loss_is_one_minus_ccc_per_sequence():
    torch.manual_seed(0)
    raw = torch.randn(2, 30, 1, dtype=torch.float64)
    y = torch.tanh(torch.randn(2, 30, 1, dtype=torch.float64))
    mask = torch.ones_like(y, dtype=torch.bool)
    mask[1, 20:] = False
    expect = 1 - np.mean([closed_form_ccc(torch.tanh(raw[0, :, 0]), y[0, :, 0]),
                          closed_form_ccc(torch.tanh(raw[1, :20, 0]), y[1, :20, 0])])
    assert ccc_loss(raw, y, mask).item() == pytest.approx(expect, abs=1e-6)


def test_focal_reduces_to_weighted_bce_at_gamma_zero():
    z = torch.tensor([2.0, -1.0, 0.3, -3.0])
    y = torch.tensor([1.0, 0.0, 0.0, 1.0])
    bce = torch.nn.functional.binary_cross_entropy_with_logits(z, y, reduction="none")
    w = 0.25 * y + 0.75 * (1 - y)
    assert focal(z, y, gamma=0.0).item() == pytest.approx((w * bce).mean().item(), abs=1e-6)
    assert focal(z, y).item() < focal(z, y, gamma=0.0).item()  # (1-p_t)^gamma down-weights


@pytest.mark.parametrize("name", LOSSES.names())
def test_every_loss_fits_its_task_only(name):
    task = next(t for t, names in TASK_LOSSES.items() if name in names)
    assert get_loss(name, task) is LOSSES.get(name)
    other = next(t for t in TASK_LOSSES if name not in TASK_LOSSES[t])
    with pytest.raises(LtError, match="does not fit"):
        get_loss(name, other)
