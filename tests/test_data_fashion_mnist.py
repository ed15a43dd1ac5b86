"""Fashion-MNIST / MNIST read as released (gzipped IDX in one folder) and torchvision's layout; bad input;
``fashion-mnist-lt``. Small synthetic IDX files (no network); the real release has its own test
(tests/test_data_fashion_real.py)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from toolkit.data import get_dataset
from toolkit.data import mnist as M
from toolkit.engine.errors import DataError, LtError


def idx_bytes(kind: str, array: np.ndarray, n: int | None = None) -> bytes:
    """An IDX file: magic 2051 (images N x 28 x 28) or 2049 (labels N); ``n`` overrides the declared count."""
    n = len(array) if n is None else n
    head = struct.pack(">IIII", 2051, n, 28, 28) if kind == "images" else struct.pack(">II", 2049, n)
    return head + array.astype(np.uint8).tobytes()


def write_release(root: Path, train_labels: np.ndarray, test_labels: np.ndarray, gz: bool = True,
                  folder: str | None = None) -> Path:
    """The four files in ``root`` (the release) or ``root/folder/raw`` (torchvision); images = label * 20."""
    d = root / folder / "raw" if folder else root
    d.mkdir(parents=True, exist_ok=True)
    for split, labels in (("train", train_labels), ("t10k", test_labels)):
        images = np.repeat(labels[:, None, None] * 20, 28 * 28, axis=1).reshape(-1, 28, 28)
        for kind, data, stem in (("images", images, f"{split}-images-idx3-ubyte"),
                                 ("labels", labels, f"{split}-labels-idx1-ubyte")):
            raw = idx_bytes(kind, data)
            if gz:
                (d / f"{stem}.gz").write_bytes(gzip.compress(raw))
            else:
                (d / stem).write_bytes(raw)
    return d


def small_labels(per_class: int) -> np.ndarray:
    return np.tile(np.arange(10), per_class)


@pytest.fixture(autouse=True)
def no_default_dirs(tmp_path, monkeypatch):
    """No system or $LT_DATA_DIR folder unless a test sets one."""
    monkeypatch.setattr(M, "SYSTEM_DIR", tmp_path / "system")
    monkeypatch.delenv("LT_DATA_DIR", raising=False)


@pytest.mark.parametrize("gz,folder", [(True, None), (False, None), (True, "FashionMNIST"), (False, "FashionMNIST")])
def test_release_and_torchvision_layouts(tmp_path, gz, folder):
    write_release(tmp_path / "d", small_labels(6), small_labels(2), gz=gz, folder=folder)
    b = get_dataset("fashion-mnist", root=str(tmp_path / "d"))
    assert len(b.train) == 60 and len(b.test) == 20 and b.input_shape == (3, 28, 28)
    x, y = b.train[13]
    assert y == 3 and x.shape == (3, 28, 28) and abs(float(x.max()) - 60 / 255) < 1e-6
    assert b.class_names[0] == "T-shirt/top" and b.info["release"] == "subset"


def test_default_search_order_and_where_it_read(tmp_path, monkeypatch, capsys):
    write_release(tmp_path / "system" / "fashion-mnist", small_labels(3), small_labels(1))
    assert get_dataset("fashion-mnist").info["root"] == str(tmp_path / "system" / "fashion-mnist")
    write_release(tmp_path / "mine" / "fashion-mnist", small_labels(4), small_labels(1))
    monkeypatch.setenv("LT_DATA_DIR", str(tmp_path / "mine"))
    b = get_dataset("fashion-mnist")
    assert len(b.train) == 40 and b.info["root"] == str(tmp_path / "mine" / "fashion-mnist")
    assert f"reading {tmp_path / 'mine' / 'fashion-mnist'}" in capsys.readouterr().err.replace("\n", "")


def test_absent_everywhere_names_the_search_and_the_package(tmp_path):
    with pytest.raises(DataError, match="searched .*system/fashion-mnist.*apt-get install dataset-fashion-mnist"):
        get_dataset("fashion-mnist")
    assert M.presence("fashion-mnist").startswith("absent")


def test_truncated_gz(tmp_path):
    d = write_release(tmp_path, small_labels(5), small_labels(1))
    path = d / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz' is (truncated|unreadable)"):
        get_dataset("fashion-mnist", root=str(tmp_path))


def test_truncated_payload_of_an_uncompressed_file(tmp_path):
    d = write_release(tmp_path, small_labels(5), small_labels(1), gz=False)
    path = d / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte' is truncated: the header declares 10 x 28 x 28"):
        get_dataset("fashion-mnist", root=str(tmp_path))


def test_wrong_magic_number(tmp_path):
    d = write_release(tmp_path, small_labels(5), small_labels(1))
    (d / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes("images", np.zeros((10, 28, 28)))))
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.gz' has IDX magic number 2051, expected 2049"):
        get_dataset("fashion-mnist", root=str(tmp_path))


def test_image_and_label_counts_differ(tmp_path):
    d = write_release(tmp_path, small_labels(5), small_labels(1))
    (d / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes("labels", small_labels(4))))
    with pytest.raises(DataError, match="holds 50 images but .*train-labels-idx1-ubyte.gz' holds 40 labels"):
        get_dataset("fashion-mnist", root=str(tmp_path))


def mnist_like(tmp_path) -> Path:
    """Label files with MNIST's official class counts (image files: headers only, never read that far)."""
    d = tmp_path / "mnist"
    d.mkdir()
    for split, counts in zip(("train", "t10k"), M.KNOWN_COUNTS["mnist"], strict=True):
        labels = np.repeat(np.arange(10), counts)
        (d / f"{split}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes("labels", labels)))
        (d / f"{split}-images-idx3-ubyte.gz").write_bytes(
            gzip.compress(idx_bytes("images", np.zeros((0, 28, 28)), n=len(labels))))
    return d


@pytest.mark.parametrize("name", ["fashion-mnist-lt", "fashion-mnist"])
def test_fashion_pointing_at_mnist_names_what_was_found(tmp_path, name):
    d = mnist_like(tmp_path)
    with pytest.raises(DataError, match="holds MNIST's training labels .*5923, 6742.*points at MNIST, not "
                                        "Fashion-MNIST"):
        get_dataset(name, root=str(d))


def test_mnist_pointing_at_fashion_is_refused_too(tmp_path):
    d = tmp_path / "f"
    d.mkdir()
    labels = np.repeat(np.arange(10), 6000)
    (d / "train-labels-idx1-ubyte").write_bytes(idx_bytes("labels", labels))
    (d / "train-images-idx3-ubyte").write_bytes(idx_bytes("images", np.zeros((0, 28, 28)), n=60000))
    (d / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes("labels", small_labels(1)))
    (d / "t10k-images-idx3-ubyte").write_bytes(idx_bytes("images", np.zeros((10, 28, 28))))
    with pytest.raises(DataError, match="holds Fashion-MNIST's training labels"):
        get_dataset("mnist", root=str(d))


def test_fashion_mnist_lt_profile_and_balanced_test(tmp_path):
    write_release(tmp_path, small_labels(50), small_labels(4))
    b = get_dataset("fashion-mnist-lt", root=str(tmp_path), imbalance=10)
    assert b.train_counts == [50, 38, 29, 23, 17, 13, 10, 8, 6, 5]
    assert M.KNOWN_COUNTS["fashion-mnist"][0][0] == 6000
    assert b.test.targets.count(9) == 4 and len(b.test) == 40 and b.info["n_max"] == 50
    again = get_dataset("fashion-mnist-lt", root=str(tmp_path), imbalance=10)
    assert again.train.labels.tolist() == b.train.labels.tolist()


def test_profile_at_paper_scale_is_6000_to_60():
    from toolkit.data.longtail import exp_profile

    counts = exp_profile(6000, 10, 100)
    assert counts[0] == 6000 and counts[-1] == 60 and sum(counts) == 14886


def test_imbalance_below_one_refused_before_reading(tmp_path):
    with pytest.raises(LtError, match="imbalance must be >= 1"):
        get_dataset("fashion-mnist-lt", root=str(tmp_path), imbalance=0.5)


def test_cli_imbalance_below_one(invoke, tmp_path):
    from conftest import assert_user_error

    assert_user_error(invoke("train", "ce", "--dataset", "fashion-mnist-lt", "--imbalance", "0.5", "--epochs", "1",
                             "--out", str(tmp_path / "r")), "--imbalance must be >= 1")


def test_lt_datasets_says_present(invoke, tmp_path):
    write_release(tmp_path / "system" / "fashion-mnist", small_labels(1), small_labels(1))
    out = invoke("datasets", "fashion", "--format", "csv").stdout
    assert f"present: {tmp_path / 'system' / 'fashion-mnist'}" in out and "fashion-mnist-lt" in out
