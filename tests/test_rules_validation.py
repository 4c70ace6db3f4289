"""Whole-definition validation: every problem at once, each named by its JSON path."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from rules.definitions import WorkflowInvalid, parse_workflow, shipped_workflows
from rules.validation import validate_workflow

Definition = dict[str, Any]


def broken(mutate: Callable[[Definition], object], workflow: str = "cart_abandonment") -> list[str]:
    data = copy.deepcopy(shipped_workflows()[workflow])
    mutate(data)
    return validate_workflow(data)


def reminder_condition(d: Definition, index: int) -> dict[str, Any]:
    return d["steps"][0]["conditions"]["all"][index]


def add_condition(d: Definition, condition: dict[str, Any]) -> None:
    d["steps"][0]["conditions"]["all"].append(condition)


def test_an_unknown_variable_is_named_by_path_with_a_suggestion():
    def typo(d: Definition) -> None:
        d["steps"][1]["conditions"]["all"][2] = {
            "name": "cart_valu",
            "operator": "greater_than",
            "value": 1,
        }

    assert broken(typo) == [
        "steps[1].conditions.all[2]: unknown variable 'cart_valu' (did you mean 'checkout_value'?)"
    ]


def test_nested_groups_report_the_full_path():
    def nested(d: Definition) -> None:
        d["steps"][0]["conditions"] = {
            "all": [
                {"name": "has_email", "operator": "is_true", "value": True},
                {"any": [{"name": "orders_count", "operator": "greater_than", "value": "1"}]},
            ]
        }

    assert broken(nested) == ["steps[0].conditions.all[1].any[0].value: expected a number"]


REMINDER_CONDITIONS = len(shipped_workflows()["cart_abandonment"]["steps"][0]["conditions"]["all"])
APPENDED = f"steps[0].conditions.all[{REMINDER_CONDITIONS}]"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: add_condition(
                d, {"name": "accepts_marketing", "operator": "greater_than", "value": 1}
            ),
            f"{APPENDED}: operator 'greater_than' is not defined for boolean variable "
            "'accepts_marketing'",
        ),
        (
            lambda d: add_condition(d, {"name": "checkout_value", "operator": "greater_than"}),
            f"{APPENDED}: missing 'value'",
        ),
        (
            lambda d: add_condition(d, {"name": "has_email", "operator": "is_true"}),
            f"{APPENDED}: missing 'value'",  # business-rules wants it even for is_true
        ),
        (
            lambda d: add_condition(
                d, {"name": "checkout_value", "operator": "less_than", "value": "twenty"}
            ),
            f"{APPENDED}.value: expected a number",
        ),
        (
            lambda d: add_condition(
                d, {"name": "checkout_value", "operator": "less_than", "value": True}
            ),
            f"{APPENDED}.value: expected a number",
        ),
        (
            lambda d: add_condition(
                d, {"name": "checkout_value", "operator": "less_than", "value": float("nan")}
            ),
            f"{APPENDED}.value: expected a number",
        ),
        (
            lambda d: add_condition(
                d, {"name": "customer_tags", "operator": "contains_all", "value": "vip"}
            ),
            f"{APPENDED}.value: expected a list",
        ),
        (
            lambda d: add_condition(
                d,
                {
                    "name": "customer_tags",
                    "operator": "shares_at_least_one_element_with",
                    "value": [{"tag": "vip"}],
                },
            ),
            f"{APPENDED}.value: expected a list of texts or numbers",
        ),
        (
            lambda d: add_condition(
                d, {"name": "customer_tags", "operator": "contains", "value": ["vip"]}
            ),
            f"{APPENDED}: operator 'contains' is not defined for select_multiple variable "
            "'customer_tags' (did you mean 'contains_all'?)",
        ),
        (
            lambda d: add_condition(
                d, {"name": "has_email", "operator": "is_true", "value": True, "note": "x"}
            ),
            f"{APPENDED}: unknown key 'note'",
        ),
        (
            lambda d: d["steps"][0].update(conditions={"all": []}),
            "steps[0].conditions.all: expected a non-empty list",
        ),
        (
            lambda d: d["steps"][0].update(
                conditions={"all": [{"name": "has_email", "operator": "is_true", "value": True}]}
                | {"any": []}
            ),
            "steps[0].conditions: 'all' or 'any' must be alone in its group",
        ),
        (
            lambda d: d["steps"][0].update(conditions=[]),
            "steps[0].conditions: expected an object",
        ),
        (
            lambda d: d["steps"][0]["actions"][0].update(name="send_mail"),
            "steps[0].actions[0]: unknown action 'send_mail' (did you mean 'send_email'?)",
        ),
        (
            lambda d: d["steps"][0]["actions"][0]["params"].update(templat="x"),
            "steps[0].actions[0].params: unknown parameter 'templat' for send_email "
            "(did you mean 'template'?)",
        ),
        (
            lambda d: d["steps"][0]["actions"][0].update(params={"subject": "Hi"}),
            "steps[0].actions[0].params: send_email needs a 'template'",
        ),
        (
            lambda d: d["steps"][0]["actions"][0]["params"].update(template=3),
            "steps[0].actions[0].params.template: expected text",
        ),
        (
            lambda d: d["steps"][0].update(actions=[]),
            "steps[0].actions: expected a non-empty list",
        ),
        (
            lambda d: d["steps"][1]["actions"][0]["params"].update(percent=150),
            "steps[1].actions[0].params.percent: from 0 to 100",
        ),
        (
            lambda d: d["steps"][1]["actions"][0]["params"].update(percent="10%"),
            "steps[1].actions[0].params.percent: expected a number",
        ),
        (
            lambda d: d["steps"][1]["actions"][0].update(params={"expires_in_days": 3}),
            "steps[1].actions[0].params: create_discount needs a percent or an amount",
        ),
        (
            lambda d: d["steps"][1]["actions"][0]["params"].update(amount=5),
            "steps[1].actions[0].params: create_discount needs a percent or an amount, not both",
        ),
        (
            lambda d: d["steps"][1]["actions"][0]["params"].update(expires_in_days=0),
            "steps[1].actions[0].params.expires_in_days: a positive number of days",
        ),
        (
            lambda d: d["trigger"].update(event="checkout_update"),
            "trigger.event: unknown event 'checkout_update' (did you mean 'checkout_updated'?)",
        ),
        (
            lambda d: d["trigger"].update(event="order_placed"),
            "trigger.subject: 'order_placed' carries no checkout; checkout events: "
            "checkout_updated",
        ),
        (
            lambda d: d["trigger"].update(max_age_hours=0),
            "trigger.max_age_hours: a positive number of hours",
        ),
        (
            lambda d: d["trigger"].update(sweep="inactive"),
            "trigger: exactly one of 'event' or 'sweep'",
        ),
        (
            lambda d: d["trigger"].update(delay=4),
            "trigger.delay: unknown field",
        ),
        (
            lambda d: d.update(exit_on=["order_paid"]),
            "exit_on[0]: unknown event 'order_paid'",
        ),
        (
            lambda d: d["steps"][1].update(id="reminder"),
            "steps[1].id: duplicate step id 'reminder'",
        ),
        (
            lambda d: d["steps"][1].update(id="Second Step"),
            "steps[1].id: lowercase letters, digits and underscores",
        ),
        (
            lambda d: d["steps"][0]["delay"].update(weeks=1),
            "steps[0].delay.weeks: unknown unit",
        ),
        (
            lambda d: d["steps"][0]["delay"].update(hour=1),
            "steps[0].delay.hour: unknown unit (did you mean 'hours'?)",
        ),
        (
            lambda d: d["steps"][0]["delay"].update(hours="4"),
            "steps[0].delay.hours: expected a number",
        ),
        (
            lambda d: d["steps"][0]["delay"].update(hours=-4),
            "steps[0].delay.hours: negative only when counting from expected_reorder",
        ),
        (
            lambda d: d["steps"][0]["delay"].update({"from": "birthday"}),
            "steps[0].delay.from: one of",
        ),
        (
            lambda d: d["steps"][0]["delay"].update({"from": "fulfillment"}),
            "steps[0].delay.from: 'fulfillment' needs subject 'order'",
        ),
        (
            lambda d: d["steps"][0]["delay"].update({"from": "expected_reorder"}),
            "steps[0].delay.from: 'expected_reorder' needs the reorder_due sweep",
        ),
        (lambda d: d.update(holdout_percent=150), "holdout_percent: a number from 0 to 100"),
        (lambda d: d.update(category="newsletter"), "category: 'marketing' or 'transactional'"),
        (
            lambda d: d.update(reenroll_after_days=-1),
            "reenroll_after_days: a number of days (or null for never)",
        ),
        (
            lambda d: d.update(reenrol_after_days=3),
            "reenrol_after_days: unknown field (did you mean 'reenroll_after_days'?)",
        ),
        (lambda d: d.update(name="Cart Abandonment"), "name: lowercase letters"),
        (lambda d: d.update(steps=[]), "steps: expected a non-empty list"),
    ],
)
def test_validation_errors(mutate: Callable[[Definition], object], expected: str):
    errors = broken(mutate)
    assert any(e.startswith(expected) for e in errors), errors


def test_sweeps_enroll_their_own_kind_of_subject():
    errors = broken(lambda d: d["trigger"].update(subject="customer"), "purchase_cycle")
    assert "trigger.subject: the 'reorder_due' sweep enrolls by order" in errors
    assert "steps[0].delay.from: 'expected_reorder' needs the reorder_due sweep" not in errors
    errors = broken(lambda d: d["trigger"].update(inactive_days="ninety"), "reengagement")
    assert errors == ["trigger.inactive_days: a number of days, not negative"]


def test_upsell_may_count_from_fulfillment_instead():
    def after_fulfillment(d: Definition) -> None:
        d["steps"][0]["delay"] = {"days": 3, "from": "fulfillment"}

    assert broken(after_fulfillment, "upsell") == []
    assert broken(lambda d: d.update(category="transactional"), "feedback_request") == []


def test_every_problem_is_reported_at_once():
    def wreck(d: Definition) -> None:
        d["trigger"]["event"] = "nope"
        d["steps"][0]["conditions"]["all"][0]["name"] = "nope"
        d["steps"][1]["actions"][1]["name"] = "nope"

    assert len(broken(wreck)) == 3


def test_anything_but_an_object_is_refused():
    assert validate_workflow([]) == ["definition: expected a JSON object"]
    assert "steps: expected a non-empty list" in validate_workflow({})


def test_parse_refuses_an_invalid_definition_whole():
    with pytest.raises(WorkflowInvalid) as info:
        parse_workflow({"name": "x", "steps": []})
    assert "trigger: expected an object with 'event' or 'sweep'" in info.value.errors
    assert "steps: expected a non-empty list" in info.value.errors


def test_parse_gives_typed_definitions_with_defaults():
    data = {
        "name": "vip_alert",
        "trigger": {"event": "checkout_updated", "subject": "checkout"},
        "steps": [
            {
                "id": "alert",
                "delay": {"hours": 1, "minutes": 30},
                "conditions": {
                    "all": [{"name": "checkout_value", "operator": "greater_than", "value": 500}]
                },
                "actions": [{"name": "notify_staff", "params": {"template": "staff_alert"}}],
            }
        ],
    }
    workflow = parse_workflow(data)
    assert (workflow.title, workflow.category, workflow.holdout_percent) == (
        "vip_alert",
        "marketing",
        0.0,
    )
    assert workflow.exit_on == () and workflow.reenroll_after_days is None
    assert workflow.trigger.event == "checkout_updated" and workflow.trigger.sweep is None
    [step] = workflow.steps
    assert step.delay.amount == timedelta(hours=1, minutes=30)
    assert step.delay.from_ == "enrollment"
    sweep = parse_workflow(shipped_workflows()["reengagement"]).trigger
    assert (sweep.sweep, sweep.subject, sweep.params) == (
        "inactive",
        "customer",
        {"inactive_days": 90},
    )


def test_a_workflows_own_sender_is_checked_field_by_field():
    definition = shipped_workflows()["upsell"]
    definition["sender"] = {"from_email": "upsell@shop.example", "asm_group_id": 3}
    assert validate_workflow(definition) == []
    definition["sender"] = {
        "from_email": "nope",
        "reply_to": 5,
        "from_name": "x" * 101,
        "asm_group_id": 0,
        "bcc": "a@b.c",
    }
    assert sorted(e.split(":")[0] for e in validate_workflow(definition)) == [
        "sender.asm_group_id",
        "sender.bcc",
        "sender.from_email",
        "sender.from_name",
        "sender.reply_to",
    ]
    definition["sender"] = "upsell@shop.example"
    assert validate_workflow(definition) == ["sender: expected an object"]
