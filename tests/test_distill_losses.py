"""KD loss against the formula, its gradient, and the multi-teacher combine rules."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.distill.losses import COMBINES, kd_loss, kl_to_target, list_combines
from toolkit.distill.options import COMBINE_NAMES, KDOptions
from toolkit.engine.errors import LtError


def _formula(zs, zt, y, alpha, tau):
    """alpha*CE + (1-alpha)*tau^2*KL(p_t||p_s), batchmean, written out element by element."""
    b, c = zs.shape
    ce = kl = 0.0
    for i in range(b):
        ls = [float(v) for v in zs[i].double()]
        lse = math.log(sum(math.exp(v) for v in ls))
        ce += lse - ls[int(y[i])]
        pt = [math.exp(float(v) / tau) for v in zt[i].double()]
        pt = [p / sum(pt) for p in pt]
        qs = [math.exp(v / tau) for v in ls]
        log_qs = [math.log(q / sum(qs)) for q in qs]
        kl += sum(p * (math.log(p) - lq) for p, lq in zip(pt, log_qs, strict=True))
    return alpha * ce / b + (1 - alpha) * tau * tau * kl / b


@settings(max_examples=25, deadline=None, derandomize=True)
@given(st.integers(1, 6), st.integers(2, 7), st.floats(0.0, 1.0), st.floats(0.5, 8.0), st.integers(0, 10_000))
def test_kd_loss_equals_formula(b, c, alpha, tau, seed):
    g = torch.Generator().manual_seed(seed)
    zs, zt = torch.randn(b, c, generator=g) * 3, torch.randn(b, c, generator=g) * 3
    y = torch.randint(c, (b,), generator=g)
    got = float(kd_loss(zs.double(), zt.double(), y, ce_weight=alpha, tau=tau))
    assert got == pytest.approx(_formula(zs, zt, y, alpha, tau), abs=1e-6, rel=1e-6)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(st.integers(1, 8), st.integers(2, 6), st.floats(0.5, 8.0), st.integers(0, 10_000))
def test_kd_gradient_is_tau_ps_minus_pt_over_b(b, c, tau, seed):
    g = torch.Generator().manual_seed(seed)
    zs = (torch.randn(b, c, generator=g) * 2).requires_grad_()
    zt = torch.randn(b, c, generator=g) * 2
    loss = kd_loss(zs, zt, torch.zeros(b, dtype=torch.long), ce_weight=0.0, tau=tau)
    loss.backward()
    expected = tau * (F.softmax(zs.detach() / tau, 1) - F.softmax(zt / tau, 1)) / b
    torch.testing.assert_close(zs.grad, expected, atol=1e-6, rtol=1e-5)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(st.integers(1, 6), st.integers(2, 6), st.integers(1, 5), st.floats(0.5, 6.0), st.integers(0, 10_000))
def test_mean_kl_and_kl_to_mean_probs_have_the_same_student_gradient(b, c, k, tau, seed):
    g = torch.Generator().manual_seed(seed)
    z0 = torch.randn(b, c, generator=g) * 2
    teachers = torch.randn(b, k, c, generator=g) * 2
    y = torch.randint(c, (b,), generator=g)
    za = z0.clone().requires_grad_()
    kd_loss(za, teachers, y, ce_weight=0.3, tau=tau, combine="mean-kl").backward()
    zb = z0.clone().requires_grad_()
    target = F.softmax(teachers / tau, 2).mean(1)
    (0.3 * F.cross_entropy(zb, y) + 0.7 * kl_to_target(zb, target, tau)).backward()
    torch.testing.assert_close(za.grad, zb.grad, atol=1e-6, rtol=1e-5)


def test_mean_logits_is_a_different_target():
    g = torch.Generator().manual_seed(0)
    zs, t, y = (torch.randn(4, 5, generator=g), torch.randn(4, 3, 5, generator=g) * 3,
                torch.randint(5, (4,), generator=g))
    a = kd_loss(zs, t, y, ce_weight=0.0, tau=2.0, combine="mean-kl")
    b = kd_loss(zs, t, y, ce_weight=0.0, tau=2.0, combine="mean-logits")
    expected = kl_to_target(zs, F.softmax(t.mean(1) / 2.0, 1), 2.0)
    assert float(b) == pytest.approx(float(expected), abs=1e-6)
    assert abs(float(a) - float(b)) > 1e-4


def test_confidence_weights_follow_true_class_probability():
    zs = torch.tensor([[0.0, 2.0, 0.0]])
    good = torch.tensor([[10.0, 0.0, 0.0]])  # sure of the true class 0
    bad = torch.tensor([[0.0, 10.0, 0.0]])  # sure of a wrong class
    t = torch.stack([good, bad], 1)
    y = torch.tensor([0])
    got = float(kd_loss(zs, t, y, ce_weight=0.0, tau=1.0, combine="confidence"))
    p_good = F.softmax(good, 1)[0, 0]
    p_bad = F.softmax(bad, 1)[0, 0]
    w = torch.stack([p_good, p_bad]) / (p_good + p_bad)
    kls = torch.stack([kl_to_target(zs, F.softmax(good, 1), 1.0), kl_to_target(zs, F.softmax(bad, 1), 1.0)])
    assert got == pytest.approx(float((w * kls).sum()), abs=1e-6)
    assert got == pytest.approx(float(kls[0]), rel=1e-3)  # the wrong teacher hardly counts
    assert abs(got - float(kd_loss(zs, t, y, ce_weight=0.0, tau=1.0, combine="mean-kl"))) > 0.1


@pytest.mark.parametrize("combine", list_combines())
def test_every_combine_reduces_to_ce_at_alpha_one_and_is_zero_against_itself(combine):
    g = torch.Generator().manual_seed(1)
    zs, y = torch.randn(5, 4, generator=g), torch.randint(4, (5,), generator=g)
    t = torch.randn(5, 2, 4, generator=g)
    assert float(kd_loss(zs, t, y, ce_weight=1.0, combine=combine)) == pytest.approx(float(F.cross_entropy(zs, y)),
                                                                                 abs=1e-6)
    same = zs[:, None].expand(-1, 3, -1)
    assert float(kd_loss(zs, same, y, ce_weight=0.0, tau=3.0, combine=combine)) == pytest.approx(0.0, abs=1e-5)


def test_combine_registry_and_argument_errors():
    assert set(list_combines()) == {"mean-kl", "mean-logits", "confidence"}
    with pytest.raises(LtError, match="valid: confidence, mean-kl, mean-logits"):
        COMBINES.get("median")
    assert set(COMBINE_NAMES) == set(list_combines())  # the --combine choices (toolkit.distill.options)
    with pytest.raises(LtError, match="--ce-weight must be <= 1"):
        KDOptions(teacher="t", student="tiny3d", ce_weight=1.5).validate()
    with pytest.raises(LtError, match="--tau must be > 0"):
        KDOptions(teacher="t", student="tiny3d", tau=0.0).validate()
