"""Per workflow and step: messages, engagement, credited orders, revenue and holdout lift.

Everything is worked out when asked, from what is stored (messages, SendGrid's events,
orders, episodes' decisions): a change of the shop's attribution windows applies to the
past too, and nothing here writes.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plugin.results.daily import Days, report_zone
from plugin.shop_settings.policies import attribution_windows, shop_settings
from plugin.shop_settings.workflows import shop_workflows
from plugin.storage.facts_store import guest_key
from plugin.storage.models import EngagementRow, Episode, OrderRow, OutboxMessage, Shop, Step
from rules.attribution import (
    CLICK,
    DELIVERED,
    Exposure,
    Purchase,
    Touch,
    attribute,
    holdout_outcomes,
)
from rules.evaluation import reason_group
from rules.skips import skip_kind
from rules.stats import MIN_GROUP, compare_groups, newcombe_difference

DEFAULT_DAYS = 30
WRITTEN = ("sent", "kept")  # emails that were handed to SendGrid, or kept (no API key)


@dataclass
class Tally:
    """One workflow's or step's messages, their engagement and what they earned."""

    sent: int = 0  # handed to SendGrid
    kept: int = 0  # never left the machine (SendGrid not configured)
    delivered: int = 0  # messages SendGrid reported delivered
    opened: int = 0  # messages with at least one open
    clicked: int = 0  # messages with at least one click
    recipients: set[str] = field(default_factory=set)
    # recipients with a credited order, and when they placed the first of them
    buyers: dict[str, datetime] = field(default_factory=dict)
    orders: int = 0  # orders credited to these messages
    revenue: Decimal = Decimal("0")

    def as_json(self) -> dict[str, Any]:
        people = len(self.recipients)
        return {
            "sent": self.sent,
            "kept": self.kept,
            "delivered": self.delivered,
            "opened": self.opened,
            "clicked": self.clicked,
            "recipients": people,
            "converted": len(self.buyers),
            "orders": self.orders,
            "revenue": float(self.revenue),
            "conversion_rate": len(self.buyers) / people if people else None,
            "revenue_per_recipient": float(self.revenue) / people if people else None,
        }


def shop_report(
    session: Session, shop: Shop, now: datetime, days: int = DEFAULT_DAYS
) -> dict[str, Any]:
    """The report of one shop over the last ``days`` days: ``{"workflows": {NAME: {...}}}``."""
    since = now - timedelta(days=days)
    settings = shop_settings(shop.settings)
    windows = attribution_windows(settings)
    zone_name, zone = report_zone(settings.get("timezone"))
    # an order early in the period may be credited to an email written just before it
    reach = timedelta(days=max(windows.click_days, windows.delivery_days))
    messages = _messages(session, shop.id, since - reach, now)
    events = _events_by_message(session, shop.id, list(messages))
    purchases = _purchases(session, shop.id, since, now)
    touches: list[Touch] = []
    tallies: dict[str, Tally] = defaultdict(Tally)
    step_tallies: dict[tuple[str, str], Tally] = defaultdict(Tally)
    variant_tallies: dict[tuple[str, str, str], Tally] = defaultdict(Tally)
    daily: dict[str, Days] = defaultdict(lambda: Days(since, now, zone))
    for message_id, (workflow, step, keys, state, variant, written) in messages.items():
        kinds = events.get(message_id, {})
        in_period = written >= since  # an email from before the period: only its touches
        if in_period:
            daily[workflow].written(written, state)
        for tally in _tallies_of(tallies, step_tallies, variant_tallies, workflow, step, variant):
            if in_period:
                tally.sent += state == "sent"
                tally.kept += state == "kept"
                tally.delivered += DELIVERED in kinds
                tally.opened += "open" in kinds
                tally.clicked += CLICK in kinds
                tally.recipients.add(min(keys))
        for kind in (CLICK, DELIVERED):
            touches.extend(
                Touch(message_id, workflow, step, keys, kind, at, variant)
                for at in kinds.get(kind, ())
            )
    by_order = {p.order_id: p for p in purchases}
    for order_id, touch in attribute(purchases, touches, windows).items():
        purchase = by_order[order_id]
        daily[touch.workflow].credited(purchase.at, purchase.value)
        for tally in _tallies_of(
            tallies, step_tallies, variant_tallies, touch.workflow, touch.step, touch.variant
        ):
            tally.orders += 1
            tally.revenue += purchase.value
            buyer = min(touch.customer_keys)
            if buyer in tally.recipients:  # not one only an email before the period reached
                first = tally.buyers.get(buyer)
                tally.buyers[buyer] = purchase.at if first is None else min(first, purchase.at)
    ab_tests = _ab_tests(session, shop.id)
    for workflow, step in ab_tests:  # a test shows from its start, before any message
        tallies.setdefault(workflow, Tally())
        step_tallies.setdefault((workflow, step), Tally())
    lifts = _lifts(session, shop.id, since, now, purchases, windows.click_days)
    skips = _skips(session, shop.id, since, now)
    names = sorted(set(tallies) | set(lifts) | set(skips))
    workflows = {}
    for name in names:
        row = tallies[name].as_json()
        daily[name].converted(tallies[name].buyers.values())
        row["daily"] = daily[name].as_json()
        row["steps"] = {
            step: tally.as_json()
            for (workflow, step), tally in sorted(step_tallies.items())
            if workflow == name
        }
        for step, step_row in row["steps"].items():
            tests = ab_tests.get((name, step))
            if tests is not None:
                step_row["ab_test"] = ab_test_json(
                    tests, {v: variant_tallies[(name, step, v)] for v in tests["variants"]}
                )
        row["lift"] = lifts.get(name)
        row["skipped"] = skips.get(name, {"as_designed": {}, "blocked": {}})
        workflows[name] = row
    return {
        "days": days,
        "since": since.isoformat(),
        "until": now.isoformat(),
        "timezone": zone_name,  # the calendar of the workflows' ``daily`` series
        "attribution": {
            "click_window_days": windows.click_days,
            "delivery_window_days": windows.delivery_days,
        },
        "min_group": MIN_GROUP,
        "workflows": workflows,
    }


def _tallies_of(
    tallies: dict[str, Tally],
    step_tallies: dict[tuple[str, str], Tally],
    variant_tallies: dict[tuple[str, str, str], Tally],
    workflow: str,
    step: str,
    variant: str | None,
) -> list[Tally]:
    """The workflow's, the step's and (in an A/B test) the variant's tallies."""
    found = [tallies[workflow], step_tallies[(workflow, step)]]
    if variant is not None:
        found.append(variant_tallies[(workflow, step, variant)])
    return found


def _ab_tests(session: Session, shop_id: int) -> dict[tuple[str, str], dict[str, Any]]:
    """The steps of the shop's workflows that have variants, as defined now."""
    tests = {}
    for name, shop_workflow in shop_workflows(session, shop_id).items():
        for step in shop_workflow.workflow.steps:
            if step.variants:
                tests[(name, step.id)] = {
                    "variants": [v.id for v in step.variants],
                    "weights": {v.id: v.weight for v in step.variants},
                    "winner": step.winner,
                    "auto_winner": {
                        "enabled": step.auto_winner.enabled,
                        "planned_per_variant": step.auto_winner.planned_per_variant,
                    },
                }
    return tests


def ab_test_json(test: dict[str, Any], tallies: dict[str, Tally]) -> dict[str, Any]:
    """Each variant's results, and its conversion against the first variant's (the
    control) with Newcombe's interval once both have ``MIN_GROUP`` recipients. ``leading``
    names the variant, of those whose interval lies wholly above the control's rate, that
    is furthest ahead (the automatic winner asks more: ``rules.sequential``)."""
    control_id = test["variants"][0]
    control = tallies[control_id]
    variants: dict[str, Any] = {}
    leading, best = None, 0.0
    for variant_id in test["variants"]:
        tally = tallies[variant_id]
        row = {**tally.as_json(), "weight": test["weights"][variant_id]}
        if variant_id != control_id:
            people, control_people = len(tally.recipients), len(control.recipients)
            enough = people >= MIN_GROUP and control_people >= MIN_GROUP
            interval = (
                newcombe_difference(len(tally.buyers), people, len(control.buyers), control_people)
                if enough
                else None
            )
            row["against_control"] = {
                "difference": (
                    len(tally.buyers) / people - len(control.buyers) / control_people
                    if people and control_people
                    else None
                ),
                "ci95": [interval.low, interval.high] if interval else None,
                "enough_data": enough,
            }
            ahead = leading is None or interval is None or interval.estimate > best
            if interval is not None and interval.low > 0 and ahead:
                leading, best = variant_id, interval.estimate
        variants[variant_id] = row
    return {
        "control": control_id,
        "winner": test["winner"],
        "leading": leading,
        "auto_winner": test.get("auto_winner"),
        "variants": variants,
    }


def _messages(
    session: Session, shop_id: int, since: datetime, now: datetime
) -> dict[int, tuple[str, str, frozenset[str], str, str | None, datetime]]:
    """The workflows' emails written from ``since`` (not the merchant's test emails)."""
    rows = session.execute(
        select(
            OutboxMessage.id,
            OutboxMessage.workflow,
            OutboxMessage.step_id,
            OutboxMessage.customer_external_id,
            OutboxMessage.to_email,
            OutboxMessage.state,
            OutboxMessage.params["variant"].as_string(),
            OutboxMessage.created_at,
        ).where(
            OutboxMessage.shop_id == shop_id,
            OutboxMessage.kind == "email",
            OutboxMessage.episode_id.is_not(None),
            OutboxMessage.state.in_(WRITTEN),
            OutboxMessage.created_at >= since,
            OutboxMessage.created_at <= now,
        )
    )
    return {
        id_: (workflow, step or "", _keys(customer, email), state, variant, written)
        for id_, workflow, step, customer, email, state, variant, written in rows
    }


def _events_by_message(
    session: Session, shop_id: int, message_ids: list[int]
) -> dict[int, dict[str, list[datetime]]]:
    """SendGrid's events of these messages, by message and kind, with when each came."""
    events: dict[int, dict[str, list[datetime]]] = defaultdict(lambda: defaultdict(list))
    for start in range(0, len(message_ids), 500):  # bounded IN lists
        for message_id, kind, at in session.execute(
            select(EngagementRow.message_id, EngagementRow.kind, EngagementRow.occurred_at).where(
                EngagementRow.shop_id == shop_id,
                EngagementRow.message_id.in_(message_ids[start : start + 500]),
            )
        ):
            if message_id is not None:
                events[message_id][kind].append(at)
    return events


def _purchases(session: Session, shop_id: int, since: datetime, now: datetime) -> list[Purchase]:
    """Orders placed in the period that count as revenue: not cancelled, not refunded."""
    rows = session.execute(
        select(
            OrderRow.external_id,
            OrderRow.customer_external_id,
            OrderRow.email,
            OrderRow.created_at,
            OrderRow.value,
        ).where(
            OrderRow.shop_id == shop_id,
            OrderRow.created_at >= since,
            OrderRow.created_at <= now,
            OrderRow.cancelled_at.is_(None),
            OrderRow.refunded.is_(False),
        )
    )
    return [
        Purchase(order_id, _keys(customer, email), at, value or Decimal("0"))
        for order_id, customer, email, at, value in rows
        if at is not None  # the query's bounds leave none out, but the column may be NULL
    ]


def _keys(customer: str | None, email: str | None) -> frozenset[str]:
    """Every key a customer may be known by: their id, and their address as a guest."""
    keys = {customer} if customer else set()
    if email:
        keys.add(guest_key(email))
    return frozenset(keys)


def _lifts(
    session: Session,
    shop_id: int,
    since: datetime,
    now: datetime,
    purchases: list[Purchase],
    window_days: float,
) -> dict[str, dict[str, Any] | None]:
    """Treated against holdout per workflow that has a holdout group in the period."""
    first_decision = func.min(Step.decided_at)
    rows = session.execute(
        select(
            Episode.id,
            Episode.workflow,
            Episode.customer_external_id,
            Episode.holdout,
            first_decision,
        )
        .join(Step, Step.episode_id == Episode.id)
        .where(
            Episode.shop_id == shop_id,
            (Step.state == "fired") | Step.reason.like("holdout%"),
        )
        .group_by(Episode.id, Episode.workflow, Episode.customer_external_id, Episode.holdout)
        .having(first_decision >= since, first_decision <= now)
    )
    exposures: dict[str, list[Exposure]] = defaultdict(list)
    for episode_id, workflow, customer, held_out, at in rows:
        if at is not None:
            exposures[workflow].append(Exposure(episode_id, frozenset({customer}), held_out, at))
    lifts: dict[str, dict[str, Any] | None] = {}
    for workflow, exposed in exposures.items():
        if not any(e.holdout for e in exposed):
            lifts[workflow] = None
            continue
        treated, holdout = holdout_outcomes(exposed, purchases, window_days)
        comparison = compare_groups(
            treated.revenue, holdout.revenue, treated.converted, holdout.converted
        )
        conversion, revenue = comparison.conversion, comparison.revenue_per_recipient
        lifts[workflow] = {
            "treated_rate": comparison.treated_rate,
            "holdout_rate": comparison.holdout_rate,
            "difference": (comparison.treated_rate or 0.0) - (comparison.holdout_rate or 0.0),
            "ci95": [conversion.low, conversion.high] if conversion else None,
            "treated": comparison.treated,
            "holdout": comparison.holdout,
            "treated_converted": comparison.treated_converted,
            "holdout_converted": comparison.holdout_converted,
            "enough_data": conversion is not None,
            "window_days": window_days,
            "revenue_per_recipient": {
                "treated": _mean(treated.revenue),
                "holdout": _mean(holdout.revenue),
                "difference": _mean(treated.revenue) - _mean(holdout.revenue),
                "ci95": [revenue.low, revenue.high] if revenue else None,
            },
        }
    return lifts


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _skips(
    session: Session, shop_id: int, since: datetime, now: datetime
) -> dict[str, dict[str, dict[str, int]]]:
    """Skipped steps per workflow, split into the merchant's own rule and safeguards."""
    found: dict[str, dict[str, Counter[str]]] = defaultdict(
        lambda: {"as_designed": Counter(), "blocked": Counter()}
    )
    for workflow, reason, count in session.execute(
        select(Episode.workflow, Step.reason, func.count())
        .join(Episode, Episode.id == Step.episode_id)
        .where(
            Step.shop_id == shop_id,
            Step.state == "skipped",
            Step.decided_at >= since,
            Step.decided_at <= now,
        )
        .group_by(Episode.workflow, Step.reason)
    ):
        grouped = reason_group(reason or "unknown")
        found[workflow][skip_kind(grouped)][grouped] += count
    return {
        name: {kind: dict(counts.most_common()) for kind, counts in split.items()}
        for name, split in found.items()
    }
