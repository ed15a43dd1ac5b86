"""NP — dynamic pruning of the surrogate's penultimate features (from the DTA paper).

Paper: Yang et al., "Improving the Transferability of Adversarial Examples via Direction Tuning",
Information Sciences 2023, arXiv 2303.15109 (authors' code: ResNet-50 only, off by default).

At every (main) gradient evaluation: ∂J/∂h of the cross-entropy J w.r.t. the classifier input h
(after global pooling, before the last ``nn.Linear``) at the current look-ahead input, using the
**true** labels (also in targeted mode, as the authors' DTA.py); per sample the fraction γ of
units of h with the smallest |∂J/∂h| is
zeroed (mask: |∂J/∂h| >= its per-sample γ-quantile); the attack loss is then taken on the masked
logits and backpropagated through the masked network. We hook the input of the model's last
``nn.Linear``, which generalises NP to torchvision ResNets, VGG, DenseNet, MobileNet, Inception and
our CIFAR ResNets / small nets. One body forward serves both passes: the extra cost is one
classifier forward and one ``autograd.grad`` to h per gradient (counted in ``grad_calls``).
VMI/VDTA neighbour gradients use the unpruned surrogate, as in the paper. γ = 0 keeps every unit.
An ensemble surrogate (:class:`toolkit.attacks.ensemble.Ensemble`) is pruned member by member: each
member's head gets its own mask from its own logits (one extra ``autograd.grad`` per member).

    lt attack dta --np-rate 0.1 --surrogate resnet50 --victims vgg16 --dataset DIR
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..engine.errors import LtError


def classifier_head(model: nn.Module) -> nn.Linear:
    """The last ``nn.Linear`` in module order (the classifier NP hooks)."""
    head = None
    for mod in model.modules():
        if isinstance(mod, nn.Linear):
            head = mod
    if head is None:
        raise LtError("np_rate needs a surrogate with an nn.Linear classifier head")
    return head


def np_mask(grad_h: torch.Tensor, rate: float) -> torch.Tensor:
    """1 where |∂J/∂h| >= its per-sample ``rate``-quantile, else 0 (shape of ``grad_h``)."""
    a = grad_h.detach().abs().flatten(1).float()
    thr = torch.quantile(a, float(rate), dim=1, keepdim=True)
    return (a >= thr).to(grad_h.dtype).view_as(grad_h)


def classifier_heads(model: nn.Module) -> list[nn.Linear]:
    """The head NP hooks: one per ensemble member, else the model's last ``nn.Linear``."""
    from .ensemble import Ensemble

    if isinstance(model, Ensemble):
        return [classifier_head(m) for m in model.members]
    return [classifier_head(model)]


def pruned_logits(atk, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Logits of ``atk.model`` with the NP mask (from the true labels ``y``) applied to the classifier input."""

    def pre_hook(mod: nn.Linear, args: tuple) -> tuple:
        h = args[0]
        if not h.requires_grad:
            raise LtError("NP needs the input to require grad (call it through the attack)")
        j = F.cross_entropy(F.linear(h, mod.weight, mod.bias).float(), y, reduction="sum")
        gh = torch.autograd.grad(j, h, retain_graph=True)[0]
        atk.grad_calls += 1
        return (h * np_mask(gh, atk.np_rate),) + tuple(args[1:])

    handles = [head.register_forward_pre_hook(pre_hook) for head in classifier_heads(atk.model)]
    try:
        return atk.model(x)
    finally:
        for handle in handles:
            handle.remove()
