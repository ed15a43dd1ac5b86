"""``synthetic-dark``: seeded dark motion clips written in the ARID v1.0 layout, read by ``arid``'s loader.

Our construction (no paper): 11 motion patterns of a bright shape on a noisy background (a square
moving right/left/down/up/diagonally either way, growing, shrinking, a bar rotating clockwise or
anticlockwise, blinking), darkened (``0.25 * x**3`` plus Gaussian noise, sigma 0.01), written
losslessly (FFV1, PyAV) in the layout of the official repo (xuyu0010/ARID_v1, converted .avi):
``raw/data/Class/Class_<g>_1.avi``, ``raw/list_cvt/ARID_split{k}_{train,test}.txt`` and
``raw/list_cvt/mapping_table.txt`` under ``<root>/synthetic-dark-<hash>/`` (default root
``$LT_CACHE_DIR/synthetic-dark``; ``--data-root`` is the folder it is written into). The tree is written into a temp
dir and renamed, so a half-written cache is never read.

    lt train video --dataset synthetic-dark --stream gamma --model tiny3d
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ..engine.cache import cache_dir
from ..engine.errors import check
from ..engine.fingerprint import params_key
from ..engine.report import log
from . import register_dataset
from .arid_layouts import ARID_CLASSES
from .bundle import DataBundle
from .video import ClipSpec, load_arid_layout

MARKER = "raw/list_cvt/mapping_table.txt"  # present once the tree is complete (renamed into place whole)


def _pattern_positions(c: int, t: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Centre (y, x), half-size and angle over time for motion pattern ``c`` (11 patterns)."""
    s = rng.uniform(0.8, 1.2) * n / 24.0
    y0, x0 = rng.uniform(0.35, 0.65, 2) * n
    half = np.full_like(t, n / 8.0)
    ang = np.zeros_like(t)
    y, x = np.full_like(t, y0), np.full_like(t, x0)
    moves = {0: (0, 1), 1: (0, -1), 2: (1, 0), 3: (-1, 0), 4: (1, 1), 5: (-1, -1)}
    if c in moves:
        dy, dx = moves[c]
        y, x = (y0 - dy * s * t.max() / 2 + dy * s * t) % n, (x0 - dx * s * t.max() / 2 + dx * s * t) % n
    elif c == 6:
        half = n / 16.0 + (n / 4.0) * t / t.max()
    elif c == 7:
        half = n / 16.0 + (n / 4.0) * (1 - t / t.max())
    elif c in (8, 9):
        ang = (1 if c == 8 else -1) * 0.25 * s * t
        half = np.full_like(t, n / 3.0)
    return y, x, half, ang


def synth_video(c: int, n_frames: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """One dark clip of pattern ``c``: uint8 (T, size, size, 3)."""
    t = np.arange(n_frames, dtype=np.float64)
    y, x, half, ang = _pattern_positions(c, t, size, rng)
    color = rng.uniform(0.6, 1.0, 3)
    bg = rng.uniform(0.05, 0.2, (1, 1, 3)) + 0.05 * rng.standard_normal((size, size, 1))
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    video = np.empty((n_frames, size, size, 3))
    for k in range(n_frames):
        if c in (8, 9):  # a rotating bar
            u = (yy - size / 2) * math.cos(ang[k]) - (xx - size / 2) * math.sin(ang[k])
            v = (yy - size / 2) * math.sin(ang[k]) + (xx - size / 2) * math.cos(ang[k])
            mask = (np.abs(u) < size / 12) & (np.abs(v) < half[k])
        else:
            mask = (np.abs(yy - y[k]) < half[k]) & (np.abs(xx - x[k]) < half[k])
            if c == 10:
                mask &= (k // 2) % 2 == 0  # blinking
        video[k] = np.where(mask[..., None], color, bg)
    dark = 0.25 * np.clip(video, 0, 1) ** 3.0 + rng.normal(0, 0.01, video.shape)
    return np.clip(dark * 255 + 0.5, 0, 255).astype(np.uint8)


def write_avi(path: Path, frames: np.ndarray, fps: int = 15) -> None:
    """Write uint8 (T,H,W,3) RGB frames as a lossless FFV1 .avi with PyAV."""
    import av

    with av.open(str(path), mode="w", format="avi") as out:
        stream = out.add_stream("ffv1", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "bgr0"
        stream.thread_count = 1
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def generate_synthetic_dark(dest: Path, videos_per_class: int, n_frames: int, size: int, seed: int) -> None:
    """Write the whole ARID-layout tree into ``dest`` (via a temp dir renamed at the end)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        rng = np.random.default_rng(seed)
        rels = []
        clips, lists = tmp / "raw" / "data", tmp / "raw" / "list_cvt"
        for c, name in enumerate(ARID_CLASSES):
            (clips / name).mkdir(parents=True)
            for g in range(videos_per_class):
                rel = f"{name}/{name}_{g + 1}_1.avi"
                write_avi(clips / rel, synth_video(c, n_frames, size, rng))
                rels.append((c, rel))
        lists.mkdir()
        (lists / "mapping_table.txt").write_text("".join(f"{i}\t{n}\n" for i, n in enumerate(ARID_CLASSES)))
        for k in (1, 2, 3):
            order = np.random.default_rng(seed * 10 + k).permutation(videos_per_class)
            n_test = max(1, videos_per_class // 3)
            for part, groups in (("test", set(order[:n_test].tolist())), ("train", set(order[n_test:].tolist()))):
                rows = [(c, rel) for j, (c, rel) in enumerate(rels) if j % videos_per_class in groups]
                text = "".join(f"{i}\t{c}\t{rel}\n" for i, (c, rel) in enumerate(rows))
                (lists / f"ARID_split{k}_{part}.txt").write_text(text)
        try:
            os.replace(tmp, dest)
        except OSError:  # another process finished the same tree first
            if not (dest / MARKER).is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


@register_dataset("synthetic-dark")
def synthetic_dark(root=None, download=False, split: int = 1, frames: int = 8, interval: int = 2,
                   size: int | None = None, stream: str = "rgb", gamma: float = 1.8, views: int = 3,
                   videos_per_class: int = 6, video_frames: int = 24, video_size: int = 32,
                   seed: int = 0, skip_bad: bool = False) -> DataBundle:
    """Seeded dark motion clips in the ARID layout, cached under ``root`` (default ``$LT_CACHE_DIR/synthetic-dark``).

    Our defaults: 6 videos/class (4 train, 2 test), 24 frames of 32x32, clips of 8 frames at interval 2.
    ``lt train video --dataset synthetic-dark --model tiny3d --stream gamma``
    """
    check(videos_per_class >= 2, f"videos_per_class must be >= 2 (got {videos_per_class})")
    check(video_frames >= 1 and video_size >= 8, "video_frames must be >= 1 and video_size >= 8")
    params = {"v": 2, "videos_per_class": videos_per_class, "video_frames": video_frames,
              "video_size": video_size, "seed": seed}
    key = params_key(params, 12)
    dest = (Path(root) if root else cache_dir("synthetic-dark")) / f"synthetic-dark-{key}"
    if not (dest / MARKER).is_file():
        log(f"writing synthetic-dark videos to {dest}")
        generate_synthetic_dark(dest, videos_per_class, video_frames, video_size, seed)
    return load_arid_layout(dest, split, ClipSpec(frames, interval, size, stream, gamma, views), skip_bad,
                            name="synthetic-dark", info={"generator": params})


__all__ = ["synth_video", "write_avi", "generate_synthetic_dark", "synthetic_dark"]
