"""Decide a due step on the facts as they are now, and say why.

This is how the worker decides every step, so it does only the work the worker records:
the step's conditions are decided by generated code in the order the merchant wrote them,
noting each failed check with the value it failed on, and a skip's reason is made from
the last of those. The full explanation — every check, with its value — is worked out
only when ``Decision.checks`` is read. A fired step's actions are worked out once per
step: actions only record, and a step's never change.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from rules.actions import ActionRequest, WorkflowActions
from rules.catalog import label_of, operator_inputs, variable_types
from rules.compiler import CompiledConditions, ConditionResult
from rules.definitions import StepDef
from rules.facts import FactSet
from rules.generated_conditions import Check, Failure
from rules.variables import CatalogValues, FactVariables

REASON_CHECKS = 3  # a skip's reason names at most this many failed checks, the last ones


@dataclass(slots=True)
class Decision:
    """What a step decided: whether it fired, what it asks for, and why.

    ``checks`` — every condition checked, in the order written, with the variable's value
    and whether it held — is worked out when first read, on the variables the step was
    decided on: every variable is pure, so they are the values the decision saw.
    """

    fired: bool
    actions: tuple[ActionRequest, ...]
    reason: str
    _conditions: CompiledConditions = field(repr=False, compare=False)
    _variables: FactVariables = field(repr=False, compare=False)
    _checks: tuple[ConditionResult, ...] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @property
    def checks(self) -> tuple[ConditionResult, ...]:
        """Every check made, in the order written (worked out when first read)."""
        if self._checks is None:
            trace: list[ConditionResult] = []
            self._conditions.trace(self._variables, trace)
            self._checks = tuple(trace)
        return self._checks


def evaluate_step(step: StepDef, facts: FactSet) -> Decision:
    """Check the step's conditions; when they hold, ask for its actions (which only record)."""
    variables = FactVariables(facts)
    conditions = step.compiled
    failed: list[Failure] = []
    if conditions.decide_noting_failures(variables, failed):
        actions = _REQUESTED.get(id(step)) or requested_actions(step)
        return Decision(True, actions, "conditions met", conditions, variables)
    if len(failed) == 1:  # an `all` of leaves, the usual rule, stops at its first failure
        reason = _failure_words(*failed[0])
    else:
        reason = "; ".join([_failure_words(*failure) for failure in failed[-REASON_CHECKS:]])
    return Decision(False, (), reason, conditions, variables)


_REQUESTED: dict[int, tuple[ActionRequest, ...]] = {}  # by id(step), while the step lives


def requested_actions(step: StepDef) -> tuple[ActionRequest, ...]:
    """What a step asks for when it fires, worked out on its first firing and kept while
    the step lives: the same requests for every decision, so callers must not change them
    (the outbox copies what it keeps)."""
    key = id(step)
    requested = _REQUESTED.get(key)
    if requested is None:
        actions = WorkflowActions()
        for action in step.actions:
            getattr(actions, action["name"])(**(action.get("params") or {}))
        requested = _REQUESTED[key] = tuple(actions.requested)
        # forgotten when the step is collected, before its id can be another's
        weakref.finalize(step, _REQUESTED.pop, key, None)
    return requested


def explain(check: ConditionResult) -> str:
    """A condition that failed, in a merchant's words: 'Cart value is 9.00, needs ≥ 20'."""
    return _describer(check.name, check.operator, check.value)(check.actual)


def _failure_words(check: Check, actual: Any) -> str:
    """A check the worker's form noted as failed, in a merchant's words."""
    kept = _DESCRIBERS.get(id(check))
    if kept is None:
        if len(_DESCRIBERS) >= _DESCRIBERS_KEPT:
            _DESCRIBERS.clear()
        kept = _DESCRIBERS[id(check)] = (check, _describer(*check))
    return kept[1](actual)


# Each check's describer, by the check's identity (a compiled tree's checks live as long as
# it does, and its failures hold them): no equality is involved, so 1, True and 1.0, 0.0
# and -0.0, are never taken for one another. Each entry holds its check, so the id stays
# that check's while the entry lives.
_DESCRIBERS: dict[int, tuple[Check, Callable[[Any], str]]] = {}
_DESCRIBERS_KEPT = 10_000  # then forgotten all at once, and worked out again as needed


def _describer(name: str, operator: str, value: Any) -> Callable[[Any], str]:
    """How a check puts the variable's value in a merchant's words: worked out once per
    check, as only the value changes from one decision to the next."""
    label = label_of(name)
    wording = OPERATOR_WORDS.get(operator, operator.replace("_", " "))
    if operator_inputs()[variable_types()[name]].get(operator) == "none":
        said_yes, said_no = f"{label}: yes (needs {wording})", f"{label}: no (needs {wording})"
        return lambda actual: (
            said_yes
            if actual is True
            else said_no
            if actual is False
            else f"{label}: {_show(actual)} (needs {wording})"
        )
    head, tail = f"{label} is ", f" (needs {wording} {_show(value)})"
    return lambda actual: head + _show(actual) + tail


_ACTUAL = re.compile(r"(: [^(;]+ \(needs| is [^(;]+ \(needs)")


def reason_group(reason: str) -> str:
    """A reason without the customer's own values, to count skips by rule:
    'Cart value is 12.00 (needs ≥ 20)' -> 'Cart value (needs ≥ 20)'."""
    return _ACTUAL.sub(" (needs", reason)


def _show(value: Any) -> str:
    if type(value) is int:  # the usual value of a failed count, shown as str() would
        return str(value)
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, (list, tuple)):  # a tuple of types: `list | tuple` is built per call
        if type(value) is CatalogValues and value.unknown:  # says which products and why
            return value.words()
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
