"""rules.stats against published values.

Wilson intervals: Newcombe (1998a), "Two-sided confidence intervals for the single
proportion", Statistics in Medicine 17:857-872, Table I, method 3 (score, no continuity
correction). Differences: Newcombe (1998b), "Interval estimation for the difference between
independent proportions", Statistics in Medicine 17:873-890, Table II, method 10 (hybrid
score). Every value was also checked against statsmodels 0.15
(``proportion_confint(method="wilson")``, ``confint_proportions_2indep(method="newcomb")``).
"""

from __future__ import annotations

import pytest

from rules.stats import (
    Z95,
    bootstrap_mean_difference,
    compare_groups,
    newcombe_difference,
    wilson_interval,
)


@pytest.mark.parametrize(
    ("successes", "trials", "low", "high"),
    [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
        (29, 29, 0.8830, 1.0),
    ],
)
def test_wilson_interval_matches_newcombe_table_one(successes, trials, low, high):
    interval = wilson_interval(successes, trials)
    assert interval.estimate == pytest.approx(successes / trials)
    assert (round(interval.low, 4), round(interval.high, 4)) == (low, high)


@pytest.mark.parametrize(
    ("counts", "difference", "low", "high"),
    [
        ((56, 70, 48, 80), 0.2000, 0.0524, 0.3339),
        ((9, 10, 3, 10), 0.6000, 0.1705, 0.8090),
        ((6, 7, 2, 7), 0.5714, 0.0582, 0.8062),
        ((5, 56, 0, 29), 0.0893, -0.0381, 0.1926),
        ((0, 10, 0, 20), 0.0, -0.1611, 0.2775),
        ((0, 10, 0, 10), 0.0, -0.2775, 0.2775),
        ((10, 10, 0, 20), 1.0, 0.6791, 1.0),
        ((10, 10, 0, 10), 1.0, 0.6075, 1.0),
    ],
)
def test_newcombe_hybrid_score_matches_newcombe_table_two(counts, difference, low, high):
    interval = newcombe_difference(*counts)
    rounded = tuple(round(x, 4) for x in (interval.estimate, interval.low, interval.high))
    assert rounded == (difference, low, high)


def test_the_95_percent_quantile_is_the_textbook_one():
    assert Z95 == pytest.approx(1.959964, abs=1e-6)


def test_wilson_refuses_impossible_counts():
    for successes, trials in ((1, 0), (-1, 5), (6, 5)):
        with pytest.raises(ValueError):
            wilson_interval(successes, trials)


def test_bootstrap_is_deterministic_and_covers_the_difference():
    treated = [0.0] * 70 + [40.0] * 30
    holdout = [0.0] * 85 + [40.0] * 15
    first = bootstrap_mean_difference(treated, holdout)
    assert first == bootstrap_mean_difference(treated, holdout)
    assert first.estimate == pytest.approx(12.0 - 6.0)
    assert first.low < 6.0 < first.high
    # the normal approximation's interval for this difference is about ±4.7 (se ≈ 2.4):
    # the percentile interval is of that width, not a degenerate one
    assert 6.5 < first.high - first.low < 12.5
    assert first.low > 0  # a real difference of this size is seen at this sample


def test_bootstrap_of_identical_constant_groups_is_exactly_zero():
    interval = bootstrap_mean_difference([5.0] * 40, [5.0] * 40)
    assert (interval.estimate, interval.low, interval.high) == (0.0, 0.0, 0.0)


def test_compare_groups_says_not_enough_data_below_the_minimum():
    small = compare_groups([1.0] * 29, [0.0] * 40, 29, 0)
    assert small.conversion is None and small.revenue_per_recipient is None
    assert small.treated_rate == 1.0 and small.holdout_rate == 0.0
    enough = compare_groups([10.0] * 30 + [0.0] * 30, [10.0] * 10 + [0.0] * 50, 30, 10)
    assert enough.conversion is not None and enough.revenue_per_recipient is not None
    assert enough.conversion.estimate == pytest.approx(0.5 - 1 / 6)
    assert enough.conversion == newcombe_difference(30, 60, 10, 60)
    assert enough.revenue_per_recipient.estimate == pytest.approx(5.0 - 10 / 6)
