"""The five shipped workflows: they validate, parse, and decide each step as design §1 says."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from rules.actions import ActionRequest
from rules.definitions import StepDef, load_shipped, shipped_workflows
from rules.evaluation import evaluate_step, reason_group
from rules.facts import Checkout, Customer, FactSet, LineItem, Order
from rules.reorder import product_rhythms, soonest_due
from rules.validation import validate_workflow

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
SUBSCRIBER = Customer(id="1", email="ann@example.com", accepts_marketing=True)
TEMPLATES = {
    "cart_reminder",
    "cart_offer",
    "upsell",
    "replenishment",
    "feedback_request",
    "winback",
    "winback_offer",
    "stay_subscribed",
    "welcome",
    "welcome_bestsellers",
    "welcome_offer",
    "topic_nurture",
    "topic_guide",
    "topic_picks",
    "lead_guide",
    "lead_stories",
    "lead_offer",
}


def step(workflow: str, step_id: str) -> StepDef:
    return next(s for s in load_shipped()[workflow].steps if s.id == step_id)


def facts(**kw: Any) -> FactSet:
    kw.setdefault("customer", SUBSCRIBER)
    return FactSet(now=kw.pop("now", NOW), **kw)


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def test_every_shipped_workflow_validates_and_parses():
    shipped = shipped_workflows()
    assert set(shipped) == {
        "cart_abandonment",
        "upsell",
        "purchase_cycle",
        "feedback_request",
        "reengagement",
        "welcome_series",
        "topic_nurture",
        "lead_nurturing",
        "sales_rep_alert",
    }
    for name, data in shipped.items():
        assert validate_workflow(data) == [], name
        assert data["name"] == name
    parsed = load_shipped()
    assert set(parsed) == set(shipped)
    used = {
        a["params"]["template"]
        for w in parsed.values()
        for s in w.steps
        for a in s.actions
        if a["name"] == "send_email"
    }
    assert used == TEMPLATES


def test_shipped_timings_follow_the_design():
    workflows = load_shipped()
    cart = workflows["cart_abandonment"]
    assert cart.trigger.event == "checkout_updated" and cart.trigger.max_age_hours == 72
    assert [(s.delay.amount, s.delay.from_) for s in cart.steps] == [
        (timedelta(hours=4), "checkout_activity"),
        (timedelta(hours=24), "checkout_activity"),
    ]
    assert cart.exit_on == ("order_placed",) and cart.reenroll_after_days == 14
    assert workflows["upsell"].steps[0].delay.amount == timedelta(days=7)
    cycle = workflows["purchase_cycle"]
    assert (cycle.trigger.sweep, cycle.trigger.params) == ("reorder_due", {"lead_days": 3})
    assert workflows["feedback_request"].reenroll_after_days is None  # one per order
    assert workflows["feedback_request"].category == "marketing"
    winback = workflows["reengagement"]
    assert winback.trigger.params == {"inactive_days": 90}
    assert [s.delay.amount.days for s in winback.steps] == [0, 14, 30, 44]
    assert set(winback.exit_on) == {"order_placed", "email_engaged"}


def test_marketing_email_steps_are_the_ones_the_send_window_holds():
    workflows = load_shipped()
    cart = workflows["cart_abandonment"]
    assert [cart.sends_marketing_email(s) for s in cart.steps] == [True, True]
    # an internal alert is transactional: it goes out at any hour
    alert = workflows["sales_rep_alert"]
    assert [alert.sends_marketing_email(s) for s in alert.steps] == [False]
    # a marketing step that sends no email (a tag, a discount alone) waits for nothing
    emailless = replace(cart.steps[0], actions=({"name": "tag_customer", "params": {}},))
    assert not cart.sends_marketing_email(emailless)
    transactional = replace(cart, category="transactional")
    assert not transactional.sends_marketing_email(cart.steps[0])


# --- cart abandonment -------------------------------------------------------------------


def checkout(value: str = "60", hours_idle: float = 5, **kw: Any) -> Checkout:
    at = NOW - timedelta(hours=hours_idle)
    return Checkout(
        token="t1",
        email="ann@example.com",
        value=Decimal(value),
        created_at=at,
        updated_at=at,
        **kw,
    )


def test_cart_reminder_fires_with_explained_checks():
    decision = evaluate_step(step("cart_abandonment", "reminder"), facts(checkout=checkout()))
    assert decision.fired and decision.reason == "conditions met"
    assert decision.actions == (ActionRequest("send_email", {"template": "cart_reminder"}),)
    actual = {c.name: c.actual for c in decision.checks}
    assert actual["checkout_value"] == Decimal("60")
    assert actual["hours_since_checkout_activity"] == pytest.approx(5)
    assert all(c.passed for c in decision.checks)


@pytest.mark.parametrize(
    ("fact_set", "reason"),
    [
        (
            facts(customer=Customer(id="1", email="ann@example.com"), checkout=checkout()),
            "Accepts marketing email: no (needs yes)",
        ),
        (facts(checkout=checkout("12")), "Cart value is 12.00 (needs ≥ 20)"),
        (facts(checkout=checkout(completed_at=NOW)), "Checkout completed: yes (needs no)"),
        (
            facts(checkout=checkout(), orders=(Order(id="9", checkout_token="t1"),)),
            "Orders placed since this workflow's subject is 1 (needs = 0)",
        ),
        (
            facts(customer=Customer(id="1", accepts_marketing=True), checkout=checkout()),
            "Has an email address: no (needs yes)",
        ),
        (
            facts(checkout=checkout(), suppressed=True),
            "Address is suppressed or unsubscribed: yes (needs no)",
        ),
        (
            facts(checkout=checkout(hours_idle=80)),
            "Hours since last checkout activity is 80.0 (needs < 72)",
        ),
        (
            facts(checkout=checkout(), last_abandonment_email_at=days_ago(3)),
            "Days since the last abandonment email is 3.0 (needs ≥ 14)",
        ),
    ],
)
def test_cart_reminder_skips_and_says_why(fact_set: FactSet, reason: str):
    decision = evaluate_step(step("cart_abandonment", "reminder"), fact_set)
    assert not decision.fired and decision.actions == ()
    assert decision.reason == reason
    assert not decision.checks[-1].passed  # an `all` stops at its first failure


def test_cart_offer_needs_a_bigger_cart_and_creates_a_discount():
    offer = step("cart_abandonment", "offer")
    fired = evaluate_step(offer, facts(checkout=checkout("80", hours_idle=24)))
    assert fired.actions == (
        ActionRequest(
            "create_discount", {"percent": 10, "amount": 0, "expires_in_days": 3, "minimum": 0}
        ),
        ActionRequest("send_email", {"template": "cart_offer"}),
    )
    # the reminder just went out; the offer does not wait 14 days for it
    reminded = facts(
        checkout=checkout("80", hours_idle=24), last_abandonment_email_at=NOW - timedelta(hours=20)
    )
    assert evaluate_step(offer, reminded).fired
    small = evaluate_step(offer, facts(checkout=checkout("30", hours_idle=24)))
    assert small.reason == "Cart value is 30.00 (needs ≥ 50)"


def test_an_order_for_the_cart_counts_as_converted():
    cart = checkout(cart_token="c1", is_cart=True)
    ordered = Order(id="9", cart_token="c1", created_at=None)
    decision = evaluate_step(
        step("cart_abandonment", "reminder"), facts(checkout=cart, orders=(ordered,))
    )
    assert not decision.fired and "since this workflow's subject" in decision.reason


# --- upsell and feedback ------------------------------------------------------------------

PLACED = Order(
    id="9",
    value=Decimal("40"),
    created_at=days_ago(7),
    items=(LineItem(product_id="101", product_type="Coffee", vendor="Northwind"),),
)


def test_upsell_fires_a_week_after_a_kept_order():
    decision = evaluate_step(step("upsell", "recommend"), facts(order=PLACED, orders=(PLACED,)))
    assert decision.actions == (ActionRequest("send_email", {"template": "upsell"}),)


@pytest.mark.parametrize(
    ("order", "orders", "reason"),
    [
        (Order(id="9", value=Decimal(40), refunded=True), (), "Order refunded: yes (needs no)"),
        (Order(id="9", value=Decimal(40), cancelled_at=NOW), (), "Order cancelled: yes (needs no)"),
        (
            PLACED,
            (Order(id="10", created_at=days_ago(1)), PLACED),
            "Orders placed since this workflow's subject is 1 (needs = 0)",
        ),
        (Order(id="9", created_at=days_ago(7)), (), "Order value is 0.00 (needs > 0)"),
    ],
)
def test_upsell_skips(order: Order, orders: tuple[Order, ...], reason: str):
    decision = evaluate_step(step("upsell", "recommend"), facts(order=order, orders=orders))
    assert (decision.fired, decision.reason) == (False, reason)


def test_feedback_request_after_fulfilment_unless_cancelled_or_refunded():
    ask = step("feedback_request", "ask")
    delivered = Order(id="9", created_at=days_ago(9), fulfilled_at=days_ago(7))
    decision = evaluate_step(ask, facts(order=delivered))
    assert decision.actions == (ActionRequest("send_email", {"template": "feedback_request"}),)
    refunded = Order(id="9", created_at=days_ago(9), fulfilled_at=days_ago(7), refunded=True)
    assert evaluate_step(ask, facts(order=refunded)).reason == "Order refunded: yes (needs no)"
    cancelled = Order(id="9", fulfilled_at=NOW, cancelled_at=NOW)
    assert "cancelled" in evaluate_step(ask, facts(order=cancelled)).reason
    unsent = Order(id="9", created_at=days_ago(9))
    assert evaluate_step(ask, facts(order=unsent)).reason == "Order fulfilled: no (needs yes)"


# --- purchase cycle -----------------------------------------------------------------------


def history(*ages: float) -> tuple[Order, ...]:
    return tuple(
        Order(id=f"o{n}", value=Decimal(20), created_at=days_ago(a)) for n, a in enumerate(ages)
    )


def test_purchase_cycle_reminds_before_the_customers_own_rhythm():
    remind = step("purchase_cycle", "remind")
    orders = history(28, 58, 88)  # every 30 days, last one 28 days ago: due in 2 days
    decision = evaluate_step(remind, facts(order=orders[0], orders=orders))
    assert decision.actions == (ActionRequest("send_email", {"template": "replenishment"}),)
    early = evaluate_step(remind, facts(order=orders[0], orders=orders, now=days_ago(10)))
    assert early.reason.startswith("Days until the expected re-order is 12.0 (needs ≤ 3); ")
    assert "product the customer re-orders is due again is 36500.0" in early.reason  # none
    once = history(28)
    assert "Orders placed is 1" in evaluate_step(remind, facts(order=once[0], orders=once)).reason


def test_purchase_cycle_honours_a_per_product_interval():
    remind = step("purchase_cycle", "remind")
    orders = history(28, 58, 88)
    monthly_but_weekly_product = facts(
        order=orders[0], orders=orders, extra={"reorder_interval_days": 60}
    )
    assert "expected re-order is 32.0" in evaluate_step(remind, monthly_but_weekly_product).reason


def test_purchase_cycle_follows_a_products_own_rhythm():
    """Beans every 30 days, while the customer's orders come every 10 (gifts between): the
    beans' pace decides, not the customer's."""
    remind = step("purchase_cycle", "remind")
    orders = history(5, 15, 28, 38, 58)  # the customer's mean: 13 days, due in 8
    beans = product_rhythms(
        [("o2", days_ago(28), ["beans"]), ("o4", days_ago(58), ["beans", "mug"])]
    )
    due = facts(order=orders[2], orders=orders, product_rhythms=tuple(beans.values()))
    assert evaluate_step(remind, due).actions == (
        ActionRequest("send_email", {"template": "replenishment"}),
    )
    early = facts(
        order=orders[2], orders=orders, product_rhythms=tuple(beans.values()), now=days_ago(10)
    )
    assert "re-orders is due again is 12.0 (needs ≤ 3)" in evaluate_step(remind, early).reason
    assert soonest_due(beans.values()) == beans["beans"]  # the mug was bought once: no pace
    assert beans["beans"].due_at == days_ago(-2) and beans["mug"].due_at is None
    own = replace(beans["mug"], interval_days=45.0)  # the merchant's interval for it
    assert own.due_at == days_ago(58 - 45)


# --- re-engagement ------------------------------------------------------------------------

LAPSED = Customer(
    id="1",
    email="ann@example.com",
    accepts_marketing=True,
    orders_count=2,
    last_order_at=days_ago(120),
    last_engaged_at=days_ago(100),
)


def test_winback_then_offer_then_stay_subscribed_then_sunset():
    enrolled = days_ago(0)
    first = evaluate_step(
        step("reengagement", "winback"), facts(customer=LAPSED, anchor_at=enrolled)
    )
    assert first.actions == (ActionRequest("send_email", {"template": "winback"}),)
    later = facts(customer=LAPSED, anchor_at=days_ago(14))
    offer = evaluate_step(step("reengagement", "offer"), later)
    assert [a.name for a in offer.actions] == ["create_discount", "send_email"]
    assert offer.actions[0].params["percent"] == 15
    assert offer.actions[1].params == {"template": "winback_offer"}
    stay = evaluate_step(step("reengagement", "stay_subscribed"), later)
    assert stay.actions == (ActionRequest("send_email", {"template": "stay_subscribed"}),)
    # the sunset only tags, so it needs no consent
    silent = Customer(
        id="1", email="ann@example.com", accepts_marketing=False, last_engaged_at=days_ago(150)
    )
    sunset = evaluate_step(
        step("reengagement", "sunset"), facts(customer=silent, anchor_at=days_ago(44))
    )
    assert sunset.actions == (ActionRequest("tag_customer", {"tag": "nudge:sunset"}),)


def test_winback_skips_customers_who_are_not_lapsed():
    winback = step("reengagement", "winback")
    recent = Customer(
        id="1",
        email="a@example.com",
        accepts_marketing=True,
        orders_count=1,
        last_order_at=days_ago(10),
    )
    assert "Days since last order is 10.0" in evaluate_step(winback, facts(customer=recent)).reason
    came_back = facts(
        customer=LAPSED, anchor_at=days_ago(20), orders=(Order(id="5", created_at=days_ago(2)),)
    )
    sunset = evaluate_step(step("reengagement", "sunset"), came_back)
    assert not sunset.fired and "since this workflow's subject is 1" in sunset.reason


def test_reasons_group_by_rule_not_by_the_customers_values():
    assert reason_group("Cart value is 12.00 (needs ≥ 20)") == "Cart value (needs ≥ 20)"
    assert (
        reason_group("Accepts marketing email: no (needs yes)")
        == "Accepts marketing email (needs yes)"
    )
    assert reason_group("frequency cap (dropped)") == "frequency cap (dropped)"
