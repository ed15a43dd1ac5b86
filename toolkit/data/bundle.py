"""A dataset bundle: train / val / test splits plus what methods need to know about them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
from torch.utils.data import Dataset


@dataclass
class DataBundle:
    """Splits and metadata. ``train_counts[c]`` is the number of training samples of class c.

    ``val`` is None when the dataset has no validation split (then model selection uses ``test``,
    and reports say so). Image datasets yield ``(float tensor in [0,1] (C,H,W), int label)``.
    """

    name: str
    train: Dataset
    test: Dataset
    num_classes: int
    train_counts: list[int]
    val: Dataset | None = None
    class_names: list[str] = field(default_factory=list)
    input_shape: tuple[int, ...] = (3, 32, 32)
    info: dict[str, Any] = field(default_factory=dict)


class TensorImageDataset(Dataset):
    """Images held in memory as a uint8 tensor (N,C,H,W) with labels, plus an optional transform."""

    def __init__(self, images: torch.Tensor, labels: Sequence[int], transform=None):
        self.images = images
        self.labels = torch.as_tensor(list(labels), dtype=torch.long)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        x = self.images[i].float().div_(255)
        if self.transform is not None:
            x = self.transform(x)
        return x, int(self.labels[i])

    @property
    def targets(self) -> list[int]:
        return self.labels.tolist()


class Resized(Dataset):
    """A dataset of ``(image, label)`` whose images are resized to ``size`` x ``size`` (``--image-size``)."""

    def __init__(self, base: Dataset, size: int):
        self.base, self.size = base, int(size)

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int):
        import torch.nn.functional as F

        x, *rest = self.base[i]
        if x.shape[-2:] != (self.size, self.size):
            x = F.interpolate(x.unsqueeze(0), size=(self.size, self.size), mode="bilinear", align_corners=False,
                              antialias=True).squeeze(0).clamp_(0, 1)
        return (x, *rest)

    @property
    def targets(self) -> list[int]:
        return list(self.base.targets)


def class_counts(labels: Sequence[int], num_classes: int) -> list[int]:
    return torch.bincount(torch.as_tensor(list(labels), dtype=torch.long), minlength=num_classes).tolist()
