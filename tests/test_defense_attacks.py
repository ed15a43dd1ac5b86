"""The evaluator's own attacks against torchattacks 3.5.1, at eps where nothing saturates; best iterate."""

from __future__ import annotations

import pytest
import torch
import torchattacks
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from toolkit.defense.whitebox import APGD, PGD, Square, apgd_checkpoints, example_loss, margin
from toolkit.models import get_model, load_model

EPS = 16 / 255  # the fixture's model keeps 55-75 % accuracy here under every attack below (none saturates)


@pytest.fixture(scope="module")
def ce(tmp_path_factory):
    """A digits MLP (3 epochs) and its first 64 test images."""
    from toolkit.data import get_dataset
    from toolkit.engine.loop import TrainConfig, fit

    root = tmp_path_factory.mktemp("atk")
    bundle = get_dataset("digits", augment=False)
    torch.manual_seed(0)
    fit(get_model("mlp", num_classes=10, hidden=64), bundle.train, bundle.val,
        cfg=TrainConfig(epochs=3, batch_size=64, lr=0.05), device=torch.device("cpu"), out_dir=root / "ce")
    xs, ys = zip(*[bundle.test[i] for i in range(64)], strict=True)
    return load_model(str(root / "ce" / "best.pt"), num_classes=10), torch.stack(xs), torch.tensor(ys)


def _acc(model, x, y, draws: int = 1) -> float:
    with torch.no_grad():
        return sum(float((model(x).argmax(1) == y).float().mean()) for _ in range(draws)) / draws


def _unsaturated(*accs: float) -> None:
    assert all(0.2 <= a <= 0.8 for a in accs), accs


def test_square_matches_torchattacks_square(ce):
    model, x, y = ce
    ours, ref = (_acc(model, Square(model, EPS, 200, seed=0)(x, y), y),
                 _acc(model, torchattacks.Square(model, eps=EPS, n_queries=200, seed=0)(x, y), y))
    _unsaturated(ours, ref)
    assert abs(ours - ref) <= 0.08, (ours, ref)


class NoisyMLP(nn.Module):
    """A model random in eval mode (dropout always on): EOT matters."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x):
        return nn.functional.dropout(self.net(x), 0.3, training=True)


def test_eot_pgd_matches_torchattacks_eotpgd_on_a_random_model(ce):
    model, x, y = ce
    noisy = NoisyMLP(model)
    torch.manual_seed(1)
    ours = _acc(noisy, PGD(noisy, EPS, 10, eot=4, seed=0)(x, y), y, draws=8)
    torch.manual_seed(1)
    ref = _acc(noisy, torchattacks.EOTPGD(noisy, eps=EPS, alpha=2.5 * EPS / 10, steps=10, eot_iter=4)(x, y), y, draws=8)
    _unsaturated(ours, ref)
    assert abs(ours - ref) <= 0.08, (ours, ref)


def test_apgd_matches_torchattacks_apgd_and_apgdt(ce):
    model, x, y = ce
    pairs = [(APGD(model, EPS, 20, seed=0), torchattacks.APGD(model, eps=EPS, steps=20, seed=0)),
             (APGD(model, EPS, 20, targets=9, seed=0),
              torchattacks.APGDT(model, eps=EPS, steps=20, n_classes=10, seed=0))]
    for ours, ref in pairs:
        a, b = _acc(model, ours(x, y), y), _acc(model, ref(x, y), y)
        _unsaturated(a, b)
        assert abs(a - b) <= 0.05, (type(ref).__name__, a, b)


def test_apgd_checkpoints_are_the_papers():
    # p = 0, 0.22, 0.41, 0.57, 0.70, 0.80, 0.87, 0.93, 0.99 (Croce & Hein 2020, Sec. 3.2)
    assert apgd_checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]
    assert apgd_checkpoints(10) == [3, 5, 6, 7, 8, 9, 10]


class Recorder(nn.Module):
    """Records every batch it is fed (the attack's iterates, in order)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net, self.seen = net, []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return self.net(x)


@pytest.mark.parametrize("make", [lambda m: PGD(m, EPS, 6, alpha=EPS, seed=0),  # alpha = eps: it oscillates
                                  lambda m: APGD(m, EPS, 12, seed=0)])
def test_attacks_return_the_best_iterate_not_the_last(ce, make):
    model, x, y = ce
    rec = Recorder(model)
    adv = make(rec)(x, y)
    iterates = torch.stack(rec.seen[1:])  # [start, x1, ..., xT]: the start is not a candidate
    with torch.no_grad():
        m = torch.stack([margin(model(it), y) for it in iterates])
    best = m.argmin(0)
    assert torch.equal(adv, iterates[best, torch.arange(len(y))])
    assert (best != len(iterates) - 1).any()  # somewhere the last iterate is not the best
    with torch.no_grad():
        assert (margin(model(adv), y) <= margin(model(iterates[-1]), y)).all()


def test_dlr_losses_are_scale_invariant_and_targeted_one_uses_the_target():
    torch.manual_seed(0)
    z, y, t = torch.randn(8, 6), torch.randint(0, 6, (8,)), torch.randint(0, 6, (8,))
    for target in (None, t):
        assert torch.allclose(example_loss(z, y, "dlr", target), example_loss(7 * z + 3, y, "dlr", target), atol=1e-5)
    # by hand: sorted 3, 2, 1, 0.5, ...: -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2) = -(1 - 2) / (3 - 0.75)
    z1 = torch.tensor([[3.0, 1.0, 2.0, 0.0, -1.0, 0.5]])
    assert example_loss(z1, torch.tensor([1]), "dlr", torch.tensor([2])).item() == pytest.approx(1 / 2.25)
    assert example_loss(z1, torch.tensor([1]), "dlr").item() == pytest.approx(-(1 - 3) / (3 - 1))


@settings(max_examples=10, deadline=None)
@given(st.floats(min_value=1 / 255, max_value=1.0), st.integers(min_value=0, max_value=1000))
def test_attacks_never_leave_the_ball_or_unit_box(eps, seed):
    torch.manual_seed(seed)
    model = get_model("mlp", num_classes=3, in_features=3 * 6 * 6, hidden=8)
    x, y = torch.rand(4, 3, 6, 6), torch.randint(0, 3, (4,))
    for atk in (Square(model, eps, 15, seed=seed), PGD(model, eps, 3, seed=seed),
                APGD(model, eps, 5, targets=2, seed=seed)):
        adv = atk(x, y)
        assert (adv - x).abs().max() <= eps + 1e-6 and adv.min() >= 0 and adv.max() <= 1
