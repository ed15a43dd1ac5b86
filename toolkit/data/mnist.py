"""MNIST-style sets read from the IDX files: ``mnist``, ``fashion-mnist`` and ``fashion-mnist-lt``.

Fashion-MNIST: Xiao, Rasul, Vollgraf, "Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine
Learning Algorithms", arXiv 1708.07747 (60,000 train + 10,000 test 28x28 grey images, 10 classes,
exactly 6,000 / 1,000 per class). MNIST: LeCun et al. 1998.

Layouts read (the first complete one wins; each file gzipped or not):

    <root>/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]             the official release, one folder
    <root>/FashionMNIST/raw/... (MNIST/raw/... for mnist)                  torchvision's layout

Without ``--data-root`` the first of ``$LT_DATA_DIR/<set>`` and ``/usr/share/datasets/<set>`` that
holds the files is read (Debian's ``dataset-fashion-mnist`` package installs the release in the
latter); the folder read is said on stderr and recorded in the bundle's ``info["root"]``.

Which set the files are: the training labels' class counts identify the official releases
(Fashion-MNIST: 6,000 per class; MNIST: 5,923 / 6,742 / ... per digit). Files whose counts are the
*other* set's are refused, naming what was found (``--data-root`` pointing at MNIST for
``fashion-mnist``); counts matching neither (a subset) are read with a warning.

``fashion-mnist-lt`` builds the long-tailed training set the way CIFAR-LT is built (Cui et al. 2019,
Cao et al. 2019): class i keeps floor(6000 * IF^(-i/9)) images, drawn without replacement with
``split_seed``; IF 100 gives 6,000 -> 60 per class (14,886 images). The test set is the balanced
original. Images are grey repeated to 3 channels, 28x28.

    lt train ce --dataset fashion-mnist-lt --imbalance 100 --loss balanced-softmax
    lt train mdl --dataset fashion-mnist --data-root /usr/share/datasets/fashion-mnist
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..engine.errors import DataError
from ..engine.report import log, warn
from . import register_dataset
from .bundle import DataBundle, TensorImageDataset, class_counts
from .idx import check_pair, read_idx
from .longtail import exp_profile, longtail_indices

FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
TV_FOLDER = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
SYSTEM_DIR = Path("/usr/share/datasets")  # Debian's dataset-* packages
INSTALL_HINT = {"fashion-mnist": "sudo apt-get install dataset-fashion-mnist"}
# The official releases' class counts (train, test): how the files are told apart.
KNOWN_COUNTS = {
    "mnist": ([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
              [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]),
    "fashion-mnist": ([6000] * 10, [1000] * 10),
}
PRETTY = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]
EXPECTED = ("{{train,t10k}}-{{images-idx3,labels-idx1}}-ubyte[.gz] (the official release) or "
            "{folder}/raw/ with the same files (torchvision's layout)")


def search_dirs(name: str) -> list[Path]:
    """Where ``name`` is looked for without ``--data-root``: ``$LT_DATA_DIR/<name>``, then the system folder."""
    dirs = [Path(os.environ["LT_DATA_DIR"]).expanduser() / name] if os.environ.get("LT_DATA_DIR") else []
    return dirs + [SYSTEM_DIR / name]


def _find(d: Path, stem: str) -> Path | None:
    for p in (d / stem, d / f"{stem}.gz"):
        if p.is_file():
            return p
    return None


def find_files(name: str, base: Path) -> dict[str, Path] | None:
    """The four files under ``base`` (release layout first, then torchvision's), or None."""
    for d in (base, base / TV_FOLDER[name] / "raw"):
        found = {stem: _find(d, stem) for pair in FILES.values() for stem in pair}
        if all(found.values()):
            return found
    return None


def locate(name: str, root: str | None) -> tuple[Path, dict[str, Path]]:
    """(folder, files) of ``name``: under ``root``, else the first of :func:`search_dirs` holding them."""
    expected = EXPECTED.format(folder=TV_FOLDER[name])
    if root is not None:
        base = Path(root).expanduser()
        if not base.is_dir():
            raise DataError(f"--data-root '{root}' is not a directory; dataset '{name}' expects there {expected}")
        files = find_files(name, base)
        if files is None:
            first = base / TV_FOLDER[name] / "raw" / FILES["train"][0]
            raise DataError(f"expected file '{first}' not found (nor '{base / FILES['train'][0]}[.gz]'): "
                            f"dataset '{name}' reads {expected}; pass --download to fetch it")
        return base, files
    for base in search_dirs(name):
        files = find_files(name, base) if base.is_dir() else None
        if files is not None:
            return base, files
    hint = f"; install it with `{INSTALL_HINT[name]}`" if name in INSTALL_HINT else ""
    raise DataError(f"dataset '{name}' needs --data-root: a directory with {expected} (searched "
                    f"{', '.join(str(d) for d in search_dirs(name))}{hint})")


def identify(name: str, train_labels: Path, counts: list[int]) -> str:
    """Refuse files that are the other set's release (by the class counts); ``"official"`` or ``"subset"``."""
    for other, (train_counts, _) in KNOWN_COUNTS.items():
        if counts == train_counts:
            if other != name:
                raise DataError(f"'{train_labels}' holds {PRETTY[other]}'s training labels (class counts "
                                f"{', '.join(map(str, counts))} are {PRETTY[other]}'s; {PRETTY[name]}'s are "
                                f"{', '.join(map(str, KNOWN_COUNTS[name][0][:3]))}, ...): --data-root points at "
                                f"{PRETTY[other]}, not {PRETTY[name]}")
            return "official"
    warn(f"'{train_labels}': class counts {counts} are not the official {PRETTY[name]} release's; reading it anyway")
    return "subset"


def _labels(path: Path) -> np.ndarray:
    labels = read_idx(path, "labels")
    if labels.size and int(labels.max()) > 9:
        raise DataError(f"'{path}' holds label {int(labels.max())}; MNIST-style labels are 0..9")
    return labels.astype(np.int64)


def load_idx_set(name: str, root: str | None, download: bool):
    """(train_images uint8 (N,3,28,28), train_labels, test_images, test_labels, folder, release).

    Headers first (magic numbers, image and label counts agree), then the labels (which set is it?),
    then the image payloads."""
    if download:
        _download(name, root)
    base, files = locate(name, root)
    log(f"{name}: reading {base}")
    pairs = {split: tuple(files[s] for s in stems) for split, stems in FILES.items()}
    for pair in pairs.values():
        check_pair(*pair)
    y_tr, y_te = _labels(pairs["train"][1]), _labels(pairs["test"][1])
    release = identify(name, pairs["train"][1], class_counts(y_tr.tolist(), 10))
    x_tr, x_te = (torch.from_numpy(read_idx(pairs[s][0], "images").copy()) for s in ("train", "test"))
    grey3 = (lambda x: x.unsqueeze(1).repeat(1, 3, 1, 1))
    return grey3(x_tr), y_tr, grey3(x_te), y_te, base, release


def _download(name: str, root: str | None) -> None:
    import torchvision.datasets as tvd

    if root is None:
        raise DataError(f"--download needs --data-root: the folder dataset '{name}' is downloaded into")
    cls = getattr(tvd, TV_FOLDER[name])
    try:
        cls(str(Path(root).expanduser()), train=True, download=True)
    except (OSError, RuntimeError) as e:
        raise DataError(f"downloading {TV_FOLDER[name]} into '{root}' failed: {e}") from e


def _augment(on: bool):
    if not on:
        return None
    from torchvision.transforms import v2

    return v2.Compose([v2.RandomCrop(28, padding=2), v2.RandomHorizontalFlip()])


def _bundle(name: str, data: str, root, download: bool, imbalance: float | None = None, split_seed: int = 0,
            augment: bool = False) -> DataBundle:
    if imbalance is not None:
        exp_profile(1, 10, imbalance)  # validates imbalance >= 1 before any file is read
    x_tr, y_tr, x_te, y_te, base, release = load_idx_set(data, root, download)
    info: dict = {"root": str(base), "release": release, "test": "balanced original test set",
                  "channels": "grey repeated to 3"}
    if imbalance is not None:
        n_max = min(class_counts(y_tr.tolist(), 10))
        idx = longtail_indices(y_tr, exp_profile(n_max, 10, imbalance), seed=split_seed)
        x_tr, y_tr = x_tr[idx], y_tr[idx]
        info.update(imbalance=imbalance, split_seed=split_seed, n_max=n_max, sampling="without replacement")
    names = FASHION_CLASSES if data == "fashion-mnist" else [str(i) for i in range(10)]
    return DataBundle(name=name, train=TensorImageDataset(x_tr, y_tr.tolist(), _augment(augment)),
                      test=TensorImageDataset(x_te, y_te.tolist()), num_classes=10,
                      train_counts=class_counts(y_tr.tolist(), 10), val=None, class_names=names,
                      input_shape=(3, 28, 28), info=info)


@register_dataset("mnist")
def mnist(root=None, download=False) -> DataBundle:
    """MNIST (60,000 / 10,000), 28x28, grey repeated to 3 channels."""
    return _bundle("mnist", "mnist", root, download)


@register_dataset("fashion-mnist")
def fashion_mnist(root=None, download=False) -> DataBundle:
    """Fashion-MNIST (60,000 / 10,000), 28x28, grey repeated to 3 channels."""
    return _bundle("fashion-mnist", "fashion-mnist", root, download)


@register_dataset("fashion-mnist-lt")
def fashion_mnist_lt(root=None, download=False, imbalance: float = 100.0, split_seed: int = 0,
                     augment: bool = True) -> DataBundle:
    """Fashion-MNIST-LT: exponential profile with ``imbalance`` (100 -> 6,000 ... 60 per class), balanced test."""
    return _bundle("fashion-mnist-lt", "fashion-mnist", root, download, imbalance, split_seed, augment)


def presence(name: str) -> str:
    """``lt datasets``' word on whether ``name``'s files are found without ``--data-root``."""
    for base in search_dirs(name):
        if base.is_dir() and find_files(name, base) is not None:
            return f"present: {base}"
    return f"absent ({INSTALL_HINT[name]})" if name in INSTALL_HINT else "absent (pass --data-root)"


__all__ = ["FILES", "KNOWN_COUNTS", "SYSTEM_DIR", "find_files", "identify", "load_idx_set", "locate", "presence",
           "search_dirs"]
