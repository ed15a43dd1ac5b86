"""The attack losses, defined once: the transfer attacks (``toolkit.attacks``) and the robustness
evaluator's white-box attacks (``toolkit.defense.whitebox``) both use them.

Per example, to be **maximised** by the attacker (z: logits (N, C), y: labels (N,)):

* ``ce``: cross-entropy CE(z, y);
* ``margin`` (Carlini & Wagner): max_{j≠y} z_j − z_y, i.e. −:func:`margin`;
* ``dlr`` (Croce & Hein, ICML 2020, arXiv 2003.01690): −(z_y − max_{j≠y} z_j) / (z_π1 − z_π3), z_π sorted
  descending; scale- and shift-invariant;
* targeted DLR (``target`` given, AutoAttack's APGD-T): −(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2).

Below 3 classes ``dlr`` is not defined (there is no z_π3): it raises an :class:`LtError` naming the loss
and the class count, in the transfer attacks and the evaluator alike (``margin`` is the loss to use there;
``lt defend eval`` picks it below 3 classes). The targeted DLR needs z_π4: below 4 classes it is the
targeted margin z_t − z_y (APGD-T on 2- and 3-class problems, as the evaluator has always run it).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..engine.errors import LtError
from .options import ATTACK_LOSSES

LOSSES = ATTACK_LOSSES
_EPS = 1e-12


def margin(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-example z_y − max_{j≠y} z_j (negative = misclassified)."""
    zy = z.gather(1, y[:, None]).squeeze(1)
    other = z.scatter(1, y[:, None], float("-inf")).amax(1)
    return zy - other


def _need(name: str, z: torch.Tensor, classes: int) -> None:
    if z.shape[1] < classes:
        raise LtError(f"the {name} loss needs at least {classes} classes (got {z.shape[1]}); use the margin loss")


def example_loss(z: torch.Tensor, y: torch.Tensor, name: str = "ce",
                 target: torch.Tensor | None = None) -> torch.Tensor:
    """Per-example loss ``name`` to maximise (see the module doc); the targeted DLR when ``target`` is given."""
    z = z.float()
    if target is not None:
        zy, zt = z.gather(1, y[:, None]).squeeze(1), z.gather(1, target[:, None]).squeeze(1)
        if z.shape[1] < 4:
            return zt - zy
        top = z.sort(dim=1, descending=True).values
        return -(zy - zt) / (top[:, 0] - 0.5 * (top[:, 2] + top[:, 3]) + _EPS)
    if name == "ce":
        return F.cross_entropy(z, y, reduction="none")
    if name == "margin":
        return -margin(z, y)
    if name == "dlr":
        _need("dlr", z, 3)
        top = z.sort(dim=1, descending=True).values
        return -margin(z, y) / (top[:, 0] - top[:, 2] + _EPS)
    raise LtError(f"unknown loss '{name}'; valid: {', '.join(LOSSES)}")


def attack_loss(z: torch.Tensor, y: torch.Tensor, name: str = "ce") -> torch.Tensor:
    """The batch mean of :func:`example_loss` (what the transfer attacks differentiate)."""
    if name == "ce":  # the mean-reduced kernel, as torchattacks (bit-identical runs)
        return F.cross_entropy(z, y)
    return example_loss(z, y, name).mean()


__all__ = ["LOSSES", "attack_loss", "example_loss", "margin"]
