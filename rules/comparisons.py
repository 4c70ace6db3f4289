"""Business-rules' casts and comparisons, with the condition's own value cast once.

business-rules casts both sides of every comparison each time it checks a condition; here
the condition's value is cast when the condition is compiled, and each check casts only
the variable's value: the same casts (strings None -> "", floats to exact Decimals), the
same epsilon for numbers, the same case-insensitive select matching.
"""

from __future__ import annotations

import operator as op
import re
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from business_rules.operators import NumericType
from business_rules.utils import float_to_decimal

EPSILON = NumericType.EPSILON

# what a condition compiles to: the cast of the variable's value, then its comparison
# with the condition's value (cast already)
CastAndCompare = tuple[Callable[[Any], Any], Callable[[Any], Any]]


def cast_and_compare(field_type: str, operator_name: str, value: Any) -> CastAndCompare:
    """The cast and comparison business-rules applies to a variable of ``field_type``."""
    return _BY_FIELD_TYPE[field_type](operator_name, value)


def verdict(field_type: str, operator_name: str, value: Any) -> Callable[[Any], bool]:
    """Whether a variable's value satisfies the condition, exactly as business-rules says."""
    if field_type == "select_multiple":
        by_sets = _select_multiple_by_sets(operator_name, value)
        if by_sets is not None:
            return by_sets
    cast, compare = cast_and_compare(field_type, operator_name, value)
    return lambda actual: bool(compare(cast(actual)))


SetTest = tuple[Callable[[Iterable[str]], bool], bool]


def set_test(operator_name: str, value: Any) -> SetTest | None:
    """A select-multiple condition of strings as a test of the variable's lowercase forms,
    and whether its answer is negated: business-rules compares two strings by their
    lowercase forms, so its element-by-element loops over strings are set operations. Each
    test stops at its answer and raises TypeError on reaching anything but a string (then
    the exact comparison decides). None when the condition's values are not all strings."""
    if not hasattr(value, "__iter__") or not all(type(word) is str for word in value):
        return None
    words = [word.lower() for word in value]
    wanted = frozenset(words)

    def shares_exactly_one(lowered: Iterable[str]) -> bool:
        mine = set(lowered)
        return sum(word in mine for word in words) == 1  # a repeated word counts again

    tests: dict[str, SetTest] = {
        "contains_all": (wanted.issubset, False),
        "is_contained_by": (wanted.issuperset, False),
        "shares_at_least_one_element_with": (wanted.isdisjoint, True),
        "shares_exactly_one_element_with": (shares_exactly_one, False),
        "shares_no_elements_with": (wanted.isdisjoint, False),
    }
    return tests[operator_name]


def _select_multiple_by_sets(operator_name: str, value: Any) -> Callable[[Any], bool] | None:
    """The verdict on strings (what the tag and product variables return) by ``set_test``;
    a value holding anything else is decided the exact way."""
    found = set_test(operator_name, value)
    if found is None:
        return None
    test, negated = found
    cast, exact = _select_multiple(operator_name, value)
    lower = str.lower

    def by_sets(actual: Any) -> bool:
        try:
            return test(map(lower, actual)) is not negated
        except TypeError:  # not iterable, or not strings: the element-by-element way
            return bool(exact(cast(actual)))

    return by_sets


# --- casts: the same checks business-rules' types make on a variable's value ----------


def to_decimal(value: Any) -> Decimal:
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


# --- per field type: the cast, and the comparison with the condition's value ------------


def _numeric(operator_name: str, value: Any) -> CastAndCompare:
    other = to_decimal(value)
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
    return to_decimal, compare


def _string(operator_name: str, value: Any) -> CastAndCompare:
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


def _boolean(operator_name: str, value: Any) -> CastAndCompare:
    return _to_boolean, {"is_true": bool, "is_false": op.not_}[operator_name]


def _select(operator_name: str, value: Any) -> CastAndCompare:
    if operator_name == "contains":
        return _to_iterable, lambda v: _contains(v, value)
    return _to_iterable, lambda v: not _contains(v, value)


def _select_multiple(operator_name: str, value: Any) -> CastAndCompare:
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


_BY_FIELD_TYPE: dict[str, Callable[[str, Any], CastAndCompare]] = {
    "numeric": _numeric,
    "string": _string,
    "boolean": _boolean,
    "select": _select,
    "select_multiple": _select_multiple,
}
