"""Write a condition tree as Python source, in two forms, and compile it where tracebacks
can read it.

Both forms inline a variable whose body is one expression (recomputing it costs less than
the call and the cache) and read the others from the per-fact-set cache; booleans are
compared by identity, ints against an int threshold with Python's own operators (exact,
as business-rules' epsilon is below 1), and numbers far from the threshold are settled
with float arithmetic — only a value within ``MARGIN`` of it goes through business-rules'
exact Decimal comparison, so the answers are the same. A list of strings against a
condition of strings is compared by lowercase sets (rules.comparisons.set_test).

- ``decide(variables)`` asks each group's cheap members first (inlined expressions, then
  cached reads, then loops over the order history) and returns the answer alone. The
  answer is the one the written order gives: every variable is pure and total — it never
  raises and always returns a value its type accepts (a property test holds it to that)
  — so an all/any group's answer does not depend on the order its members are asked in.
- ``decide_noting_failures(variables, failed)`` asks in the order written and appends
  each check that fails to ``failed``, as ``(check, value)``: a skip's reason names the
  last failed checks in the order the merchant wrote them, so this is what the worker
  decides by.

Any variables object other than a FactVariables is decided by the reference closures
passed in. The source is compiled under a pseudo-filename (``<nudge-conditions:LABEL#N>``)
whose lines are registered with ``linecache`` until the conditions are collected, so a
traceback through generated code shows the generated line.
"""

from __future__ import annotations

import itertools
import linecache
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rules.catalog import variable_types
from rules.comparisons import EPSILON, set_test, to_decimal, verdict
from rules.variable_costs import cost, inlined_expression, variable_function
from rules.variables import FactVariables

Check = tuple[str, str, Any]  # one leaf condition as written: variable, operator, value
Failure = tuple[Check, Any]  # a check that failed, and the variable's value it failed on
Decide = Callable[[Any], bool]
DecideNotingFailures = Callable[[Any, list[Failure]], bool]

# a numeric comparison of two ints, in Python's words
_INT_OPERATORS = {
    "equal_to": "==",
    "greater_than": ">",
    "greater_than_or_equal_to": ">=",
    "less_than": "<",
    "less_than_or_equal_to": "<=",
}
# a variable's declared return type, as rules.variables writes it (its annotations are
# postponed, so strings); any other, or none, is taken to be a Decimal (money)
_RETURNS: dict[str, type] = {"float": float, "int": int}
FAST_RANGE = 1e9  # floats below this have ulps far under the margin
MARGIN = 1e-3  # further than this from the threshold, float arithmetic cannot be wrong

_compiled_count = itertools.count(1)  # makes each compiled tree's pseudo-filename unique


@dataclass(frozen=True)
class GeneratedConditions:
    """A tree's two generated forms, the source they were compiled from, and its filename."""

    decide: Decide
    decide_noting_failures: DecideNotingFailures
    source: str
    filename: str


def generate(
    conditions: dict[str, Any],
    label: str,
    reference_decide: Decide,
    reference_noting_failures: DecideNotingFailures,
) -> GeneratedConditions:
    """Write, compile and register the source of both forms of a validated condition tree;
    ``label`` names it in tracebacks. Call ``forget_source`` with the filename once the
    functions are no longer used."""
    writer = _SourceWriter()
    writer.namespace.update(
        reference_decide=reference_decide,
        reference_noting_failures=reference_noting_failures,
    )
    source = writer.write(conditions)
    filename = f"<nudge-conditions:{label}#{next(_compiled_count)}>"
    # what a traceback through this code shows; no mtime, so checkcache() keeps it
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), writer.namespace)
    return GeneratedConditions(
        decide=writer.namespace["decide"],
        decide_noting_failures=writer.namespace["decide_noting_failures"],
        source=source,
        filename=filename,
    )


def forget_source(filename: str) -> None:
    """Drop generated source from ``linecache`` (its functions are gone)."""
    linecache.cache.pop(filename, None)


class _SourceWriter:
    """Writes one tree's generated functions; the constants they read (each leaf's check,
    exact verdict, variable function and Decimal threshold) go into ``namespace`` under
    names that say which leaf they belong to (its position in the tree as written)."""

    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {
            "FactVariables": FactVariables,
            "Decimal": Decimal,
            "EPSILON": EPSILON,
            "lower": str.lower,
        }
        self._group_functions: list[str] = []
        self._leaf_lines: dict[str, list[str]] = {}

    def write(self, conditions: dict[str, Any]) -> str:
        root = conditions if _is_group(conditions) else {"all": [conditions]}
        # the root group is written inline (one call fewer); nested groups are functions
        decide = self._group_body(root, (), noting_failures=False)
        noting = self._group_body(root, (), noting_failures=True)
        return (
            "".join(self._group_functions)
            + _entry_point("decide(variables)", "reference_decide(variables)", decide)
            + _entry_point(
                "decide_noting_failures(variables, failed)",
                "reference_noting_failures(variables, failed)",
                noting,
            )
        )

    def _group_body(
        self, node: dict[str, Any], path: tuple[int, ...], noting_failures: bool
    ) -> list[str]:
        """A group's lines: in the order written when noting failures (each failed check
        appended to ``failed``), else cheapest member first (ties: as written)."""
        [(kind, members)] = node.items()
        decided = "if not holds: return False" if kind == "all" else "if holds: return True"
        positioned = list(enumerate(members))
        if not noting_failures:
            positioned.sort(key=lambda positioned_member: cost(positioned_member[1]))
        lines: list[str] = []
        for position, member in positioned:
            member_path = (*path, position)
            if _is_group(member):  # its own function notes its members' failures
                call = self._group_call(member, member_path, noting_failures)
                lines += [f"holds = {call}", decided]
            elif not noting_failures:
                lines += [*self._leaf(member, member_path), decided]
            else:
                note = f"failed.append(({self._check(member, member_path)}, value))"
                lines += self._leaf(member, member_path)
                if kind == "all":
                    lines += ["if not holds:", f"    {note}", "    return False"]
                else:
                    lines += [decided, note]
        lines.append("return True" if kind == "all" else "return False")
        return lines

    def _group_call(
        self, node: dict[str, Any], path: tuple[int, ...], noting_failures: bool
    ) -> str:
        """Define a nested group's function (its own nested groups first); return its call."""
        body = self._group_body(node, path, noting_failures)
        form = "decide_noting_failures" if noting_failures else "decide"
        name = f"{form}_{next(iter(node))}_of_{_suffix(path)}"
        arguments = "variables, cache, facts" + (", failed" if noting_failures else "")
        self._group_functions.append(f"def {name}({arguments}):\n" + _indent(body) + "\n")
        return f"{name}({arguments})"

    def _bind(self, name: str, value: Any) -> str:
        self.namespace[name] = value
        return name

    def _check(self, node: dict[str, Any], path: tuple[int, ...]) -> str:
        check: Check = (node["name"], node["operator"], node["value"])
        return self._bind(f"check_{_suffix(path)}", check)

    def _leaf(self, node: dict[str, Any], path: tuple[int, ...]) -> list[str]:
        """Lines that set ``value`` (the variable's) and ``holds`` (whether the check held);
        written once per leaf, for both forms."""
        suffix = _suffix(path)
        if suffix not in self._leaf_lines:
            self._leaf_lines[suffix] = self._leaf_source(node, suffix)
        return self._leaf_lines[suffix]

    def _leaf_source(self, node: dict[str, Any], suffix: str) -> list[str]:
        name, operator_name, value = node["name"], node["operator"], node["value"]
        field_type = variable_types()[name]
        exact = self._bind(f"verdict_{suffix}", verdict(field_type, operator_name, value))
        function = variable_function(name)
        inlined = inlined_expression(function)
        lines = [f"# {suffix}: {name} {operator_name}"]  # both catalog identifiers
        if inlined is not None:
            lines.append(f"value = {inlined}")
        else:
            compute = self._bind(f"variable_{name}", function)
            lines += [
                f"if {name!r} in cache: value = cache[{name!r}]",
                f"else: value = cache[{name!r}] = {compute}(variables)",
            ]
        if field_type == "boolean":
            wanted = operator_name == "is_true"
            return [
                *lines,
                f"holds = {wanted} if value is True else {not wanted} if value is False "
                f"else {exact}(value)",
            ]
        by_sets = set_test(operator_name, value) if field_type == "select_multiple" else None
        if by_sets is not None:  # strings by lowercase sets; anything else the exact way
            test = self._bind(f"set_test_{suffix}", by_sets[0])
            negation = "not " if by_sets[1] else ""
            return [
                *lines,
                "try:",
                f"    holds = {negation}{test}(map(lower, value))",
                "except TypeError:",
                f"    holds = {exact}(value)",
            ]
        if field_type != "numeric":
            return [*lines, f"holds = {exact}(value)"]
        return lines + self._numeric_comparison(operator_name, value, function, exact, suffix)

    def _numeric_comparison(
        self,
        operator_name: str,
        threshold: Any,
        function: Callable[..., Any],
        exact: str,
        suffix: str,
    ) -> list[str]:
        """Compare ``value`` with the threshold by its type: the cheapest exact test first
        for the type the variable is declared to return, the exact verdict for any other."""
        above = operator_name in ("greater_than", "greater_than_or_equal_to")
        below = operator_name in ("less_than", "less_than_or_equal_to")
        at = operator_name in ("equal_to", "greater_than_or_equal_to", "less_than_or_equal_to")
        in_range = f"{-FAST_RANGE} < value < {FAST_RANGE}"
        by_margin = [  # float arithmetic, and the exact test only near the threshold
            f"    difference = value - {float(threshold)!r}",
            f"    holds = {above} if difference > {MARGIN} else {below} if difference < "
            f"{-MARGIN} else {exact}(value)",
        ]
        branches: dict[type, tuple[str, list[str]]] = {}
        if _fast_threshold(threshold):
            branches[float] = (f"kind is float and {in_range}", by_margin)
        if type(threshold) is int:  # int against int is exact: only equal is within epsilon
            branches[int] = (
                "kind is int",
                [f"    holds = value {_INT_OPERATORS[operator_name]} {threshold!r}"],
            )
        elif _fast_threshold(threshold):
            branches[int] = (f"kind is int and {in_range}", by_margin)
        # Decimals: the same subtraction business-rules makes, then its epsilon tests
        decimal_threshold = self._bind(f"threshold_{suffix}", to_decimal(threshold))
        branches[Decimal] = (
            "kind is Decimal",
            [
                f"    difference = value - {decimal_threshold}",
                f"    holds = {above} if difference > EPSILON else {below} if -difference > "
                f"EPSILON else {at}",
            ],
        )
        # the tests exclude each other: the type the variable is declared to return first
        declared: str = function.__annotations__.get("return", "")
        expected = _RETURNS.get(declared, Decimal)
        ordered = sorted(branches.items(), key=lambda branch: branch[0] is not expected)
        lines = ["kind = type(value)"]
        for n, (_type, (test, body)) in enumerate(ordered):
            lines += [f"{'elif' if n else 'if'} {test}:", *body]
        return [*lines, "else:", f"    holds = {exact}(value)"]


def _entry_point(signature: str, reference_call: str, body: list[str]) -> str:
    """A form's function: the reference closures decide any variables object but a
    FactVariables, whose cache the generated code reads itself."""
    return (
        f"def {signature}:\n"
        "    if type(variables) is not FactVariables:\n"
        f"        return {reference_call}\n"
        "    cache, facts = variables._cache, variables.facts\n" + _indent(body) + "\n"
    )


def _is_group(node: dict[str, Any]) -> bool:
    return list(node) in (["all"], ["any"])


def _suffix(path: Sequence[int]) -> str:
    """A node's position in the tree as written, for names: (0, 2) -> '0_2'."""
    return "_".join(map(str, path))


def _indent(lines: list[str], depth: int = 1) -> str:
    return "".join(f"{'    ' * depth}{line}\n" for line in lines)


def _fast_threshold(value: Any) -> bool:
    """A threshold float arithmetic represents exactly, in the range where it is safe."""
    return type(value) in (int, float) and abs(value) < FAST_RANGE and float(value) == value
