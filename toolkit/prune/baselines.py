"""Baseline layer allocations, all returning zero counts per layer (same masks machinery as ``rd``).

Each takes the (effective, already-masked) weights and the target fraction T of zero weights over
all prunable layers and returns ``counts[l]``, the number of smallest-|w| weights to zero in layer l.

- ``uniform``: every layer at T, ``floor(T n_l)`` zeros.
- ``uniform-plus``: first conv dense, classifier keeps >= 20 %, the other layers share one rate so
  the total is T (Gale et al. 2019, as used by LAMP).
- ``global``: one |w| threshold over all layers (the ``floor(T N)`` smallest weights network-wide).
- ``lamp``: Lee et al., "Layer-adaptive Sparsity for the Magnitude-based Pruning", ICLR 2021,
  arXiv 2010.07611: score(u) = w_u^2 / sum_{v >= u} w_v^2 within the layer (sorted ascending),
  then one global threshold on the scores.
- ``erk``: Erdos-Renyi-kernel (Evci et al., RigL, ICML 2020, arXiv 1911.11134): density_l
  proportional to sum(shape)/prod(shape), scaled so total density is 1 - T; layers that would exceed
  density 1 are kept dense and the rest rescaled.

``lt prune --ratio 0.7 --method lamp MODEL`` (and global, uniform, uniform-plus, erk).
"""

from __future__ import annotations

import math

import torch

from ..engine.errors import LtError


def _total_zeros(weights: list[torch.Tensor], ratio: float) -> int:
    return int(math.floor(ratio * sum(w.numel() for w in weights)))


def uniform(weights: list[torch.Tensor], ratio: float, **_) -> list[int]:
    """floor(T n_l) zeros in every layer."""
    return [int(math.floor(ratio * w.numel())) for w in weights]


def uniform_plus(weights: list[torch.Tensor], ratio: float, *, kinds: list[str] | None = None, **_) -> list[int]:
    """First conv dense, last linear pruned at most 80 %, one shared rate r elsewhere (total = T)."""
    sizes = [w.numel() for w in weights]
    kinds = kinds or ["conv"] * len(weights)
    first = 0 if kinds[0] == "conv" and len(weights) > 1 else None
    last = len(weights) - 1 if kinds[-1] == "linear" and len(weights) > 1 else None
    target = ratio * sum(sizes)
    rest = [i for i in range(len(sizes)) if i not in (first, last)]
    n_rest = sum(sizes[i] for i in rest)
    n_last = sizes[last] if last is not None else 0
    r = target / max(1, n_rest + n_last)
    last_rate = r
    if last is not None and r > 0.8:
        last_rate = 0.8
        r = (target - 0.8 * n_last) / max(1, n_rest)
    if r > 1.0 + 1e-12 or (not rest and last is None):
        raise LtError(f"uniform-plus cannot reach sparsity {ratio} with the first conv dense and the "
                      f"classifier at most 80 % pruned")
    r = min(r, 1.0)
    counts = [int(math.floor(r * n)) for n in sizes]
    if first is not None:
        counts[first] = 0
    if last is not None:
        counts[last] = int(math.floor(last_rate * n_last))
    return counts


def _counts_from_scores(scores: list[torch.Tensor], zeros: int) -> list[int]:
    """How many of the ``zeros`` globally smallest scores fall in each layer (scores per layer are sorted
    ascending, so the pick is a prefix of each layer's magnitude order)."""
    flat = torch.cat(scores)
    layer_id = torch.cat([torch.full((s.numel(),), i, dtype=torch.long) for i, s in enumerate(scores)])
    picked = torch.argsort(flat, stable=True)[:zeros]
    return torch.bincount(layer_id[picked], minlength=len(scores)).tolist()


def global_magnitude(weights: list[torch.Tensor], ratio: float, **_) -> list[int]:
    """The floor(T N) smallest |w| over all layers."""
    scores = [torch.sort(w.detach().flatten().abs().double().cpu(), stable=True).values for w in weights]
    return _counts_from_scores(scores, _total_zeros(weights, ratio))


def lamp_scores(weight: torch.Tensor) -> torch.Tensor:
    """LAMP scores of one layer's weights in ascending-magnitude order."""
    sq = torch.sort(weight.detach().flatten().double().cpu() ** 2, stable=True).values
    tail = torch.flip(torch.cumsum(torch.flip(sq, [0]), 0), [0])
    return torch.where(tail > 0, sq / tail.clamp_min(1e-300), torch.zeros_like(sq))


def lamp(weights: list[torch.Tensor], ratio: float, **_) -> list[int]:
    """One global threshold on LAMP scores."""
    return _counts_from_scores([lamp_scores(w) for w in weights], _total_zeros(weights, ratio))


def erk_densities(shapes: list[tuple[int, ...]], ratio: float) -> list[float]:
    """ERK densities: eps * sum(shape)/prod(shape), layers above 1 kept dense, the rest rescaled."""
    sizes = [math.prod(s) for s in shapes]
    raw = [sum(s) / math.prod(s) for s in shapes]
    dense: set[int] = set()
    keep = (1.0 - ratio) * sum(sizes)
    while True:
        free = [i for i in range(len(shapes)) if i not in dense]
        budget = keep - sum(sizes[i] for i in dense)
        if not free or budget <= 0:
            raise LtError(f"erk cannot reach sparsity {ratio}")
        eps = budget / sum(raw[i] * sizes[i] for i in free)
        over = [i for i in free if eps * raw[i] > 1.0]
        if not over:
            return [1.0 if i in dense else eps * raw[i] for i in range(len(shapes))]
        dense.update(over)


def erk(weights: list[torch.Tensor], ratio: float, **_) -> list[int]:
    """floor((1 - density_l) n_l) zeros per layer."""
    dens = erk_densities([tuple(w.shape) for w in weights], ratio)
    return [int(math.floor((1.0 - dl) * w.numel())) for dl, w in zip(dens, weights, strict=True)]
