"""ARID dark video: ``arid`` (the released ARID layouts, read as released) and its clip dataset.

Paper: Xu et al., "ARID: A New Dataset for Recognizing Action in the Dark", IJCAI-W 2021,
arXiv 2006.03876 (official repo xuyu0010/ARID_v1). 11 classes, three splits.

The layouts (v1.0 with .mp4 or converted .avi clips, v1.5, the ARID1.1 challenge CSVs) are found by
:mod:`toolkit.data.arid_layouts`; a clip may also be a folder of JPEG frames named like the listed
file without extension, and the ``flow`` stream reads ``flow/Class/Class_<g>_<n>/x_00001.jpg, y_00001.jpg``
beside the clips folder.

Clip sampling (paper defaults: ``frames=16``, ``interval=2``): a clip covers ``(frames-1)*interval+1``
source frames; training draws its start at random, evaluation uses ``views`` fixed starts evenly
spread over the video (scores averaged over views). Frames are resized (shorter side ``size``) and
centre-cropped to ``size``x``size`` (random crop and horizontal flip in training; ``size=None`` keeps
the native size). Streams: ``rgb``; ``gamma``: LUT out = 255*(in/255)^(1/gamma) (gamma 1.8 as in
DarkLight); ``flow``: precomputed x/y flow JPEGs stacked as (x, y, magnitude) -- our choice, so every
RGB video model takes it unchanged. Items are float tensors (C, T, H, W) in [0, 1].

``synthetic-dark`` lives in :mod:`toolkit.data.video_synthetic` (a registry plugin of its own, with its
generator functions); it imports this module, never the other way round.

    lt train video --dataset arid --data-root ARID --official-split 1 --stream gamma --model r3d_18
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from ..engine.errors import DataError, LtError, check
from ..engine.report import warn
from . import register_dataset
from .arid_layouts import ARID_CLASSES, find_layout, read_challenge_csv, read_mapping, read_split, resolve_video
from .bundle import DataBundle, class_counts

STREAMS = ("rgb", "gamma", "flow")
FRAME_EXTENSIONS = (".jpg", ".jpeg", ".png")


def gamma_lut(gamma: float) -> torch.Tensor:
    """uint8 LUT of 256 entries: round(255 * (i/255) ** (1/gamma))."""
    check(gamma > 0 and math.isfinite(gamma), f"--gamma must be > 0 (got {gamma})")
    i = torch.arange(256, dtype=torch.float64)
    return (255.0 * (i / 255.0) ** (1.0 / gamma)).round().clamp(0, 255).to(torch.uint8)


# -- decoding -----------------------------------------------------------------------------------
def decode_video(path: Path, stop: int | None = None) -> torch.Tensor:
    """All frames (or the first ``stop``) as uint8 (T, H, W, 3); files and folders of JPEGs."""
    if path.is_dir():
        files = sorted(f for f in path.iterdir() if f.suffix.lower() in FRAME_EXTENSIONS)
        check(files, f"frame folder '{path}' holds no JPEG/PNG frames", DataError)
        from .imagefiles import read_image

        return torch.stack([read_image(f).permute(1, 2, 0) for f in files[:stop]])
    import av

    frames = []
    try:
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                frames.append(_rgb(frame))
                if stop is not None and len(frames) >= stop:
                    break
    except (av.error.FFmpegError, OSError, ValueError, IndexError) as e:
        raise DataError(f"video '{path}' could not be decoded: "
                        f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from e
    if not frames:
        raise DataError(f"video '{path}' could not be decoded: no video frames")
    return torch.from_numpy(np.stack(frames))


def _rgb(frame) -> np.ndarray:
    """A decoded PyAV frame as uint8 (H, W, 3) RGB (fast path for FFV1's bgr0)."""
    if frame.format.name == "bgr0":
        plane = frame.planes[0]
        a = np.frombuffer(plane, np.uint8).reshape(frame.height, plane.line_size)[:, :frame.width * 4]
        return a.reshape(frame.height, frame.width, 4)[..., 2::-1]
    return frame.reformat(format="rgb24").to_ndarray()


def probe_video(path: Path) -> bool:
    """True when the first frame decodes."""
    try:
        decode_video(path, stop=1)
        return True
    except DataError:
        return False


def read_flow(folder: Path, idx: Sequence[int]) -> torch.Tensor:
    """Flow frames ``x_%05d.jpg``/``y_%05d.jpg`` (1-based) at ``idx`` -> uint8 (T, H, W, 3) = x, y, magnitude."""
    from .imagefiles import read_image

    if not folder.is_dir():
        raise DataError(f"stream 'flow' needs precomputed flow frames; expected folder '{folder}' does not exist")
    xs = sorted(folder.glob("x_*.jpg"))
    check(xs, f"flow folder '{folder}' holds no x_*.jpg frames", DataError)
    out = []
    for i in idx:
        j = min(i, len(xs) - 1) + 1
        fx, fy = read_image(folder / f"x_{j:05d}.jpg")[0].float(), read_image(folder / f"y_{j:05d}.jpg")[0].float()
        mag = ((fx - 128) ** 2 + (fy - 128) ** 2).sqrt().mul(math.sqrt(2)).clamp(0, 255)
        out.append(torch.stack([fx, fy, mag], -1).round().to(torch.uint8))
    return torch.stack(out)


# -- clips ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClipSpec:
    """How clips are cut and rendered (the cache key of a view set)."""

    frames: int = 16
    interval: int = 2
    size: int | None = 112
    stream: str = "rgb"
    gamma: float = 1.8
    views: int = 3

    def validate(self) -> "ClipSpec":
        check(self.frames >= 1, f"--frames must be >= 1 (got {self.frames})")
        check(self.interval >= 1, f"--interval must be >= 1 (got {self.interval})")
        check(self.size is None or self.size >= 8, f"--image-size must be >= 8 (got {self.size})")
        check(self.views >= 1, f"--views must be >= 1 (got {self.views})")
        check(self.stream in STREAMS, f"unknown stream '{self.stream}'; valid: {', '.join(STREAMS)}")
        gamma_lut(self.gamma)
        return self

    def starts(self, n: int) -> list[int]:
        """The ``views`` fixed clip starts for a video of ``n`` frames (evenly spread)."""
        last = max(0, n - ((self.frames - 1) * self.interval + 1))
        if self.views == 1:
            return [last // 2]
        return [round(v * last / (self.views - 1)) for v in range(self.views)]

    def indices(self, start: int, n: int) -> list[int]:
        """Frame indices of the clip starting at ``start``; short videos loop."""
        return [(start + k * self.interval) % n for k in range(self.frames)]


class VideoClipDataset(Dataset):
    """Clips of listed videos. ``mode``: ``train`` (random clip, crop, flip) -> (C,T,H,W);
    ``eval`` -> all views stacked (V,C,T,H,W); ``views`` -> item k is view k % V of video k // V.

    :meth:`render` cuts one clip and renders it in any stream, so several streams (teachers) see
    exactly the same view.
    """

    def __init__(self, items: Sequence[tuple[Path, int]], spec: ClipSpec, mode: str = "train",
                 flow_dir: Path | None = None, video_dir: Path | None = None):
        check(mode in ("train", "eval", "views"), f"unknown clip mode '{mode}'")
        self.items, self.spec, self.mode = list(items), spec.validate(), mode
        self.flow_dir, self.video_dir = flow_dir, video_dir
        self._lut = gamma_lut(spec.gamma)
        self._last: tuple[int, torch.Tensor] | None = None  # the last decoded video (views of one video)

    def with_options(self, **changes) -> "VideoClipDataset":
        """A copy with another ``mode`` and/or clip spec fields (``stream``, ``views``, ...)."""
        mode = changes.pop("mode", self.mode)
        return VideoClipDataset(self.items, replace(self.spec, **changes), mode, self.flow_dir, self.video_dir)

    def __len__(self) -> int:
        return len(self.items) * (self.spec.views if self.mode == "views" else 1)

    @property
    def targets(self) -> list[int]:
        return [y for _, y in self.items]

    def _flow_folder(self, path: Path) -> Path:
        base = self.flow_dir if self.flow_dir is not None else path.parent.parent / "flow"
        rel = path.relative_to(self.video_dir) if self.video_dir is not None else Path(path.parent.name) / path.name
        return base / rel.with_suffix("")

    def render(self, i: int, view: int | None, streams: Sequence[str], *, train: bool = False,
               generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Video ``i``, clip ``view`` (None: random start) -> {stream: float (C,T,H,W) in [0,1]}.

        A stream ``gamma@G`` is the gamma stream at gamma G instead of the spec's (a teacher trained at
        another gamma sees its own stream of the same clip)."""
        path, _ = self.items[i]
        spec = self.spec
        raw = None
        if any(s != "flow" for s in streams) or view is None:
            if self._last is None or self._last[0] != i:
                self._last = (i, decode_video(path))
            raw = self._last[1]
        n = raw.shape[0] if raw is not None else len(list(self._flow_folder(path).glob("x_*.jpg"))) or 1
        if view is None:
            span = (spec.frames - 1) * spec.interval + 1
            start = int(torch.randint(0, max(1, n - span + 1), (1,), generator=generator))
        else:
            start = spec.starts(n)[view]
        idx = spec.indices(start, n)
        crop = _crop_params(train, generator)
        out = {}
        for s in streams:
            if s == "flow":
                frames = read_flow(self._flow_folder(path), idx)
            else:
                frames = raw[idx]
                if s.startswith("gamma"):
                    frames = self._gamma_lut(s)[frames.long()]
            out[s] = _resize_crop(frames, spec.size, crop)
        return out

    def _gamma_lut(self, stream: str) -> torch.Tensor:
        """The LUT of ``gamma`` (the spec's) or ``gamma@G``."""
        _, at, g = stream.partition("@")
        return gamma_lut(float(g)) if at and float(g) != self.spec.gamma else self._lut

    def __getitem__(self, k: int):
        s = self.spec.stream
        if self.mode == "views":
            i, v = divmod(k, self.spec.views)
            return self.render(i, v, [s])[s], self.items[i][1]
        if self.mode == "eval":
            views = [self.render(k, v, [s])[s] for v in range(self.spec.views)]
            return torch.stack(views), self.items[k][1]
        return self.render(k, None, [s], train=True)[s], self.items[k][1]


def _crop_params(train: bool, g: torch.Generator | None) -> tuple:
    """(offset fraction y, offset fraction x, flip): centre in eval, random in training."""
    if not train:
        return 0.5, 0.5, False
    r = torch.rand(3, generator=g)
    return float(r[0]), float(r[1]), bool(r[2] < 0.5)


def _resize_crop(frames: torch.Tensor, size: int | None, crop: tuple) -> torch.Tensor:
    """uint8 (T,H,W,C) -> float (C,T,size,size) in [0,1]: shorter side to ``size``, crop, flip."""
    x = frames.permute(0, 3, 1, 2).float().div_(255)
    if size is not None:
        h, w = x.shape[-2:]
        scale = size / min(h, w)
        nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
        if (nh, nw) != (h, w):
            x = F.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False).clamp_(0, 1)
        top, left = round((nh - size) * crop[0]), round((nw - size) * crop[1])
        x = x[..., top:top + size, left:left + size]
    if crop[2]:
        x = x.flip(-1)
    return x.permute(1, 0, 2, 3).contiguous()


# -- the ARID builder ----------------------------------------------------------------------------
def _resolve_items(video_dir: Path, pairs: list[tuple[int, str]], skip_bad: bool,
                   split_file: Path) -> list[tuple[Path, int]]:
    items, bad = [], []
    for label, rel in pairs:
        src = resolve_video(video_dir, rel)
        problem = None if src is not None else f"video '{video_dir / rel}' listed in {split_file.name} does not exist"
        if src is not None and skip_bad and src.is_file() and not probe_video(src):
            problem = f"video '{src}' could not be decoded"
        if problem is None:
            items.append((src, label))
        elif skip_bad:
            bad.append(problem)
        else:
            raise DataError(f"{problem}; pass --skip-bad to skip such videos")
    if bad:
        warn(f"skipped {len(bad)} bad video(s) from {split_file.name}, e.g. {bad[0]}")
    check(items, f"no usable videos in {split_file}", DataError)
    return items


def load_arid_layout(root: Path, split: int, spec: ClipSpec, skip_bad: bool = False,
                     name: str = "arid", info: dict | None = None) -> DataBundle:
    """Read an ARID release into a bundle (train: random clips; test: ``spec.views`` fixed views)."""
    lay = find_layout(Path(root), split)
    splits = {part: _resolve_items(lay.video_dirs[part], lay.pairs[part], skip_bad, lay.lists[part])
              for part in ("train", "test")}
    train = VideoClipDataset(splits["train"], spec, "train", lay.flow_dir, lay.video_dirs["train"])
    test = VideoClipDataset(splits["test"], spec, "eval", lay.flow_dir, lay.video_dirs["test"])
    labels = [y for _, y in splits["train"]]
    n = len(lay.classes)
    size = spec.size or int(decode_video(splits["train"][0][0], stop=1).shape[1])
    return DataBundle(name=name, train=train, test=test, num_classes=n, train_counts=class_counts(labels, n),
                      class_names=list(lay.classes), input_shape=(3, spec.frames, size, size),
                      info={"root": str(Path(root).resolve()), "split": split, "spec": spec.__dict__.copy(),
                            "videos": {p: len(v) for p, v in splits.items()}, **lay.info,
                            "val": "none (model selection on test, as in the ARID protocol)", **(info or {})})


@register_dataset("arid")
def arid(root=None, download=False, split: int = 1, frames: int = 16, interval: int = 2, size: int | None = 112,
         stream: str = "rgb", gamma: float = 1.8, views: int = 3, skip_bad: bool = False) -> DataBundle:
    """ARID (v1.0, v1.5 or ARID1.1, found by layout) from ``--data-root``, never downloaded.

    ``lt train video --dataset arid --data-root ARID --official-split 1``
    """
    if download:
        raise LtError("ARID cannot be downloaded by lt; get it from the official repo (xuyu0010/ARID_v1) "
                      "and pass --data-root")
    if root is None:
        raise DataError("dataset 'arid' needs --data-root (an ARID release: list_cvt/ and the clips)")
    return load_arid_layout(Path(root), split, ClipSpec(frames, interval, size, stream, gamma, views), skip_bad)


__all__ = ["ARID_CLASSES", "STREAMS", "ClipSpec", "VideoClipDataset", "gamma_lut", "decode_video", "read_split",
           "read_mapping", "read_challenge_csv", "read_flow", "load_arid_layout"]
