"""Attacks against independent restatements of the authors' code: FTM order, targeted NP/FTM, DTA Σm/K,
multistep α, ensembles, DI/TI/SI composed with DTA, SI-NI, target modes vs torchattacks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from toolkit.attacks import get_attack
from toolkit.attacks.ftm import ftm_logits
from toolkit.engine.errors import LtError

FTM_SETTINGS = [(0.8, 0.9, 2.0), (1.2, 0.9, 1.5), (0.5, 0.9, 1.0)]


class Net(nn.Module):
    """A body and a last nn.Linear head, so the restatements can prune h without hooks."""

    def __init__(self, classes: int = 10, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten())
        self.head = nn.Linear(32, classes)

    def forward(self, x):
        return self.head(self.body(x))


@pytest.fixture(scope="module")
def net():
    return Net().eval()


@pytest.fixture(scope="module")
def batch():
    g = torch.Generator().manual_seed(3)
    return torch.rand(6, 3, 12, 12, generator=g), torch.randint(0, 10, (6,), generator=g)


def ftm_ref(z, y, kappa, kappa_wrong, tau):
    """The authors' helper order, restated: scale y in place, then decide on the scaled logits."""
    out = z.clone()
    n = torch.arange(len(y))
    out[n, y] = out[n, y] * kappa
    pred = out.argmax(dim=1)
    wrong = pred != y
    out[n[wrong], pred[wrong]] = out[n[wrong], pred[wrong]] * kappa_wrong
    return out / tau


def norm(g):
    return g / g.abs().mean(dim=(1, 2, 3), keepdim=True)


def clip(x, x0, eps):
    return torch.clamp(x0 + torch.clamp(x - x0, -eps, eps), 0, 1).detach()


def ref_grad(net, x, y_true, aim, targeted, kappa=1.0, kw=1.0, tau=1.0, gamma=None):
    """∇_x of the (targeted) FTM loss, with NP's mask from the TRUE labels when gamma is set."""
    x = x.detach().requires_grad_(True)
    h = net.body(x)
    if gamma is not None:
        gh = torch.autograd.grad(F.cross_entropy(net.head(h), y_true, reduction="sum"), h, retain_graph=True)[0]
        a = gh.abs()
        h = h * (a >= torch.quantile(a, gamma, dim=1, keepdim=True)).float()
    z = ftm_ref(net.head(h), y_true, kappa, kw, tau)
    cost = F.cross_entropy(z, aim)
    return torch.autograd.grad(-cost if targeted else cost, x)[0]


def ref_dta(net, x0, y, aim, targeted, eps, T, K, mu1, mu2, ms=None, old_order=False, directions=None, **kw):
    """DTA as in the authors' DTA.py: Σ m/K term by term, inner α·sign·a_t/K, outer α·sign·a_t.

    ``old_order``: accumulate Σm and divide by K once (our order before issue 14), for contrast.
    ``directions``: a list that receives every tuned direction g_{t+1} (before its sign is taken)."""
    alpha = eps / T
    adv, g = x0.clone(), torch.zeros_like(x0)
    for t in range(T):
        a_t = 1.0 if ms is None else ms[t]
        m, xk, acc = g.clone(), adv.clone(), torch.zeros_like(x0)
        for _ in range(K):
            grad = ref_grad(net, xk + mu1 * alpha * m, y, aim, targeted, **kw)
            m = mu2 * m + norm(grad)
            acc += m if old_order else m / K
            xk = clip(xk + alpha * m.sign() * a_t / K, x0, eps)
        g = (acc / K if old_order else acc) + g * mu1
        if directions is not None:
            directions.append(g.clone())
        adv = clip(adv + alpha * g.sign() * a_t, x0, eps)
    return adv


# ----------------------------------------------------------------------------- FTM
@pytest.mark.parametrize("kappa,kw,tau", FTM_SETTINGS)
def test_ftm_decides_after_kappa(kappa, kw, tau):
    g = torch.Generator().manual_seed(0)
    z = torch.randn(400, 10, generator=g, dtype=torch.float64) * 3
    y = torch.randint(0, 10, (400,), generator=g)
    assert torch.equal(ftm_logits(z, y, kappa, kw, tau), ftm_ref(z, y, kappa, kw, tau))
    # the setting matters: some samples change their misclassified status under the kappa scaling
    scaled = z.clone()
    scaled[torch.arange(400), y] *= kappa
    assert ((z.argmax(1) != y) != (scaled.argmax(1) != y)).any()


@pytest.mark.parametrize("kappa,kw,tau", FTM_SETTINGS)
def test_ftm_attack_equals_restatement(net, batch, kappa, kw, tau):
    x, y = batch
    eps, T = 16 / 255, 4
    adv = get_attack("mifgsm", net, eps=eps, steps=T, kappa=kappa, kappa_wrong=kw, tau=tau)(x, y)
    ref, g = x.clone(), torch.zeros_like(x)
    for _ in range(T):
        g = norm(ref_grad(net, ref, y, y, False, kappa, kw, tau)) + g * 1.0
        ref = clip(ref + eps / T * g.sign(), x, eps)
    assert (adv - ref).abs().max().item() == 0.0


# ----------------------------------------------------------------------------- targeted mode
def test_targeted_dta_np_ftm_use_true_labels(net, batch):
    x, y = batch
    t = (y + 3) % 10
    kw = {"kappa": 0.8, "kw": 0.9, "tau": 2.0, "gamma": 0.3}
    ours = get_attack("dta", net, eps=16 / 255, steps=3, inner_steps=3, targeted=True, np_rate=0.3,
                      kappa=0.8, kappa_wrong=0.9, tau=2.0)(x, y, t)
    ref = ref_dta(net, x, y, t, True, 16 / 255, 3, 3, 1.0, 0.0, **kw)
    assert (ours - ref).abs().max().item() == 0.0
    # the old behaviour (mask and scaling from the targets) is a different attack
    wrong = ref_dta(net, x, t, t, True, 16 / 255, 3, 3, 1.0, 0.0, **kw)
    assert not torch.equal(ref, wrong)


def test_targeted_needs_targets(net, batch):
    x, y = batch
    with pytest.raises(LtError, match="need targets"):
        get_attack("mifgsm", net, targeted=True)(x, y)
    with pytest.raises(LtError, match="untargeted"):
        get_attack("mifgsm", net)(x, y, y)
    with pytest.raises(LtError, match="not both"):
        get_attack("mifgsm", net, target_mode="random")(x, y, y)
    with pytest.raises(LtError, match="--target-mode"):
        get_attack("mifgsm", net, target_mode="furthest")


@pytest.mark.parametrize("ours,theirs,mode", [("mifgsm", "MIFGSM", "random"), ("nifgsm", "NIFGSM", "least-likely"),
                                              ("mifgsm", "MIFGSM", "least-likely")])
def test_target_modes_match_torchattacks(net, batch, ours, theirs, mode):
    import torchattacks

    x, y = batch
    ta = getattr(torchattacks, theirs)(net, eps=8 / 255, alpha=2 / 255, steps=4)
    getattr(ta, "set_mode_targeted_random" if mode == "random" else "set_mode_targeted_least_likely")(quiet=True)
    torch.manual_seed(11)
    b = ta(x, y)
    atk = get_attack(ours, net, eps=8 / 255, alpha=2 / 255, steps=4, target_mode=mode)
    torch.manual_seed(11)
    a = atk(x, y)
    assert atk.targeted and (atk.last_targets != y).all()
    torch.manual_seed(11)
    assert torch.equal(atk.last_targets, ta.get_target_label(x, y))
    assert (a - b).abs().max().item() <= 1e-6


# ----------------------------------------------------------------------------- DTA order, schedules
@pytest.mark.parametrize("kw", [{}, {"inner_steps": 4, "inner_decay": 0.5, "decay": 0.8},
                                {"multistep_alpha": [1.0, 0.5, 0.25]}])
def test_dta_equals_authors_order(net, batch, kw):
    x, y = batch
    K, mu1, mu2 = kw.get("inner_steps", 10), kw.get("decay", 1.0), kw.get("inner_decay", 0.0)
    ours = get_attack("dta", net, eps=16 / 255, steps=3, **kw)(x, y)
    ref = ref_dta(net, x, y, y, False, 16 / 255, 3, K, mu1, mu2, ms=kw.get("multistep_alpha"))
    assert torch.equal(ours, ref)


def test_dta_sum_of_m_over_k_where_the_order_matters(net):
    # The tuned direction itself, before sign() hides most of its bits: ours is Σ(m/K) + μ1·g bit for bit,
    # and differs from (Σm)/K + μ1·g (the old order). Only its sign reaches the image, so whether the two
    # orders also give different images depends on the CPU's float details; the direction does not.
    from toolkit.attacks.dta import DTA

    class Recording(DTA):
        def step(self, x, direction, x0, st, inner=None):
            if inner is None:  # the outer step: direction = the tuned g_{t+1}
                self.directions.append(direction.clone())
            return super().step(x, direction, x0, st, inner)

    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(8, 3, 24, 24, generator=g), torch.randint(0, 10, (8,), generator=g)
    atk = Recording(net, eps=16 / 255, steps=6, inner_steps=6, inner_decay=0.9)
    atk.directions = []
    ours = atk(x, y)
    new, old = [], []
    assert torch.equal(ours, ref_dta(net, x, y, y, False, 16 / 255, 6, 6, 1.0, 0.9, directions=new))
    ref_dta(net, x, y, y, False, 16 / 255, 6, 6, 1.0, 0.9, old_order=True, directions=old)
    assert len(atk.directions) == len(new) == 6
    for t, (d, r) in enumerate(zip(atk.directions, new, strict=True)):
        assert torch.equal(d, r), f"outer step {t}: the tuned direction is not Σ(m/K) + μ1·g"
    # the first outer step starts from the same x_0 and g_0 in both orders: only the accumulation differs
    assert not torch.equal(atk.directions[0], old[0])
    assert (atk.directions[0] != old[0]).sum() > 0.01 * x.numel()  # not one stray bit: K=6 rounds apart


def ref_vdta(net, x0, y, eps, T, K, N, beta, mu1=1.0, mu2=0.8):
    """VDTA as in the authors' VDTA.py (global RNG: randn_like(x).uniform_ per neighbour)."""
    alpha = eps / T
    adv, g, v = x0.clone(), torch.zeros_like(x0), torch.zeros_like(x0)
    for _ in range(T):
        m, vk, xk, acc = g.clone(), v.clone(), adv.clone(), torch.zeros_like(x0)
        for i in range(K):
            grad = ref_grad(net, xk + mu1 * alpha * m, y, y, False)
            m = norm(grad + vk) + m * mu2
            acc += m / K
            gv = torch.zeros_like(x0)
            for _j in range(N):
                gv += ref_grad(net, xk + torch.randn_like(x0).uniform_(-eps * beta, eps * beta), y, y, False)
            vk = gv / N - grad
            if i == 0:
                v = vk.clone()
            xk = clip(xk + alpha * m.sign() / K, x0, eps)
        g = acc + g * mu1
        adv = clip(adv + alpha * g.sign(), x0, eps)
    return adv


def test_vdta_equals_authors_order(net, batch):
    x, y = batch
    torch.manual_seed(9)
    ours = get_attack("vdta", net, eps=16 / 255, steps=3, inner_steps=3, n_samples=2)(x, y)
    torch.manual_seed(9)
    assert torch.equal(ours, ref_vdta(net, x, y, 16 / 255, 3, 3, 2, 1.5))


def test_multistep_alpha_checks_and_reaches_every_attack(net, batch):
    x, y = batch
    with pytest.raises(LtError, match="one factor per step"):
        get_attack("mifgsm", net, steps=3, multistep_alpha=[1, 1])
    a = get_attack("ifgsm", net, eps=16 / 255, steps=3, multistep_alpha=[1, 1, 1])(x, y)
    b = get_attack("ifgsm", net, eps=16 / 255, steps=3)(x, y)
    c = get_attack("ifgsm", net, eps=16 / 255, steps=3, multistep_alpha=[2, 0.5, 0.5])(x, y)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_resolved_options(net):
    opts = get_attack("dta", net, eps=16 / 255).resolved_options()
    assert opts["inner_steps"] == 10 and opts["decay"] == 1.0 and opts["inner_decay"] == 0.0
    assert opts["alpha"] == pytest.approx(1.6 / 255) and opts["steps"] == 10 and opts["ti"] is False
    assert get_attack("vdta", net).resolved_options()["n_samples"] == 20


# ----------------------------------------------------------------------------- ensembles
def test_ensemble_averages_logits_and_attacks_like_the_mean(batch):
    from toolkit.attacks.ensemble import Ensemble

    x, y = batch
    a, b = Net(seed=1).eval(), Net(seed=2).eval()
    ens = Ensemble([a, b], ["a", "b"])

    class Mean(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = a, b

        def forward(self, v):
            return torch.stack([self.a(v), self.b(v)]).mean(0)

    with torch.no_grad():
        assert torch.allclose(ens(x), (a(x) + b(x)) / 2, atol=1e-6)
    adv1 = get_attack("dta", ens, eps=16 / 255, steps=3, inner_steps=2)(x, y)
    adv2 = get_attack("dta", Mean(), eps=16 / 255, steps=3, inner_steps=2)(x, y)
    assert torch.equal(adv1, adv2)
    atk = get_attack("mifgsm", ens, steps=2, np_rate=0.2)
    atk(x, y)
    assert atk.grad_calls == 2 * 3  # one input gradient + one NP mask per member, per step


def test_ensemble_member_with_other_class_count(batch):
    from toolkit.attacks.ensemble import Ensemble

    x, y = batch
    ens = Ensemble([Net(10), Net(5)], ["ten", "five"])
    with pytest.raises(LtError, match="different numbers of classes.*'five' 5"):
        get_attack("mifgsm", ens, steps=1)(x, y % 5)


# ----------------------------------------------------------------------------- DI/TI/SI with DTA; SI-NI
def test_dta_with_di_ti_reduces_to_torchattacks_tifgsm(net, batch):
    import torchattacks

    x, y = batch
    torch.manual_seed(4)
    a = get_attack("dta", net, eps=8 / 255, alpha=2 / 255, steps=4, inner_steps=1, inner_decay=0.0, decay=0.0,
                   diversity_prob=0.5, ti=True, len_kernel=5)(x, y)
    torch.manual_seed(4)
    b = torchattacks.TIFGSM(net, eps=8 / 255, alpha=2 / 255, steps=4, decay=0.0, len_kernel=5)(x, y)
    assert (a - b).abs().max().item() <= 1e-6


def test_sinifgsm_and_dta_si_match_torchattacks(net, batch):
    import torchattacks

    x, y = batch
    b = torchattacks.SINIFGSM(net, eps=8 / 255, alpha=2 / 255, steps=4, m=3)(x, y)
    a = get_attack("sinifgsm", net, eps=8 / 255, alpha=2 / 255, steps=4, n_scales=3)(x, y)
    c = get_attack("dta", net, eps=8 / 255, alpha=2 / 255, steps=4, inner_steps=1, n_scales=3)(x, y)
    assert (a - b).abs().max().item() <= 1e-6 and torch.equal(a, c)


def test_transforms_compose_with_dta_and_vdta(net, batch):
    x, y = batch
    base = get_attack("vdta", net, steps=2, inner_steps=2, n_samples=2, seed=1)
    plain = base(x, y)
    combo = get_attack("vdta", net, steps=2, inner_steps=2, n_samples=2, seed=1, diversity_prob=1.0, ti=True,
                       len_kernel=3, n_scales=2)
    out = combo(x, y)
    assert not torch.equal(out, plain) and (out - x).abs().max() <= 16 / 255 + 1e-7  # the default eps
    assert combo.grad_calls == 2 * 2 * 2 * (1 + 2)  # every gradient (inner + neighbours) over 2 SI copies
    with pytest.raises(LtError, match="--len-kernel: not used without --ti"):
        get_attack("dta", net, len_kernel=5)
    with pytest.raises(LtError, match="does not use"):
        get_attack("mifgsm", net, ti=True)


def test_parse_fraction_with_decimals():
    from toolkit.engine.errors import LtError
    from toolkit.engine.options import parse_fraction

    assert parse_fraction("1.6/255", "--eps") == 1.6 / 255 and parse_fraction("0.5/255", "--eps") == 0.5 / 255
    assert parse_fraction("16/255", "--eps") == 16 / 255 and parse_fraction("0.03", "--eps") == 0.03
    for bad in ("a/b", "1/0", "1/2/3", ""):
        with pytest.raises(LtError, match="--eps must be a number or a fraction"):
            parse_fraction(bad, "--eps")

