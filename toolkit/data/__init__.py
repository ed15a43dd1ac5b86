"""Dataset registry: ``get_dataset(name, root=..., **options) -> DataBundle``.

Registered (lazily, by module path): ``digits-lt`` / ``digits`` (embedded, from scikit-learn's
bundled digits), ``cifar10-lt``, ``cifar100-lt``, ``cifar10``, ``cifar100``, ``mnist``,
``fashion-mnist``, ``fashion-mnist-lt`` (the IDX release or torchvision's layout; ``--download``
explicit), ``imagenet-lt``, ``places-lt`` (OLTR split files), ``inat2018`` (COCO-like JSON), and the families' own sets
(video, audio, MuSe) which register themselves in their modules.
Nothing downloads unless ``download=True`` is passed explicitly.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

from ..engine.errors import LtError
from ..engine.registry import Registry, load_plugins
from .bundle import DataBundle

DATASETS = Registry("dataset")
_PLUGINS = ("toolkit.data.digits", "toolkit.data.cifar", "toolkit.data.mnist", "toolkit.data.lt_splits",
            "toolkit.data.inat", "toolkit.data.video", "toolkit.data.video_synthetic", "toolkit.data.audio",
            "toolkit.data.muse")
_loaded = False


def register_dataset(name: str) -> Callable:
    """Decorator for ``builder(root=None, download=False, **options) -> DataBundle``."""
    return DATASETS.register(name)


def _load_plugins() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    load_plugins(_PLUGINS, "dataset")


def list_datasets() -> list[str]:
    _load_plugins()
    return DATASETS.names()


def check_dataset(name: str) -> None:
    """An unknown dataset name is an LtError listing the registered ones (close matches first)."""
    _load_plugins()
    if name not in DATASETS.names():
        DATASETS.get(name)  # raises the registry's message


def clip_options(dataset: str, frames: int | None, interval: int | None, image_size: int | None) -> dict:
    """``frames``, ``interval``, ``image_size`` with unset (None) ones resolved to the dataset's defaults
    (``image_size`` None stays None where the dataset's default is its native size); a dataset that is
    not a video dataset (its builder takes no ``frames``) is a user error."""
    list_datasets()  # registers the plugins' datasets
    params = inspect.signature(DATASETS.get(dataset)).parameters
    if "frames" not in params:  # an image/audio/sequence set would fail later on the video options
        video = [n for n in DATASETS.names() if "frames" in inspect.signature(DATASETS.get(n)).parameters]
        raise LtError(f"dataset '{dataset}' is not a video dataset; video datasets: {', '.join(video)}")
    default = {k: params[k].default if k in params else None for k in ("frames", "interval", "size")}
    return {"frames": frames if frames is not None else default["frames"],
            "interval": interval if interval is not None else default["interval"],
            "image_size": image_size if image_size is not None else default["size"]}


EMBEDDED = ("digits", "digits-lt")  # bundled with scikit-learn: nothing on disk to point at


def check_source_flags(name: str, root: str | None, download: bool) -> None:
    """Refuse ``--data-root`` for an embedded set and ``--download`` for an embedded or generated one.

    A generated set (``synthetic-*``) takes ``--data-root`` as the folder it is written into.
    """
    generated = name.startswith("synthetic-")
    if download and (name in EMBEDDED or generated):
        raise LtError(f"--download does not apply to dataset '{name}': it is "
                      f"{'embedded (no files)' if not generated else 'generated locally, never downloaded'}")
    if root is not None and name in EMBEDDED:
        raise LtError(f"--data-root does not apply to dataset '{name}': it is embedded (scikit-learn's bundled "
                      f"digits), so '{root}' would never be read; drop --data-root or pick a dataset read from disk")


def get_dataset(name: str, root: str | None = None, download: bool = False, **options: Any) -> DataBundle:
    """Build a dataset bundle. Options the builder does not take are an error (never ignored).

    ``image_size=N`` on an image set whose builder does not size its images itself (digits, CIFAR,
    MNIST, image folders) resizes every split's images to N x N (bilinear, antialiased), after the
    builder's own transforms; a builder that takes ``image_size`` (ImageNet-LT, iNat) uses it directly.
    """
    _load_plugins()
    builder = DATASETS.get(name)
    check_source_flags(name, root, download)
    params = inspect.signature(builder).parameters
    size = options.get("image_size")
    resize = size is not None and "image_size" not in params
    if resize:
        options = {k: v for k, v in options.items() if k != "image_size"}
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        extra = sorted(k for k, v in options.items() if k not in params and v is not None)
        if extra:
            raise LtError(f"dataset '{name}' does not take option(s): {', '.join(extra)}")
        options = {k: v for k, v in options.items() if k in params}
    bundle = builder(root=root, download=download, **options)
    return resized(bundle, size) if resize else bundle


def resized(bundle: DataBundle, size: int) -> DataBundle:
    """``bundle`` with every split's images resized to ``size`` x ``size`` (``--image-size``)."""
    from dataclasses import replace

    from .bundle import Resized

    if len(bundle.input_shape) != 3:
        raise LtError(f"--image-size applies to image datasets; '{bundle.name}' holds inputs of shape "
                      f"{tuple(bundle.input_shape)}")
    if size < 1:
        raise LtError(f"--image-size must be >= 1 (got {size})")
    splits = {k: (Resized(getattr(bundle, k), size) if getattr(bundle, k) is not None else None)
              for k in ("train", "val", "test")}
    return replace(bundle, **splits, input_shape=(bundle.input_shape[0], size, size),
                   info={**bundle.info, "image_size": size})


__all__ = ["DATASETS", "DataBundle", "check_dataset", "clip_options", "get_dataset", "list_datasets",
           "register_dataset"]
