"""Layer-adaptive weight pruning: rate-distortion curves + exact DP (``rd``) and baselines.

Xu et al., "Efficient Joint Optimization of Layer-Adaptive Weight Pruning in Deep Neural Networks",
ICCV 2023, arXiv 2308.10438. ``lt prune --ratio 0.7 resnet50`` (see ``docs/prune.md``).

Methods registry (name -> allocator ``fn(weights, ratio, **kw) -> zero counts per layer``):
``rd`` (needs curves), ``lamp``, ``global``, ``uniform``, ``uniform-plus``, ``erk``.
"""

from __future__ import annotations

from ..engine.registry import Registry

METHODS = Registry("pruning method")
METHODS.register_lazy("rd", "toolkit.prune.dp:rd")
METHODS.register_lazy("lamp", "toolkit.prune.baselines:lamp")
METHODS.register_lazy("global", "toolkit.prune.baselines:global_magnitude")
METHODS.register_lazy("uniform", "toolkit.prune.baselines:uniform")
METHODS.register_lazy("uniform-plus", "toolkit.prune.baselines:uniform_plus")
METHODS.register_lazy("erk", "toolkit.prune.baselines:erk")


def list_methods() -> list[str]:
    """Names ``--method`` accepts."""
    return METHODS.names()


def get_method(name: str):
    """The allocator for ``name`` (unknown names list the valid ones)."""
    return METHODS.get(name)


__all__ = ["METHODS", "list_methods", "get_method"]
