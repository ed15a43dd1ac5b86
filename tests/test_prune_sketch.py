"""--curves sketch (our extension): near measured curves, anchors, fallbacks, refusals, plan/ETA/hint, memory."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from torch import nn

from toolkit.engine.errors import LtError
from toolkit.models import get_model
from toolkit.prune import curves as curves_mod
from toolkit.prune.budget import hint, plan_line
from toolkit.prune.cache import get_curves
from toolkit.prune.calib import noise_images
from toolkit.prune.curves import measure_curves, pass_images
from toolkit.prune.masks import prunable_layers
from toolkit.prune.options import PruneOptions
from toolkit.prune.sketch import anchor_points, sketch_curves


def _xs(model, n=16, size=32, batch=8, seed=0):
    return list(torch.split(noise_images(model, n, size, seed), batch))


class Linear2(nn.Module):
    """Two linear layers, no nonlinearity: the linearised distortion is the distortion."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(12, 16)
        self.b = nn.Linear(16, 6)

    def forward(self, x):
        return self.b(self.a(x.flatten(1)))


class Rounded(nn.Module):
    """Layer ``q`` reaches the logits only through torch.round: a zero gradient, so it cannot be sketched."""

    def __init__(self):
        super().__init__()
        self.q = nn.Linear(12, 8)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(torch.round(self.q(x.flatten(1)) * 4))


class Frozen(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(12, 4)

    def forward(self, x):
        with torch.no_grad():
            return self.body(x.flatten(1))


class NoGradHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(12, 8)
        self.head = Frozen()

    def forward(self, x):
        return self.head(torch.relu(self.a(x.flatten(1))).repeat(1, 2)[:, :12].view(-1, 3, 2, 2))


def _flat_xs(n=32, batch=16):
    g = torch.Generator().manual_seed(0)
    return list(torch.split(torch.randn(n, 3, 2, 2, generator=g), batch))


def test_sketch_is_unbiased_on_a_linear_model():
    """Linear net: E[sketch] = measured exactly, so many draws land within sampling error (N D = 512 terms)."""
    torch.manual_seed(0)
    model = Linear2().eval()
    layers, xs = prunable_layers(model), _flat_xs()
    measured = measure_curves(model, layers, xs, 4)
    sketch = sketch_curves(model, layers, xs, 4, draws=16)
    np.testing.assert_allclose(sketch[:, 1:], measured[:, 1:], rtol=0.25)
    assert (sketch[:, 0] == 0).all()


def test_sketch_ranks_like_measured_on_a_cnn():
    torch.manual_seed(0)
    model = get_model("smallcnn", num_classes=10).eval()
    layers, xs = prunable_layers(model), _xs(model, n=32, batch=16)
    measured = measure_curves(model, layers, xs, 8)
    sketch = sketch_curves(model, layers, xs, 8, draws=1)
    assert spearmanr(measured.flatten(), sketch.flatten())[0] > 0.9


def test_anchors_equal_the_measured_points():
    torch.manual_seed(0)
    model = get_model("smallcnn", num_classes=10).eval()
    layers, xs = prunable_layers(model), _xs(model)
    measured = measure_curves(model, layers, xs, 8)
    corrected = sketch_curves(model, layers, xs, 8, draws=1, anchors=2)
    pts = anchor_points(8, 2)
    assert pts == [3, 5]
    np.testing.assert_allclose(corrected[:, pts], measured[:, pts], rtol=1e-6, atol=1e-12)


def test_a_layer_it_cannot_sketch_is_measured_and_named(capsys):
    torch.manual_seed(0)
    model = Rounded().eval()
    layers, xs = prunable_layers(model), _flat_xs()
    measured = measure_curves(model, layers, xs, 4)
    sketch = sketch_curves(model, layers, xs, 4)
    assert "cannot sketch layer 'q' (Linear)" in capsys.readouterr().err
    np.testing.assert_allclose(sketch[0], measured[0])  # the fallback: q measured
    assert not np.allclose(sketch[1], measured[1])  # fc is sketched


def test_a_non_differentiable_forward_names_the_module():
    model = NoGradHead().eval()
    with pytest.raises(LtError, match=r"module 'head.body' \(Linear\) returns a tensor without gradient"):
        sketch_curves(model, prunable_layers(model), _flat_xs(), 4)


@pytest.mark.parametrize("values, message", [
    ({"sketch_anchors": 11, "grid": 11}, "--sketch-anchors 11 is larger than the grid"),
    ({"curves": "measured", "sketch_anchors": 2}, "--sketch-anchors: not used with --curves measured"),
    ({"curves": "measured", "sketch_draws": 2}, "--sketch-draws: not used with --curves measured"),
    ({"worst_case": True}, "--worst-case: not used with --curves sketch"),
    ({"method": "lamp", "curves": "sketch"}, "^--curves: not used with --method lamp"),
])
def test_sketch_options_that_do_not_apply_are_refused(values, message):
    with pytest.raises(LtError, match=message):
        PruneOptions(model="resnet20", ratio=0.5, **values).validate()


def test_sketch_defaults_resolve_for_rd_only():
    rd = PruneOptions(model="resnet20", ratio=0.5).validate()
    assert (rd.curves, rd.sketch_draws, rd.sketch_anchors) == ("sketch", 1, 0)
    measured = PruneOptions(model="resnet20", ratio=0.5, curves="measured").validate()
    assert (measured.sketch_draws, measured.sketch_anchors) == (None, None)
    lamp = PruneOptions(model="resnet20", ratio=0.5, method="lamp").validate()
    assert (lamp.curves, lamp.sketch_draws) == (None, None)


def test_cli_refuses_anchors_beyond_the_grid(invoke, tmp_path):
    res = invoke("prune", "--ratio", "0.5", "smallcnn", "--grid", "4", "--sketch-anchors", "4", "--out", tmp_path / "p")
    assert res.exit_code == 2 and res.stderr.strip().splitlines() == [
        "Error: --sketch-anchors 4 is larger than the grid: --grid 4 has 3 interior points (1..K-1) to anchor at"]


def test_sketch_and_measured_caches_are_apart(tmp_path):
    torch.manual_seed(0)
    model = get_model("smallcnn", num_classes=10).eval()
    layers, xs = prunable_layers(model), _xs(model)
    kw = {"calib_spec": {"x": 1}, "grid": 4, "worst_case": False, "cache_dir": tmp_path}
    c1, _, src1, _ = get_curves(model, layers, xs, mode="sketch", draws=1, anchors=0, **kw)
    c2, _, src2, _ = get_curves(model, layers, xs, mode="measured", **kw)
    assert (src1, src2) == ("sketch", "measured") and not np.allclose(c1, c2)
    assert get_curves(model, layers, xs, mode="sketch", draws=1, anchors=0, **kw)[2] == "cache"


def test_plan_eta_and_hint_are_said(monkeypatch, capsys):
    from toolkit.engine.report import set_quiet

    set_quiet(False)
    monkeypatch.setattr(curves_mod, "LONG_S", 0)
    torch.manual_seed(0)
    model = get_model("smallcnn", num_classes=10).eval()
    layers, xs = prunable_layers(model), _xs(model)
    plan = plan_line("measured", [ly.size for ly in layers], [0] * len(layers), 4, 16, 8, pass_images=8)
    measure_curves(model, layers, xs, 4, plan=plan, hint=hint("measured", 4, 16), group_images=8)
    err = capsys.readouterr().err
    passes = 2 * sum(len({k * ly.size // 4 for k in range(1, 5)}) for ly in layers)
    assert f"plan measured, {len(layers)} layers x 5 grid points, 16 images (2 batches): {passes} suffix" in err
    assert "curves: first pass" in err and "ETA" in err
    assert "hint: this ETA exceeds 0 min on this device; --curves sketch" in err


def test_a_pass_carries_one_batch_at_224_px():
    big = [torch.zeros(64, 3, 224, 224)] * 4
    small = [torch.zeros(8, 3, 32, 32)] * 2
    assert pass_images(big) == 64 and pass_images(small) == 392


def test_a_warm_up_first_pass_revises_the_eta_and_gives_no_hint(monkeypatch, capsys):
    """A slow first pass (kernel set-up) must not trigger the 15-min hint when the second pass is fast."""
    import time

    from toolkit.engine.report import set_quiet

    set_quiet(False)
    monkeypatch.setattr(curves_mod, "LONG_S", 1.0)

    def steps():
        time.sleep(0.2)  # first pass: ETA 0.2 s x 20 = 4 s > LONG_S
        yield
        for _ in range(19):
            yield

    curves_mod._drain(steps(), 20, "curves", plan="curves: plan test", hint=lambda eta: "hint: too long")
    err = capsys.readouterr().err
    assert "first pass" in err and "(the first included warm-up)" in err and "hint:" not in err
