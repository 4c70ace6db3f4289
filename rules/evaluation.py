"""Decide a due step on the facts as they are now, and say why."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rules.actions import ActionRequest, WorkflowActions
from rules.catalog import label_of, operator_inputs, variable_types
from rules.compiler import ConditionResult
from rules.definitions import StepDef
from rules.facts import FactSet
from rules.variables import FactVariables


@dataclass(frozen=True)
class Decision:
    """What a step decided: whether it fired, what it asks for, and why."""

    fired: bool
    actions: tuple[ActionRequest, ...]
    reason: str
    checks: tuple[ConditionResult, ...]


def evaluate_step(step: StepDef, facts: FactSet) -> Decision:
    """Check the step's conditions; when they hold, run its actions (which only record)."""
    variables = FactVariables(facts)
    trace: list[ConditionResult] = []
    fired = step.compiled(variables, trace)
    if not fired:
        failed = [check for check in trace if not check.passed]
        return Decision(False, (), "; ".join(explain(check) for check in failed[-3:]), tuple(trace))
    actions = WorkflowActions()
    for action in step.actions:
        getattr(actions, action["name"])(**(action.get("params") or {}))
    return Decision(True, tuple(actions.requested), "conditions met", tuple(trace))


def explain(check: ConditionResult) -> str:
    """A condition that failed, in a merchant's words: 'Cart value is 9.00, needs ≥ 20'."""
    label = label_of(check.name)
    wording = OPERATOR_WORDS.get(check.operator, check.operator.replace("_", " "))
    if operator_inputs()[variable_types()[check.name]].get(check.operator) == "none":
        actual = (
            "yes"
            if check.actual is True
            else "no"
            if check.actual is False
            else _show(check.actual)
        )
        return f"{label}: {actual} (needs {wording})"
    return f"{label} is {_show(check.actual)} (needs {wording} {_show(check.value)})"


_ACTUAL = re.compile(r"(: [^(;]+ \(needs| is [^(;]+ \(needs)")


def reason_group(reason: str) -> str:
    """A reason without the customer's own values, to count skips by rule:
    'Cart value is 12.00 (needs ≥ 20)' -> 'Cart value (needs ≥ 20)'."""
    return _ACTUAL.sub(" (needs", reason)


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


OPERATOR_WORDS = {
    "is_true": "yes",
    "is_false": "no",
    "equal_to": "=",
    "greater_than": ">",
    "greater_than_or_equal_to": "≥",
    "less_than": "<",
    "less_than_or_equal_to": "≤",
}
