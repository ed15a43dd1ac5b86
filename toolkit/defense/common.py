"""Pieces shared by the defense commands: model building for a dataset, head dropout, adversaries.

Adversarial examples always come from the attack library (``toolkit.attacks.get_attack``); this
module only adapts its interface to training (model put in eval mode while attacking).
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from ..engine.errors import LtError, check


def build_model(name: str, bundle, **extra) -> nn.Module:
    """``get_model`` sized for ``bundle`` (class count; input channels/size for the small nets)."""
    from ..models import get_model

    c = int(bundle.input_shape[0])
    kwargs = dict(extra)
    if name == "smallcnn" and c != 3:
        kwargs.update(in_channels=c, mean=(0.5,) * c, std=(0.5,) * c)
    if name == "mlp":
        kwargs.update(in_features=int(math.prod(bundle.input_shape)))
        if c != 3:
            kwargs.update(mean=(0.5,) * c, std=(0.5,) * c)
    return get_model(name, num_classes=bundle.num_classes, **kwargs)


def head_linear(model: nn.Module) -> nn.Linear:
    """The classifier head (last ``nn.Linear``) of a (wrapped) model."""
    from ..models.wrapper import find_head

    try:
        return find_head(getattr(model, "net", model))[2]
    except ValueError as e:
        raise LtError(f"model has no linear classifier head to put dropout in front of: {e}") from e


def add_head_dropout(model: nn.Module, p: float) -> nn.Linear:
    """Apply dropout with rate ``p`` to the input of the classifier head while the head is training.

    A forward pre-hook (no parameters, no new state-dict keys), so the saved checkpoint is a plain
    model of the same architecture. Returns the head; ``head.training`` switches the dropout.
    """
    check(0.0 <= p < 1.0, f"--dropout must be in [0, 1) (got {p})")
    head = head_linear(model)

    def hook(module: nn.Module, args: tuple) -> tuple:
        return (nn.functional.dropout(args[0], p, training=module.training),) + tuple(args[1:])

    head.register_forward_pre_hook(hook)
    return head


def check_eps(eps: float, name: str = "--eps") -> None:
    check(0.0 < eps <= 1.0 and math.isfinite(eps), f"{name} must be in (0, 1] (got {eps})")


def resolve_alpha(name: str, eps: float, alpha: float | None, steps: int | None) -> float | None:
    """The step size an adversary of ``name`` uses: ``alpha`` when given, else eps (fgsm) or
    2.5·eps/steps (pgd, Madry et al.'s rule); None for ``none``."""
    if name == "none":
        return None
    return alpha if alpha is not None else (eps if name == "fgsm" else 2.5 * eps / steps)


def make_adversary(name: str, eps: float, alpha: float | None = None, steps: int | None = 10,
                   random_start: bool = True) -> Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor] | None:
    """``adv(model, x, y) -> x_adv`` from the attack library (None for ``none``).

    The model is attacked in eval mode (dropout off, BN statistics frozen) and its mode restored; a
    DDP-wrapped model is attacked through its module (each rank attacks its own shard, outside DDP's
    gradient synchronisation).
    """
    if name == "none":
        return None
    check(name in ("fgsm", "pgd"), f"unknown adversarial training attack '{name}'; valid: none, fgsm, pgd")
    check_eps(eps)
    if name == "pgd":
        check(steps is not None and steps >= 1, f"--steps must be >= 1 (got {steps})")
    from ..attacks import get_attack

    alpha = resolve_alpha(name, eps, alpha, steps)

    def adv(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        from ..engine.distributed import unwrap

        model = unwrap(model)
        was = model.training
        model.eval()
        try:
            if name == "fgsm":
                atk = get_attack("fgsm", model, eps=eps)
            else:
                atk = get_attack("pgd", model, eps=eps, alpha=alpha, steps=steps, random_start=random_start)
            x_adv = atk(x, y).detach()
        finally:
            model.train(was)
        return x_adv

    return adv
