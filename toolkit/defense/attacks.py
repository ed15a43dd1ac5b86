"""Attacks the robustness evaluator needs that the attack library lacks, on the library's base loop.

* ``eotpgd``: PGD whose gradient is averaged over ``eot`` forward passes (Expectation over
  Transformation; Athalye, Carlini, Wagner, "Obfuscated Gradients Give a False Sense of Security",
  ICML 2018, arXiv 1802.00420) — the copies go through the base loop's ``inputs`` hook, so any
  randomness inside the model is sampled once per copy.
* ``square``: the L∞ Square Attack (Andriushchenko, Croce, Flammarion, Hein, ECCV 2020, arXiv
  1912.00049), gradient-free: random ±eps squares accepted when the margin loss drops. ``steps`` is
  the query budget per example (default 1000; the paper uses 10000); ``p_init`` the initial fraction
  of pixels changed (default 0.8, torchattacks' default; the paper's halving schedule, rescaled to
  the budget).

Both are ``toolkit.attacks.base.Attack`` subclasses (same eps-ball projection, frozen model, seeded
private generator). They are built directly by the evaluator, not registered in
``toolkit.attacks.ATTACKS`` (whose names are the transfer attacks ``lt attack`` offers).

    lt defend eval MODEL --dataset digits --eps 8/255 --square-queries 1000 --eot 4
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ..attacks.base import Attack, _frozen
from ..attacks.fgsm import PGD
from ..engine.errors import check


class EOTPGD(PGD):
    """PGD with the gradient averaged over ``eot`` forward passes (EOT; default 1 = plain PGD)."""

    name = "eotpgd"
    options = ("eot",)

    def configure(self, eot: int | None = None, **options: Any) -> None:
        self.eot = int(1 if eot is None else eot)
        check(self.eot >= 1, f"eot must be >= 1 (got {self.eot})")
        super().configure(**options)

    def inputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [x] * self.eot


def margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-example z_y - max_{j != y} z_j (negative = misclassified)."""
    zy = logits.gather(1, y[:, None]).squeeze(1)
    other = logits.scatter(1, y[:, None], float("-inf")).amax(1)
    return zy - other


class Square(Attack):
    """L∞ Square Attack (random search over ±eps squares; margin loss; model queried, never differentiated)."""

    name = "square"
    options = ("p_init",)
    default_steps = 1000

    def configure(self, p_init: float | None = None, **options: Any) -> None:
        self.p_init = 0.8 if p_init is None else float(p_init)
        check(0 < self.p_init <= 1, f"p_init must be in (0, 1] (got {self.p_init})")
        super().configure(**options)

    def p_at(self, i: int) -> float:
        """The paper's piecewise schedule (halvings at 10, 50, 200, ... of 10000), rescaled to ``steps``."""
        it = int(i * 10000 / max(1, self.steps))
        halvings = sum(it > b for b in (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000))
        return self.p_init / 2 ** halvings

    def _signs(self, shape: tuple[int, ...], device) -> torch.Tensor:
        r = torch.rand(shape, generator=self._gen, device=device if self._gen is None else self._gen.device)
        return (r.to(device) < 0.5).float() * 2 - 1

    def _randint(self, high: int, n: int, device) -> torch.Tensor:
        return torch.randint(0, high, (n,), generator=self._gen,
                             device=device if self._gen is None else self._gen.device).to(device)

    @torch.no_grad()
    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        self._check_inputs(images, labels)
        check(images.dim() == 4, "square needs image batches (N, C, H, W)")
        x0, y = images.detach().clone(), labels.detach().to(images.device)
        self._gen = None
        if self.seed is not None:
            self._gen = torch.Generator(device=images.device)
            self._gen.manual_seed(int(self.seed))
        n, c, h, w = x0.shape
        with _frozen(self.model):
            adv = self.project(x0 + self.eps * self._signs((n, c, 1, w), x0.device), x0)  # vertical stripes
            loss = margin(self.model(adv).float(), y)
            self.grad_calls = 1
            for i in range(self.steps - 1):
                active = (loss > 0).nonzero().squeeze(1)
                if active.numel() == 0:
                    break
                s = max(1, min(h, w, int(round(math.sqrt(self.p_at(i) * h * w)))))
                k = active.numel()
                top, left = self._randint(h - s + 1, k, x0.device), self._randint(w - s + 1, k, x0.device)
                rows, cols = torch.arange(h, device=x0.device), torch.arange(w, device=x0.device)
                mr = (rows[None] >= top[:, None]) & (rows[None] < top[:, None] + s)
                mc = (cols[None] >= left[:, None]) & (cols[None] < left[:, None] + s)
                window = (mr[:, :, None] & mc[:, None, :])[:, None]
                xa = x0[active]
                cand = torch.where(window, xa + self.eps * self._signs((k, c, 1, 1), x0.device), adv[active])
                cand = self.project(cand, xa)
                new = margin(self.model(cand).float(), y[active])
                self.grad_calls += 1
                better = new < loss[active]
                adv[active[better]] = cand[better]
                loss[active[better]] = new[better]
        return adv.detach()


__all__ = ["EOTPGD", "Square", "margin"]
