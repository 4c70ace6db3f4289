"""When an A/B test may decide itself: a Haybittle–Peto group-sequential rule, pure.

The sweep looks at every running test each hour. Picking a winner the first time a 95 %
interval lies above zero makes false winners far likelier than 5 %, because each look is
another chance for chance to win (Armitage, McPherson & Rowe 1969). The Haybittle–Peto rule
(Haybittle 1971, Br J Radiol 44:793; Peto et al. 1976, Br J Cancer 34:585) bounds that:

- before the planned sample, a variant wins only if its 99.9 % interval against the
  control lies wholly above zero: a bar so high that hourly looks spend little of the
  error rate;
- once every variant (the control included) has the planned number of recipients, one
  final look with the ordinary 95 % interval; if no variant is ahead then, the control is
  kept, which ends the test (there is no second final look to inflate).

With several variants each is compared with the control at the level split among the
comparisons (Bonferroni), so the false-winner rate holds for the test as a whole. The
intervals are Newcombe's (``rules.stats``), the ones the report shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from rules.stats import newcombe_difference

INTERIM_LEVEL = 0.999  # before the planned sample (Haybittle–Peto's p < 0.001)
FINAL_LEVEL = 0.95  # at the planned sample
MIN_PER_VARIANT = 100  # no look below this: the intervals need some data to be honest
DEFAULT_PLANNED = 1000  # recipients per variant at the final look
MAX_PLANNED = 1_000_000


@dataclass(frozen=True)
class AutoWinner:
    """A test's own setting: whether it may decide itself, and its planned sample."""

    enabled: bool = True
    planned_per_variant: int = DEFAULT_PLANNED


def parse_auto_winner(data: Any) -> AutoWinner:
    """A validated ``"auto_winner"`` (absent: on, with the default planned sample)."""
    data = data or {}
    return AutoWinner(
        enabled=bool(data.get("enabled", True)),
        planned_per_variant=int(data.get("planned_per_variant", DEFAULT_PLANNED)),
    )


@dataclass(frozen=True)
class Arm:
    """One variant's numbers at a look."""

    id: str
    recipients: int
    converted: int


@dataclass(frozen=True)
class Verdict:
    """What a look decided: ``winner`` None keeps the test running.

    ``look``: "too_early" (some variant below the minimum), "interim" or "final";
    ``level``: the confidence each comparison with the control needed at this look."""

    winner: str | None
    look: str
    level: float | None


def look_level(level: float, comparisons: int) -> float:
    """Each comparison's confidence level when ``comparisons`` share ``level`` (Bonferroni)."""
    return 1 - (1 - level) / max(comparisons, 1)


def z_of(level: float) -> float:
    """The two-sided normal quantile of a confidence level (1.96 for 0.95)."""
    return NormalDist().inv_cdf(1 - (1 - level) / 2)


def sequential_verdict(
    control: Arm,
    variants: Sequence[Arm],
    planned_per_variant: int = DEFAULT_PLANNED,
    min_per_variant: int = MIN_PER_VARIANT,
) -> Verdict:
    """One look at a running test: the variant that wins now, the control when the final
    look finds none ahead, or None (look again later)."""
    arms = [control, *variants]
    if not variants or min(a.recipients for a in arms) < max(min_per_variant, 1):
        return Verdict(None, "too_early", None)
    final = min(a.recipients for a in arms) >= planned_per_variant
    level = look_level(FINAL_LEVEL if final else INTERIM_LEVEL, len(variants))
    z = z_of(level)
    best: tuple[float, str] | None = None
    for arm in variants:
        interval = newcombe_difference(
            arm.converted, arm.recipients, control.converted, control.recipients, z
        )
        if interval.low > 0 and (best is None or interval.estimate > best[0]):
            best = (interval.estimate, arm.id)
    if best is not None:
        return Verdict(best[1], "final" if final else "interim", level)
    return Verdict(control.id if final else None, "final" if final else "interim", level)
