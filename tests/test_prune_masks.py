"""Baseline allocations against their formulas, exact mask counts, torch.nn.utils.prune round trip."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn.utils import prune as tprune

from toolkit.engine.errors import LtError
from toolkit.prune import get_method, list_methods
from toolkit.prune.baselines import erk_densities
from toolkit.prune.masks import apply_counts, attach_masks, current_zero_counts, fold_masks, keep_mask, prunable_layers


def hand_model() -> nn.Module:
    """conv(1->2, 2x2) = 8 weights, conv(2->2, 1x1) = 4 weights, linear(2->3) = 6 weights, known values."""
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(1, 2, 2), nn.ReLU(), nn.Conv2d(2, 2, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                      nn.BatchNorm1d(2), nn.Linear(2, 3))
    with torch.no_grad():
        m[0].weight.copy_(torch.tensor([0.1, -0.9, 0.3, 0.05, 0.7, -0.2, 0.4, 0.6]).view(2, 1, 2, 2))
        m[2].weight.copy_(torch.tensor([1.0, -0.01, 0.02, 0.5]).view(2, 2, 1, 1))
        m[6].weight.copy_(torch.tensor([0.15, -0.25, 0.35, 0.8, -0.04, 0.12]).view(3, 2))
    return m


def _weights(m):
    return [ly.weight.detach() for ly in prunable_layers(m)]


def test_prunable_layers_are_conv_and_linear_only():
    layers = prunable_layers(hand_model())
    assert [ly.name for ly in layers] == ["0", "2", "6"]
    assert [ly.size for ly in layers] == [8, 4, 6]
    with pytest.raises(LtError, match="no prunable layers"):
        prunable_layers(nn.Sequential(nn.ReLU(), nn.BatchNorm1d(3)))


def test_uniform_formula():
    counts = get_method("uniform")(_weights(hand_model()), 0.5)
    assert counts == [4, 2, 3]
    assert get_method("uniform")(_weights(hand_model()), 0.3) == [math.floor(0.3 * n) for n in (8, 4, 6)]


def test_global_magnitude_formula():
    ws = _weights(hand_model())
    allw = sorted((abs(float(v)), l) for l, w in enumerate(ws) for v in w.flatten())
    k = math.floor(0.5 * 18)
    want = [sum(1 for _, l in allw[:k] if l == i) for i in range(3)]
    assert get_method("global")(ws, 0.5) == want == [3, 2, 4]


def test_lamp_formula():
    ws = _weights(hand_model())
    scores = []
    for l, w in enumerate(ws):
        sq = sorted(float(v) ** 2 for v in w.flatten())
        for u in range(len(sq)):
            scores.append((sq[u] / sum(sq[u:]), l))
    scores.sort()
    k = math.floor(0.5 * 18)
    want = [sum(1 for _, l in scores[:k] if l == i) for i in range(3)]
    assert get_method("lamp")(ws, 0.5) == want


def test_erk_formula():
    shapes = [(2, 1, 2, 2), (2, 2, 1, 1), (3, 2)]
    sizes = [8, 4, 6]
    raw = [sum(s) / math.prod(s) for s in shapes]
    ratio = 0.3
    dens = erk_densities(shapes, ratio)
    # layers over density 1 are dense; the rest share one eps with total density 1 - T
    free = [i for i in range(3) if dens[i] < 1.0]
    eps = ((1 - ratio) * 18 - sum(sizes[i] for i in range(3) if dens[i] == 1.0)) / sum(raw[i] * sizes[i] for i in free)
    for i in free:
        assert dens[i] == pytest.approx(eps * raw[i])
    assert sum(d * n for d, n in zip(dens, sizes, strict=True)) == pytest.approx((1 - ratio) * 18)
    counts = get_method("erk")(_weights(hand_model()), ratio)
    assert counts == [math.floor((1 - d) * n) for d, n in zip(dens, sizes, strict=True)]


def test_uniform_plus_formula():
    ws = _weights(hand_model())
    counts = get_method("uniform-plus")(ws, 0.45, kinds=["conv", "conv", "linear"])
    assert counts[0] == 0  # first conv dense
    r = 0.45 * 18 / (4 + 6)  # 0.81 > 0.8: classifier capped at 80 %, the middle layer takes the rest
    assert r > 0.8
    assert counts[2] == math.floor(0.8 * 6)
    assert counts[1] == math.floor((0.45 * 18 - 0.8 * 6) / 4 * 4)
    assert get_method("uniform-plus")(ws, 0.4, kinds=["conv", "conv", "linear"]) == [0, 2, 4]
    with pytest.raises(LtError, match="uniform-plus cannot reach"):
        get_method("uniform-plus")(ws, 0.6, kinds=["conv", "conv", "linear"])


@pytest.mark.parametrize("method", list_methods())
def test_every_method_reaches_the_target(method):
    torch.manual_seed(1)
    ws = [torch.randn(64, 32, 3, 3), torch.randn(128, 64, 3, 3), torch.randn(10, 128)]
    sizes = np.array([w.numel() for w in ws])
    curves = np.maximum.accumulate(np.random.default_rng(0).random((3, 101)), axis=1)
    curves[:, 0] = 0
    counts = get_method(method)(ws, 0.7, curves=curves, kinds=["conv", "conv", "linear"])
    assert all(0 <= c <= n for c, n in zip(counts, sizes, strict=True))
    achieved = sum(counts) / sizes.sum()
    assert 0.7 - 3 / sizes.sum() <= achieved <= 0.7 + 0.01 + 1e-9


def test_unknown_method_lists_valid():
    with pytest.raises(LtError, match="valid: .*lamp"):
        get_method("lampp")


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 300), frac=st.floats(0, 1), seed=st.integers(0, 1000))
def test_keep_mask_zeroes_exactly_floor_phi_n(n, frac, seed):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(n, generator=g)
    w[torch.rand(n, generator=g) < 0.2] = 0.5  # ties
    c = math.floor(frac * n)
    m = keep_mask(w, c)
    assert int((~m).sum()) == c
    if 0 < c < n:
        assert w[~m].abs().max() <= w[m].abs().min()


def test_apply_counts_and_prune_round_trip():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 5))
    fresh = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 5))
    fresh.load_state_dict(model.state_dict())
    layers = prunable_layers(model)
    counts = [100, 1234]
    masks = apply_counts(layers, counts)
    assert current_zero_counts(layers) == counts
    assert set(masks) == {"0.weight_mask", "3.weight_mask"}
    # re-apply through torch.nn.utils.prune on an unpruned copy: same weights, same state-dict masks
    attach_masks(fresh, masks)
    assert all(tprune.is_pruned(m) for m in (fresh[0], fresh[3]))
    sd = fresh.state_dict()
    for key, mask in masks.items():
        assert torch.equal(sd[key], mask)
    x = torch.rand(2, 3, 8, 8)
    assert torch.allclose(fresh(x), model(x))
    fold_masks(fresh)
    assert not any(tprune.is_pruned(m) for m in fresh.modules())
    assert set(fresh.state_dict()) == set(model.state_dict())
    for k, v in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[k], v)
