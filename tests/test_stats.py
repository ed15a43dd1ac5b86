"""toolkit.engine.stats: golden values against scipy (t-intervals, paired t-test intervals, Wilson intervals,
the exact binomial test), hand-computed exact values, and invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as ss

from toolkit.engine.stats import mcnemar_exact, mean_std, paired_delta, t_half_width, wilson

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("n", [2, 3, 5, 10])
def test_mean_std_and_t_half_width_match_numpy_and_scipy(n):
    x = RNG.normal(70, 3, n)
    mean, std = mean_std(list(x))
    assert mean == pytest.approx(np.mean(x), rel=1e-12) and std == pytest.approx(np.std(x, ddof=1), rel=1e-12)
    low, high = ss.t.interval(0.95, n - 1, loc=mean, scale=ss.sem(x))
    assert t_half_width(std, n) == pytest.approx((high - low) / 2, rel=1e-10)
    low, high = ss.t.interval(0.9, n - 1, loc=mean, scale=ss.sem(x))
    assert t_half_width(std, n, level=0.9) == pytest.approx((high - low) / 2, rel=1e-10)


def test_one_value_has_no_spread_and_none_is_refused():
    assert mean_std([3.0])[0] == 3.0 and math.isnan(mean_std([3.0])[1])
    assert math.isnan(t_half_width(1.0, 1))
    with pytest.raises(ValueError):
        mean_std([])


@pytest.mark.parametrize("n", [2, 4, 10])
def test_paired_delta_is_scipys_paired_t_interval(n):
    a, b = RNG.normal(70, 3, n), RNG.normal(69, 3, n)
    d = paired_delta(list(a), list(b))
    ci = ss.ttest_rel(a, b).confidence_interval(0.95)
    assert (d.low, d.high) == (pytest.approx(ci.low, rel=1e-10), pytest.approx(ci.high, rel=1e-10))
    assert d.n == n and d.std == pytest.approx(np.std(a - b, ddof=1), rel=1e-12)
    assert d.values == pytest.approx(tuple(a - b))
    assert d.wins == int(np.sum(a > b)) and d.losses == int(np.sum(a < b)) and d.ties == 0


def test_wins_ties_losses_follow_which_way_is_better():
    a, b = [1.0, 2.0, 3.0, 4.0], [0.0, 2.0, 5.0, 3.0]  # Δ = +1, 0, −2, +1
    up = paired_delta(a, b)
    assert (up.wins, up.ties, up.losses) == (2, 1, 1) and up.mean == 0.0
    down = paired_delta(a, b, better="lower")  # an error such as ECE: a lower value wins
    assert (down.wins, down.ties, down.losses) == (1, 1, 2)
    with pytest.raises(ValueError):
        paired_delta([1.0], [1.0, 2.0])
    with pytest.raises(ValueError):
        paired_delta([1.0], [1.0], better="up")


@pytest.mark.parametrize("k, n", [(0, 10), (3, 10), (10, 10), (1, 1), (57, 100), (999, 1000), (0, 1)])
@pytest.mark.parametrize("level", [0.95, 0.9])
def test_wilson_is_scipys_wilson_interval(k, n, level):
    ci = ss.binomtest(k, n).proportion_ci(confidence_level=level, method="wilson")
    low, high = wilson(k, n, level)
    assert low == pytest.approx(ci.low, abs=1e-12) and high == pytest.approx(ci.high, abs=1e-12)
    assert 0 <= low <= k / n <= high <= 1


def test_wilson_narrows_with_more_trials_and_refuses_bad_counts():
    widths = [np.subtract(*wilson(n // 2, n)[::-1]) for n in (10, 100, 1000)]
    assert widths[0] > widths[1] > widths[2] > 0
    assert wilson(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson(5, 3)


@pytest.mark.parametrize("b, c", [(0, 5), (1, 6), (3, 3), (10, 2), (40, 25), (7, 0), (250, 200)])
def test_mcnemar_exact_is_the_exact_binomial_test(b, c):
    assert mcnemar_exact(b, c) == pytest.approx(ss.binomtest(b, b + c, 0.5).pvalue, rel=1e-9)
    assert mcnemar_exact(b, c) == mcnemar_exact(c, b)  # symmetric in the two classifiers


def test_mcnemar_exact_by_hand():
    # b = 1, c = 6: 2 · (C(7,0) + C(7,1)) / 2^7 = 16 / 128
    assert mcnemar_exact(1, 6) == pytest.approx(2 * (math.comb(7, 0) + math.comb(7, 1)) / 2**7, rel=1e-12)
    assert mcnemar_exact(0, 0) == 1.0 and mcnemar_exact(4, 4) == 1.0
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 2)
