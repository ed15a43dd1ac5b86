"""Long-tailed baseline losses and recipes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from toolkit.engine.errors import LtError
from toolkit.longtail.losses import LOSSES, LogitLoss, effective_number_weights, get_loss
from toolkit.longtail.recipes import RECIPES, get_recipe

COUNTS = [100, 40, 10, 3]


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(16, 4, generator=g), torch.randint(0, 4, (16,), generator=g)


LOGIT_LOSSES = [n for n in LOSSES.names() if issubclass(LOSSES.get(n), LogitLoss)]


@pytest.mark.parametrize("name", LOGIT_LOSSES)
def test_every_logit_loss_is_finite_and_differentiable(name):
    z, y = _batch()
    z.requires_grad_(True)
    loss = get_loss(name, COUNTS, epochs=10).criterion(z, y, epoch=9)
    loss.backward()
    assert torch.isfinite(loss) and z.grad is not None and torch.isfinite(z.grad).all()


def test_balanced_softmax_is_ce_of_prior_shifted_logits():
    z, y = _batch(1)
    got = get_loss("balanced-softmax", COUNTS, 1).criterion(z, y, 0)
    assert torch.allclose(got, F.cross_entropy(z + torch.tensor(COUNTS, dtype=torch.float).log(), y))
    assert torch.equal(get_loss("ce", COUNTS, 1).criterion(z, y, 0), F.cross_entropy(z, y))


def test_ldam_margins_and_deferred_weights():
    obj = get_loss("ldam-drw", COUNTS, epochs=10)
    m = torch.tensor(COUNTS, dtype=torch.float).pow(-0.25)
    assert torch.allclose(obj.margins, m * 0.5 / m.max()) and obj.margins.max() == pytest.approx(0.5)
    assert obj.drw_start == 8
    z, y = _batch(2)
    shifted = 30 * (z - F.one_hot(y, 4) * obj.margins[y][:, None])
    assert torch.allclose(obj.criterion(z, y, 0), F.cross_entropy(shifted, y))
    w = effective_number_weights(torch.tensor(COUNTS, dtype=torch.float), 0.9999)
    assert torch.allclose(obj.criterion(z, y, 8), F.cross_entropy(shifted, y, weight=w))
    beta = 0.9999
    raw = torch.tensor([(1 - beta) / (1 - beta ** n) for n in COUNTS], dtype=torch.float64)
    assert torch.allclose(w.double(), raw / raw.sum() * 4, rtol=1e-5)


def test_loss_option_errors():
    with pytest.raises(LtError, match="unknown loss"):
        get_loss("focal-ish", COUNTS, 1)
    with pytest.raises(LtError, match="does not take option"):
        get_loss("ce", COUNTS, 1, scale=3.0)
    with pytest.raises(LtError, match="at least one training sample"):
        get_loss("balanced-softmax", [3, 0], 1)


def test_logit_losses_registered():
    assert {"ce", "balanced-softmax", "ldam-drw"} <= set(LOGIT_LOSSES)


def test_recipes_follow_the_spec():
    c = RECIPES["cifar-lt"]
    assert ((c.model, c.epochs, c.batch_size, c.lr, c.weight_decay, c.warmup_epochs)
            == ("resnet32", 200, 128, 0.1, 2e-4, 5))
    assert c.milestones == (160, 180) and c.lr_factors == (0.01, 1e-4)
    i = get_recipe(None, "imagenet-lt")
    assert ((i.model, i.epochs, i.batch_size, i.lr, i.scheduler, i.weight_decay)
            == ("resnext50_32x4d", 90, 512, 0.2, "cosine", 5e-4))
    assert get_recipe(None, "places-lt").requires_weights
    with pytest.raises(LtError, match="unknown recipe"):
        get_recipe("cifar", "digits-lt")
    assert c.override(epochs=3, lr=None).epochs == 3
