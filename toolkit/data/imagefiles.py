"""Image files on disk: one reader (errors name the file) and a list-backed dataset with ``skip_bad``.

Used by every image layout (OLTR split files, iNat JSON, ImageFolder, NIPS-2017 attack sets).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import torch
from torch.utils.data import Dataset

from ..engine.errors import DataError
from ..engine.report import warn

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".webp", ".tif", ".tiff")


def read_image(path: str | Path) -> torch.Tensor:
    """Decode an image file to a uint8 RGB tensor (3,H,W); unreadable files raise DataError naming them."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = _to_8bit(im).convert("RGB")
            data = torch.frombuffer(bytearray(im.tobytes()), dtype=torch.uint8)
            return data.view(im.height, im.width, 3).permute(2, 0, 1).contiguous()
    except FileNotFoundError as e:
        raise DataError(f"image '{path}' does not exist") from e
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise DataError(f"image '{path}' is unreadable: {e}") from e


def _to_8bit(im):
    """A 16-bit grey image (PIL modes ``I;16*`` and ``I``, as 16-bit PNG/TIFF open) scaled to 8 bits by
    value·255/65535; PIL's own ``convert("RGB")`` clips it instead (a 16-bit PNG came out 99.7 % white).
    Palette, grey-alpha and 8-bit modes are left to ``convert`` (which maps them correctly)."""
    if not (im.mode.startswith("I;16") or im.mode == "I"):
        return im
    import numpy as np
    from PIL import Image

    a = np.asarray(im).astype(np.float64)
    if im.mode == "I" and a.size and (a.min() < 0 or a.max() > 65535):
        raise ValueError(f"32-bit integer pixels outside 0..65535 (min {a.min():.0f}, max {a.max():.0f})")
    return Image.fromarray(np.rint(a * (255 / 65535)).astype(np.uint8), mode="L")


def check_readable(paths: Sequence[Path], skip_bad: bool) -> list[int]:
    """Indices of readable files. A bad file is an error naming it, unless ``skip_bad`` (then counted)."""
    from PIL import Image

    good, bad = [], []
    for i, p in enumerate(paths):
        try:
            with Image.open(p) as im:
                im.verify()
            good.append(i)
        except Exception as e:  # noqa: BLE001 - any decode failure means "bad file"
            if not skip_bad:
                raise DataError(f"image '{p}' is unreadable ({type(e).__name__}); "
                                "pass --skip-bad to skip such files") from e
            bad.append(p)
    if bad:
        warn(f"skipped {len(bad)} unreadable image(s), e.g. {bad[0]}")
    return good


class ImageListDataset(Dataset):
    """``(path, label)`` pairs read lazily; ``transform`` maps a float [0,1] (3,H,W) tensor.

    ``verify=True`` opens every file once up front so a bad file fails early (named) or, with
    ``skip_bad``, is dropped and counted in ``self.skipped``.
    """

    def __init__(self, items: Sequence[tuple[Path, int]], transform: Callable | None = None,
                 verify: bool = False, skip_bad: bool = False):
        items = list(items)
        self.skipped = 0
        if verify or skip_bad:
            keep = check_readable([p for p, _ in items], skip_bad)
            self.skipped = len(items) - len(keep)
            items = [items[i] for i in keep]
        self.items = items
        self.transform = transform

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        path, label = self.items[i]
        x = read_image(path).float().div_(255)
        if self.transform is not None:
            x = self.transform(x)
        return x, label

    @property
    def targets(self) -> list[int]:
        return [label for _, label in self.items]
