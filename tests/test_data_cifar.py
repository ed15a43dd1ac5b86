"""CIFAR-LT / CIFAR / MNIST loaders on tiny fixtures in torchvision's exact on-disk formats."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from toolkit.data import get_dataset
from toolkit.data.longtail import exp_profile, shot_groups
from toolkit.engine.errors import DataError, LtError

TRAIN_PER_CLASS = {10: 20, 100: 4}
TEST_PER_CLASS = 3


def _images(labels: list[int], offset: int) -> np.ndarray:
    """CIFAR rows (N, 3072) uint8; pixel 0..1 encode a unique image id so draws can be traced."""
    rng = np.random.default_rng(offset)
    data = rng.integers(0, 256, size=(len(labels), 3072), dtype=np.uint8)
    ids = np.arange(offset, offset + len(labels))
    data[:, 0], data[:, 1] = ids // 256, ids % 256
    return data


def _dump(path: Path, obj: dict) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def write_cifar10(root: Path, per_class: int = TRAIN_PER_CLASS[10]) -> None:
    """``cifar-10-batches-py``: data_batch_1..5 (dicts with data/labels), test_batch, batches.meta."""
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    labels = np.random.default_rng(1).permutation(np.repeat(np.arange(10), per_class)).tolist()
    for b, part in enumerate(np.array_split(np.arange(len(labels)), 5), start=1):
        lab = [labels[i] for i in part]
        _dump(d / f"data_batch_{b}", {"batch_label": f"training batch {b} of 5", "labels": lab,
                                      "data": _images(lab, int(part[0])), "filenames": [f"img{i}.png" for i in part]})
    test = np.repeat(np.arange(10), TEST_PER_CLASS).tolist()
    _dump(d / "test_batch", {"batch_label": "testing batch 1 of 1", "labels": test, "data": _images(test, 60000),
                             "filenames": [f"t{i}.png" for i in range(len(test))]})
    _dump(d / "batches.meta", {"num_cases_per_batch": 10000, "num_vis": 3072,
                               "label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                                               "horse", "ship", "truck"]})


def write_cifar100(root: Path, per_class: int = TRAIN_PER_CLASS[100]) -> None:
    """``cifar-100-python``: train, test (fine_labels/coarse_labels/data), meta (fine_label_names)."""
    d = root / "cifar-100-python"
    d.mkdir(parents=True)
    for name, n, offset in (("train", per_class, 0), ("test", TEST_PER_CLASS, 60000)):
        fine = np.random.default_rng(2).permutation(np.repeat(np.arange(100), n)).tolist()
        _dump(d / name, {"filenames": [f"{name}{i}.png" for i in range(len(fine))], "batch_label": name,
                         "fine_labels": fine, "coarse_labels": [f // 5 for f in fine], "data": _images(fine, offset)})
    _dump(d / "meta", {"fine_label_names": [f"class{i}" for i in range(100)],
                       "coarse_label_names": [f"super{i}" for i in range(20)]})


def write_mnist(root: Path, folder: str = "MNIST", n_train: int = 30, n_test: int = 10) -> None:
    """Raw idx files: magic 2051 (images: n, rows, cols) and 2049 (labels), big-endian, uint8 payload."""
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(3)
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        (raw / f"{split}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 2051, n, 28, 28) + images.tobytes())
        (raw / f"{split}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, n) + labels.tobytes())


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cifar")
    write_cifar10(root)
    write_cifar100(root)
    return root


def _ids(ds) -> list[int]:
    return (ds.images[:, 0, 0, 0].long() * 256 + ds.images[:, 0, 0, 1].long()).tolist()


def test_fixture_is_the_torchvision_format(cifar_root):
    import torchvision.datasets as tvd

    from toolkit.data.cifar import _lenient

    for cls, n in ((tvd.CIFAR10, 200), (tvd.CIFAR100, 400)):
        ds = _lenient(cls)(str(cifar_root), train=True, download=False)
        assert len(ds) == n and ds.data.shape[1:] == (32, 32, 3)
    with pytest.raises(RuntimeError, match="not found or corrupted"):  # the fixture is not the official release
        tvd.CIFAR10(str(cifar_root), train=True, download=False)


@pytest.mark.parametrize("name,classes", [("cifar10-lt", 10), ("cifar100-lt", 100)])
@pytest.mark.parametrize("imbalance", [1, 2, 4])
def test_cifar_lt_profile_without_replacement(cifar_root, name, classes, imbalance):
    b = get_dataset(name, root=str(cifar_root), imbalance=imbalance, augment=False)
    n_max = TRAIN_PER_CLASS[classes]
    assert b.train_counts == exp_profile(n_max, classes, imbalance)
    assert np.bincount(b.train.targets, minlength=classes).tolist() == b.train_counts
    ids = _ids(b.train)
    assert len(ids) == len(set(ids)) == sum(b.train_counts)
    assert b.val is None and b.num_classes == classes and b.input_shape == (3, 32, 32)
    assert np.bincount(b.test.targets, minlength=classes).tolist() == [TEST_PER_CLASS] * classes
    x, y = b.train[0]
    assert x.dtype == torch.float32 and x.shape == (3, 32, 32) and 0 <= float(x.min()) <= float(x.max()) <= 1


def test_cifar_lt_seed_fixes_the_draw(cifar_root):
    a = get_dataset("cifar10-lt", root=str(cifar_root), imbalance=4)
    b = get_dataset("cifar10-lt", root=str(cifar_root), imbalance=4)
    c = get_dataset("cifar10-lt", root=str(cifar_root), imbalance=4, split_seed=1)
    assert _ids(a.train) == _ids(b.train) != _ids(c.train)
    assert a.train_counts == c.train_counts


def test_cifar_lt_default_imbalance_is_100(cifar_root):
    b = get_dataset("cifar10-lt", root=str(cifar_root))
    assert b.info["imbalance"] == 100 and b.train_counts == exp_profile(20, 10, 100)
    assert shot_groups(b.train_counts) == {"many": [], "medium": [0], "few": list(range(1, 10))}  # 20 is not < 20
    assert shot_groups(b.train_counts, "oltr")["few"] == list(range(10))


def test_cifar_train_images_match_the_files(cifar_root):
    b = get_dataset("cifar10", root=str(cifar_root), augment=False)
    with open(cifar_root / "cifar-10-batches-py" / "data_batch_1", "rb") as f:
        first = pickle.load(f)
    expected = torch.from_numpy(first["data"][0].reshape(3, 32, 32)).float() / 255
    x, y = b.train[0]
    assert torch.equal(x, expected) and y == first["labels"][0]
    assert b.class_names[0] == "airplane" and len(b.train) == 200 and b.train_counts == [20] * 10


def test_cifar_augment_keeps_shape_and_range(cifar_root):
    b = get_dataset("cifar100", root=str(cifar_root))
    torch.manual_seed(0)
    x, _ = b.train[5]
    assert x.shape == (3, 32, 32) and 0 <= float(x.min()) <= float(x.max()) <= 1
    assert b.train_counts == [4] * 100 and b.class_names[3] == "class3"


def test_cifar_missing_file_is_named_and_no_download(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    calls = []
    monkeypatch.setattr(tvd.CIFAR10, "download", lambda self: calls.append(self.root))
    write_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(DataError, match=r"data_batch_3' not found.*--download"):
        get_dataset("cifar10-lt", root=str(tmp_path))
    assert calls == []


def test_cifar_download_only_when_asked(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    calls = []

    def fake_download(self):
        calls.append(self.root)
        write_cifar10(Path(self.root))

    monkeypatch.setattr(tvd.CIFAR10, "download", fake_download)
    b = get_dataset("cifar10-lt", root=str(tmp_path), download=True, imbalance=2)
    assert calls == [str(tmp_path)] and sum(b.train_counts) == sum(exp_profile(20, 10, 2))


def test_cifar_corrupt_pickle(tmp_path):
    write_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="unreadable"):
        get_dataset("cifar10", root=str(tmp_path))


def test_cifar_lt_rejects_imbalance_below_one(cifar_root):
    with pytest.raises(LtError, match="imbalance must be >= 1"):
        get_dataset("cifar100-lt", root=str(cifar_root), imbalance=0.5)


@pytest.mark.parametrize("name,folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_mnist_style_sets_are_3_channel_28px(tmp_path, name, folder):
    write_mnist(tmp_path, folder)
    b = get_dataset(name, root=str(tmp_path))
    assert len(b.train) == 30 and len(b.test) == 10 and b.train_counts == [3] * 10
    x, y = b.train[11]
    assert x.shape == (3, 28, 28) and y == 1 and b.input_shape == (3, 28, 28)
    assert torch.equal(x[0], x[1]) and torch.equal(x[0], x[2])
    raw = (tmp_path / folder / "raw" / "train-images-idx3-ubyte").read_bytes()[16:]
    stored = torch.frombuffer(bytearray(raw), dtype=torch.uint8)[11 * 784:12 * 784]
    assert torch.equal((x[0] * 255).round().to(torch.uint8).flatten(), stored)


def test_mnist_missing_and_corrupt_files(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    monkeypatch.setattr(tvd.MNIST, "download", lambda self: pytest.fail("downloaded without --download"))
    with pytest.raises(DataError, match=r"MNIST/raw/train-images-idx3-ubyte' not found"):
        get_dataset("mnist", root=str(tmp_path))
    write_mnist(tmp_path)
    path = tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte' is truncated"):
        get_dataset("mnist", root=str(tmp_path))


def test_cli_cifar_lt_missing_files_and_bad_imbalance(invoke, tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    from conftest import assert_user_error

    monkeypatch.setattr(tvd.CIFAR10, "download", lambda self: pytest.fail("downloaded without --download"))
    args = ("train", "ce", "--quiet", "--dataset", "cifar10-lt", "--model", "smallcnn", "--epochs", "1",
            "--out", str(tmp_path / "run"), "--data-root", str(tmp_path))
    assert_user_error(invoke(*args), f"'{tmp_path / 'cifar-10-batches-py' / 'data_batch_1'}' not found", "--download")
    assert_user_error(invoke(*args, "--imbalance", "0.5"), "--imbalance must be >= 1")
