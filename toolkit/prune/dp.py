"""Exact multiple-choice-knapsack DP over per-layer rate-distortion curves, with a bucketed budget.

Xu et al., "Efficient Joint Optimization of Layer-Adaptive Weight Pruning in Deep Neural Networks",
ICCV 2023, arXiv 2308.10438: with additive distortion D = sum_l d_l(phi_l), choosing one grid point
per layer under a survivor budget is a multiple-choice knapsack solved exactly by

    D_l(b) = min_k [ d_l(k) + D_{l-1}(b - c_l(k)) ],   D_0(b) = 0  (b = budget used, "at most").

Layer l at grid point k (a_k = k/K) zeroes z_l(k) = floor(a_k n_l) weights and keeps
s_l(k) = n_l - z_l(k) (the exact survivors of the applied masks; the authors' floor(n_l (1 - a_k))
under-counts them by up to one per layer). The budget is S = floor((1 - T) N).

Bucketing (our choice, as SPDY does): survivors are counted in buckets of w = ceil(S / B) weights,
c_l(k) = ceil(s_l(k) / w) and the budget is floor(S / w) buckets. Rounding costs up makes every DP
answer feasible (sum s_l <= S, so sparsity >= T) and gives the stated bound

    D*(S) <= D_B(S) <= D*(S - L w)

where D* is the exact DP optimum with per-weight budget. With ``buckets >= S`` (w = 1) the DP is
exact. Time O(L B K) (numpy, vectorised over buckets), memory O(L B) (one int16/int32 argmin table)
plus one (K+1, B) candidate block for the layer being solved.
Runs on the CPU whatever ``--device`` is, with progress per layer on stderr. A layer larger than the
whole budget is fine: its dense
choices simply do not fit. Distortion ties go to the least-pruned grid point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..engine.errors import LtError
from ..engine.report import progress


@dataclass
class DPResult:
    """Chosen grid index per layer, zero counts, survivors, predicted distortion, bucket width."""

    ks: np.ndarray
    zeros: np.ndarray
    survivors: np.ndarray
    predicted: float
    width: int
    buckets: int


def zero_table(sizes: np.ndarray, grid: int) -> np.ndarray:
    """z[l, k] = floor(k n_l / K) zeros at grid point k (exact integer arithmetic)."""
    sizes = np.asarray(sizes, dtype=np.int64)
    k = np.arange(grid + 1, dtype=np.int64)
    return (sizes[:, None] * k[None, :]) // grid


def allowed_table(sizes: np.ndarray, grid: int, current_zeros=None, allow_empty: bool = False) -> np.ndarray:
    """Grid points a layer may take: never fewer zeros than it has now (no un-pruning), and not the
    whole layer (a_K = 1) unless ``allow_empty`` or no other point is left."""
    z = zero_table(sizes, grid)
    cur = np.zeros(len(sizes), dtype=np.int64) if current_zeros is None else np.asarray(current_zeros, np.int64)
    ok = z >= cur[:, None]
    if not allow_empty:
        inner = ok.copy()
        inner[:, grid] = False
        ok = np.where(inner.any(1, keepdims=True), inner, ok)
    return ok


def budget_for(sizes: np.ndarray, ratio: float) -> int:
    """S = floor((1 - T) N) survivors."""
    return int(math.floor((1.0 - ratio) * int(np.sum(sizes))))


def solve(curves: np.ndarray, sizes, budget: int, buckets: int = 10_000, allowed: np.ndarray | None = None) -> DPResult:
    """Minimise sum_l curves[l, k_l] subject to sum_l survivors <= ``budget`` (bucketed, see module doc).

    Args:
        curves: (L, K+1) distortion of each layer at grid points a_k = k/K.
        sizes: (L,) weights per layer.
        budget: S, the most surviving weights allowed.
        buckets: B, budget resolution (default 10 000, our choice); ``buckets >= budget`` is exact.
        allowed: (L, K+1) bool, grid points each layer may take (default: all).
    """
    d = np.asarray(curves, dtype=np.float64)
    sizes = np.asarray(sizes, dtype=np.int64)
    L, K1 = d.shape
    grid = K1 - 1
    if grid < 1 or len(sizes) != L:
        raise ValueError("curves must be (L, K+1) with K >= 1 and one size per layer")
    allowed = np.ones_like(d, dtype=bool) if allowed is None else np.asarray(allowed, dtype=bool)
    zeros = zero_table(sizes, grid)
    surv = sizes[:, None] - zeros
    if budget < 0:
        raise LtError(_infeasible_message(sizes, surv, allowed, budget))
    width = max(1, math.ceil(max(budget, 1) / max(1, buckets)))
    cost = -(-surv // width)  # ceil
    top = budget // width
    arg_dtype = np.int16 if K1 < 2**15 else np.int32
    choice = np.full((L, top + 1), -1, dtype=arg_dtype)
    best = np.zeros(top + 1, dtype=np.float64)
    rows = max(1, min(K1, _BLOCK_ELEMENTS // (top + 1)))
    cand = np.empty((rows, top + 1))  # candidate block, reused (at most ~64 MB)
    for l in progress(range(L), description="DP allocation"):  # a bar, or a heartbeat line off a terminal
        ks_l = [int(k) for k in np.flatnonzero(allowed[l]) if cost[l, k] <= top]
        if not ks_l:
            raise LtError(_infeasible_message(sizes, surv, allowed, budget))
        best = _layer_step(best, d[l], cost[l], ks_l, cand, choice[l])
    if not np.isfinite(best[top]):
        raise LtError(_infeasible_message(sizes, surv, allowed, budget))
    ks = np.empty(L, dtype=np.int64)
    b = top
    for l in range(L - 1, -1, -1):
        k = int(choice[l, b])
        ks[l] = k
        b -= int(cost[l, k])
    idx = np.arange(L)
    return DPResult(ks=ks, zeros=zeros[idx, ks], survivors=surv[idx, ks], predicted=float(d[idx, ks].sum()),
                    width=width, buckets=top)


_BLOCK_ELEMENTS = 2**23


def _layer_step(best: np.ndarray, d: np.ndarray, cost: np.ndarray, ks: list[int], cand: np.ndarray,
                arg: np.ndarray) -> np.ndarray:
    """new[b] = min_k d[k] + best[b - cost[k]] over ``ks`` (increasing), writing argmins into ``arg``;
    ties go to the smallest k. Rows of candidates are processed in blocks of ``len(cand)``."""
    top = best.shape[0] - 1
    new = np.full(top + 1, np.inf)
    for start in range(0, len(ks), cand.shape[0]):
        sub = ks[start:start + cand.shape[0]]
        block = cand[: len(sub)]
        for j, k in enumerate(sub):
            c = int(cost[k])
            block[j, :c] = np.inf
            np.add(best[: top + 1 - c], d[k], out=block[j, c:])
        low = block.min(axis=0)
        upd = low < new  # strict: earlier blocks (smaller k) keep ties
        for j in range(len(sub) - 1, -1, -1):
            np.copyto(arg, sub[j], where=upd & (block[j] == low))
        np.minimum(new, low, out=new)
    return new


def _infeasible_message(sizes, surv, allowed, budget) -> str:
    least = int(np.where(allowed, surv, np.iinfo(np.int64).max).min(1).sum())
    total = int(np.sum(sizes))
    return (f"the target sparsity cannot be reached on this grid: at least {least} of {total} weights must "
            f"survive (max sparsity {1 - least / total:.4f}) but the budget is {budget}; use a finer --grid "
            f"or a lower --ratio")


def fill_slack(result: DPResult, curves: np.ndarray, sizes, budget: int, allowed: np.ndarray | None = None) -> DPResult:
    """Give unused budget back: step layers one grid point less pruned while the budget allows and the
    predicted distortion does not rise. Never worse than ``result``; with non-decreasing curves the
    final slack is below every movable layer's step, so sparsity is within one grid step of the target."""
    d = np.asarray(curves, dtype=np.float64)
    sizes = np.asarray(sizes, dtype=np.int64)
    grid = d.shape[1] - 1
    allowed = np.ones_like(d, dtype=bool) if allowed is None else np.asarray(allowed, dtype=bool)
    zeros = zero_table(sizes, grid)
    surv = sizes[:, None] - zeros
    ks = result.ks.copy()
    idx = np.arange(len(ks))
    slack = budget - int(surv[idx, ks].sum())
    moved = True
    while moved:
        moved = False
        for l in np.argsort(-sizes, kind="stable"):
            k = ks[l]
            while k > 0 and allowed[l, k - 1] and d[l, k - 1] <= d[l, k] and surv[l, k - 1] - surv[l, k] <= slack:
                slack -= int(surv[l, k - 1] - surv[l, k])
                k -= 1
                moved = True
            ks[l] = k
    return DPResult(ks=ks, zeros=zeros[idx, ks], survivors=surv[idx, ks], predicted=float(d[idx, ks].sum()),
                    width=result.width, buckets=result.buckets)


def allocate(curves: np.ndarray, sizes, ratio: float, *, buckets: int = 10_000, current_zeros=None,
             allow_empty: bool = False, monotone: bool = True) -> DPResult:
    """The rd allocation: DP over (optionally monotonised) curves, then :func:`fill_slack`.

    ``monotone`` (our choice, default on): the DP sees the running max of each curve, since pruning
    more weights by magnitude cannot truly help and dips are calibration noise. ``predicted`` is the
    sum of the raw curves at the chosen points.
    """
    d = np.asarray(curves, dtype=np.float64)
    dm = np.maximum.accumulate(d, axis=1) if monotone else d
    sizes = np.asarray(sizes, dtype=np.int64)
    allowed = allowed_table(sizes, d.shape[1] - 1, current_zeros, allow_empty)
    budget = budget_for(sizes, ratio)
    res = fill_slack(solve(dm, sizes, budget, buckets, allowed), dm, sizes, budget, allowed)
    res.predicted = float(d[np.arange(len(sizes)), res.ks].sum())
    return res


def rd(weights, ratio: float, *, curves: np.ndarray, current=None, buckets: int = 10_000,
       allow_empty: bool = False, **_) -> list[int]:
    """Registry entry ``rd``: zero counts from :func:`allocate` (``lt prune --method rd``)."""
    sizes = np.array([w.numel() for w in weights], dtype=np.int64)
    return allocate(curves, sizes, ratio, buckets=buckets, current_zeros=current,
                    allow_empty=allow_empty).zeros.tolist()


rd.needs_curves = True
