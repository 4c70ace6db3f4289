"""The pure rules core: shipped workflows, validation messages, decisions, scheduling, and
the compiled evaluator deciding exactly as business-rules' own engine."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from business_rules.engine import run_all
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.actions import WorkflowActions
from rules.catalog import operator_inputs, rule_catalog, variable_types
from rules.compiler import compile_conditions
from rules.definitions import WorkflowInvalid, load_shipped, parse_workflow, shipped_workflows
from rules.evaluation import evaluate_step, reason_group
from rules.facts import Checkout, Customer, FactSet, LineItem, Order
from rules.scheduling import frequency_cap_release, in_holdout, next_in_send_window
from rules.validation import validate_workflow
from rules.variables import FactVariables

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def test_every_shipped_workflow_validates_against_the_catalog():
    shipped = shipped_workflows()
    assert set(shipped) == {
        "cart_abandonment",
        "upsell",
        "purchase_cycle",
        "feedback_request",
        "reengagement",
    }
    for name, data in shipped.items():
        assert validate_workflow(data) == [], name
    assert set(load_shipped()) == set(shipped)


def broken(mutate) -> list[str]:  # type: ignore[no-untyped-def]
    data = copy.deepcopy(shipped_workflows()["cart_abandonment"])
    mutate(data)
    return validate_workflow(data)


def test_validation_names_the_path_and_suggests_the_name():
    def typo(d):  # type: ignore[no-untyped-def]
        d["steps"][1]["conditions"]["all"][2] = {
            "name": "checkout_valu",
            "operator": "greater_than",
            "value": 1,
        }

    assert broken(typo) == [
        "steps[1].conditions.all[2]: unknown variable 'checkout_valu' (did you mean 'checkout_value'?)"
    ]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: d["steps"][0]["conditions"]["all"].append(
                {"name": "accepts_marketing", "operator": "greater_than", "value": 1}
            ),
            "steps[0].conditions.all[7]: operator 'greater_than' is not defined for boolean variable 'accepts_marketing'",
        ),
        (
            lambda d: d["steps"][0]["conditions"]["all"][3].pop("value"),
            "steps[0].conditions.all[3]: missing 'value'",
        ),
        (
            lambda d: d["steps"][0]["conditions"]["all"][4].update(value="twenty"),
            "steps[0].conditions.all[4].value: expected a number",
        ),
        (
            lambda d: d["steps"][0]["actions"][0].update(name="send_mail"),
            "steps[0].actions[0]: unknown action 'send_mail' (did you mean 'send_email'?)",
        ),
        (
            lambda d: d["steps"][0]["actions"][0]["params"].update(templat="x"),
            "steps[0].actions[0].params: unknown parameter 'templat' for send_email (did you mean 'template'?)",
        ),
        (
            lambda d: d["steps"][0].update(conditions={"all": []}),
            "steps[0].conditions.all: expected a non-empty list",
        ),
        (
            lambda d: d["steps"][0].update(conditions={"all": [], "any": []}),
            "steps[0].conditions: 'all' or 'any' must be alone in its group",
        ),
        (
            lambda d: d["trigger"].update(event="checkout_abandoned"),
            "trigger.event: unknown event 'checkout_abandoned'",
        ),
        (
            lambda d: d["steps"][1].update(id="reminder"),
            "steps[1].id: duplicate step id 'reminder'",
        ),
        (lambda d: d["steps"][0]["delay"].update(weeks=1), "steps[0].delay.weeks: unknown unit"),
        (
            lambda d: d["steps"][0]["delay"].update({"from": "birthday"}),
            "steps[0].delay.from: one of",
        ),
        (lambda d: d.update(holdout_percent=150), "holdout_percent: a number from 0 to 100"),
        (
            lambda d: d["steps"][0]["conditions"]["all"].append(
                {"name": "customer_tags", "operator": "contains_all", "value": "vip"}
            ),
            "steps[0].conditions.all[7].value: expected a list",
        ),
    ],
)
def test_validation_errors(mutate, expected):
    errors = broken(mutate)
    assert any(e.startswith(expected) for e in errors), errors


def test_parse_refuses_an_invalid_definition_whole():
    with pytest.raises(WorkflowInvalid) as info:
        parse_workflow({"name": "x", "steps": []})
    assert "trigger: expected an object with 'event' or 'sweep'" in info.value.errors


def facts(**kw) -> FactSet:  # type: ignore[no-untyped-def]
    customer = kw.pop("customer", Customer(id="1", email="a@example.com", accepts_marketing=True))
    return FactSet(now=kw.pop("now", NOW), customer=customer, **kw)


def checkout(value: str = "60", hours_idle: float = 5, **kw) -> Checkout:  # type: ignore[no-untyped-def]
    at = NOW - timedelta(hours=hours_idle)
    return Checkout(
        token="t", email="a@example.com", value=Decimal(value), created_at=at, updated_at=at, **kw
    )


def test_abandonment_reminder_fires_and_explains_skips():
    reminder, offer = load_shipped()["cart_abandonment"].steps
    decision = evaluate_step(reminder, facts(checkout=checkout()))
    assert decision.fired and [a.name for a in decision.actions] == ["send_email"]
    assert decision.actions[0].params == {"template": "cart_reminder"}
    no_consent = facts(customer=Customer(id="1", email="a@example.com"), checkout=checkout())
    assert evaluate_step(reminder, no_consent).reason == "Accepts marketing email: no (needs yes)"
    small = evaluate_step(reminder, facts(checkout=checkout("12")))
    assert small.reason == "Cart value is 12.00 (needs ≥ 20)"
    done = evaluate_step(reminder, facts(checkout=checkout(completed_at=NOW)))
    assert not done.fired and "Checkout completed" in done.reason
    emailed = facts(checkout=checkout(), last_abandonment_email_at=NOW - timedelta(days=3))
    assert "abandonment email" in evaluate_step(reminder, emailed).reason
    offered = evaluate_step(offer, facts(checkout=checkout("80", hours_idle=25)))
    assert [a.name for a in offered.actions] == ["create_discount", "send_email"]


def test_order_workflows_check_the_order_as_it_is_now():
    [recommend] = load_shipped()["upsell"].steps
    order = Order(id="9", value=Decimal("40"), created_at=NOW - timedelta(days=7))
    assert evaluate_step(recommend, facts(order=order, orders=(order,))).fired
    refunded = Order(id="9", value=Decimal("40"), created_at=NOW - timedelta(days=7), refunded=True)
    assert "refunded" in evaluate_step(recommend, facts(order=refunded)).reason
    newer = Order(id="10", value=Decimal("5"), created_at=NOW - timedelta(days=1))
    assert not evaluate_step(recommend, facts(order=order, orders=(newer, order))).fired
    [ask] = load_shipped()["feedback_request"].steps
    shipped_order = Order(
        id="9",
        value=Decimal("40"),
        created_at=NOW - timedelta(days=9),
        fulfilled_at=NOW - timedelta(days=7),
    )
    assert evaluate_step(ask, facts(order=shipped_order)).fired
    cancelled = Order(id="9", created_at=NOW, fulfilled_at=NOW, cancelled_at=NOW)
    assert "cancelled" in evaluate_step(ask, facts(order=cancelled)).reason


def test_purchase_cycle_uses_the_customers_own_rhythm():
    [remind] = load_shipped()["purchase_cycle"].steps
    orders = tuple(
        Order(id=str(n), value=Decimal(20), created_at=NOW - timedelta(days=28 + 30 * n))
        for n in range(3)
    )
    due = facts(order=orders[0], orders=orders)
    assert FactVariables(due).days_until_expected_reorder() == pytest.approx(2.0)
    assert evaluate_step(remind, due).fired
    early = facts(order=orders[0], orders=orders, now=NOW - timedelta(days=10))
    assert "expected re-order" in evaluate_step(remind, early).reason


def test_reasons_group_by_rule_not_by_the_customers_values():
    assert reason_group("Cart value is 12.00 (needs ≥ 20)") == "Cart value (needs ≥ 20)"
    assert (
        reason_group("Accepts marketing email: no (needs yes)")
        == "Accepts marketing email (needs yes)"
    )
    assert reason_group("frequency cap (dropped)") == "frequency cap (dropped)"


def test_variables_fail_safe_when_facts_are_missing():
    variables = FactVariables(facts())
    assert variables.checkout_completed() is True  # no checkout: nothing to recover
    assert variables.order_cancelled() is True and variables.order_refunded() is True
    assert variables.days_since_fulfilled() < 0
    assert variables.days_until_expected_reorder() > 10_000
    assert variables.accepts_marketing() is True
    assert FactVariables(facts(customer=Customer(id="2"))).accepts_marketing() is False


# --- the compiled evaluator decides exactly as business-rules ---------------------------

TYPES = variable_types()
NAMES = sorted(TYPES)
values_for_input = {
    "numeric": st.one_of(
        st.integers(-100, 10_000),
        st.floats(-100, 10_000, allow_nan=False).map(lambda f: round(f, 3)),
    ),
    "text": st.sampled_from(["", "vip", "VIP", "v.p", "^v", "coffee"]),
    "select": st.sampled_from(["vip", "Coffee", "1"]),
    "select_multiple": st.lists(
        st.sampled_from(["vip", "VIP", "Coffee", "tea", "101", "Northwind"]), max_size=3
    ),
    "none": st.just(True),
}


@st.composite
def leaf(draw):  # type: ignore[no-untyped-def]
    name = draw(st.sampled_from(NAMES))
    operators = operator_inputs()[TYPES[name]]
    operator = draw(st.sampled_from(sorted(operators)))
    return {
        "name": name,
        "operator": operator,
        "value": draw(values_for_input[operators[operator]]),
    }


conditions = st.recursive(
    leaf(),
    lambda children: st.builds(
        lambda k, v: {k: v},
        st.sampled_from(["all", "any"]),
        st.lists(children, min_size=1, max_size=4),
    ),
    max_leaves=8,
)
moments = st.one_of(st.none(), st.integers(-400 * 24, 24).map(lambda h: NOW + timedelta(hours=h)))
money = st.decimals(min_value=0, max_value=500, places=2)
items = st.lists(
    st.builds(
        LineItem,
        product_id=st.sampled_from(["101", "102", None]),
        product_type=st.sampled_from(["Coffee", "tea", None]),
        vendor=st.sampled_from(["Northwind", "Botanica"]),
        tags=st.lists(st.sampled_from(["vip", "gift"]), max_size=2).map(tuple),
        quantity=st.integers(1, 3),
        price=money,
    ),
    max_size=3,
).map(tuple)
fact_sets = st.builds(
    FactSet,
    now=st.just(NOW),
    customer=st.builds(
        Customer,
        id=st.just("1"),
        email=st.sampled_from([None, "a@example.com"]),
        accepts_marketing=st.sampled_from([None, True, False]),
        tags=st.one_of(
            st.none(), st.lists(st.sampled_from(["vip", "VIP", "wholesale"]), max_size=2).map(tuple)
        ),
        orders_count=st.one_of(st.none(), st.integers(0, 5)),
        total_spent=st.one_of(st.none(), money),
        mean_days_between_orders=st.one_of(st.none(), st.floats(1, 90)),
        last_engaged_at=moments,
        created_at=moments,
    ),
    checkout=st.one_of(
        st.none(),
        st.builds(
            Checkout,
            token=st.just("t"),
            value=money,
            items=items,
            created_at=moments,
            updated_at=moments,
            completed_at=moments,
        ),
    ),
    order=st.one_of(
        st.none(),
        st.builds(
            Order,
            id=st.just("o1"),
            value=money,
            items=items,
            created_at=moments,
            fulfilled_at=moments,
            cancelled_at=moments,
            refunded=st.booleans(),
        ),
    ),
    orders=st.lists(
        st.builds(
            Order,
            id=st.sampled_from(["o1", "o2", "o3"]),
            value=money,
            created_at=moments,
            cancelled_at=st.one_of(st.none(), st.just(NOW)),
            checkout_token=st.sampled_from([None, "t"]),
        ),
        max_size=3,
    ).map(tuple),
    anchor_at=moments,
    last_marketing_email_at=moments,
    last_abandonment_email_at=moments,
    suppressed=st.booleans(),
)
ACTIONS = [
    {"name": "send_email", "params": {"template": "cart_reminder"}},
    {"name": "tag_customer", "params": {"tag": "x"}},
]


@settings(max_examples=400, deadline=None)
@given(rule_conditions=conditions, fact_set=fact_sets)
def test_compiled_evaluator_matches_business_rules(rule_conditions, fact_set):
    assert validate_workflow_conditions(rule_conditions) == []
    theirs = WorkflowActions()
    expected = run_all(
        [{"conditions": rule_conditions, "actions": ACTIONS}],
        FactVariables(fact_set),
        theirs,
        stop_on_first_trigger=True,
    )
    compiled = compile_conditions(rule_conditions)
    assert compiled(FactVariables(fact_set)) == expected
    if expected:
        assert [a.name for a in theirs.requested] == ["send_email", "tag_customer"]


def validate_workflow_conditions(rule_conditions) -> list[str]:  # type: ignore[no-untyped-def]
    from rules.validation import condition_errors

    return condition_errors(rule_conditions, "conditions")


def test_catalog_is_business_rules_export():
    catalog = rule_catalog()
    assert {"variables", "actions", "variable_type_operators"} == set(catalog)
    assert {a["name"] for a in catalog["actions"]} == {
        "send_email",
        "create_discount",
        "tag_customer",
        "notify_staff",
    }


# --- scheduling -------------------------------------------------------------------------


def test_send_window_in_the_customers_time_zone():
    late = datetime(2026, 3, 10, 23, 30, tzinfo=UTC)  # 19:30 in New York (EDT from 8 March)
    assert next_in_send_window(late, "America/New_York") == late
    assert next_in_send_window(late, "Europe/Berlin") == datetime(2026, 3, 11, 8, 0, tzinfo=UTC)
    early = datetime(2026, 3, 10, 5, 0, tzinfo=UTC)
    assert next_in_send_window(early, "UTC") == datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    assert next_in_send_window(early, "Not/AZone") == datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    assert next_in_send_window(early, "UTC", 20, 8) == early  # a window that wraps midnight


def test_send_window_across_a_dst_change():
    # Night before US DST (2026-03-08): 09:00 local is 14:00 UTC before, 13:00 UTC after.
    night = datetime(2026, 3, 8, 4, 0, tzinfo=UTC)  # 23:00 on the 7th in New York
    assert next_in_send_window(night, "America/New_York") == datetime(2026, 3, 8, 13, 0, tzinfo=UTC)


def test_frequency_cap_and_holdout():
    assert frequency_cap_release(None, 16, NOW) is None
    assert frequency_cap_release(NOW - timedelta(hours=20), 16, NOW) is None
    assert frequency_cap_release(NOW - timedelta(hours=10), 16, NOW) == NOW + timedelta(hours=6)
    held = sum(in_holdout(str(n), "upsell", 10) for n in range(10_000))
    assert 900 < held < 1100
    assert in_holdout("42", "upsell", 10) == in_holdout("42", "upsell", 10)
    assert not any(in_holdout(str(n), "upsell", 0) for n in range(1000))
