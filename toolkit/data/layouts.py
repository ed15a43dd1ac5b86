"""What ``lt datasets`` lists: each registered dataset, the files it expects under ``--data-root``, its options.

One short line per dataset (the full description is in the dataset's module and ``docs/data.md``).
A dataset registered without an entry here shows its builder's first docstring line instead.

    lt datasets            # every name, its layout, its options
    lt datasets lt         # names containing "lt"
"""

from __future__ import annotations

import inspect

from ..engine.errors import LtError
from ..engine.report import Report

LAYOUTS = {
    "digits": "embedded (scikit-learn's digits, upscaled to 32x32); no --data-root",
    "digits-lt": "embedded (scikit-learn's digits, long-tailed, upscaled to 32x32); no --data-root",
    "cifar10": "ROOT/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta} (torchvision; --download fetches)",
    "cifar10-lt": "ROOT/cifar-10-batches-py/... as cifar10; long-tailed train subset, balanced test",
    "cifar100": "ROOT/cifar-100-python/{train,test,meta} (torchvision; --download fetches)",
    "cifar100-lt": "ROOT/cifar-100-python/... as cifar100; long-tailed train subset, balanced test",
    "mnist": "ROOT/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] (the release) or ROOT/MNIST/raw/... "
             "(torchvision; --download fetches); default $LT_DATA_DIR/mnist, /usr/share/datasets/mnist",
    "fashion-mnist": "ROOT/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] (the release) or ROOT/FashionMNIST/raw/"
                     "... ; default $LT_DATA_DIR/fashion-mnist, /usr/share/datasets/fashion-mnist",
    "fashion-mnist-lt": "as fashion-mnist; long-tailed train subset (IF 100: 6,000 -> 60 per class), balanced test",
    "imagenet-lt": "OLTR split files ImageNet_LT_{train,val,test}.txt ('relative/path label' lines) "
                   "+ the images they list",
    "places-lt": "OLTR split files Places_LT_{train,val,test}.txt ('relative/path label' lines) "
                 "+ the Places-365 images they list",
    "inat2018": "ROOT/{train2018,val2018}.json (COCO-like) + ROOT/train_val2018/<super>/<id>/<hash>.jpg",
    "arid": "ARID v1.0 (list_cvt/ARID_split{1,2,3}_*.txt, mapping_table.txt, .mp4 or converted .avi clips), "
            "v1.5 (clips_v1.5/, list_cvt/split_{0,1,2}/) or the ARID1.1 CSVs (VideoID,Video,ClassID)",
    "synthetic-dark": "generated dark motion clips in the ARID layout, cached under ROOT "
                      "(default $LT_CACHE_DIR/synthetic-dark)",
    "ssbpr": "ROOT/{female,male}/A-B-C.wav (the released SSBPR layout) or a CSV manifest",
    "synthetic-snore": "generated snore .wav files in the SSBPR layout (seeded)",
    "muse": "ROOT/c1_muse_humor|c2_muse_reaction|c3_muse_stress_2022/ (feature CSVs, labels, partition.csv)",
    "synthetic-muse": "generated feature/label CSVs in the MuSe 2022 layout (seeded)",
}


def layout_of(name: str) -> str:
    """The layout line of ``name``: the table above, else the builder's first docstring line."""
    from . import DATASETS

    if name in LAYOUTS:
        return LAYOUTS[name]
    doc = (DATASETS.get(name).__doc__ or "").strip().splitlines()
    return doc[0] if doc else "-"


def options_of(name: str) -> str:
    """The builder's own options with their defaults, e.g. ``imbalance=10.0 split_seed=0``."""
    from . import DATASETS

    params = inspect.signature(DATASETS.get(name)).parameters.values()
    return " ".join(f"{p.name}={p.default}" if p.default is not p.empty else p.name
                    for p in params if p.name not in ("root", "download")) or "-"


def presence_of(name: str) -> str:
    """Whether the files are found without ``--data-root`` (the sets that have a default folder), else ``-``."""
    from .mnist import TV_FOLDER, presence

    data = "fashion-mnist" if name == "fashion-mnist-lt" else name
    return presence(data) if data in TV_FOLDER else "-"


def dataset_table(pattern: str | None = None) -> Report:
    """Every registered dataset (optionally filtered by a glob or substring): name, layout, options, and
    (sets with a default folder) whether their files are present there."""
    from ..engine.registry import matches
    from . import list_datasets

    rows = [{"dataset": n, "layout": layout_of(n), "options": options_of(n), "present": presence_of(n)}
            for n in list_datasets() if matches(n, pattern)]
    if not rows:
        raise LtError(f"no dataset name matches '{pattern}' (lt datasets lists them all)")
    return Report("datasets", rows=rows,
                  notes=["ROOT is --data-root; nothing downloads unless --download is given (torchvision sets only)",
                         "lt attack --dataset also takes a directory: NIPS-2017 images.csv/dev_dataset.csv + images, "
                         "TransferAttack labels.csv + images, or an ImageFolder"])
