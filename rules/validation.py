"""Validate a whole workflow definition up front, against the rule catalog.

business-rules only fails (with a bare AssertionError) when it reaches a bad condition,
possibly weeks after a merchant saved it. Here every problem is reported at once, each
with the JSON path it concerns: ``steps[1].conditions.all[2]: unknown variable 'cart_valu'``.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Collection, Hashable
from typing import Any

from rules import events as ev
from rules.catalog import action_params, operator_inputs, variable_types
from rules.email_content import email_params_errors
from rules.events import KINDS
from rules.sequential import DEFAULT_PLANNED, MAX_PLANNED, MIN_PER_VARIANT

DELAY_UNITS = ("minutes", "hours", "days")
ANCHORS = frozenset(
    {
        "enrollment",
        "checkout_activity",
        "order_created",
        "fulfillment",
        "expected_reorder",
        "previous_step",
    }
)
SUBJECTS = frozenset({"checkout", "order", "customer"})
SWEEPS = {
    "inactive": {"inactive_days"},
    "reorder_due": {"lead_days"},
    # subscribed contacts with no order, N days after they subscribed
    "lead": {"after_days", "within_days"},
    # known customers who viewed high-intent pages N times, or left a large cart, in a window
    "high_intent": {"pages", "page_views", "window_hours", "cart_value", "cart_idle_hours"},
}
SWEEP_SUBJECTS = {
    "inactive": "customer",
    "reorder_due": "order",
    "lead": "customer",
    "high_intent": "customer",
}
# Trigger parameters that are lists of texts rather than numbers.
TEXT_LIST_PARAMS = frozenset({"pages"})
TOPIC = re.compile(r"^(\*|[a-z0-9][a-z0-9_-]{0,39})$")
# Which events carry a checkout or an order the episode can be about; any event can
# enroll its customer.
SUBJECT_EVENTS = {
    "checkout": frozenset({ev.CHECKOUT_UPDATED}),
    "order": frozenset({ev.ORDER_PLACED, ev.ORDER_UPDATED, ev.ORDER_FULFILLED, ev.ORDER_CANCELLED}),
}
# Moments a delay may count from, beyond enrollment and the previous step, and what
# provides them; the engine would silently count a missing one from enrollment.
ANCHOR_SUBJECTS = {
    "checkout_activity": "checkout",
    "order_created": "order",
    "fulfillment": "order",
}
CATEGORIES = frozenset({"marketing", "transactional"})
TOP_LEVEL = frozenset(
    {
        "name",
        "title",
        "description",
        "category",
        "trigger",
        "exit_on",
        "reenroll_after_days",
        "holdout_percent",
        "steps",
        # who this workflow's emails come from, when not the shop-wide sender
        "sender",
        # shipped definitions only: whether a shop that never saved it runs it
        "default_enabled",
    }
)
NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_STEPS = 20


def _is_number(value: Any) -> bool:
    """A JSON number that business-rules can compare (no bool, NaN or infinity)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value)


def _known(value: Any, names: Collection[Any]) -> bool:
    """Whether ``value`` is one of ``names``; a list or an object never is (nor hashable)."""
    return isinstance(value, Hashable) and value in names


def _suggest(name: Any, known: Any) -> str:
    close = difflib.get_close_matches(str(name), list(known), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def validate_workflow(data: Any) -> list[str]:
    """Return every problem in a definition; an empty list means it is valid."""
    if not isinstance(data, dict):
        return ["definition: expected a JSON object"]
    errors: list[str] = []
    for key in sorted(set(data) - TOP_LEVEL):
        errors.append(f"{key}: unknown field{_suggest(key, TOP_LEVEL)}")
    name = data.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        errors.append("name: lowercase letters, digits and underscores, starting with a letter")
    for key in ("title", "description"):
        if key in data and not isinstance(data[key], str):
            errors.append(f"{key}: expected text")
    if not _known(data.get("category", "marketing"), CATEGORIES):
        errors.append("category: 'marketing' or 'transactional'")
    errors += _trigger_errors(data.get("trigger"))
    exit_on = data.get("exit_on", [])
    if not isinstance(exit_on, list):
        errors.append("exit_on: expected a list of event names")
    else:
        for i, kind in enumerate(exit_on):
            if not _known(kind, KINDS):
                errors.append(f"exit_on[{i}]: unknown event '{kind}'{_suggest(kind, KINDS)}")
    reenroll = data.get("reenroll_after_days")
    if reenroll is not None and (not _is_number(reenroll) or reenroll < 0):
        errors.append("reenroll_after_days: a number of days (or null for never)")
    if not isinstance(data.get("default_enabled", True), bool):
        errors.append("default_enabled: true or false")
    holdout = data.get("holdout_percent", 0)
    if not _is_number(holdout) or not 0 <= holdout <= 100:
        errors.append("holdout_percent: a number from 0 to 100")
    errors += _steps_errors(data.get("steps"), data.get("trigger"))
    if data.get("category") == "transactional":
        errors += transactional_errors(data.get("steps"))
    errors += _sender_errors(data.get("sender"))
    return errors


# Product blocks that sell (picked or best-selling products) rather than show the customer's
# own cart or order.
PROMOTIONAL_SOURCES = frozenset({"recommendations", "best_sellers"})
NOT_TRANSACTIONAL = (
    "a transactional workflow sends no offers or product recommendations "
    "(they are marketing, which needs consent and an unsubscribe link)"
)


def transactional_errors(steps: Any) -> list[str]:
    """What a transactional workflow may not do, each at its path: create a discount, or
    email a discount or recommended products (the built-in designs' own are checked where
    they are known, plugin.web.email_preview)."""
    errors: list[str] = []
    for i, step in enumerate(steps if isinstance(steps, list) else []):
        actions = step.get("actions") if isinstance(step, dict) else None
        for j, action in enumerate(actions if isinstance(actions, list) else []):
            if not isinstance(action, dict):
                continue
            where = f"steps[{i}].actions[{j}]"
            if action.get("name") == "create_discount":
                errors.append(f"{where}: {NOT_TRANSACTIONAL}")
            params = action.get("params")
            blocks = params.get("blocks") if isinstance(params, dict) else None
            if action.get("name") != "send_email" or not isinstance(blocks, list):
                continue
            for k, block in enumerate(blocks):
                if not isinstance(block, dict):
                    continue
                if block.get("type") == "discount":
                    errors.append(f"{where}.params.blocks[{k}]: {NOT_TRANSACTIONAL}")
                elif block.get("type") == "products" and _known(
                    block.get("source"), PROMOTIONAL_SOURCES
                ):
                    errors.append(f"{where}.params.blocks[{k}].source: {NOT_TRANSACTIONAL}")
    return errors


SENDER_FIELDS = ("from_email", "from_name", "reply_to", "asm_group_id")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def optional_email(value: Any) -> bool:
    """None (not set), or an email address: a sender field, a workflow's or the shop's."""
    return value is None or (isinstance(value, str) and EMAIL.match(value) is not None)


def optional_group_id(value: Any) -> bool:
    """None (not set), or a SendGrid unsubscribe group id: a positive whole number."""
    return value is None or (isinstance(value, int) and not isinstance(value, bool) and value > 0)


MAX_POSTAL_ADDRESS = 300
POSTAL_ADDRESS_EXAMPLE = "12 Harbour Street, Portland, ME 04101, United States"


def postal_address_error(value: object) -> str | None:
    """Why ``value`` cannot be the postal address marketing email shows; None when it can
    (or is None: not set). One line, with at least a street, a city and a country."""
    if value is None:
        return None
    if not (
        isinstance(value, str) and 0 < len(value) <= MAX_POSTAL_ADDRESS and value.isprintable()
    ):
        return (
            f"postal_address: one line of at most {MAX_POSTAL_ADDRESS} characters, "
            f"such as {POSTAL_ADDRESS_EXAMPLE!r}"
        )
    parts = [part for part in value.split(",") if any(c.isalnum() for c in part)]
    if len(parts) < 3:
        return (
            "postal_address: the street, city and country, separated by commas, "
            f"such as {POSTAL_ADDRESS_EXAMPLE!r}"
        )
    return None


def _sender_errors(sender: Any) -> list[str]:
    """A workflow's own sender; every field optional (null: the shop-wide one)."""
    if sender is None:
        return []
    if not isinstance(sender, dict):
        return ["sender: expected an object"]
    errors = [
        f"sender.{key}: unknown field{_suggest(key, SENDER_FIELDS)}"
        for key in sorted(set(sender) - set(SENDER_FIELDS))
    ]
    for key in ("from_email", "reply_to"):
        if not optional_email(sender.get(key)):
            errors.append(f"sender.{key}: an email address")
    name = sender.get("from_name")
    if name is not None and (not isinstance(name, str) or len(name) > 100):
        errors.append("sender.from_name: text of at most 100 characters")
    if not optional_group_id(sender.get("asm_group_id")):
        errors.append("sender.asm_group_id: a SendGrid unsubscribe group id")
    return errors


def _trigger_errors(trigger: Any) -> list[str]:
    if not isinstance(trigger, dict):
        return ["trigger: expected an object with 'event' or 'sweep'"]
    errors = []
    if ("event" in trigger) == ("sweep" in trigger):
        errors.append("trigger: exactly one of 'event' or 'sweep'")
    allowed = {"event", "sweep", "subject", "max_age_hours"}
    if "event" in trigger and not _known(trigger["event"], KINDS):
        errors.append(
            f"trigger.event: unknown event '{trigger['event']}'{_suggest(trigger['event'], KINDS)}"
        )
    if "sweep" in trigger:
        if not _known(trigger["sweep"], SWEEPS):
            errors.append(f"trigger.sweep: one of {', '.join(sorted(SWEEPS))}")
        else:
            allowed |= SWEEPS[trigger["sweep"]]
            for param in SWEEPS[trigger["sweep"]]:
                if param not in trigger:
                    continue
                if param in TEXT_LIST_PARAMS:
                    errors += _text_list_errors(trigger[param], f"trigger.{param}")
                elif not _is_number(trigger[param]) or trigger[param] < 0:
                    unit = param.rsplit("_", 1)[-1]
                    what = f"a number of {unit}" if unit in ("days", "hours") else "a number"
                    errors.append(f"trigger.{param}: {what}, not negative")
    if trigger.get("event") == ev.TOPIC_SIGNUP:
        allowed.add("topic")
        topic = trigger.get("topic")
        if not isinstance(topic, str) or not TOPIC.match(topic):
            errors.append(
                "trigger.topic: the topic's name (lowercase letters, digits, - and _), "
                "or '*' for topics that have no series of their own"
            )
    if not _known(trigger.get("subject"), SUBJECTS):
        errors.append(f"trigger.subject: one of {', '.join(sorted(SUBJECTS))}")
    max_age = trigger.get("max_age_hours")
    if max_age is not None and (not _is_number(max_age) or max_age <= 0):
        errors.append("trigger.max_age_hours: a positive number of hours")
    for key in sorted(set(trigger) - allowed):
        errors.append(f"trigger.{key}: unknown field{_suggest(key, allowed)}")
    return errors + _subject_errors(trigger)


def _text_list_errors(value: Any, path: str) -> list[str]:
    if not isinstance(value, list) or not all(
        isinstance(v, str) and 0 < len(v) <= 200 for v in value
    ):
        return [f"{path}: a list of texts (up to 200 characters each)"]
    return []


def _subject_errors(trigger: dict[str, Any]) -> list[str]:
    """A subject the trigger can never supply would enroll nobody, silently."""
    subject, event, sweep = trigger.get("subject"), trigger.get("event"), trigger.get("sweep")
    if not isinstance(subject, str):
        return []  # reported as it is (a list or an object is no name, nor hashable)
    if isinstance(sweep, str) and sweep in SWEEP_SUBJECTS and subject in SUBJECTS:
        if subject != SWEEP_SUBJECTS[sweep]:
            return [f"trigger.subject: the '{sweep}' sweep enrolls by {SWEEP_SUBJECTS[sweep]}"]
    if isinstance(event, str) and event in KINDS and subject in SUBJECT_EVENTS:
        if event not in SUBJECT_EVENTS[subject]:
            kinds = ", ".join(sorted(SUBJECT_EVENTS[subject]))
            return [f"trigger.subject: '{event}' carries no {subject}; {subject} events: {kinds}"]
    return []


def _anchors(trigger: Any) -> frozenset[str]:
    """The delay anchors this trigger provides (all of them when the trigger is broken)."""
    if not isinstance(trigger, dict) or not _known(trigger.get("subject"), SUBJECTS):
        return ANCHORS
    subject = trigger["subject"]
    provided = {"enrollment", "previous_step"}
    provided |= {anchor for anchor, needs in ANCHOR_SUBJECTS.items() if needs == subject}
    if trigger.get("sweep") == "reorder_due":
        provided.add("expected_reorder")
    return frozenset(provided)


def _steps_errors(steps: Any, trigger: Any = None) -> list[str]:
    if not isinstance(steps, list) or not steps:
        return ["steps: expected a non-empty list"]
    if len(steps) > MAX_STEPS:
        return [f"steps: at most {MAX_STEPS}"]
    errors: list[str] = []
    seen: set[str] = set()
    for i, step in enumerate(steps):
        path = f"steps[{i}]"
        if not isinstance(step, dict):
            errors.append(f"{path}: expected an object")
            continue
        errors += _named_errors(step, path, STEP_FIELDS, seen, "step")
        errors += _delay_errors(step.get("delay"), f"{path}.delay", _anchors(trigger))
        errors += condition_errors(step.get("conditions"), f"{path}.conditions")
        errors += _actions_errors(step.get("actions"), f"{path}.actions")
        errors += _variants_errors(step, path, _anchors(trigger))
    return errors


def _named_errors(
    item: dict[str, Any], where: str, fields: frozenset[str], seen: set[str], kind: str
) -> list[str]:
    """A step's or a variant's unknown fields and its id (a name, unique among its kind;
    ``seen`` gathers the ids so far)."""
    errors = [
        f"{where}.{key}: unknown field{_suggest(key, fields)}" for key in sorted(set(item) - fields)
    ]
    item_id = item.get("id")
    if not isinstance(item_id, str) or not NAME.match(item_id):
        errors.append(f"{where}.id: lowercase letters, digits and underscores")
    elif item_id in seen:
        errors.append(f"{where}.id: duplicate {kind} id '{item_id}'")
    else:
        seen.add(item_id)
    return errors


MAX_VARIANTS = 5
STEP_FIELDS = frozenset(
    {"id", "delay", "conditions", "actions", "variants", "winner", "auto_winner"}
)
VARIANT_FIELDS = frozenset({"id", "weight", "actions", "delay"})


def _variants_errors(
    step: dict[str, Any], path: str, provided: frozenset[str] = ANCHORS
) -> list[str]:
    """An A/B test (rules.variants): 2 to 5 variants with ids, positive weights, and
    actions and a delay of their own or none (the step's); a winner names one of them."""
    variants, winner = step.get("variants"), step.get("winner")
    if variants is None:
        return [
            f"{path}.{key}: the step has no variants"
            for key in ("winner", "auto_winner")
            if step.get(key) is not None
        ]
    if not isinstance(variants, list) or not 2 <= len(variants) <= MAX_VARIANTS:
        return [f"{path}.variants: a list of 2 to {MAX_VARIANTS} variants"]
    errors: list[str] = []
    ids: set[str] = set()
    for i, variant in enumerate(variants):
        where = f"{path}.variants[{i}]"
        if not isinstance(variant, dict):
            errors.append(f"{where}: expected an object")
            continue
        errors += _named_errors(variant, where, VARIANT_FIELDS, ids, "variant")
        weight: Any = variant.get("weight")
        if not (_is_number(weight) and 0 < weight <= 100):
            errors.append(f"{where}.weight: a number above 0, at most 100")
        if variant.get("actions") is not None:
            errors += _actions_errors(variant["actions"], f"{where}.actions")
        if variant.get("delay") is not None:
            errors += _delay_errors(variant["delay"], f"{where}.delay", provided)
    if winner is not None and winner not in ids:
        errors.append(f"{path}.winner: one of the variants' ids, or null")
    return errors + _auto_winner_errors(step.get("auto_winner"), f"{path}.auto_winner")


AUTO_WINNER_FIELDS = frozenset({"enabled", "planned_per_variant"})


def _auto_winner_errors(setting: Any, path: str) -> list[str]:
    """Whether a test may decide itself (rules.sequential), and at which planned sample."""
    if setting is None:
        return []
    if not isinstance(setting, dict):
        return [f'{path}: expected an object such as {{"planned_per_variant": 1000}}']
    errors = [
        f"{path}.{key}: unknown field{_suggest(key, AUTO_WINNER_FIELDS)}"
        for key in sorted(set(setting) - AUTO_WINNER_FIELDS)
    ]
    if not isinstance(setting.get("enabled", True), bool):
        errors.append(f"{path}.enabled: true or false")
    planned: Any = setting.get("planned_per_variant", DEFAULT_PLANNED)
    if not (
        isinstance(planned, int)
        and not isinstance(planned, bool)
        and MIN_PER_VARIANT <= planned <= MAX_PLANNED
    ):
        errors.append(
            f"{path}.planned_per_variant: a whole number from {MIN_PER_VARIANT} to {MAX_PLANNED}"
        )
    return errors


def _delay_errors(delay: Any, path: str, provided: frozenset[str] = ANCHORS) -> list[str]:
    if not isinstance(delay, dict):
        return [f'{path}: expected an object such as {{"hours": 4, "from": "enrollment"}}']
    errors = []
    for key in sorted(set(delay) - set(DELAY_UNITS) - {"from"}):
        errors.append(f"{path}.{key}: unknown unit{_suggest(key, DELAY_UNITS)}")
    anchor = delay.get("from", "enrollment")
    for unit in DELAY_UNITS:
        if unit in delay and not _is_number(delay[unit]):
            errors.append(f"{path}.{unit}: expected a number")
        elif unit in delay and delay[unit] < 0 and anchor != "expected_reorder":
            # "N days before" only makes sense for a moment that lies ahead
            errors.append(f"{path}.{unit}: negative only when counting from expected_reorder")
    if not _known(anchor, ANCHORS):
        errors.append(
            f"{path}.from: one of {', '.join(sorted(ANCHORS))}{_suggest(anchor, ANCHORS)}"
        )
    elif anchor not in provided:
        needs = (
            "the reorder_due sweep"
            if anchor == "expected_reorder"
            else f"subject '{ANCHOR_SUBJECTS[anchor]}'"
        )
        errors.append(f"{path}.from: '{anchor}' needs {needs}")
    return errors


def condition_errors(conditions: Any, path: str) -> list[str]:
    """Check a business-rules condition tree (all/any groups and leaf conditions)."""
    if not isinstance(conditions, dict):
        return [f"{path}: expected an object"]
    keys = set(conditions)
    if keys & {"all", "any"}:
        if len(keys) != 1:
            return [f"{path}: 'all' or 'any' must be alone in its group"]
        group = "all" if "all" in keys else "any"
        members = conditions[group]
        if not isinstance(members, list) or not members:
            return [f"{path}.{group}: expected a non-empty list"]
        errors = []
        for i, member in enumerate(members):
            errors += condition_errors(member, f"{path}.{group}[{i}]")
        return errors
    return _leaf_errors(conditions, path)


def _leaf_errors(condition: dict[str, Any], path: str) -> list[str]:
    errors = []
    for key in ("name", "operator", "value"):
        if key not in condition:
            errors.append(f"{path}: missing '{key}'")
    for key in sorted(set(condition) - {"name", "operator", "value"}):
        errors.append(f"{path}: unknown key '{key}'")
    if errors:
        return errors
    name, operator, value = condition["name"], condition["operator"], condition["value"]
    types = variable_types()
    if not _known(name, types):
        return [f"{path}: unknown variable '{name}'{_suggest(name, types)}"]
    field_type = types[name]
    operators = operator_inputs()[field_type]
    if not _known(operator, operators):
        return [
            f"{path}: operator '{operator}' is not defined for {field_type} variable '{name}'"
            f"{_suggest(operator, operators)}"
        ]
    return _value_errors(operators[operator], operator, value, path)


def _value_errors(input_type: str, operator: str, value: Any, path: str) -> list[str]:
    if input_type == "numeric" and not _is_number(value):
        return [f"{path}.value: expected a number"]
    if input_type == "text":
        if not isinstance(value, str):
            return [f"{path}.value: expected text"]
        if operator == "matches_regex":
            try:
                re.compile(value)
            except re.error as exc:
                return [f"{path}.value: not a valid regular expression ({exc})"]
    if input_type == "select_multiple":
        if not isinstance(value, list):
            return [f"{path}.value: expected a list"]
        if not all(isinstance(v, str) or _is_number(v) for v in value):
            return [f"{path}.value: expected a list of texts or numbers"]
    if input_type == "select" and isinstance(value, list | dict):
        return [f"{path}.value: expected a single value"]
    return []


# send_email params a merchant writes: rules.email_content checks their text and blocks
EMAIL_CONTENT = frozenset({"subject", "preheader", "blocks"})


def _actions_errors(actions: Any, path: str) -> list[str]:
    if not isinstance(actions, list) or not actions:
        return [f"{path}: expected a non-empty list"]
    errors = []
    catalog = action_params()
    for i, action in enumerate(actions):
        where = f"{path}[{i}]"
        if not isinstance(action, dict) or not isinstance(action.get("name"), str):
            errors.append(f"{where}: expected an object with a 'name'")
            continue
        name = action["name"]
        if name not in catalog:
            errors.append(f"{where}: unknown action '{name}'{_suggest(name, catalog)}")
            continue
        params = action.get("params") or {}
        if not isinstance(params, dict):
            errors.append(f"{where}.params: expected an object")
            continue
        for param, value in params.items():
            if name == "send_email" and param in EMAIL_CONTENT:
                continue  # checked whole below, placeholders and blocks included
            if param not in catalog[name]:
                errors.append(
                    f"{where}.params: unknown parameter '{param}' for {name}{_suggest(param, catalog[name])}"
                )
            elif catalog[name][param] == "numeric" and not _is_number(value):
                errors.append(f"{where}.params.{param}: expected a number")
            elif catalog[name][param] == "text" and not isinstance(value, str):
                errors.append(f"{where}.params.{param}: expected text")
        if name == "send_email":
            if "template" not in params:
                errors.append(f"{where}.params: send_email needs a 'template'")
            errors += email_params_errors(params, f"{where}.params")
        if name == "tag_customer" and "tag" not in params:
            errors.append(f"{where}.params: tag_customer needs a 'tag'")
        if name == "create_discount":
            errors += _discount_errors(params, f"{where}.params")
    return errors


def _discount_errors(params: dict[str, Any], path: str) -> list[str]:
    """A discount is a percentage or a fixed amount off, and it must expire."""
    numbers = {k: v for k, v in params.items() if _is_number(v)}
    errors = []
    if not 0 <= numbers.get("percent", 0) <= 100:
        errors.append(f"{path}.percent: from 0 to 100")
    for key in ("amount", "minimum"):
        if numbers.get(key, 0) < 0:
            errors.append(f"{path}.{key}: not negative")
    if numbers.get("expires_in_days", 3) <= 0:
        errors.append(f"{path}.expires_in_days: a positive number of days")
    percent, amount = numbers.get("percent", 0) > 0, numbers.get("amount", 0) > 0
    if percent == amount:
        errors.append(
            f"{path}: create_discount needs a percent or an amount"
            + (", not both" if percent else "")
        )
    return errors
