"""Compile validated business-rules conditions into Python closures.

The closures decide exactly as business-rules' engine does — same casts (strings None -> "",
floats to exact Decimals), same epsilon for numbers, same case-insensitive select matching,
same short-circuit order — but the comparison value is cast once, at compile time, and
each leaf goes straight to its comparison instead of through getattr and wrappers.
A property-based test holds the two to the same answers.
"""

from __future__ import annotations

import operator as op
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from business_rules.operators import NumericType
from business_rules.utils import float_to_decimal

from rules.catalog import variable_types


@dataclass(frozen=True)
class ConditionResult:
    """One evaluated leaf condition: what was asked, what the value was, whether it held."""

    name: str
    operator: str
    value: Any
    actual: Any
    passed: bool


Trace = list[ConditionResult] | None
Node = Callable[[Any, Trace], bool]
EPSILON = NumericType.EPSILON


@dataclass(frozen=True)
class CompiledConditions:
    """A condition tree compiled once; call it with a FactVariables (and a trace to explain)."""

    root: Node

    def __call__(self, variables: Any, trace: Trace = None) -> bool:
        return self.root(variables, trace)


def compile_conditions(conditions: dict[str, Any]) -> CompiledConditions:
    """Compile a validated condition tree."""
    return CompiledConditions(_compile(conditions))


def _compile(node: dict[str, Any]) -> Node:
    keys = list(node)
    if keys == ["all"]:
        members = tuple(_compile(member) for member in node["all"])

        def all_of(variables: Any, trace: Trace) -> bool:
            for member in members:
                if not member(variables, trace):
                    return False
            return True

        return all_of
    if keys == ["any"]:
        members = tuple(_compile(member) for member in node["any"])

        def any_of(variables: Any, trace: Trace) -> bool:
            for member in members:
                if member(variables, trace):
                    return True
            return False

        return any_of
    return _leaf(node["name"], node["operator"], node["value"])


def _leaf(name: str, operator_name: str, value: Any) -> Node:
    field_type = variable_types()[name]
    cast, compare = _COMPILERS[field_type](operator_name, value)

    def leaf(variables: Any, trace: Trace) -> bool:
        actual = getattr(variables, name)()
        passed = bool(compare(cast(actual)))
        if trace is not None:
            trace.append(ConditionResult(name, operator_name, value, actual, passed))
        return passed

    return leaf


# --- casts: the same checks business-rules' types make on a variable's value ----------


def _to_decimal(value: Any) -> Decimal:
    if isinstance(value, float):
        return float_to_decimal(value)
    if isinstance(value, bool | int):  # business-rules' integer_types include bool
        return Decimal(value)
    if isinstance(value, Decimal):
        return value
    raise AssertionError(f"{value} is not a valid numeric type.")


def _to_string(value: Any) -> str:
    value = value or ""
    if not isinstance(value, str):
        raise AssertionError(f"{value} is not a valid string type.")
    return value


def _to_boolean(value: Any) -> bool:
    if type(value) is not bool:
        raise AssertionError(f"{value} is not a valid boolean type")
    return value


def _to_iterable(value: Any) -> Any:
    if not hasattr(value, "__iter__"):
        raise AssertionError(f"{value} is not a valid select type")
    return value


def _same(a: Any, b: Any) -> bool:
    """business-rules' SelectType equality: case-insensitive for two strings."""
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    return bool(a == b)


def _contains(values: Any, wanted: Any) -> bool:
    return any(_same(v, wanted) for v in values)


# --- per type: (cast, comparison with the compile-time value) -------------------------

Compiled = tuple[Callable[[Any], Any], Callable[[Any], Any]]


def _numeric(operator_name: str, value: Any) -> Compiled:
    other = _to_decimal(value)
    gt = lambda v: (v - other) > EPSILON  # noqa: E731
    eq = lambda v: abs(v - other) <= EPSILON  # noqa: E731
    lt = lambda v: (other - v) > EPSILON  # noqa: E731
    compare = {
        "equal_to": eq,
        "greater_than": gt,
        "greater_than_or_equal_to": lambda v: gt(v) or eq(v),
        "less_than": lt,
        "less_than_or_equal_to": lambda v: lt(v) or eq(v),
    }[operator_name]
    return _to_decimal, compare


def _string(operator_name: str, value: Any) -> Compiled:
    if operator_name == "non_empty":
        return _to_string, bool
    other = _to_string(value)
    if operator_name == "matches_regex":
        pattern = re.compile(other)
        return _to_string, lambda v: pattern.search(v)
    compare = {
        "equal_to": lambda v: v == other,
        "equal_to_case_insensitive": lambda v: v.lower() == other.lower(),
        "starts_with": lambda v: v.startswith(other),
        "ends_with": lambda v: v.endswith(other),
        "contains": lambda v: other in v,
    }[operator_name]
    return _to_string, compare


def _boolean(operator_name: str, value: Any) -> Compiled:
    return _to_boolean, {"is_true": bool, "is_false": op.not_}[operator_name]


def _select(operator_name: str, value: Any) -> Compiled:
    if operator_name == "contains":
        return _to_iterable, lambda v: _contains(v, value)
    return _to_iterable, lambda v: not _contains(v, value)


def _select_multiple(operator_name: str, value: Any) -> Compiled:
    other = _to_iterable(value)

    def shares_exactly_one(v: Any) -> bool:
        found = 0
        for wanted in other:
            if _contains(v, wanted):
                found += 1
                if found > 1:
                    return False
        return found == 1

    compare = {
        "contains_all": lambda v: all(_contains(v, wanted) for wanted in other),
        "is_contained_by": lambda v: all(_contains(other, mine) for mine in v),
        "shares_at_least_one_element_with": lambda v: any(_contains(v, w) for w in other),
        "shares_exactly_one_element_with": shares_exactly_one,
        "shares_no_elements_with": lambda v: not any(_contains(v, w) for w in other),
    }[operator_name]
    return _to_iterable, compare


_COMPILERS: dict[str, Callable[[str, Any], Compiled]] = {
    "numeric": _numeric,
    "string": _string,
    "boolean": _boolean,
    "select": _select,
    "select_multiple": _select_multiple,
}
