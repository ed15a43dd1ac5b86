"""Read IDX files (LeCun's MNIST format, also Fashion-MNIST's), gzipped or not, validating as they are read.

An IDX file is a big-endian header: magic ``0x0000 TT DD`` (TT = 0x08 for unsigned bytes, DD = number
of dimensions), then DD 32-bit sizes, then the payload. Images are magic 2051 (``0x00000803``: uint8,
3 dims N x rows x cols), labels 2049 (``0x00000801``: uint8, 1 dim N). Every problem is a
:class:`~toolkit.engine.errors.DataError` naming the file: a truncated gzip stream, a wrong magic
number, a payload shorter or longer than the header says, labels outside 0..9.

    from toolkit.data.idx import read_idx
    images = read_idx(Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"), kind="images")
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from ..engine.errors import DataError

MAGIC = {"images": 2051, "labels": 2049}
DIMS = {"images": 3, "labels": 1}


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_header(path: Path, kind: str) -> tuple[int, ...]:
    """The sizes the header of ``path`` declares (N, rows, cols for images; N for labels), magic checked."""
    want = MAGIC[kind]
    try:
        with _open(path) as f:
            head = f.read(4 + 4 * DIMS[kind])
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"'{path}' is unreadable ({type(e).__name__}: {e}); re-copy or re-download it") from e
    if len(head) < 4:
        raise DataError(f"'{path}' is too short to be an IDX file ({len(head)} bytes)")
    magic = struct.unpack(">I", head[:4])[0]
    if magic != want:
        other = {v: k for k, v in MAGIC.items()}.get(magic)
        hint = f" (that is the {other} magic: files swapped?)" if other else ""
        raise DataError(f"'{path}' has IDX magic number {magic}, expected {want} for {kind}{hint}: "
                        f"not an MNIST-style {kind} file")
    if len(head) < 4 + 4 * DIMS[kind]:
        raise DataError(f"'{path}': IDX header cut short")
    return struct.unpack(f">{DIMS[kind]}I", head[4:])


def read_idx(path: Path, kind: str) -> np.ndarray:
    """The uint8 array of ``path`` (images (N, rows, cols), labels (N,)); every inconsistency a DataError."""
    shape = read_header(path, kind)
    expected = int(np.prod(shape))
    offset = 4 + 4 * DIMS[kind]
    try:
        with _open(path) as f:
            f.read(offset)
            payload = f.read(expected + 1)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"'{path}' is truncated or corrupt ({type(e).__name__}: {e}); "
                        f"re-copy or re-download it") from e
    if len(payload) != expected:
        what = "truncated" if len(payload) < expected else "longer than its header says"
        raise DataError(f"'{path}' is {what}: the header declares {' x '.join(map(str, shape))} {kind} "
                        f"({expected} bytes), the file holds {len(payload)} bytes of data")
    return np.frombuffer(payload, dtype=np.uint8).reshape(shape)


def check_pair(images: Path, labels: Path) -> int:
    """Headers of an images/labels pair agree (N); the number of samples. Reads only the headers."""
    n_img = read_header(images, "images")[0]
    n_lab = read_header(labels, "labels")[0]
    if n_img != n_lab:
        raise DataError(f"'{images}' holds {n_img} images but '{labels}' holds {n_lab} labels: "
                        f"the two files are not from the same split")
    return n_img


__all__ = ["MAGIC", "check_pair", "read_header", "read_idx"]
