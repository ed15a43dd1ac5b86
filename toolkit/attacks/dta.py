"""DTA and VDTA: direction tuning — K small inner steps tune the direction of each large step.

Paper: Yang, Lin, Zhang, Yang, Zhao, "Improving the Transferability of Adversarial Examples via
Direction Tuning", Information Sciences 2023, arXiv 2303.15109 (rules as in the authors' code,
HaloMoto/DirectionTuningAttack; the TransferAttack library's ``dta`` differs and is not followed).

For t < T: inner loop from x_{t,0} = x_t, m_{t,0} = g_t; for k < K:
  ĝ = ∇J(x_{t,k} + μ1·α·m_{t,k});  m_{t,k+1} = μ2·m_{t,k} + N(ĝ);
  x_{t,k+1} = Π(x_{t,k} + (α/K)·sign m_{t,k+1});
then g_{t+1} = Σ_k (m_{t,k+1}/K) + μ1·g_t (accumulated term by term, m/K each, in the authors'
order) and x_{t+1} = Π(x_t + α·sign g_{t+1}). Exactly T·K gradients. With ``multistep_alpha``
step t uses α·a_t outside and α·a_t/K inside (the authors' option).
VDTA: N(ĝ) becomes N(ĝ + v), v = mean ∇J over N neighbours x_{t,k} + U[−β·eps, β·eps]
(unpruned) minus ĝ; v is seeded from the outer v and the outer v becomes the first inner step's v
(T·K·(1+N) gradients). Defaults (paper's): eps 16/255, T = 10, α = eps/T, K = ``inner_steps`` = 10,
μ1 = ``decay`` = 1.0, μ2 = ``inner_decay`` = 0.0 (VDTA: 0.8, N = 20, β = 1.5).
Reductions: DTA(K=1, μ2=0) ≡ NI-FGSM; DTA(K=1, μ1=μ2=0) ≡ I-FGSM; VDTA(K=1, μ2=0) ≡ VNI-FGSM.
DI / TI / SI compose through the loop's hooks (``diversity_prob``/``resize_rate``, ``ti`` with
``kernel_name``/``len_kernel``/``nsig``, ``n_scales``): every inner gradient (and every VDTA
neighbour) is taken on the transformed copies, then smoothed, then normalised into the inner
momentum. Targeted mode: the loss aims at the targets, NP's mask uses the true labels.

    lt attack dta --surrogate resnet50 --victims vgg16,resnet152,inception_v3,mobilenet_v2 \
        --dataset DIR --eps 16/255 --inner-steps 10 --np-rate 0.1 --out adv/
    lt attack dta --diversity-prob 0.5 --ti --surrogate resnet50,vgg16 --victims inception_v3 --dataset DIR
"""

from __future__ import annotations

import torch

from .base import State, l1_normalize
from .momentum import MIFGSM
from .options import AttackOptions
from .transforms import InputTransforms
from .variance import VarianceTuning


class DTA(InputTransforms, MIFGSM):
    """Direction-tuning attack; the base loop with ``update`` overridden (DI/TI/SI hooks optional)."""

    name = "dta"

    def configure(self, opts: AttackOptions) -> None:
        self.inner_steps, self.inner_decay = opts.inner_steps, opts.inner_decay
        super().configure(opts)

    def update(self, adv: torch.Tensor, x0: torch.Tensor, y: torch.Tensor, st: State) -> torch.Tensor:
        k_steps, vt = self.inner_steps, getattr(self, "n_samples", 0)
        xk, m, v = adv, st.g, st.v
        total = torch.zeros_like(adv)
        for k in range(k_steps):
            g = self.grad(xk + self.decay * self.alpha * m, y)
            m = self.inner_decay * m + l1_normalize(g + v if vt else g)
            total = total + m / k_steps  # Σ m/K term by term (the authors' order, not Σm then /K)
            if vt:
                v = self.variance(xk, y) - g
                if k == 0:
                    st.v = v
            xk = self.step(xk, m, x0, st, inner=k_steps)
        st.g = total + st.g * self.decay
        return self.step(adv, st.g, x0, st)


class VDTA(VarianceTuning, DTA):
    """DTA with variance tuning inside the inner loop."""

    name = "vdta"
