"""The [0,1]-input wrapper and explicit classifier-head replacement."""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Normalized(nn.Module):
    """Wrap ``net`` so it takes [0,1] images: optional resize, then ``(x - mean) / std``.

    ``arch`` and ``model_args`` describe how to rebuild it (stored in checkpoints). Mean/std
    broadcast over dim 1 (channels) for images (N,C,H,W) and videos (N,C,T,H,W); 2-D/3-D inputs
    (features, sequences, spectrograms) with ``mean=()`` pass through unchanged.
    """

    def __init__(self, net: nn.Module, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
                 input_size: int | None = None, arch: str = "", model_args: dict[str, Any] | None = None):
        super().__init__()
        self.net = net
        self.input_size = input_size
        self.arch = arch
        self.model_args = dict(model_args or {})
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32), persistent=False)
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32), persistent=False)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_size is not None and x.dim() == 4 and x.shape[-1] != self.input_size:
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False)
        if self.mean.numel() == 0:
            return x
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return (x - self.mean.view(shape).to(x.dtype)) / self.std.view(shape).to(x.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.normalize(x))


def find_head(net: nn.Module) -> tuple[nn.Module, str, nn.Linear]:
    """The last ``nn.Linear`` in module order, with its parent and attribute name."""
    found = None
    for name, mod in net.named_modules():
        if isinstance(mod, (nn.Linear, NormedLinear)):
            found = (name, mod)
    if found is None:
        raise ValueError("model has no nn.Linear classifier head")
    path, lin = found
    parent = net
    *parents, attr = path.split(".")
    for p in parents:
        parent = getattr(parent, p)
    return parent, attr, lin


class NormedLinear(nn.Module):
    """Cosine classifier: normalised features times normalised class weights (LDAM's head)."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_features, out_features).uniform_(-1, 1).renorm_(2, 1, 1e-5).mul_(1e5))
        self.in_features, self.out_features = in_features, out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=1) @ F.normalize(self.weight, dim=0)


def replace_head(net: nn.Module, num_classes: int, normed: bool = False) -> nn.Module:
    """Replace the final linear layer by a fresh one with ``num_classes`` outputs (if it differs),
    or by a cosine :class:`NormedLinear` head when ``normed``."""
    parent, attr, lin = find_head(net)
    if lin.out_features != num_classes or normed:
        new = (NormedLinear(lin.in_features, num_classes) if normed
               else nn.Linear(lin.in_features, num_classes, bias=lin.bias is not None))
        if isinstance(parent, nn.Sequential):
            parent[int(attr)] = new
        else:
            setattr(parent, attr, new)
    return net
