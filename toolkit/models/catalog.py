"""What ``lt models`` lists: model names, and the weights names of one model with their cache files.

    lt models resnet*              # names matching a glob (or containing the text)
    lt models weights resnet50     # IMAGENET1K_V1/V2: the file each needs in the hub cache, present or not
"""

from __future__ import annotations

from ..engine.errors import LtError
from ..engine.registry import matches, unknown_name_message
from ..engine.report import Report


def model_table(pattern: str | None = None) -> Report:
    """Every name ``get_model`` accepts (lt's own first, then torchvision's), optionally filtered."""
    from . import MODELS, _load_plugins, _torchvision_names

    _load_plugins()
    rows = []
    for name in MODELS.names():
        if matches(name, pattern):
            doc = (MODELS.get(name).__doc__ or "").strip().splitlines()
            rows.append({"model": name, "source": "lt", "weights": None, "what": doc[0] if doc else "-"})
    for name, module in sorted(_torchvision_names().items()):
        if name in MODELS or not matches(name, pattern):
            continue
        rows.append({"model": name, "source": module.__name__.replace("torchvision.models", "torchvision"),
                     "weights": len(_enum_or_empty(name)), "what": "-"})
    if not rows:
        raise LtError(f"no model name matches '{pattern}' (lt models lists them all)")
    return Report("models", rows=rows, notes=["weights: torchvision weights names (lt models weights NAME); "
                                              "any model also takes --weights FILE"])


def weights_table(name: str) -> Report:
    """The torchvision weights names of ``name``: cache file, present or not, URL, classes, ImageNet acc@1."""
    from . import MODELS, _load_plugins, _torchvision_names, list_models
    from .weights import cache_dir, cache_file, weights_enum

    _load_plugins()
    if name in MODELS:
        raise LtError(f"'{name}' is an lt model: it has no torchvision weights names; pass --weights FILE")
    if name not in _torchvision_names():
        raise LtError(unknown_name_message("model", name, list_models()))
    enum = weights_enum(name)
    default = getattr(enum, "DEFAULT", None)
    rows = []
    for w in enum:
        metrics = next(iter(w.meta.get("_metrics", {}).values()), {})
        rows.append({"weights": w.name, "default": w is default, "file": cache_file(w).name,
                     "present": cache_file(w).is_file(), "classes": len(w.meta.get("categories") or []) or None,
                     "acc@1": metrics.get("acc@1"), "url": w.url})
    return Report(f"weights of {name}", rows=rows, summary={"cache_dir": str(cache_dir())},
                  notes=[f"lt never downloads: put each file into {cache_dir()} (TORCH_HOME/hub/checkpoints); "
                         f"--weights DEFAULT is the row marked default"])


def _enum_or_empty(name: str) -> list:
    import torchvision.models as tvm

    try:
        return list(tvm.get_model_weights(name))
    except (ValueError, KeyError):
        return []
