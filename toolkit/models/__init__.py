"""Model registry: our models by name, plus every torchvision classification/video model.

Every model returned by :func:`get_model` is wrapped in :class:`Normalized`, so it takes images in
[0, 1] and normalises inside (attacks, defenses and pruning calibration work in pixel space).

>>> m = get_model("resnet32", num_classes=10)        # CIFAR ResNet
>>> m = get_model("resnet50", num_classes=1000, weights="IMAGENET1K_V2")   # torchvision
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from ..engine.errors import LtError
from ..engine.registry import Registry, load_plugins, unknown_name_message
from .wrapper import IMAGENET_MEAN, IMAGENET_STD, Normalized, NormedLinear, find_head, replace_head

MODELS = Registry("model")
# Modules of this package that register models on import (one that fails to import is an error naming it).
_PLUGINS = ("toolkit.models.cifar_resnet", "toolkit.models.small", "toolkit.models.video",
            "toolkit.models.audio", "toolkit.models.sequence")

# Composite models (a registry model plus a method family's parts) by checkpoint ``arch``:
# ``fn(ckpt) -> nn.Module`` (untrained; weights loaded by build_from_checkpoint), named lazily so that
# ``import toolkit.models`` imports no method family and a family is imported only to load its checkpoint.
COMPOSITE_MODELS = Registry("composite model")
COMPOSITE_MODELS.register_lazy("lcreg", "toolkit.longtail.lcreg:lcreg_from_checkpoint")
COMPOSITE_MODELS.register_lazy("facm", "toolkit.defense.facm:facm_from_checkpoint")
_loaded = False


def register_model(name: str) -> Callable:
    """Decorator: ``@register_model("resnet32")`` on ``builder(num_classes, **kwargs) -> nn.Module``.

    The builder may set ``default_mean``/``default_std`` attributes (per-channel) on the function.
    """
    return MODELS.register(name)


def _load_plugins() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    load_plugins(_PLUGINS, "model")


def input_side(model: nn.Module) -> int:
    """The square image side ``model`` expects: its own ``input_size``, else 32 for lt's CIFAR/small nets,
    else 224 (torchvision's ImageNet models)."""
    size = getattr(model, "input_size", None)
    if size:
        return int(size)
    _load_plugins()
    return 32 if getattr(model, "arch", "") in MODELS else 224


def _torchvision_names() -> dict[str, Any]:
    import torchvision.models as tvm

    names = {n: tvm for n in tvm.list_models(module=tvm)}
    names.update({n: tvm.video for n in tvm.list_models(module=tvm.video)})
    return names


def list_models(include_torchvision: bool = True) -> list[str]:
    """Names :func:`get_model` accepts."""
    _load_plugins()
    names = set(MODELS.names())
    if include_torchvision:
        names |= set(_torchvision_names())
    return sorted(names)


def get_model(name: str, num_classes: int | None = None, weights: str | None = None,
              mean: tuple | None = None, std: tuple | None = None, input_size: int | None = None,
              **kwargs: Any) -> Normalized:
    """Build a model by name and wrap it for [0,1] input.

    Args:
        name: an lt model (``resnet32``, ``smallcnn``, ...) or any torchvision model name.
        num_classes: output classes; with ``weights`` the backbone is loaded first and the head is
            replaced (fresh) when it differs from the weights' class count. None with weights: theirs.
        weights: a torchvision weights name (``IMAGENET1K_V2``, ``DEFAULT`` or
            ``ResNet50_Weights.IMAGENET1K_V2``), read from the torch hub cache only, or a path to a
            torchvision/timm state dict or lt checkpoint (see :mod:`toolkit.models.weights`).
            None: random init. Nothing is ever downloaded.
        mean, std: normalisation inside the wrapper (default: the model family's).
        input_size: if set, inputs are resized to this side inside the wrapper (e.g. 299 for Inception).
        normed_head: replace the classifier by a cosine head (LDAM), recorded in ``model_args``.
    """
    _load_plugins()
    normed_head = bool(kwargs.pop("normed_head", False))
    if name in MODELS:
        builder = MODELS.get(name)
        net = builder(num_classes=num_classes if num_classes is not None else 10, **kwargs)
        mean = mean or getattr(builder, "default_mean", IMAGENET_MEAN)
        std = std or getattr(builder, "default_std", IMAGENET_STD)
        if weights:
            _load_weight_file(net, weights, num_classes, arch=name)
    else:
        tv = _torchvision_names()
        if name not in tv:
            raise LtError(unknown_name_message("model", name, list_models()))
        net = _build_torchvision(tv[name], name, num_classes, weights, **kwargs)
        mean, std = mean or IMAGENET_MEAN, std or IMAGENET_STD
        if input_size is None and name.startswith("inception"):
            input_size = 299
    if normed_head:
        replace_head(net, num_classes if num_classes is not None else find_head(net)[2].out_features, normed=True)
    if weights and num_classes is None:  # the head the weights brought (rebuilds from model_args)
        num_classes = getattr(find_head(net)[2], "out_features", None) if _has_head(net) else None
    if getattr(net, "transform_input", False):  # torchvision's Inception/GoogLeNet weights set it
        kwargs["transform_input"] = True
    args = {"name": name, "num_classes": num_classes, "mean": list(mean), "std": list(std),
            "input_size": input_size, **kwargs, **({"normed_head": True} if normed_head else {})}
    return Normalized(net, mean, std, input_size=input_size, arch=name, model_args=args)


def _build_torchvision(module: Any, name: str, num_classes: int | None, weights: str | None, **kwargs) -> nn.Module:
    """A torchvision model: weights NAME from the hub cache (never downloaded), or FILE, or random init."""
    import torchvision.models as tvm

    from .weights import build_pretrained, load_weights_file, resolve_weights

    w = resolve_weights(name, weights) if weights and not os.path.exists(weights) else None
    if (name.startswith("inception") or name == "googlenet") and w is None:
        kwargs.setdefault("aux_logits", False)
        kwargs.setdefault("init_weights", False)
    if w is not None:
        return build_pretrained(name, w, num_classes, **kwargs)
    net = tvm.get_model(name, weights=None, num_classes=num_classes or 1000, **kwargs)
    if weights:
        load_weights_file(net, weights, num_classes, arch=name)
    return net


def _has_head(net: nn.Module) -> bool:
    return any(isinstance(m, (nn.Linear, NormedLinear)) for m in net.modules())


def _load_weight_file(net: nn.Module, path: str, num_classes: int | None = None, arch: str = "model") -> None:
    from .weights import load_weights_file

    load_weights_file(net, path, num_classes, arch=arch)


def build_from_checkpoint(ckpt: dict) -> Normalized:
    """Rebuild the wrapped model a checkpoint describes and load its weights (no download).

    A composite ``arch`` (``lcreg``, ``facm``: :data:`COMPOSITE_MODELS`) is rebuilt by its family's
    function, imported on first use; any other by :func:`get_model` from ``model_args``.
    """
    from ..engine.checkpoint import load_state_into

    args = dict(ckpt.get("model_args") or {})
    name = args.pop("name", ckpt.get("arch"))
    arch = ckpt.get("arch") or ""
    if arch in COMPOSITE_MODELS:
        model = COMPOSITE_MODELS.get(arch)(ckpt)
    else:
        args.pop("weights", None)
        model = get_model(name, **args)
    load_state_into(model, ckpt["state_dict"], source=f"checkpoint '{ckpt.get('path', '?')}'")
    return model


def load_model(spec: str, num_classes: int | None = None, weights: str | None = None,
               device: torch.device | str = "cpu", **kwargs: Any) -> nn.Module:
    """A model from a checkpoint file, a run dir, or a registry/torchvision name (eval mode)."""
    from ..engine.checkpoint import load_checkpoint

    p = Path(spec)
    if p.exists() or os.sep in spec or spec.endswith((".pt", ".pth")):
        ckpt = load_checkpoint(p)
        model = build_from_checkpoint(ckpt)
        n = _num_classes(ckpt)
        if num_classes is not None and n is not None and n != num_classes:
            raise LtError(f"checkpoint '{spec}' predicts {n} classes but the data has {num_classes}")
    else:
        model = get_model(spec, num_classes=num_classes, weights=weights, **kwargs)
    return model.to(device).eval()


def _num_classes(ckpt: dict) -> int | None:
    return (ckpt.get("model_args") or {}).get("num_classes")


__all__ = ["MODELS", "Normalized", "get_model", "input_side", "list_models", "load_model", "register_model",
           "build_from_checkpoint", "COMPOSITE_MODELS", "replace_head"]
