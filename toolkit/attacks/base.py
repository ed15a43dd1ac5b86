"""The one iterative L∞ attack loop, with hooks (transform, logits, loss, grad, update).

Every attack in :mod:`toolkit.attacks` is this loop plus overrides:

* ``inputs(x)``  – the input transform hook: the copies of ``x`` fed to the surrogate (DI: one random
  resize-and-pad, SI: ``x / 2**i`` copies; default ``[x]``);
* ``logits(x)``  – the surrogate's forward (NP, the surrogate-pruning wrapper, hooks in here);
* ``loss(z, y)`` – FTM confidence/temperature scaling of the logits, then ``ce`` | ``margin`` |
  ``dlr`` (:mod:`toolkit.attacks.losses`); negated when ``targeted``;
* ``grad(x, y)`` – the input gradient averaged over the copies, then ``smooth`` (TI);
* ``update(adv, x0, y, state)`` – one outer iteration (the MI/NI/VT step here; DTA overrides it);
  every step goes through ``step`` (α·sign, times the per-step factor ``multistep_alpha[t]``).

Labels: ``atk(images, labels)`` untargeted; ``atk(images, labels, targets)`` targeted, or
``target_mode='random'|'least-likely'`` to draw the targets from the surrogate as torchattacks'
``set_mode_targeted_random`` / ``set_mode_targeted_least_likely`` do. The loss aims at the targets;
FTM's scaling and NP's mask use the **true** labels (``self.true_labels``), as the authors' DTA.py
and FOTA code do. ``atk.last_targets`` holds the targets of the last run.

Images are in [0, 1]; the output stays in the ε-ball around the input intersected with [0, 1]. The
model is put in eval mode during the attack, its parameters are neither changed nor given ``.grad``,
and its mode and ``requires_grad`` flags are restored afterwards. ``atk.grad_calls`` counts the
``torch.autograd.grad`` calls of the last run (NP costs one more per gradient).

The momentum/variance arithmetic follows torchattacks 3.5.1 operation by operation, so ``ifgsm``,
``mifgsm``, ``nifgsm``, ``vmifgsm``, ``vnifgsm`` reproduce ``BIM``/``MIFGSM``/``NIFGSM``/``VMIFGSM``/
``VNIFGSM`` (same random stream when ``seed=None``: the global torch generator).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..engine.errors import check
from .losses import LOSSES, attack_loss
from .options import TARGET_MODES, AttackOptions, attack_options, options_of, own_options_of

_TINY = torch.finfo(torch.float32).tiny


@dataclass
class State:
    """What the loop carries between outer iterations: momentum ``g``, variance ``v``, step index ``t``."""

    g: torch.Tensor
    v: torch.Tensor
    extra: dict[str, Any] = field(default_factory=dict)
    t: int = 0


def l1_normalize(g: torch.Tensor) -> torch.Tensor:
    """N(g) = g / mean(|g|) per sample over C·H·W (MI-FGSM's normalisation; 0 stays 0)."""
    dims = tuple(range(1, g.dim()))
    return g / torch.mean(torch.abs(g), dim=dims, keepdim=True).clamp_min(_TINY)


class Attack:
    """Base L∞ gradient attack: I-FGSM when no momentum is set; subclasses switch hooks on.

    Args:
        model: an ``nn.Module`` taking [0,1] images (e.g. from ``toolkit.models.load_model``).
        opts: the attack's validated options (:data:`toolkit.attacks.options.ATTACK_OPTIONS`), or
        **options: the same as keywords (None = not given), validated by the attack's options class:
            ``eps`` (L∞ budget in [0, 1], default 16/255, the DTA paper's), ``alpha`` (default eps/steps),
            ``steps`` (T, default 10), ``targeted`` (aim at ``targets``, the third argument, or drawn by
            ``target_mode``: ``random`` or ``least-likely``; implies ``targeted``), ``multistep_alpha``
            (one factor per outer step, α_t = α·factor, the authors' DTA/VDTA schedule; the inner DTA
            steps use α_t/K), ``random_start`` (PGD's default), ``seed`` (a private generator; None: the
            global torch RNG), ``loss`` (:mod:`toolkit.attacks.losses`: ``ce``, ``margin``, ``dlr``),
            ``kappa``/``kappa_wrong``/``tau`` (FTM logit scaling; 1, 1, 1 = off), ``np_rate`` (γ of NP
            pruning; None = off, 0.0 runs NP with an all-ones mask), ``fast`` (bf16 autocast +
            channels_last on CUDA), and the attack's own (:func:`toolkit.attacks.options.options_of`).
    """

    name = "ifgsm"
    momentum = False  # normalise by mean |g| and accumulate with ``decay``
    nesterov = False  # gradient at the look-ahead x + decay·alpha·g

    def __init__(self, model: nn.Module, opts: AttackOptions | None = None, **options: Any):
        check(isinstance(model, nn.Module), "model must be a torch nn.Module")
        o = attack_options(self.name, opts, **options)
        self.opts, self.model, self.eps = o, model, o.eps
        self.steps = getattr(o, "steps", 1)
        self.alpha = getattr(o, "alpha", o.eps)
        self.target_mode = o.target_mode
        self.targeted, self.seed, self.loss_name = o.targeted or o.target_mode is not None, o.seed, o.loss
        self.multistep_alpha = tuple(getattr(o, "multistep_alpha", ())) or None
        self.random_start = o.random_start
        self.kappa, self.kappa_wrong, self.tau = o.kappa, o.kappa_wrong, o.tau
        self.np_rate, self.fast = o.np_rate, o.fast
        self.grad_calls = 0
        self._gen: torch.Generator | None = None
        self.true_labels: torch.Tensor | None = None
        self.last_targets: torch.Tensor | None = None
        self.configure(o)

    def configure(self, opts: AttackOptions) -> None:
        """Take the attack's own options from its validated ``opts`` (subclasses)."""

    @classmethod
    def accepted_options(cls) -> tuple[str, ...]:
        """Every option this attack takes: its common ones, then its own (``toolkit.attacks.options``)."""
        return options_of(cls.name)

    @classmethod
    def own_options(cls) -> tuple[str, ...]:
        return own_options_of(cls.name)

    def resolved_options(self) -> dict[str, Any]:
        """Every option of this attack (common and own) with the value it runs with (config.json)."""
        out = {}
        for name in self.accepted_options():
            value = getattr(self.opts, name)
            out[name] = list(value) if isinstance(value, tuple) else value
        return out

    # ------------------------------------------------------------------ the loop
    def __call__(self, images: torch.Tensor, labels: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        if targets is None:  # subclasses that override forward(images, labels) stay callable
            return self.forward(images, labels)
        return self.forward(images, labels, targets)

    def forward(self, images: torch.Tensor, labels: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        """Run the attack on a batch of [0,1] images; returns adversarial images (same shape/dtype/device)."""
        self._check_inputs(images, labels)
        x0 = images.detach().clone()
        self.grad_calls = 0
        self._gen = None
        if self.seed is not None:
            self._gen = torch.Generator(device=images.device)
            self._gen.manual_seed(int(self.seed))
        try:
            with frozen(self.model):
                self.true_labels = labels.detach().to(images.device)
                y = self._aim(x0, self.true_labels, targets)
                adv = x0.clone()
                if self.random_start:
                    adv = torch.clamp(adv + self.uniform(adv, self.eps), min=0, max=1).detach()
                state = State(g=torch.zeros_like(x0), v=torch.zeros_like(x0))
                for t in range(self.steps):
                    state.t = t
                    adv = self.update(adv, x0, y, state).detach()
        finally:
            self.true_labels = None
        return adv

    def _aim(self, x0: torch.Tensor, labels: torch.Tensor, targets: torch.Tensor | None) -> torch.Tensor:
        """The labels the loss aims at: ``labels`` untargeted, else the given or drawn targets."""
        if not self.targeted:
            check(targets is None, "targets were given but the attack is untargeted (pass targeted=True)")
            self.last_targets = None
            return labels
        if self.target_mode is None:
            check(targets is not None, "targeted attacks need targets: atk(images, labels, targets), "
                  "or target_mode='random'|'least-likely'")
            check(targets.shape == labels.shape, f"targets must be (N,) like labels; got {tuple(targets.shape)}")
            y = targets.detach().to(labels.device).long()
        else:
            check(targets is None, f"give targets or target_mode='{self.target_mode}', not both")
            y = self.draw_targets(x0, labels)
        self.last_targets = y
        return y

    @torch.no_grad()
    def draw_targets(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """torchattacks' ``get_random_target_label`` / ``get_least_likely_label`` (kth_min 1) on the surrogate."""
        z = self.model(x).float()
        if self.target_mode == "least-likely":
            return z.scatter(1, labels[:, None], float("inf")).argmin(dim=1)
        out = torch.empty_like(labels)
        for i, label in enumerate(labels.tolist()):
            dev = self._gen.device if self._gen is not None else "cpu"
            t = int((z.shape[1] - 1) * torch.rand([1], generator=self._gen, device=dev))
            out[i] = t + (t >= label)  # the t-th class of range(C) without the label
        return out

    def _check_inputs(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        check(isinstance(images, torch.Tensor) and images.is_floating_point(), "images must be a float tensor")
        check(images.dim() >= 2 and labels.dim() == 1 and labels.shape[0] == images.shape[0],
              f"labels must be (N,) for images (N, ...); got {tuple(labels.shape)} and {tuple(images.shape)}")
        if images.numel():
            check(float(images.min()) >= 0 and float(images.max()) <= 1, "images must be in [0, 1]")

    # ------------------------------------------------------------------ hooks
    def update(self, adv: torch.Tensor, x0: torch.Tensor, y: torch.Tensor, st: State) -> torch.Tensor:
        """One outer iteration: I-FGSM, MI/NI-FGSM (``momentum``/``nesterov``), VMI/VNI (``n_samples``)."""
        if not self.momentum:
            return self.step(adv, self.grad(adv, y), x0, st)
        decay = self.decay
        look = adv + decay * self.alpha * st.g if self.nesterov else adv
        g = self.grad(look, y)
        vt = getattr(self, "n_samples", 0)
        st.g = l1_normalize(g + st.v if vt else g) + st.g * decay
        if vt:
            st.v = self.variance(adv, y) - g
        return self.step(adv, st.g, x0, st)

    def step(self, x: torch.Tensor, direction: torch.Tensor, x0: torch.Tensor, st: State,
             inner: int | None = None) -> torch.Tensor:
        """Π(x + α·sign(direction)·multistep_alpha[t] [/ inner]), in the authors' operation order."""
        s = self.alpha * direction.sign()
        if self.multistep_alpha is not None:
            s = s * self.multistep_alpha[st.t]
        if inner is not None:
            s = s / inner
        return self.project(x + s, x0)

    def variance(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean gradient over ``n_samples`` neighbours x + U[−β·eps, β·eps] (unpruned surrogate)."""
        acc = torch.zeros_like(x)
        bound = self.eps * self.beta
        for _ in range(self.n_samples):
            acc += self.grad(x.detach() + self.uniform(x, bound, reference_stream=True), y, prune=False)
        return acc / self.n_samples

    def project(self, x: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        """Π: clip to the L∞ ε-ball around ``x0``, then to [0, 1]."""
        delta = torch.clamp(x - x0, min=-self.eps, max=self.eps)
        return torch.clamp(x0 + delta, min=0, max=1).detach()

    def inputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Input-transform hook: the copies of ``x`` whose gradients are averaged (default ``[x]``)."""
        return [x]

    def smooth(self, g: torch.Tensor) -> torch.Tensor:
        """Gradient post-processing hook (TI's kernel smoothing); identity by default."""
        return g

    def logits(self, x: torch.Tensor, y: torch.Tensor, prune: bool = True) -> torch.Tensor:
        """Surrogate forward; with ``np_rate`` set, through the NP-pruned surrogate."""
        with self._autocast(x):
            if self.fast and x.is_cuda and x.dim() == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            if prune and self.np_rate is not None:
                from .np import pruned_logits

                return pruned_logits(self, x, self.labels_of(y)).float()
            return self.model(x).float()

    def loss(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """FTM logit scaling, then the attack loss (mean over the batch); negated when targeted."""
        from .ftm import ftm_logits

        z = ftm_logits(z, self.labels_of(y), self.kappa, self.kappa_wrong, self.tau)
        cost = attack_loss(z, y, self.loss_name)
        return -cost if self.targeted else cost

    def labels_of(self, y: torch.Tensor) -> torch.Tensor:
        """The true labels of the running batch (targeted runs aim at ``y``); ``y`` outside a run."""
        return self.true_labels if self.true_labels is not None else y

    def grad(self, x: torch.Tensor, y: torch.Tensor, prune: bool = True) -> torch.Tensor:
        """∇_x loss, averaged over ``inputs(x)`` copies, then ``smooth``-ed."""
        x = x.detach().requires_grad_(True)
        copies = self.inputs(x)
        total = None
        for xc in copies:
            cost = self.loss(self.logits(xc, y, prune=prune), y)
            g = torch.autograd.grad(cost, x, retain_graph=False, create_graph=False)[0]
            self.grad_calls += 1
            total = g if total is None else total + g
        if len(copies) > 1:
            total = total / len(copies)
        return self.smooth(total)

    # ------------------------------------------------------------------ randomness
    def uniform(self, like: torch.Tensor, bound: float, reference_stream: bool = False) -> torch.Tensor:
        """U[−bound, bound] noise shaped like ``like``.

        ``reference_stream`` draws (and discards) a normal sample first, exactly as the VT reference
        code (``torch.randn_like(x).uniform_(...)``) does, so VMI/VNI runs share the random stream.
        """
        out = torch.empty_like(like)
        if reference_stream:
            out.normal_(generator=self._gen)
        return out.uniform_(-bound, bound, generator=self._gen)

    def randint(self, low: int, high: int) -> int:
        return int(torch.randint(low=low, high=high, size=(1,), dtype=torch.int32, generator=self._gen))

    def rand(self) -> float:
        return float(torch.rand(1, generator=self._gen))

    def _autocast(self, x: torch.Tensor):
        if self.fast and x.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(name={self.name!r}, eps={self.eps:.5g}, alpha={self.alpha:.5g}, "
                f"steps={self.steps})")


@contextlib.contextmanager
def frozen(model: nn.Module):
    """Eval mode and no parameter gradients during an attack; both restored afterwards."""
    modes = {m: m.training for m in model.modules()}
    flags = [(p, p.requires_grad) for p in model.parameters()]
    model.eval()
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for m, training in modes.items():
            m.training = training
        for p, flag in flags:
            p.requires_grad_(flag)


__all__ = ["LOSSES", "TARGET_MODES", "Attack", "State", "attack_loss", "frozen", "l1_normalize"]
