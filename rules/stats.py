"""Intervals for comparing a treated group with its holdout: pure arithmetic, no I/O.

- ``wilson_interval``: the Wilson score interval for one proportion (Newcombe 1998a, method 3).
- ``newcombe_difference``: the hybrid score interval for a difference of two independent
  proportions (Newcombe 1998b, method 10), built from the two Wilson intervals.
- ``bootstrap_mean_difference``: a percentile bootstrap interval for a difference of two
  means (revenue per recipient), seeded so the same data always gives the same interval.
- ``compare_groups``: both at once for a treated group and its holdout, or "not enough data
  yet" below a minimum sample.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

Z95 = NormalDist().inv_cdf(0.975)  # 1.959963984540054
MIN_GROUP = 30  # fewer people in either group: "not enough data yet"
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 20261207


@dataclass(frozen=True)
class Interval:
    """An estimate with its two-sided confidence interval."""

    estimate: float
    low: float
    high: float


def wilson_interval(successes: int, trials: int, z: float = Z95) -> Interval:
    """The Wilson score interval (no continuity correction) for successes / trials."""
    if trials <= 0 or not 0 <= successes <= trials:
        raise ValueError("need 0 <= successes <= trials and trials > 0")
    p = successes / trials
    z2 = z * z
    centre = p + z2 / (2 * trials)
    spread = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials))
    denominator = 1 + z2 / trials
    # at 0 or n successes one bound is exactly 0 or 1; rounding must not move it
    low = 0.0 if successes == 0 else (centre - spread) / denominator
    high = 1.0 if successes == trials else (centre + spread) / denominator
    return Interval(p, low, high)


def newcombe_difference(
    successes_a: int, trials_a: int, successes_b: int, trials_b: int, z: float = Z95
) -> Interval:
    """p_a - p_b with Newcombe's hybrid score interval (1998, method 10)."""
    a = wilson_interval(successes_a, trials_a, z)
    b = wilson_interval(successes_b, trials_b, z)
    difference = a.estimate - b.estimate
    below = math.sqrt((a.estimate - a.low) ** 2 + (b.high - b.estimate) ** 2)
    above = math.sqrt((a.high - a.estimate) ** 2 + (b.estimate - b.low) ** 2)
    return Interval(difference, difference - below, difference + above)


def bootstrap_mean_difference(
    values_a: Sequence[float],
    values_b: Sequence[float],
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    level: float = 0.95,
) -> Interval:
    """mean(a) - mean(b) with a percentile bootstrap interval (each group resampled with
    replacement on its own). Seeded: the same values always give the same interval."""
    if not values_a or not values_b:
        raise ValueError("both groups need at least one value")
    rng = random.Random(seed)
    a, b = list(values_a), list(values_b)
    n_a, n_b = len(a), len(b)
    differences = sorted(
        sum(rng.choices(a, k=n_a)) / n_a - sum(rng.choices(b, k=n_b)) / n_b
        for _ in range(resamples)
    )
    tail = (1 - level) / 2
    return Interval(
        sum(a) / n_a - sum(b) / n_b,
        _quantile(differences, tail),
        _quantile(differences, 1 - tail),
    )


def _quantile(ordered: Sequence[float], q: float) -> float:
    """The q-quantile of sorted values, interpolated between neighbours."""
    position = q * (len(ordered) - 1)
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


@dataclass(frozen=True)
class Comparison:
    """A treated group against its holdout: conversion and revenue per person."""

    treated: int
    holdout: int
    treated_converted: int
    holdout_converted: int
    conversion: Interval | None  # treated rate - holdout rate; None: not enough data yet
    revenue_per_recipient: Interval | None  # treated - holdout, per person

    @property
    def treated_rate(self) -> float | None:
        return self.treated_converted / self.treated if self.treated else None

    @property
    def holdout_rate(self) -> float | None:
        return self.holdout_converted / self.holdout if self.holdout else None


def compare_groups(
    treated_revenue: Sequence[float],
    holdout_revenue: Sequence[float],
    treated_converted: int,
    holdout_converted: int,
    min_group: int = MIN_GROUP,
) -> Comparison:
    """Compare two groups given each person's revenue (0 for those who bought nothing) and
    how many converted; intervals only once both groups have ``min_group`` people."""
    n_t, n_h = len(treated_revenue), len(holdout_revenue)
    enough = n_t >= min_group and n_h >= min_group
    return Comparison(
        treated=n_t,
        holdout=n_h,
        treated_converted=treated_converted,
        holdout_converted=holdout_converted,
        conversion=(
            newcombe_difference(treated_converted, n_t, holdout_converted, n_h) if enough else None
        ),
        revenue_per_recipient=(
            bootstrap_mean_difference(treated_revenue, holdout_revenue) if enough else None
        ),
    )
