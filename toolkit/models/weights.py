"""Pretrained weights, offline: torchvision weights names from the torch hub cache, and weight files.

``--weights NAME`` (``IMAGENET1K_V2``, ``DEFAULT``, or ``ResNet50_Weights.IMAGENET1K_V2``) is read
from ``torch.hub.get_dir()/checkpoints/<file>`` (``$TORCH_HOME/hub/checkpoints``, default
``~/.cache/torch/hub/checkpoints``), the file named as torchvision names it: the basename of the
weights' URL. lt never downloads: an absent file is one error naming the file, the directory and
the URL to fetch it from on a connected machine. Files load with ``weights_only=True``.

``--weights FILE`` takes a plain torchvision state dict, a timm one whose tensor names are
torchvision's (timm's ResNets: ``conv1``, ``bn1``, ``layer1.0...``, ``fc``), a training checkpoint
that holds one under ``state_dict``, ``model`` or ``module``, or an lt checkpoint. The backbone is loaded first, then
the head is replaced when the class count differs (an ImageNet file fine-tunes to Places-LT's 365 classes);
every other tensor must match by name and shape. What was loaded and re-initialised goes to stderr.

    lt models weights resnet50          # the names, the cache file each needs, present or not
    lt attack dta --surrogate resnet50 --weights IMAGENET1K_V2 --victims vgg16 --dataset DIR
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlparse

import torch
from torch import nn

from ..engine.checkpoint import strip_prefixes
from ..engine.errors import CheckpointError, LtError
from ..engine.report import log
from .wrapper import NormedLinear, replace_head

# Auxiliary classifiers torchvision files carry but our default build of the model drops.
AUX_PREFIXES = ("AuxLogits.", "aux1.", "aux2.")


def cache_dir() -> Path:
    """Where torchvision looks for weights: ``torch.hub.get_dir()/checkpoints``."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def cache_file(weights: Any) -> Path:
    """The cache path torchvision uses for a weights enum member (the basename of its URL)."""
    return cache_dir() / os.path.basename(urlparse(weights.url).path)


def weights_enum(name: str) -> Any:
    """The torchvision weights enum of model ``name`` (an LtError when it has none)."""
    import torchvision.models as tvm

    try:
        return tvm.get_model_weights(name)
    except (ValueError, KeyError) as e:
        raise LtError(f"model '{name}' has no torchvision weights names; pass --weights FILE") from e


def resolve_weights(name: str, weights: str) -> Any:
    """``IMAGENET1K_V2`` / ``DEFAULT`` / ``ResNet50_Weights.IMAGENET1K_V2`` -> the enum member."""
    enum = weights_enum(name)
    cls, _, member = weights.rpartition(".")
    valid = [w.name for w in enum] + ["DEFAULT"]
    if cls and cls != enum.__name__:
        raise LtError(f"--weights '{weights}' are not weights of {name} ({enum.__name__}); valid: {', '.join(valid)}")
    try:
        return enum[member]
    except KeyError as e:
        raise LtError(f"unknown weights '{weights}' for {name}; valid: {', '.join(valid)} or a file path") from e


def missing_message(w: Any) -> str:
    path = cache_file(w)
    return (f"weights {type(w).__name__}.{w.name} are not in the torch hub cache: put '{path.name}' into "
            f"'{path.parent}' (fetch it on a connected machine from {w.url}); lt never downloads")


def read_cached(w: Any) -> dict[str, torch.Tensor]:
    """The cached state dict of weights ``w`` (``weights_only=True``); absent is an LtError."""
    path = cache_file(w)
    if not path.is_file():
        raise LtError(missing_message(w))
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - a truncated/foreign cache file is a user-facing problem
        raise CheckpointError(f"cached weights '{path}' could not be read with weights_only=True "
                              f"({_first_line(e)}); fetch it again from {w.url}") from e


@contextlib.contextmanager
def offline_weights(counter: dict) -> Iterator[None]:
    """Within: torchvision weights load from the hub cache only (never the network), counted in ``counter``."""
    from torchvision.models._api import WeightsEnum

    original = WeightsEnum.get_state_dict

    def cached(self: Any, *args: Any, **kwargs: Any) -> dict:
        sd = read_cached(self)
        counter["tensors"] = len(sd)
        counter["file"] = str(cache_file(self))
        return sd

    WeightsEnum.get_state_dict = cached
    try:
        yield
    finally:
        WeightsEnum.get_state_dict = original


def build_pretrained(name: str, w: Any, num_classes: int | None, **kwargs: Any) -> nn.Module:
    """torchvision ``name`` with weights ``w`` from the cache; the head replaced for ``num_classes``."""
    import torchvision.models as tvm

    if not cache_file(w).is_file():
        raise LtError(missing_message(w))
    counter: dict = {}
    with offline_weights(counter):
        net = tvm.get_model(name, weights=w, **kwargs)
    if hasattr(net, "AuxLogits"):
        net.aux_logits, net.AuxLogits = False, None
    reinit = _replace_head(net, num_classes)
    log(f"--weights {type(w).__name__}.{w.name}: loaded {counter.get('tensors', 0)} tensors from "
        f"{counter.get('file')}; {_reinit_text(reinit, num_classes)}")
    return net


def read_weights_file(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], str]:
    """A state dict out of a weights file, and what kind of file it was."""
    p = Path(path)
    if not p.is_file():
        raise LtError(f"--weights '{path}' is neither a known weights name nor an existing file")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure is a user-facing file problem
        raise CheckpointError(f"--weights '{path}' could not be read with weights_only=True: {_first_line(e)}") from e
    kind = "state dict"
    if isinstance(obj, dict) and "format_version" in obj and isinstance(obj.get("state_dict"), dict):
        obj, kind = obj["state_dict"], "lt checkpoint"
        if any(k.startswith("net.") for k in obj):
            obj = {k[4:]: v for k, v in obj.items() if k.startswith("net.")}
    elif isinstance(obj, dict):
        for key in ("state_dict", "model", "module"):
            if isinstance(obj.get(key), dict):
                obj, kind = obj[key], f"'{key}' of a training checkpoint"
                break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"--weights '{path}' holds no state dict (a dict of tensors, a checkpoint with "
                              f"'state_dict'/'model'/'module', or an lt checkpoint)")
    return strip_prefixes(obj), kind


def load_weights_file(net: nn.Module, path: str | os.PathLike, num_classes: int | None = None,
                      arch: str = "model") -> None:
    """Load ``path`` into ``net``: backbone first, then a fresh head if ``num_classes`` differs.

    The net's head is first sized to the file's (so every tensor of the file loads, strictly); then,
    when ``num_classes`` is given and differs, it is replaced by a freshly initialised one. A file
    without a head leaves the head initialised. Any other missing, unexpected or differently shaped
    tensor is a :class:`CheckpointError` (a file for another architecture), as is a file that
    matches nothing.
    """
    source = f"--weights '{path}'"
    sd, kind = read_weights_file(path)
    head = _head(net)
    file_classes = _file_classes(sd, head)
    if head is not None and file_classes is not None and isinstance(head[1], nn.Linear) \
            and head[1].out_features != file_classes:
        replace_head(net, file_classes)
        head = _head(net)
    model_keys = set(net.state_dict())
    aux = [k for k in sd if k.startswith(AUX_PREFIXES) and k not in model_keys]
    sd = {k: v for k, v in sd.items() if k not in aux}
    headless = head is not None and not any(k.startswith(head[0] + ".") for k in sd)
    _check_match(net, sd, source, arch, head[0] if headless else None)
    net.load_state_dict(sd, strict=not headless)
    target = num_classes if num_classes is not None else file_classes
    reinit = _replace_head(net, target) if not headless else _head_tensors(net)
    skipped = f"; skipped {len(aux)} auxiliary-classifier tensors" if aux else ""
    log(f"{source}: loaded {len(sd)} tensors ({kind}){skipped}; {_reinit_text(reinit, target)}")


def _check_match(net: nn.Module, sd: dict, source: str, arch: str, head_prefix: str | None) -> None:
    msd = net.state_dict()
    matched = [k for k, v in sd.items() if k in msd and tuple(v.shape) == tuple(msd[k].shape)]
    if not matched:
        raise CheckpointError(f"{source} matches nothing in {arch}: none of its {len(sd)} tensors has the name "
                              f"and shape of one of the model's {len(msd)} (a weights file for another architecture?)")
    missing = [k for k in msd if k not in sd and not (head_prefix and k.startswith(head_prefix + "."))]
    unexpected = [k for k in sd if k not in msd]
    shape = [k for k in sd if k in msd and tuple(sd[k].shape) != tuple(msd[k].shape)]
    if missing or unexpected or shape:
        parts = [f"{len(v)} {what} (e.g. {v[0]})" for what, v in
                 (("missing", missing), ("unexpected", unexpected), ("of another shape", shape)) if v]
        if shape:
            k = shape[0]
            parts[-1] += f": file {tuple(sd[k].shape)} vs model {tuple(msd[k].shape)}"
        raise CheckpointError(f"{source} does not match {arch} (a weights file for another architecture?): "
                              f"{len(matched)} of {len(msd)} tensors match; " + ", ".join(parts))


def _head(net: nn.Module) -> tuple[str, nn.Module] | None:
    """(module path, module) of the last Linear/NormedLinear, or None for a model without one."""
    found = None
    for name, mod in net.named_modules():
        if isinstance(mod, (nn.Linear, NormedLinear)):
            found = (name, mod)
    return found


def _file_classes(sd: dict, head: tuple[str, nn.Module] | None) -> int | None:
    if head is None or not isinstance(head[1], nn.Linear):
        return None
    w = sd.get(f"{head[0]}.weight")
    return int(w.shape[0]) if w is not None and w.ndim == 2 else None


def _head_tensors(net: nn.Module) -> list[str]:
    head = _head(net)
    return [f"{head[0]}.{n}" for n, _ in head[1].named_parameters()] if head else []


def _replace_head(net: nn.Module, num_classes: int | None) -> list[str]:
    """Replace the head when ``num_classes`` differs from it; the re-initialised tensor names."""
    head = _head(net)
    if num_classes is None or head is None or getattr(head[1], "out_features", num_classes) == num_classes:
        return []
    replace_head(net, num_classes)
    return _head_tensors(net)


def _reinit_text(names: list[str], num_classes: int | None) -> str:
    if not names:
        return "re-initialised nothing"
    return f"re-initialised {len(names)} ({', '.join(names)}) for {num_classes} classes"


def _first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__
