"""Scheduling arithmetic: due times, the customer-local send window, frequency cap, holdout."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from rules.definitions import Delay
from rules.scheduling import frequency_cap_release, in_holdout, next_in_send_window, step_due_at

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
NEW_YORK = "America/New_York"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_step_is_due_its_delay_after_its_anchor():
    anchors = {"enrollment": NOW, "expected_reorder": NOW + timedelta(days=10)}
    assert step_due_at(Delay(timedelta(hours=4), "enrollment"), anchors) == NOW + timedelta(hours=4)
    before = Delay(timedelta(days=-3), "expected_reorder")
    assert step_due_at(before, anchors) == NOW + timedelta(days=7)


def test_inside_the_window_sends_now():
    evening = utc(2026, 3, 10, 23, 30)  # 19:30 in New York (EDT since 8 March)
    assert next_in_send_window(evening, NEW_YORK) == evening


def test_before_and_after_the_window_wait_for_the_next_opening():
    assert next_in_send_window(utc(2026, 3, 10, 5), "UTC") == utc(2026, 3, 10, 9)
    assert next_in_send_window(utc(2026, 3, 10, 21), "UTC") == utc(2026, 3, 11, 9)  # end is open
    # 00:30 in Berlin is before midnight UTC: the opening is the same local day
    assert next_in_send_window(utc(2026, 3, 10, 23, 30), "Europe/Berlin") == utc(2026, 3, 11, 8)
    # 23:00 in Tokyo is 14:00 UTC: the next opening is tomorrow morning, Tokyo time
    assert next_in_send_window(utc(2026, 3, 10, 14), "Asia/Tokyo") == utc(2026, 3, 11, 0)


def test_a_window_may_wrap_midnight():
    assert next_in_send_window(utc(2026, 3, 10, 23), "UTC", 20, 8) == utc(2026, 3, 10, 23)
    assert next_in_send_window(utc(2026, 3, 10, 7), "UTC", 20, 8) == utc(2026, 3, 10, 7)
    assert next_in_send_window(utc(2026, 3, 10, 12), "UTC", 20, 8) == utc(2026, 3, 10, 20)


def test_empty_or_full_windows_and_unknown_zones():
    assert next_in_send_window(utc(2026, 3, 10, 3), "UTC", 0, 24) == utc(2026, 3, 10, 3)
    assert next_in_send_window(utc(2026, 3, 10, 3), "UTC", 9, 9) == utc(2026, 3, 10, 3)
    assert next_in_send_window(utc(2026, 3, 10, 5), "Not/AZone") == utc(2026, 3, 10, 9)


def test_across_daylight_saving_changes():
    # US spring forward 2026-03-08: 09:00 is 14:00 UTC the day before, 13:00 UTC that day
    assert next_in_send_window(utc(2026, 3, 8, 4), NEW_YORK) == utc(2026, 3, 8, 13)
    # fall back 2026-11-01: 09:00 EST is 14:00 UTC
    assert next_in_send_window(utc(2026, 11, 1, 3), NEW_YORK) == utc(2026, 11, 1, 14)
    # an opening inside the skipped hour (02:00 on 8 March) lands just after it, at 03:00 EDT
    assert next_in_send_window(utc(2026, 3, 8, 5), NEW_YORK, 2, 21) == utc(2026, 3, 8, 7)


ZONES = ["UTC", NEW_YORK, "Europe/Berlin", "Australia/Lord_Howe", "Asia/Kathmandu", "Pacific/Apia"]


@settings(max_examples=300, deadline=None)
@given(
    at=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 1, 1)).map(
        lambda d: d.replace(tzinfo=UTC)
    ),
    zone=st.sampled_from(ZONES),
    start=st.integers(0, 23),
    length=st.integers(1, 23),
)
def test_the_send_time_is_the_earliest_moment_inside_the_window(
    at: datetime, zone: str, start: int, length: int
):
    end = (start + length) % 24 or 24
    sent = next_in_send_window(at, zone, start, end)
    local = sent.astimezone(ZoneInfo(zone))
    hour = local.hour + local.minute / 60
    assert sent >= at and sent - at <= timedelta(hours=25)
    assert (start <= hour < end) if start < end else (hour >= start or hour < end)
    assert next_in_send_window(sent, zone, start, end) == sent
    if sent > at:  # waited: so the moment a minute before was still outside
        assert next_in_send_window(sent - timedelta(minutes=1), zone, start, end) == sent


def test_frequency_cap_defers_until_release():
    assert frequency_cap_release(None, 16, NOW) is None
    assert frequency_cap_release(NOW - timedelta(hours=20), 16, NOW) is None
    assert frequency_cap_release(NOW - timedelta(hours=16), 16, NOW) is None  # exactly released
    assert frequency_cap_release(NOW - timedelta(hours=10), 16, NOW) == NOW + timedelta(hours=6)
    assert frequency_cap_release(NOW - timedelta(hours=1), 0, NOW) is None  # cap off


def test_holdout_is_stable_and_about_the_percentage():
    for percent in (10, 50):
        held = sum(in_holdout(str(n), "upsell", percent) for n in range(10_000))
        assert abs(held - percent * 100) < 300
    assert not any(in_holdout(str(n), "upsell", 0) for n in range(1000))
    assert all(in_holdout(str(n), "upsell", 100) for n in range(1000))
    # the same on every machine and run: a pure function of workflow and customer
    bucket = int.from_bytes(hashlib.sha256(b"upsell:42").digest()[:8], "big") / 2**64 * 100
    assert in_holdout("42", "upsell", bucket + 0.01) and not in_holdout("42", "upsell", bucket)
    # each workflow draws its own group
    upsell = {n for n in range(2000) if in_holdout(str(n), "upsell", 50)}
    winback = {n for n in range(2000) if in_holdout(str(n), "reengagement", 50)}
    assert 300 < len(upsell & winback) < 700
