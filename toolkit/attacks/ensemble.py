"""Ensemble surrogates: the attack sees the mean of its members' logits.

Logit averaging is what TransferAttack's ensemble attacks and the FOTA authors' ``Ens_*`` attacks
do (Liu et al., "Delving into Transferable Adversarial Examples and Black-box Attacks", ICLR 2017,
arXiv 1611.02770, compare logit, probability and loss ensembles). Every member must predict the
same number of classes; a member that does not is an ``LtError`` naming it. Any attack, DTA and NP
included, runs on the ensemble unchanged (NP prunes each member's head).

    lt attack dta --surrogate resnet50,vgg16,densenet121 --victims inception_v3 --dataset DIR --out adv/
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..engine.errors import LtError, check


class Ensemble(nn.Module):
    """z(x) = mean_i z_i(x) over ``members`` (same class count)."""

    def __init__(self, members: Sequence[nn.Module], names: Sequence[str] | None = None):
        super().__init__()
        check(len(members) >= 2, "an ensemble needs at least two members")
        self.members = nn.ModuleList(members)
        self.names = list(names) if names is not None else [f"member{i}" for i in range(len(members))]
        check(len(self.names) == len(self.members), "one name per ensemble member")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [m(x) for m in self.members]
        counts = [int(o.shape[1]) for o in outs]
        if len(set(counts)) > 1:
            detail = ", ".join(f"'{n}' {c}" for n, c in zip(self.names, counts, strict=True))
            raise LtError(f"ensemble members predict different numbers of classes ({detail}); "
                          "every --surrogate must share the class count")
        return torch.stack(outs).mean(dim=0)
