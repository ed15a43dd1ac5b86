"""Sketched rate-distortion curves (``--curves sketch``): OUR extension, not the paper's method.

Xu et al., "Efficient Joint Optimization of Layer-Adaptive Weight Pruning in Deep Neural Networks",
ICCV 2023, arXiv 2308.10438, measure d_l(a_k) (the mean squared logit change of pruning layer l alone
to a_k) with L (K+1) passes over the calibration set. We estimate the linearised distortion instead:

    d_l(a) ~ E_x ||J_l(x) dw_l(a)||^2 / C,     J_l = d logits / d w_l,  C = logits per image,

with a Hutchinson-style sketch: for v ~ N(0, I_C), E_v[(v^T J dw)^2] = ||J dw||^2, and v^T J dw = g^T dw
with g = J^T v, the gradient of v^T f(x) w.r.t. every layer's weight at once (one backward pass).
Magnitude pruning zeroes the a-smallest |w|, so g^T dw_l(a) = -(sum of g_i w_i over those weights):
every grid point of a layer from one segment sum over its magnitude order (precomputed once).

Draws are per image (``draws`` random vectors per image, one backward each, batch 1): the estimate is
the mean of N * draws independent terms (v_i^T a_i)^2, so its relative standard error per point is at
most sqrt(2 / (N draws)) (equal-norm images; exactly chi-square with N draws degrees of freedom). One
backward over a whole batch with a vector per image is also unbiased but gives ONE such term per draw
(relative error sqrt(2 / draws)): per image is N times more accurate at the same backward cost.

Error beyond the sampling noise: the linearisation (pruning is not a small change at high a; the real
network is not linear), corrected by ``anchors`` measured grid points per layer: the sketch is
multiplied by the ratio measured / sketched, interpolated linearly between anchors (constant outside).

Cost model (N images, L layers, K+1 grid points, D draws, M anchors, B = batch): N forwards with graph
and N D backwards at batch 1, plus N D segment sums over all weights (O(weights) each), independent of
L and K; anchors add L M ceil(N / B) suffix passes. Memory: one image's activations and graph, the
weights' gradients, one int32 segment index per weight.

Layers the sketch cannot handle (their weight gets no or an all-zero gradient on every calibration
image: their output reaches the logits only through detach/round/argmax/no_grad or an integer op) fall
back to measured curves, named in a warning. A model whose logits carry no gradient at all is an
LtError naming the module that drops it. ``--worst-case`` (a max over images) is refused with sketch.

``lt prune --ratio 0.7 resnet50`` (sketch is the default), ``... --curves sketch --sketch-draws 4
--sketch-anchors 2``, ``lt prune curves MODEL --curves sketch``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..engine.errors import LtError
from ..engine.report import warn
from .curves import _drain, measure_curves, reference_outputs, zero_counts
from .masks import Layer, magnitude_keys

DEFAULT_DRAWS = 1  # random vectors per image (chosen in benchmarks/README.md, "Curves at the cost floor")
DEFAULT_ANCHORS = 0  # measured points per layer (each costs L ceil(N/B) suffix passes)


class _LayerSum:
    """One layer's magnitude order as a segment index: ``seg[j]`` = the first grid point whose zero count
    covers weight j, so sum_{weights zeroed at k} g w = cumsum of the segment sums up to k."""

    def __init__(self, ly: Layer, grid: int):
        keys = magnitude_keys(ly.weight).flatten()
        rank = torch.empty_like(keys)
        rank[torch.argsort(keys)] = torch.arange(keys.numel(), device=keys.device)
        z = torch.tensor(zero_counts(ly.size, grid), device=keys.device)
        self.seg = torch.searchsorted(z, rank, right=True).to(torch.int32)  # in 1..K
        self.w = ly.weight.detach().flatten()
        self.grid = grid

    def squares(self, g: torch.Tensor) -> torch.Tensor:
        """(g^T dw(a_k))^2 for k = 0..K (float64, on the CPU)."""
        sums = torch.zeros(self.grid + 1, dtype=g.dtype, device=g.device)
        sums.index_add_(0, self.seg, g.flatten() * self.w)
        return sums.double().cumsum(0).pow(2).cpu()


def find_cut(model: nn.Module, x: torch.Tensor) -> str | None:
    """The innermost module whose output carries no gradient although its input or its own weights
    need one (where the forward stops being differentiable); None when every module passes it on."""
    cuts: list[str] = []

    def hook(name):
        def fn(module, inputs, output):
            need = any(isinstance(t, torch.Tensor) and t.requires_grad for t in inputs) or any(
                p.requires_grad for p in module.parameters())
            if need and isinstance(output, torch.Tensor) and not output.requires_grad:
                cuts.append(f"'{name or '<model>'}' ({type(module).__name__})")
        return fn

    handles = [m.register_forward_hook(hook(n)) for n, m in model.named_modules()]
    try:
        with torch.enable_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return cuts[0] if cuts else None


def _sketch_pass(model, layers, sums: list[_LayerSum], xs, draws: int, gen: torch.Generator, acc, seen):
    """One forward (batch 1) and ``draws`` backwards per image; yields after each image."""
    weights = [ly.weight for ly in layers]
    for x in xs:
        for i in range(x.shape[0]):
            out = model(x[i:i + 1])
            if not out.requires_grad:
                raise LtError(f"--curves sketch needs a differentiable forward: module {find_cut(model, x[i:i + 1])} "
                              f"returns a tensor without gradient; use --curves measured")
            for d in range(draws):
                v = torch.randn(out.shape, generator=gen).to(out)
                grads = torch.autograd.grad(out, weights, v, retain_graph=d < draws - 1, allow_unused=True)
                for l, g in enumerate(grads):
                    if g is not None:
                        acc[l] += sums[l].squares(g)
                        seen[l] = seen[l] or bool(g.any())
            yield


def sketch_curves(model: nn.Module, layers: list[Layer], xs: list[torch.Tensor], grid: int, *,
                  draws: int = DEFAULT_DRAWS, anchors: int = DEFAULT_ANCHORS, seed: int = 0,
                  refs: list[torch.Tensor] | None = None, fx_split: bool = True, plan: str | None = None,
                  hint=None) -> np.ndarray:
    """Sketched curves (L, K+1) of ``layers`` on calibration batches ``xs`` (module docstring).

    Args:
        draws: random output vectors per image (``--sketch-draws``; default 1, our choice from evidence).
        anchors: measured grid points per layer that rescale the sketch (``--sketch-anchors``; default 0).
        seed: seeds the random vectors (``--seed``).
        refs, fx_split: as :func:`toolkit.prune.curves.measure_curves` (anchors and fallback layers).
    """
    model.eval()
    sums = [_LayerSum(ly, grid) for ly in layers]
    acc = [torch.zeros(grid + 1, dtype=torch.float64) for _ in layers]
    seen = [False] * len(layers)
    flags = [ly.weight.requires_grad for ly in layers]
    gen = torch.Generator().manual_seed(seed)
    n = sum(x.shape[0] for x in xs)
    try:
        for ly in layers:
            ly.weight.requires_grad_(True)
        with torch.enable_grad():
            _drain(_sketch_pass(model, layers, sums, xs, draws, gen, acc, seen), n, "curves (sketch)", plan, hint)
    finally:
        for ly, f in zip(layers, flags, strict=True):
            ly.weight.requires_grad_(f)
    classes = int(reference_outputs(model, [xs[0][:1]])[0][0].numel()) if refs is None else int(refs[0][0].numel())
    curves = torch.stack(acc).numpy() / (n * draws * classes)
    curves[:, 0] = 0.0
    return _correct(model, layers, xs, grid, curves, seen, anchors, refs, fx_split)


def anchor_points(grid: int, anchors: int) -> list[int]:
    """``anchors`` grid indices spread evenly over the interior 1..K-1 (k_j = round(K j / (M + 1)))."""
    return sorted({min(grid - 1, max(1, round(grid * j / (anchors + 1)))) for j in range(1, anchors + 1)})


def _correct(model, layers, xs, grid, curves: np.ndarray, seen: list[bool], anchors: int, refs, fx_split) -> np.ndarray:
    """Measure the layers the sketch cannot see in full, and the anchors of the others; rescale."""
    blind = [l for l, s in enumerate(seen) if not s and layers[l].weight.detach().any()]
    for l in blind:
        ly = layers[l]
        warn(f"--curves sketch cannot sketch layer '{ly.name}' ({type(ly.module).__name__}): its weight gets no "
             f"gradient (its output reaches the logits only through a non-differentiable op); measuring its curve")
    pts = anchor_points(grid, anchors) if anchors else []
    points = [set(range(grid + 1)) if l in blind else set(pts) for l in range(len(layers))]
    if not any(points):
        return curves
    measured = measure_curves(model, layers, xs, grid, refs=refs, points=points, fx_split=fx_split,
                              description="curves (anchors)")
    out = curves.copy()
    for l, row in enumerate(measured):
        out[l] = row if l in blind else _rescale(curves[l], row, pts)
    return out


def _rescale(sketch: np.ndarray, measured: np.ndarray, pts: list[int]) -> np.ndarray:
    """``sketch`` times measured / sketch at the anchors ``pts``, interpolated in k (constant outside)."""
    ok = [k for k in pts if sketch[k] > 0 and np.isfinite(measured[k])]
    if not ok:
        return sketch
    ratio = np.interp(np.arange(sketch.size), ok, [measured[k] / sketch[k] for k in ok])
    return sketch * ratio
