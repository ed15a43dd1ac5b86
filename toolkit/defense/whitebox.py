"""The evaluator's own attacks: PGD (best iterate, EOT), APGD (CE / DLR / targeted DLR) and Square.

Written here rather than taken from ``toolkit.attacks`` (whose loop returns the last iterate and
serves transfer attacks): an evaluation attack must return, per example, the **best** point it
visited. Every attack here sees one model (``model``): its gradients drive the steps and its outputs
judge the iterates (lowest margin z_y - max_{j != y} z_j kept); for a FACM vote that model is the BPDA
view of :mod:`toolkit.defense.bpda`. Images are in [0, 1]; every output stays in the L∞ ε-ball around
the input intersected with [0, 1]; the model is in eval mode with frozen parameters while attacked.

* :class:`PGD` (Madry et al., ICLR 2018, arXiv 1706.06083): ``steps`` sign steps of ``alpha``
  (default 2.5·eps/steps), uniform random start (``random_start=False`` + ``steps=1`` +
  ``alpha=eps`` is FGSM); ``eot`` forward passes averaged per gradient (Expectation over
  Transformation, Athalye et al., ICML 2018, arXiv 1802.00420); returns the best of the ``steps``
  iterates (the random start is not a candidate).
* :class:`APGD` (Croce & Hein, ICML 2020, arXiv 2003.01690): step size 2·eps halved at the paper's
  checkpoints (p₀ = 0, p₁ = 0.22, p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06)) when fewer than
  ρ = 0.75 of the steps since the last checkpoint raised the loss, or when neither the step size nor
  the best loss moved; momentum 0.75; restart from the best-loss point after a halving. Losses
  ``ce``, ``dlr`` (C >= 3; an LtError below) and, with ``targets=k`` > 0, the targeted DLR
  −(z_y − z_t)/(z_π1 − (z_π3 + z_π4)/2) against each of the k most likely wrong classes in turn
  (AutoAttack's APGD-T; z_t − z_y below 4 classes); the losses are :mod:`toolkit.attacks.losses`.
  Paper defaults: 100 steps, 9 targets on
  CIFAR-10. Start: uniform in the ball (our choice; the paper's scales a random sign vector).
* :class:`Square` (Andriushchenko et al., ECCV 2020, arXiv 1912.00049): gradient-free random search
  over ±eps squares on the margin loss; ``steps`` = queries per example (default 1000; the paper's
  10000), ``p_init`` 0.8 with the paper's halving schedule rescaled to the budget.

    lt defend eval MODEL --dataset digits --eps 8/255 --steps 20 --apgd-steps 100 --apgd-targets 3
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..attacks.base import frozen
from ..attacks.losses import LOSSES, example_loss, margin
from ..engine.errors import check


class _Iterative:
    """Shared parts: the ball projection, seeded draws, loss + gradient over EOT copies, best iterate.

    Subclasses define ``run(x0, y) -> adversarial batch``; calling the attack seeds it and freezes the model.
    """

    default_steps = 10

    def __init__(self, model: nn.Module, eps: float = 8 / 255, steps: int | None = None, *, loss: str = "ce",
                 eot: int = 1, seed: int | None = None):
        check(0 < float(eps) <= 1, f"eps must be in (0, 1] (got {eps})")
        check(loss in LOSSES, f"unknown loss '{loss}'; valid: {', '.join(LOSSES)}")
        self.model, self.eps, self.loss_name, self.seed = model, float(eps), loss, seed
        self.steps = int(self.default_steps if steps is None else steps)
        self.eot = int(eot)
        check(self.steps >= 1, f"steps must be >= 1 (got {self.steps})")
        check(self.eot >= 1, f"eot must be >= 1 (got {self.eot})")
        self.grad_calls = 0
        self._gen: torch.Generator | None = None

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        check(images.is_floating_point() and labels.dim() == 1 and labels.shape[0] == images.shape[0],
              "images must be a float (N, ...) tensor and labels (N,)")
        check(images.numel() == 0 or (float(images.min()) >= 0 and float(images.max()) <= 1),
              "images must be in [0, 1]")
        self.grad_calls = 0
        self._gen = None
        if self.seed is not None:
            self._gen = torch.Generator(device=images.device)
            self._gen.manual_seed(int(self.seed))
        with frozen(self.model):
            return self.run(images.detach().clone(), labels.detach().to(images.device)).detach()

    def project(self, x: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        return torch.clamp(x0 + torch.clamp(x - x0, -self.eps, self.eps), 0, 1).detach()

    def start(self, x0: torch.Tensor) -> torch.Tensor:
        u = torch.rand(x0.shape, generator=self._gen, device=x0.device if self._gen is None else self._gen.device)
        return self.project(x0 + self.eps * (2 * u.to(x0.device) - 1), x0)

    def loss_grad(self, x: torch.Tensor, y: torch.Tensor, target=None):
        """(per-example loss, input gradient, logits of the first pass), averaged over ``eot`` passes."""
        x = x.detach().requires_grad_(True)
        loss_sum, grad, first = 0.0, torch.zeros_like(x), None
        for _ in range(self.eot):
            z = self.model(x)
            loss = example_loss(z, y, self.loss_name, target)
            grad += torch.autograd.grad(loss.sum(), x)[0]
            self.grad_calls += 1
            loss_sum = loss_sum + loss.detach()
            first = z.detach() if first is None else first
        return loss_sum / self.eot, grad / self.eot, first

    @staticmethod
    def keep_best(best: dict, x: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> None:
        """Record, per example, the iterate with the lowest margin of ``model`` seen so far."""
        m = margin(logits.float(), y)
        if "x" not in best:
            best["x"], best["m"] = x.detach().clone(), m
            return
        better = m < best["m"]
        best["x"][better], best["m"][better] = x.detach()[better], m[better]

    def judge(self, best: dict, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            self.keep_best(best, x, self.model(x), y)
        return best["x"]


class PGD(_Iterative):
    """L∞ PGD returning the best iterate per example; see the module doc (alpha 2.5·eps/steps)."""

    def __init__(self, model: nn.Module, eps: float = 8 / 255, steps: int | None = None, *,
                 alpha: float | None = None, random_start: bool = True, **kwargs):
        super().__init__(model, eps, steps, **kwargs)
        self.alpha = float(alpha) if alpha is not None else 2.5 * self.eps / self.steps
        check(self.alpha > 0, f"alpha must be > 0 (got {self.alpha})")
        self.random_start = random_start

    def run(self, x0: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        adv = self.start(x0) if self.random_start else x0.clone()
        best: dict = {}
        for i in range(self.steps):
            _, g, z = self.loss_grad(adv, y)
            if i > 0:  # z judges the previous step's iterate
                self.keep_best(best, adv, z, y)
            adv = self.project(adv + self.alpha * g.sign(), x0)
        return self.judge(best, adv, y)


def fgsm(model: nn.Module, eps: float, **kwargs) -> PGD:
    """FGSM (Goodfellow et al., arXiv 1412.6572): one eps step from the clean input."""
    return PGD(model, eps, 1, alpha=eps, random_start=False, **kwargs)


def apgd_checkpoints(steps: int) -> list[int]:
    """The iterations at which APGD may halve its step size (the paper's p_j times ``steps``)."""
    p = [0.0, 0.22]
    while p[-1] + max(p[-1] - p[-2] - 0.03, 0.06) <= 1:
        p.append(p[-1] + max(p[-1] - p[-2] - 0.03, 0.06))
    return sorted({int(math.ceil(round(q * steps, 6))) for q in p[1:]} - {0})


class APGD(_Iterative):
    """Auto-PGD (untargeted, or targeted DLR against the top ``targets`` wrong classes); see the module doc."""

    default_steps = 100

    def __init__(self, model: nn.Module, eps: float = 8 / 255, steps: int | None = None, *, targets: int = 0,
                 rho: float = 0.75, momentum: float = 0.75, **kwargs):
        super().__init__(model, eps, steps, **kwargs)
        check(targets >= 0, f"targets must be >= 0 (got {targets})")
        self.targets, self.rho, self.momentum = int(targets), float(rho), float(momentum)

    def run(self, x0: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.targets == 0:
            return self.run_one(x0, y, None)
        with torch.no_grad():
            ranked = self.model(x0).float().scatter(1, y[:, None], float("-inf")).argsort(1, descending=True)
        out, m = x0.clone(), torch.full((x0.shape[0],), float("inf"), device=x0.device)
        for k in range(min(self.targets, ranked.shape[1] - 1)):
            todo = (m >= 0).nonzero().squeeze(1)  # only examples no earlier target has broken
            if todo.numel() == 0:
                break
            adv = self.run_one(x0[todo], y[todo], ranked[todo, k])
            with torch.no_grad():
                mk = margin(self.model(adv).float(), y[todo])
            better = mk < m[todo]
            out[todo[better]], m[todo[better]] = adv[better], mk[better]
        return out

    def run_one(self, x0: torch.Tensor, y: torch.Tensor, target) -> torch.Tensor:
        n, shape = x0.shape[0], (-1,) + (1,) * (x0.dim() - 1)
        checks = set(apgd_checkpoints(self.steps))
        eta = torch.full((n,), 2 * self.eps, device=x0.device)
        x = self.start(x0)
        f, g, z = self.loss_grad(x, y, target)
        x_max, f_max, g_max = x.clone(), f.clone(), g.clone()
        best: dict = {}
        prev, f_prev = x.clone(), f.clone()
        ups, last_ck, eta_ck, fmax_ck = torch.zeros(n, device=x0.device), 0, eta.clone(), f_max.clone()
        for k in range(self.steps):
            step = self.project(x + eta.view(shape) * g.sign(), x0)
            a = 1.0 if k == 0 else self.momentum
            nxt = self.project(x + a * (step - x) + (1 - a) * (x - prev), x0)
            prev, x = x, nxt
            f, g, z = self.loss_grad(x, y, target)
            self.keep_best(best, x, z, y)
            ups += (f > f_prev).float()
            f_prev = f
            up = f > f_max
            x_max[up], f_max[up], g_max[up] = x[up], f[up], g[up]
            if k + 1 in checks:
                halve = (ups < self.rho * (k + 1 - last_ck)) | ((eta_ck == eta) & (fmax_ck == f_max))
                eta_ck, fmax_ck = eta.clone(), f_max.clone()
                eta[halve] /= 2
                x[halve], g[halve] = x_max[halve], g_max[halve]
                ups.zero_()
                last_ck = k + 1
        return best["x"]


class Square(_Iterative):
    """L∞ Square Attack (random search over ±eps squares; margin loss; model queried, never differentiated)."""

    default_steps = 1000

    def __init__(self, model: nn.Module, eps: float = 8 / 255, steps: int | None = None, *, p_init: float = 0.8,
                 seed: int | None = None):
        super().__init__(model, eps, steps, loss="margin", seed=seed)
        check(0 < p_init <= 1, f"p_init must be in (0, 1] (got {p_init})")
        self.p_init = float(p_init)

    def p_at(self, i: int) -> float:
        """The paper's piecewise schedule (halvings at 10, 50, 200, ... of 10000), rescaled to ``steps``."""
        it = int(i * 10000 / max(1, self.steps))
        halvings = sum(it > b for b in (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000))
        return self.p_init / 2 ** halvings

    def _draw(self, shape: tuple[int, ...], device) -> torch.Tensor:
        return torch.rand(shape, generator=self._gen,
                          device=device if self._gen is None else self._gen.device).to(device)

    def _signs(self, shape: tuple[int, ...], device) -> torch.Tensor:
        return (self._draw(shape, device) < 0.5).float() * 2 - 1

    def _window(self, k: int, s: int, h: int, w: int, device) -> torch.Tensor:
        top = (self._draw((k,), device) * (h - s + 1)).long().clamp_max(h - s)
        left = (self._draw((k,), device) * (w - s + 1)).long().clamp_max(w - s)
        rows, cols = torch.arange(h, device=device), torch.arange(w, device=device)
        mr = (rows[None] >= top[:, None]) & (rows[None] < top[:, None] + s)
        mc = (cols[None] >= left[:, None]) & (cols[None] < left[:, None] + s)
        return (mr[:, :, None] & mc[:, None, :])[:, None]

    @torch.no_grad()
    def run(self, x0: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        check(x0.dim() == 4, "square needs image batches (N, C, H, W)")
        n, c, h, w = x0.shape
        adv = self.project(x0 + self.eps * self._signs((n, c, 1, w), x0.device), x0)  # vertical stripes
        loss = margin(self.model(adv).float(), y)
        self.grad_calls = 1  # here: queries
        for i in range(self.steps - 1):
            active = (loss > 0).nonzero().squeeze(1)
            if active.numel() == 0:
                break
            s = max(1, min(h, w, int(round(math.sqrt(self.p_at(i) * h * w)))))
            k = active.numel()
            window, xa = self._window(k, s, h, w, x0.device), x0[active]
            cand = torch.where(window, xa + self.eps * self._signs((k, c, 1, 1), x0.device), adv[active])
            cand = self.project(cand, xa)
            new = margin(self.model(cand).float(), y[active])
            self.grad_calls += 1
            better = new < loss[active]
            adv[active[better]] = cand[better]
            loss[active[better]] = new[better]
        return adv


__all__ = ["APGD", "PGD", "Square", "apgd_checkpoints", "example_loss", "fgsm", "frozen", "margin"]
