"""Rule variables over a FactSet: values, fail-safe defaults for missing facts, the catalog."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from rules.actions import ActionRequest, WorkflowActions
from rules.catalog import rule_catalog
from rules.facts import Checkout, Customer, FactSet, LineItem, Order
from rules.variables import NEVER_DAYS, NOT_YET, FactVariables

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
NOBODY = Customer(id="1")


def variables(**kw: object) -> FactVariables:
    kw.setdefault("customer", NOBODY)
    return FactVariables(FactSet(now=NOW, **kw))  # type: ignore[arg-type]


def test_missing_facts_give_values_that_fail_the_usual_condition():
    v = variables()
    expected = {
        "has_email": False,
        "accepts_marketing": False,  # unknown consent is no consent
        "suppressed": False,
        "checkout_completed": True,  # no checkout: nothing to recover
        "checkout_value": 0,
        "cart_item_count": 0,
        "hours_since_checkout_activity": NEVER_DAYS * 24,  # fails "active in the last N hours"
        "order_value": 0,
        "order_cancelled": True,  # fails "not cancelled"
        "order_refunded": True,  # fails "not refunded"
        "order_fulfilled": False,
        "days_since_fulfilled": NOT_YET,  # fails "at least N days since fulfilment"
        "days_since_order": NOT_YET,
        "orders_count": 0,
        "total_spent": 0,
        "days_since_last_order": NEVER_DAYS,
        "days_until_expected_reorder": NEVER_DAYS,  # fails "due within N days"
        "days_until_product_reorder": NEVER_DAYS,  # fails "due within N days"
        "orders_since_subject": 0,
        "days_since_last_engagement": NEVER_DAYS,
        "days_since_last_activity": NEVER_DAYS,
        "days_since_abandonment_email": NEVER_DAYS,  # never emailed: passes "≥ 14 days"
        "hours_since_marketing_email": NEVER_DAYS * 24,
        "days_since_customer_created": 0.0,
        "customer_tags": [],
        "order_product_ids": [],
        "order_product_types": [],
        "order_product_tags": [],
        "order_vendors": [],
        "order_collections": [],
        "order_products_known": True,  # no order: nothing unknown
        "checkout_product_ids": [],
        "checkout_product_types": [],
        "checkout_product_tags": [],
        "checkout_vendors": [],
        "checkout_collections": [],
        "checkout_products_known": True,
        "history_product_types": [],  # history not loaded, or nothing ordered
        "history_product_tags": [],
        "history_vendors": [],
        "history_collections": [],
        "history_products_known": True,
        "high_intent_page_views": 0,  # browsing not loaded: fails "at least N views"
        "abandoned_cart_total": 0,
        "customer_topics": [],
    }
    assert {name: getattr(v, name)() for name in expected} == expected
    assert {var["name"] for var in rule_catalog()["variables"]} == set(expected)


def test_values_are_computed_from_now_and_the_facts():
    items = (
        LineItem(product_id="101", product_type="Coffee", vendor="Northwind", tags=("gift", "vip")),
        LineItem(product_id="102", product_type="Coffee", vendor=None, tags=("vip",), quantity=2),
    )
    order = Order(
        id="o1",
        value=Decimal("42.50"),
        items=items,
        created_at=NOW - timedelta(days=10),
        fulfilled_at=NOW - timedelta(days=7, hours=12),
    )
    v = variables(
        customer=Customer(id="1", email="a@example.com", accepts_marketing=True, tags=("VIP",)),
        order=order,
        orders=(order, Order(id="o0", value=Decimal(10), created_at=NOW - timedelta(days=40))),
        checkout=Checkout(token="t", items=items, updated_at=NOW - timedelta(minutes=90)),
        last_marketing_email_at=NOW - timedelta(hours=6),
    )
    assert v.order_product_ids() == ["101", "102"]
    assert v.order_product_types() == ["Coffee"]
    assert v.order_product_tags() == ["gift", "vip"]
    assert v.order_vendors() == ["Northwind"]
    assert v.cart_item_count() == 3
    assert v.hours_since_checkout_activity() == pytest.approx(1.5)
    assert v.days_since_fulfilled() == pytest.approx(7.5)
    assert v.days_since_order() == pytest.approx(10)
    assert v.orders_count() == 2 and v.total_spent() == Decimal("52.50")
    assert v.days_since_last_order() == pytest.approx(10)
    assert v.days_until_expected_reorder() == pytest.approx(30 - 10)
    assert v.hours_since_marketing_email() == pytest.approx(6)
    assert v.customer_tags() == ["VIP"]
    assert v.order_cancelled() is False and v.order_fulfilled() is True


def test_the_customer_record_wins_over_a_partial_order_history():
    v = variables(
        customer=Customer(
            id="1",
            orders_count=7,
            total_spent=Decimal("300"),
            last_order_at=NOW - timedelta(days=3),
            mean_days_between_orders=20,
        ),
        orders=(Order(id="o1", created_at=NOW - timedelta(days=50)),),
    )
    assert v.orders_count() == 7 and v.total_spent() == Decimal("300")
    assert v.days_since_last_order() == pytest.approx(3)
    assert v.days_until_expected_reorder() == pytest.approx(17)


def test_cancelled_orders_do_not_count_as_purchases():
    cancelled = Order(
        id="o1", value=Decimal(99), created_at=NOW - timedelta(days=1), cancelled_at=NOW
    )
    v = variables(orders=(cancelled,))
    assert (v.orders_count(), v.total_spent(), v.days_since_last_order()) == (0, 0, NEVER_DAYS)


def test_orders_since_subject_for_each_kind_of_subject():
    cart = Checkout(token="t", cart_token="c", created_at=NOW - timedelta(hours=5))
    earlier = Order(id="o0", created_at=NOW - timedelta(days=30))
    assert variables(checkout=cart, orders=(earlier,)).orders_since_subject() == 0
    for converted in (
        Order(id="o1", checkout_token="t"),
        Order(id="o1", cart_token="c"),
        Order(id="o1", created_at=NOW - timedelta(hours=1)),
    ):
        assert variables(checkout=cart, orders=(converted,)).orders_since_subject() == 1
    subject = Order(id="o1", created_at=NOW - timedelta(days=7))
    later = Order(id="o2", created_at=NOW - timedelta(days=1))
    assert variables(order=subject, orders=(later, subject, earlier)).orders_since_subject() == 1
    anchored = variables(anchor_at=NOW - timedelta(days=10), orders=(later, earlier))
    assert anchored.orders_since_subject() == 1


def test_each_variable_is_computed_once_per_evaluation():
    v = variables(order=Order(id="o1", items=(LineItem(product_id="101"),)))
    assert v.order_product_ids() is v.order_product_ids()
    assert FactVariables(v.facts).order_product_ids() is not v.order_product_ids()


def test_actions_only_record_requests():
    actions = WorkflowActions()
    actions.send_email(template="upsell")
    actions.create_discount(percent=10)
    actions.tag_customer(tag="vip")
    actions.notify_staff(template="staff_alert", to="sales@example.com")
    assert actions.requested == [
        ActionRequest("send_email", {"template": "upsell"}),
        ActionRequest(
            "create_discount", {"percent": 10, "amount": 0, "expires_in_days": 3, "minimum": 0}
        ),
        ActionRequest("tag_customer", {"tag": "vip"}),
        ActionRequest("notify_staff", {"template": "staff_alert", "to": "sales@example.com"}),
    ]
    with pytest.raises(FrozenInstanceError):
        actions.requested[0].name = "other"  # type: ignore[misc]


def test_catalog_is_business_rules_export_with_typed_action_params():
    catalog = rule_catalog()
    assert set(catalog) == {"variables", "actions", "variable_type_operators"}
    params = {
        a["name"]: {p["name"]: p["fieldType"] for p in a["params"]} for a in catalog["actions"]
    }
    assert params == {
        "send_email": {
            "template": "text",
            "subject": "text",
            "template_id": "text",
            "preheader": "text",
            "blocks": "select_multiple",
        },
        "create_discount": {
            "percent": "numeric",
            "amount": "numeric",
            "expires_in_days": "numeric",
            "minimum": "numeric",
        },
        "tag_customer": {"tag": "text"},
        "notify_staff": {"template": "text", "to": "text"},
    }
    types = {v["name"]: v["field_type"] for v in catalog["variables"]}
    assert types["order_vendors"] == "select_multiple" and types["accepts_marketing"] == "boolean"
    assert all(v["label"] for v in catalog["variables"])
