"""rules.attribution: last-touch credit within the click and delivery windows, and the
holdout comparison's outcomes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from rules.attribution import (
    CLICK,
    DELIVERED,
    Exposure,
    Purchase,
    Touch,
    Windows,
    attribute,
    holdout_outcomes,
)

T = datetime(2026, 3, 2, 12, tzinfo=UTC)
ADA = frozenset({"501", "email:ada@example.com"})


def touch(message: int, kind: str, hours: float, keys=ADA, workflow="cart_abandonment"):  # type: ignore[no-untyped-def]
    return Touch(message, workflow, f"step{message}", keys, kind, T + timedelta(hours=hours))


def order(hours: float, order_id: str = "o1", keys=ADA, value: str = "40.00") -> Purchase:  # type: ignore[no-untyped-def]
    return Purchase(order_id, keys, T + timedelta(hours=hours), Decimal(value))


DEFAULT_WINDOWS = Windows()


def credited(purchases, touches, windows=DEFAULT_WINDOWS):  # type: ignore[no-untyped-def]
    return {
        order_id: t.message_id for order_id, t in attribute(purchases, touches, windows).items()
    }


def test_an_order_within_a_day_of_a_delivery_is_credited_to_that_message():
    assert credited([order(23)], [touch(1, DELIVERED, 0)]) == {"o1": 1}
    assert credited([order(25)], [touch(1, DELIVERED, 0)]) == {}  # the day is over


def test_a_click_reaches_five_days_by_default_and_the_windows_are_the_shops():
    assert credited([order(24 * 5 - 1)], [touch(1, CLICK, 0)]) == {"o1": 1}
    assert credited([order(24 * 5 + 1)], [touch(1, CLICK, 0)]) == {}
    assert credited([order(24 * 2 + 1)], [touch(1, CLICK, 0)], Windows(click_days=2)) == {}
    assert credited([order(1)], [touch(1, DELIVERED, 0)], Windows(delivery_days=0)) == {}


def test_the_last_touch_wins_whatever_its_kind():
    touches = [touch(1, CLICK, 0), touch(2, DELIVERED, 10)]
    assert credited([order(12)], touches) == {"o1": 2}  # a newer delivery beats an older click
    # once that delivery's day is over, the older click still reaches
    assert credited([order(40)], touches) == {"o1": 1}
    same_moment = [touch(3, DELIVERED, 5), touch(4, CLICK, 5)]
    assert credited([order(6)], same_moment) == {"o1": 4}  # a click wins a tie


def test_only_touches_before_the_order_and_of_its_customer_count():
    bob = frozenset({"502"})
    assert credited([order(5)], [touch(1, DELIVERED, 6)]) == {}  # the order came first
    assert credited([order(5)], [touch(1, DELIVERED, 1, keys=bob)]) == {}
    # a guest's order reaches the customer by address
    guest_order = order(5, keys=frozenset({"email:ada@example.com"}))
    assert credited([guest_order], [touch(1, DELIVERED, 1)]) == {"o1": 1}


def test_holdout_outcomes_count_both_groups_alike_from_their_first_decision():
    bob, cy = frozenset({"502"}), frozenset({"503"})
    exposures = [
        Exposure(1, ADA, holdout=False, at=T),
        Exposure(2, bob, holdout=True, at=T),
        Exposure(3, cy, holdout=True, at=T),
    ]
    purchases = [
        order(30, "o1", ADA, "40.00"),
        order(50, "o2", ADA, "10.00"),
        order(-1, "o3", bob, "99.00"),  # before the decision: not an outcome of it
        order(24 * 5 + 1, "o4", cy, "20.00"),  # after the window
    ]
    treated, holdout = holdout_outcomes(exposures, purchases, window_days=5)
    assert (treated.revenue, treated.converted) == ([50.0], 1)
    assert (holdout.revenue, holdout.converted) == ([0.0, 0.0], 0)


def test_skips_are_split_into_the_merchants_rule_and_safeguards():
    from rules.skips import AS_DESIGNED, BLOCKED, skip_kind

    assert skip_kind("Accepts marketing email: no (needs yes)") == BLOCKED
    assert skip_kind("Accepts marketing email (needs yes)") == BLOCKED  # as counted
    assert skip_kind("address suppressed or unsubscribed") == BLOCKED
    assert skip_kind("frequency cap (dropped)") == BLOCKED
    assert skip_kind("Cart value is 12.00 (needs ≥ 20); Has an email address: no") == BLOCKED
    assert skip_kind("Cart value (needs ≥ 20)") == AS_DESIGNED
    assert skip_kind("holdout group (never messaged)") == AS_DESIGNED
    assert skip_kind("workflow disabled") == AS_DESIGNED
