"""Prunable layers and magnitude masks in ``torch.nn.utils.prune`` form.

A prunable layer is the ``weight`` of every ``nn.Conv1d/2d/3d`` and ``nn.Linear`` module (first conv
and classifier included; biases and norm layers are never pruned), as in Xu et al., "Efficient Joint
Optimization of Layer-Adaptive Weight Pruning in Deep Neural Networks", ICCV 2023, arXiv 2308.10438.

A layer pruned to ``c`` zeros keeps all but its ``c`` smallest-|w| weights (ties broken by position,
already-zeroed weights first, so nothing pruned is ever revived). Masks are saved as
``{"<module>.weight_mask": float tensor}`` -- the buffer names ``torch.nn.utils.prune`` uses -- and
:func:`attach_masks` / :func:`fold_masks` go through ``torch.nn.utils.prune`` itself. Used by every
``lt prune --method ...``; the run dir's ``masks.pt``
holds these masks.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import prune as tprune

from ..engine.errors import LtError

PRUNABLE = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


@dataclass
class Layer:
    """One prunable weight: ``name`` is the module path inside the model (e.g. ``net.layer1.0.conv1``)."""

    name: str
    module: nn.Module

    @property
    def weight(self) -> torch.Tensor:
        return self.module.weight

    @property
    def size(self) -> int:
        return self.module.weight.numel()

    @property
    def kind(self) -> str:
        return "linear" if isinstance(self.module, nn.Linear) else "conv"


def prunable_layers(model: nn.Module) -> list[Layer]:
    """All Conv/Linear weights in module order; a model without any is a user error."""
    layers = [Layer(n, m) for n, m in model.named_modules() if isinstance(m, PRUNABLE) and m.weight is not None]
    if not layers:
        raise LtError(f"model {type(model).__name__} has no prunable layers (no Conv or Linear weights)")
    return layers


def current_zero_counts(layers: list[Layer]) -> list[int]:
    """How many weights of each layer are exactly zero now (the current masks)."""
    return [int((ly.weight.detach() == 0).sum()) for ly in layers]


def magnitude_keys(weight: torch.Tensor) -> torch.Tensor:
    """Unique int64 sort keys ordering weights by |w| (float32 bits, exact for non-negative floats),
    ties broken by position; zeros come first, so nothing already pruned is ever revived."""
    bits = weight.detach().abs().float().contiguous().view(torch.int32).to(torch.int64)
    return (bits << 32) | torch.arange(weight.numel(), device=weight.device).view_as(weight)


class MagnitudeOrder:
    """One sort of a layer's weights; ``mask(c)`` is the keep-mask zeroing exactly the ``c`` smallest."""

    def __init__(self, weight: torch.Tensor):
        self.keys = magnitude_keys(weight)
        self.ordered = torch.sort(self.keys.flatten()).values

    def mask(self, c: int) -> torch.Tensor:
        if c <= 0:
            return torch.ones_like(self.keys, dtype=torch.bool)
        return self.keys > self.ordered[int(c) - 1]


def keep_mask(weight: torch.Tensor, zeros: int) -> torch.Tensor:
    """Bool mask (True = keep) zeroing exactly the ``zeros`` smallest-|w| entries of ``weight``."""
    if not 0 <= zeros <= weight.numel():
        raise ValueError(f"zero count {zeros} outside [0, {weight.numel()}]")
    keys = magnitude_keys(weight)
    if zeros == 0:
        return torch.ones_like(keys, dtype=torch.bool)
    return keys > torch.kthvalue(keys.flatten().cpu(), int(zeros)).values.to(keys.device)


def apply_counts(layers: list[Layer], counts: list[int]) -> dict[str, torch.Tensor]:
    """Zero the ``counts[l]`` smallest weights of each layer in place; return the masks (prune form)."""
    masks = {}
    with torch.no_grad():
        for ly, c in zip(layers, counts, strict=True):
            m = keep_mask(ly.weight, int(c))
            ly.weight.mul_(m.to(ly.weight.dtype))
            masks[f"{ly.name}.weight_mask"] = m.to(torch.float32).cpu()
    return masks


def attach_masks(model: nn.Module, masks: dict[str, torch.Tensor]) -> None:
    """Re-parametrise ``weight = weight_orig * weight_mask`` with ``torch.nn.utils.prune.custom_from_mask``
    (used while fine-tuning so pruned weights stay zero)."""
    modules = dict(model.named_modules())
    for key, mask in masks.items():
        name = key[: -len(".weight_mask")]
        if name not in modules:
            raise LtError(f"mask '{key}' names no module of this model")
        mod = modules[name]
        tprune.custom_from_mask(mod, "weight", mask.to(device=mod.weight.device, dtype=mod.weight.dtype))


def fold_masks(model: nn.Module) -> None:
    """Make every ``torch.nn.utils.prune`` re-parametrisation permanent (``prune.remove``)."""
    for mod in model.modules():
        if tprune.is_pruned(mod) and hasattr(mod, "weight_orig"):
            tprune.remove(mod, "weight")


def sparsity(layers: list[Layer]) -> float:
    """Fraction of zero weights over all prunable layers."""
    zeros = sum(current_zero_counts(layers))
    return zeros / sum(ly.size for ly in layers)
