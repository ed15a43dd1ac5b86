"""The real Fashion-MNIST release (Debian's dataset-fashion-mnist, /usr/share/datasets/fashion-mnist):
counts, labels, one batch. Skipped, saying why, where the package is not installed (.ci/install-data)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

RELEASE = Path("/usr/share/datasets/fashion-mnist")
pytestmark = pytest.mark.skipif(not (RELEASE / "train-images-idx3-ubyte.gz").is_file(),
                                reason=f"Fashion-MNIST not installed in {RELEASE} "
                                       f"(sudo apt-get install dataset-fashion-mnist)")


def test_real_release_counts_labels_and_one_batch(monkeypatch):
    from toolkit.data import get_dataset
    from toolkit.engine.loop import make_loader

    monkeypatch.delenv("LT_DATA_DIR", raising=False)
    b = get_dataset("fashion-mnist-lt", root=str(RELEASE), imbalance=100)
    assert b.info["release"] == "official" and len(b.test) == 10000
    assert b.train_counts == [6000, 3596, 2156, 1292, 774, 464, 278, 166, 100, 60]
    assert sorted(set(b.test.targets)) == list(range(10)) and b.test.targets.count(9) == 1000
    x, y = next(iter(make_loader(b.test, 64, train=False)))
    assert x.shape == (64, 3, 28, 28) and x.dtype == torch.float32 and 0 <= float(x.min()) <= float(x.max()) <= 1
    assert int(y[0]) == 9 and float(x.mean()) > 0.1  # the release's first test image is an ankle boot
