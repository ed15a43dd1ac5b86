"""Torch side of the MuSe data: sequence datasets, stress windowing and the padding collate.

A batch is a dict ``{"x": (B, T, D) float, "mask": (B, T) bool, "y": targets}``; ``y`` is (B, 1)
for humor, (B, 7) for reaction and (B, T, 2) for stress (NaN where a label is missing).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from .muse_layout import check_windows
from .muse_loaders import Sample


def window(samples: list[Sample], win_length: int = 200, hop_length: int = 100) -> list[Sample]:
    """Cut per-step sequences into windows of ``win_length`` steps every ``hop_length`` (official 200/100).

    The last window ends at the sequence end (it may be shorter), as the baseline's segmentation does.
    """
    check_windows(win_length, hop_length)
    out = []
    for s in samples:
        n = len(s.x)
        for start in range(0, n, hop_length):
            end = min(start + win_length, n)
            out.append(Sample(f"{s.key}@{start}", s.group, s.x[start:end], s.y[start:end], s.meta[start:end]))
            if end == n:
                break
    return out


class SeqDataset(Dataset):
    """``(x (T, D) float32, y)`` pairs, with optional train-time augmentation (our choices of form):

    ``noise``: std of Gaussian noise added to the features; ``time_mask``: zero one random span of
    up to this fraction of the steps (n-to-1 tasks; per-step stress labels keep their targets).
    """

    def __init__(self, samples: list[Sample], noise: float = 0.0, time_mask: float = 0.0):
        self.samples = samples
        self.noise = float(noise)
        self.time_mask = float(time_mask)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int):
        s = self.samples[i]
        x = torch.from_numpy(np.ascontiguousarray(s.x, dtype=np.float32))
        if self.noise > 0:
            x = x + self.noise * torch.randn_like(x)
        span = int(self.time_mask * len(x) * float(torch.rand(())))
        if span > 0:
            start = int(torch.randint(0, len(x) - span + 1, ()))
            x = x.clone()
            x[start:start + span] = 0.0
        return x, torch.tensor(np.asarray(s.y, dtype=np.float32))


def collate(batch: list[tuple[torch.Tensor, torch.Tensor]]) -> dict:
    """Pad to the longest sequence; ``mask`` marks real steps. Per-step targets are padded with NaN."""
    xs, ys = zip(*batch, strict=True)
    lengths = torch.tensor([len(x) for x in xs])
    t_max, d = int(lengths.max()), xs[0].shape[1]
    x = torch.zeros(len(xs), t_max, d)
    mask = torch.arange(t_max)[None, :] < lengths[:, None]
    for i, xi in enumerate(xs):
        x[i, : len(xi)] = xi
    if ys[0].dim() == 2:  # per-step targets
        y = torch.full((len(ys), t_max, ys[0].shape[1]), float("nan"))
        for i, yi in enumerate(ys):
            y[i, : len(yi)] = yi
    else:
        y = torch.stack(ys)
    return {"x": x, "mask": mask, "y": y}
