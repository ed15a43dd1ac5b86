"""Rate-distortion curves: fast == plain, d_l(0) = 0, current masks respected, cache fingerprints."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from toolkit.models import get_model
from toolkit.prune.cache import cache_file, get_curves
from toolkit.prune.calib import build_calibration, noise_images
from toolkit.prune.curves import SplitNet, fast_curves, plain_curves
from toolkit.prune.masks import apply_counts, prunable_layers


def _xs(model, n=16, size=32, batch=8, seed=0):
    return list(torch.split(noise_images(model, n, size, seed), batch))


class SharedAndSized(nn.Module):
    """A conv used twice (shared weights) and a ``view(x.size(0), -1)`` (a traced batch-size int)."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, padding=1)
        self.shared = nn.Conv2d(4, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, 5)

    def forward(self, x):
        h = torch.relu(self.a(x))
        h = torch.relu(self.shared(torch.relu(self.shared(h))))
        return self.fc(h.view(h.size(0), -1))


class Untraceable(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        h = self.a(x)
        if h.sum() > 0:  # data-dependent control flow: fx cannot trace it
            h = h * 2
        return self.fc(h.mean((2, 3)))


@pytest.mark.parametrize("name", ["smallcnn", "resnet20", "resnet18"])
def test_fast_curves_equal_plain(name):
    torch.manual_seed(0)
    model = get_model(name, num_classes=10).eval()
    layers = prunable_layers(model)
    if name == "resnet18":  # the small layers (all downsample convs and fc included) keep the test quick
        layers = [ly for ly in layers if ly.size <= 150_000]
        assert sum("downsample" in ly.name for ly in layers) == 3
    grid = 3 if name == "resnet18" else 5
    xs = _xs(model, n=4 if name == "resnet18" else 8, batch=4)
    plain = plain_curves(model, layers, xs, grid)
    fast = fast_curves(model, layers, xs, grid)
    assert (plain[:, 0] == 0).all() and (fast[:, 0] == 0).all()  # d_l(0) = 0 exactly
    np.testing.assert_allclose(fast, plain, rtol=2e-4, atol=1e-9)
    assert (plain[:, -1] > 0).all()


def test_fast_equals_plain_worst_case_and_with_current_masks():
    torch.manual_seed(1)
    model = get_model("smallcnn", num_classes=10, width=8).eval()
    layers = prunable_layers(model)
    apply_counts(layers, [ly.size // 3 for ly in layers])
    xs = _xs(model)
    plain = plain_curves(model, layers, xs, 6, worst_case=True)
    fast = fast_curves(model, layers, xs, 6, worst_case=True)
    np.testing.assert_allclose(fast, plain, rtol=2e-4, atol=1e-9)
    assert (plain[:, :3] == 0).all()  # grid points at or below the current third change nothing
    mean = plain_curves(model, layers, xs, 6, worst_case=False)
    assert (plain >= mean - 1e-12).all() and (plain[:, -1] > mean[:, -1]).any()


def test_shared_modules_and_traced_sizes_fall_back_exactly():
    torch.manual_seed(2)
    model = SharedAndSized().eval()
    split = SplitNet(model)
    assert "shared" not in split.index and "a" in split.index  # called twice: plain loop for that layer
    layers = prunable_layers(model)
    xs = list(torch.split(torch.rand(12, 3, 8, 8), 6))
    np.testing.assert_allclose(fast_curves(model, layers, xs, 5), plain_curves(model, layers, xs, 5),
                               rtol=2e-4, atol=1e-9)


def test_untraceable_model_warns_and_uses_plain(capsys):
    torch.manual_seed(3)
    model = Untraceable().eval()
    layers = prunable_layers(model)
    xs = [torch.rand(4, 3, 6, 6)]
    fast = fast_curves(model, layers, xs, 4)
    assert "plain loop" in capsys.readouterr().err
    np.testing.assert_array_equal(fast, plain_curves(model, layers, xs, 4))


def test_curves_cache_reused_and_foreign_cache_recomputed(tmp_path, capsys):
    torch.manual_seed(4)
    a = get_model("smallcnn", num_classes=10, width=8).eval()
    b = get_model("smallcnn", num_classes=10, width=8).eval()  # same arch, other weights
    calib = build_calibration(a, None, 8, 8, seed=0)
    xs = calib.batches()
    kw = dict(calib_spec=calib.spec, grid=4, worst_case=False, cache_dir=tmp_path)
    ca, secs, src, fpa = get_curves(a, prunable_layers(a), xs, **kw)
    assert src == "measured" and secs > 0
    again, secs2, src2, _ = get_curves(a, prunable_layers(a), xs, **kw)
    assert src2 == "cache" and secs2 == 0 and np.array_equal(again, ca)
    files = list(tmp_path.iterdir())
    assert len(files) == 1  # b maps to the same file name: only the fingerprint tells them apart
    cb, _, src_b, fpb = get_curves(b, prunable_layers(b), xs, **kw)
    assert "different model" in capsys.readouterr().err
    assert src_b == "measured" and fpb != fpa and not np.allclose(cb, ca)
    np.testing.assert_allclose(cb, plain_curves(b, prunable_layers(b), xs, 4), rtol=2e-4, atol=1e-9)
    assert torch.load(files[0], weights_only=True)["fingerprint"] == fpb  # overwritten, not reused
    assert cache_file(tmp_path, "smallcnn", {"x": 1}) != cache_file(tmp_path, "smallcnn", {"x": 2})


def test_noise_calibration_is_standard_normal_in_normalised_space():
    model = get_model("resnet20", num_classes=10)
    x = noise_images(model, 64, 32, seed=0)
    z = model.normalize(x)
    assert abs(float(z.mean())) < 0.02 and abs(float(z.std()) - 1) < 0.02
    assert torch.equal(x, noise_images(model, 64, 32, seed=0))
