"""Small statistics for result tables: mean ± sample std, paired differences over seeds with a t-interval,
Wilson score intervals for a proportion, McNemar's exact test for two classifiers on the same items.

Used by ``lt train compare`` (:mod:`toolkit.longtail.compare`), ``benchmarks/lcreg_compare.py`` and the
attack/robustness tables. Formulas (``shared/methods/tables.md``):

- sample std with Bessel's correction (n − 1); undefined (NaN) for one value;
- paired Δ_s = a_s − b_s over the shared seeds s; its mean, sample std, and the half-width of the
  two-sided t-interval of the mean, t_{(1+level)/2, n−1} · sd / √n (``scipy.stats.t``);
  W/T/L = seeds where a is better / equal / worse than b (``better="higher"`` for accuracy, ``"lower"``
  for an error such as ECE);
- Wilson score interval (Wilson 1927): (p̂ + z²/2n ± z·√(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n), the interval
  ``scipy.stats.binomtest(k, n).proportion_ci(method="wilson")`` gives;
- McNemar's exact test (McNemar 1947; the exact form is a binomial test on the discordant pairs):
  p = min(1, 2·P[Bin(b + c, ½) ≤ min(b, c)]), 1 when b + c = 0 — what
  ``scipy.stats.binomtest(b, b + c, 0.5).pvalue`` gives for the symmetric p = ½.

scipy is imported inside the functions that need it.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Sequence

TIE_TOLERANCE = 1e-9  # |Δ| at or below this counts as a tie (the same count of correct items)


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """(mean, sample std); std is NaN for one value; an empty sequence is a ValueError."""
    if not values:
        raise ValueError("mean_std of no values")
    vals = [float(v) for v in values]
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else math.nan)


def t_half_width(std: float, n: int, level: float = 0.95) -> float:
    """Half-width of the two-sided ``level`` t-interval of a mean of ``n`` values with sample std ``std``
    (NaN for n < 2)."""
    if n < 2 or not math.isfinite(std):
        return math.nan
    from scipy.stats import t

    return float(t.ppf((1 + level) / 2, n - 1)) * std / math.sqrt(n)


@dataclass(frozen=True)
class PairedDelta:
    """Paired differences a − b: their count, mean, sample std, t-interval half-width, W/T/L and the values."""

    n: int
    mean: float
    std: float
    half_width: float
    wins: int
    ties: int
    losses: int
    values: tuple[float, ...]

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width


def paired_delta(a: Sequence[float], b: Sequence[float], *, level: float = 0.95, better: str = "higher",
                 tie: float = TIE_TOLERANCE) -> PairedDelta:
    """Δ_i = a_i − b_i for paired values (the same seeds, in the same order).

    Args:
        a, b: equally long, non-empty sequences.
        level: the t-interval's confidence (default 0.95).
        better: ``"higher"`` (a win is Δ > 0: accuracy) or ``"lower"`` (a win is Δ < 0: an error, ECE).
        tie: |Δ| ≤ tie is a tie (default 1e-9).
    """
    if len(a) != len(b) or not a:
        raise ValueError(f"paired_delta needs two equally long, non-empty sequences (got {len(a)} and {len(b)})")
    if better not in ("higher", "lower"):
        raise ValueError(f"better must be 'higher' or 'lower' (got {better!r})")
    diff = tuple(float(x) - float(y) for x, y in zip(a, b, strict=True))
    mean, std = mean_std(diff)
    sign = 1 if better == "higher" else -1
    wins = sum(1 for d in diff if sign * d > tie)
    losses = sum(1 for d in diff if sign * d < -tie)
    return PairedDelta(len(diff), mean, std, t_half_width(std, len(diff), level), wins, len(diff) - wins - losses,
                       losses, diff)


def wilson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval (low, high) for k successes in n trials; (0, 1) for n = 0."""
    if n < 0 or not 0 <= k <= max(n, 0):
        raise ValueError(f"wilson needs 0 <= k <= n (got k={k}, n={n})")
    if n == 0:
        return 0.0, 1.0
    from scipy.stats import norm

    z = float(norm.ppf((1 + level) / 2))
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # exactly 0 at k = 0 and 1 at k = n (the formula's value, which rounding misses by an ulp)
    return (0.0 if k == 0 else max(0.0, centre - half)), (1.0 if k == n else min(1.0, centre + half))


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts ``b`` (only the first right) and ``c``
    (only the second right)."""
    if b < 0 or c < 0:
        raise ValueError(f"mcnemar_exact needs counts >= 0 (got b={b}, c={c})")
    n = b + c
    if n == 0:
        return 1.0
    from scipy.stats import binom

    return min(1.0, 2.0 * float(binom.cdf(min(b, c), n, 0.5)))


__all__ = ["PairedDelta", "TIE_TOLERANCE", "mean_std", "mcnemar_exact", "paired_delta", "t_half_width", "wilson"]
