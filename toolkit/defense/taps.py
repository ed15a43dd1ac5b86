"""Where FACM taps a backbone: the family's default middle layers, layer lookup, and the backbone a
checkpoint holds (checked before a run starts). No options and no FACM model here, so the torch-free
options (``toolkit.defense.options``) can resolve ``--feature-layers`` through this module without an
import circle."""

from __future__ import annotations

from torch import nn

from ..engine.errors import LtError
from ..engine.registry import unknown_name_message

DEFAULT_LAYERS = {"SmallCNN": ["features.3", "features.7"], "CifarResNet": ["layer1", "layer2"],
                  "ResNet": ["layer2", "layer3"], "MLP": ["body.2"]}


def default_layers(backbone: nn.Module) -> list[str]:
    net = getattr(backbone, "net", backbone)
    name = type(net).__name__
    if name not in DEFAULT_LAYERS:
        raise LtError(f"no default --feature-layers for a {name} backbone; pass --feature-layers NAME,NAME "
                      f"(available: {', '.join(available_layers(backbone)[:40])})")
    return list(DEFAULT_LAYERS[name])


def available_layers(backbone: nn.Module) -> list[str]:
    net = getattr(backbone, "net", backbone)
    return [n for n, _ in net.named_modules() if n]


def resolve_layer(backbone: nn.Module, path: str) -> nn.Module:
    """The module at ``path`` inside the backbone network (a leading ``net.`` is accepted)."""
    net = getattr(backbone, "net", backbone)
    p = path[4:] if path.startswith("net.") else path
    names = available_layers(backbone)
    if p not in names:
        raise LtError(unknown_name_message("layer", path, names).replace("unknown layer",
                                                                         "--feature-layers: no module"))
    return net.get_submodule(p)


def _backbone_of(backbone: str, feature_layers: list[str] | None) -> tuple[dict, nn.Module, list[str]]:
    """The backbone checkpoint, its model (weights loaded, eval mode) and the tapped layers (the family's
    defaults when none are given), all checked before the run starts."""
    from ..engine.checkpoint import load_checkpoint
    from ..models import build_from_checkpoint

    ckpt = load_checkpoint(backbone)
    if ckpt.get("arch") == "facm":  # FACM.arch
        raise LtError(f"--backbone '{backbone}' is already a FACM pipeline; pass the plain backbone checkpoint")
    net = build_from_checkpoint(ckpt).eval()
    layers = list(feature_layers) if feature_layers else default_layers(net)
    for name in layers:
        resolve_layer(net, name)
    return ckpt, net, layers


def backbone_layers(backbone: str) -> list[str]:
    """The family's default taps of the backbone in ``backbone`` (a checkpoint file or run dir)."""
    return _backbone_of(backbone, None)[2]
