"""Compile validated business-rules conditions, once, into the forms that decide them.

Every form decides exactly as business-rules' engine does — same casts, same epsilon for
numbers, same case-insensitive select matching (rules.comparisons) — but the condition's
value is cast once, at compile time, and each leaf goes straight to its comparison
instead of through getattr and wrappers. Property-based tests hold each form to
business-rules' answers.

Out of one tree come:

- the reference: closures that check the conditions in the order written, as
  business-rules does, and can record every check (``trace``). They decide any variables
  object other than a FactVariables, and they give a decision's checks when those are
  asked for;
- generated code (rules.generated_conditions), in two forms: ``decide_noting_failures``,
  in the order written, noting each failed check — the worker decides every step by it,
  as a skip's reason names the failed checks in that order — and ``decide``, which asks
  each group's cheap members first, for a caller that needs the answer alone.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, NamedTuple

from rules.catalog import variable_types
from rules.comparisons import cast_and_compare
from rules.generated_conditions import (
    Decide,
    DecideNotingFailures,
    Failure,
    forget_source,
    generate,
)


class ConditionResult(NamedTuple):
    """One checked leaf condition: what was asked, the variable's value, whether it held."""

    name: str
    operator: str
    value: Any
    actual: Any
    passed: bool


Trace = list[ConditionResult] | None
ReferenceCheck = Callable[[Any, Trace], bool]  # decides a node, recording to a trace if given


class CompiledConditions:
    """A condition tree compiled once: its generated forms, and the reference closures that
    explain it check by check.

    ``decide(variables)`` and ``decide_noting_failures(variables, failed)`` are the
    generated functions themselves (no call layer between); ``source`` is what they were
    compiled from and ``filename`` the name tracebacks show it under.
    """

    __slots__ = (
        "decide",
        "decide_noting_failures",
        "source",
        "filename",
        "_reference",
        "__weakref__",
    )

    def __init__(self, conditions: dict[str, Any], label: str = "conditions") -> None:
        reference = _reference(conditions)

        def reference_noting_failures(variables: Any, failed: list[Failure]) -> bool:
            trace: list[ConditionResult] = []
            holds = reference(variables, trace)
            failed.extend(
                ((check.name, check.operator, check.value), check.actual)
                for check in trace
                if not check.passed
            )
            return holds

        generated = generate(
            conditions,
            label,
            reference_decide=lambda variables: reference(variables, None),
            reference_noting_failures=reference_noting_failures,
        )
        self.decide: Decide = generated.decide
        self.decide_noting_failures: DecideNotingFailures = generated.decide_noting_failures
        self.source = generated.source
        self.filename = generated.filename
        self._reference = reference
        weakref.finalize(self, forget_source, generated.filename)

    def trace(self, variables: Any, trace: list[ConditionResult]) -> bool:
        """Decide in the order written, appending every check made to ``trace``."""
        return self._reference(variables, trace)

    def __call__(self, variables: Any, trace: Trace = None) -> bool:
        """Decide; given a trace, record every check made to it, in the order written."""
        if trace is None:
            return self.decide(variables)
        return self._reference(variables, trace)


def compile_conditions(conditions: dict[str, Any], label: str = "conditions") -> CompiledConditions:
    """Compile a validated condition tree; ``label`` (e.g. 'workflow/step') names its
    generated source in tracebacks."""
    return CompiledConditions(conditions, label)


def _reference(node: dict[str, Any]) -> ReferenceCheck:
    keys = list(node)
    if keys == ["all"]:
        members = tuple(_reference(member) for member in node["all"])

        def all_of(variables: Any, trace: Trace) -> bool:
            for member in members:
                if not member(variables, trace):
                    return False
            return True

        return all_of
    if keys == ["any"]:
        members = tuple(_reference(member) for member in node["any"])

        def any_of(variables: Any, trace: Trace) -> bool:
            for member in members:
                if member(variables, trace):
                    return True
            return False

        return any_of
    return _reference_leaf(node["name"], node["operator"], node["value"])


def _reference_leaf(name: str, operator_name: str, value: Any) -> ReferenceCheck:
    cast, compare = cast_and_compare(variable_types()[name], operator_name, value)

    def leaf(variables: Any, trace: Trace) -> bool:
        actual = getattr(variables, name)()
        passed = bool(compare(cast(actual)))
        if trace is not None:
            trace.append(ConditionResult(name, operator_name, value, actual, passed))
        return passed

    return leaf
