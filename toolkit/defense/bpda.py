"""The model every white-box attack (ours and AutoAttack) sees, and torchattacks' AutoAttack on it.

For a FACM pipeline the attacked model is :class:`EndToEndView`: its **output values are the
pipeline's own decision** (so an attack judges its iterates, and AutoAttack stops, on what is really
predicted), and its **input gradient is that of the differentiable mean-probability decision**
(log of the members' average probability). For ``--decision mean`` the two coincide (the pipeline
is differentiable as is). For ``--decision vote`` the vote counts are piecewise constant, so the
backward pass replaces the vote by the identity onto the mean decision: BPDA (Backward Pass
Differentiable Approximation; Athalye, Carlini, Wagner, ICML 2018, arXiv 1802.00420). Without it an
attacker differentiating the vote sees only its 0.5·backbone-probability tie-break term.

Plain models are attacked as they are. AutoAttack is torchattacks' (``version="standard"``:
APGD-CE, APGD-T, FAB-T, Square 5000 queries), an optional extra.

    lt defend eval runs/facm-vote/best.pt --dataset digits --eps 16/255 --autoattack
"""

from __future__ import annotations

import torch
from torch import nn

from ..engine.errors import LtError


class _StraightThrough(torch.autograd.Function):
    """Forward: ``value``; backward: the incoming gradient goes to ``stand_in`` unchanged."""

    @staticmethod
    def forward(ctx, stand_in: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        return value.clone()

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad, None


class EndToEndView(nn.Module):
    """A FACM pipeline as an attacker differentiates it: decision values, mean-decision gradients."""

    def __init__(self, facm: nn.Module):
        super().__init__()
        self.facm = facm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from .facm import decide

        members = self.facm.members(x)
        stand_in = decide(members, "mean")
        if self.facm.decision == "mean":
            return stand_in
        return _StraightThrough.apply(stand_in, decide([m.detach() for m in members], self.facm.decision))


def attacked_model(model: nn.Module) -> nn.Module:
    """What the end-to-end white-box attacks differentiate: the BPDA view of a FACM pipeline, else ``model``."""
    from .facm import FACM

    return EndToEndView(model) if isinstance(model, FACM) else model


def require_torchattacks():
    try:
        import torchattacks
    except ImportError as e:
        raise LtError("--autoattack needs torchattacks: pip install 'lt-toolkit[dev]' "
                      "(or pip install torchattacks==3.5.1)") from e
    return torchattacks


def make_autoattack(model: nn.Module, eps: float, num_classes: int, seed: int):
    """torchattacks' standard L∞ AutoAttack on :func:`attacked_model` of ``model``."""
    torchattacks = require_torchattacks()
    return torchattacks.AutoAttack(attacked_model(model), norm="Linf", eps=eps, version="standard",
                                   n_classes=num_classes, seed=seed)


def autoattack_correct(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, num_classes: int,
                       seed: int) -> torch.Tensor:
    """Per-example correctness of ``model`` on AutoAttack's adversarial batch (over all examples)."""
    adv = make_autoattack(model, eps, num_classes, seed)(x, y)
    if (adv - x).abs().max() > eps + 1e-6 or adv.min() < 0 or adv.max() > 1:
        raise LtError("AutoAttack left the eps-ball or [0,1] (bug)")
    with torch.no_grad():
        return model(adv).argmax(1) == y


__all__ = ["EndToEndView", "attacked_model", "autoattack_correct", "make_autoattack", "require_torchattacks"]
