"""Adversarial images on disk: PNG with rounding (not flooring), in the TransferAttack layout.

``save_adv_batch`` writes ``images/<name>.png`` (uint8 = round(255·x)) and the caller writes
``labels.csv`` (``filename,label[,target]``), so ``lt attack eval --adv-dir`` and any other
TransferAttack-style tool can read the directory back. Evaluating what was saved (not the float
tensors) is the protocol of the DTA paper's harness.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

import torch

from ..engine.checkpoint import atomic_path


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """[0,1] float -> uint8 with rounding to the nearest level (flooring would bias by −0.5/255)."""
    return (x.detach().float().cpu() * 255).round_().clamp_(0, 255).to(torch.uint8)


def save_png(x: torch.Tensor, path: str | Path) -> None:
    """Save one (C,H,W) [0,1] image as an RGB (or grey) PNG."""
    from PIL import Image

    arr = to_uint8(x).permute(1, 2, 0).numpy()
    img = Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr)
    img.save(path, format="PNG")


def save_adv_batch(images: torch.Tensor, names: Sequence[str], folder: str | Path) -> list[str]:
    """Save a batch as ``folder/<name>.png``; returns the file names written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for x, name in zip(images, names, strict=True):
        save_png(x, folder / f"{name}.png")
        files.append(f"{name}.png")
    return files


def write_labels(path: str | Path, files: Sequence[str], labels: Sequence[int],
                 targets: Sequence[int] | None = None) -> None:
    """``labels.csv`` with ``filename,label`` (+ ``target`` for targeted runs), written atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["filename", "label"] + (["target"] if targets is not None else []))
            for i, (fn, y) in enumerate(zip(files, labels, strict=True)):
                w.writerow([fn, int(y)] + ([int(targets[i])] if targets is not None else []))
