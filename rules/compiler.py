"""Compile validated business-rules conditions into Python closures and generated code.

The closures decide exactly as business-rules' engine does — same casts (strings None -> "",
floats to exact Decimals), same epsilon for numbers, same case-insensitive select matching,
same short-circuit order — but the comparison value is cast once, at compile time, and
each leaf goes straight to its comparison instead of through getattr and wrappers.
A property-based test holds the two to the same answers.

Out of one tree come closures, which record every condition they check (the reference,
and what any variables object other than a FactVariables is decided by), and Python
source generated for the tree and compiled once, in two forms. Both inline a variable
whose body is one expression (recomputing it costs less than the call and the cache) and
read the others from the per-fact cache inline; booleans are compared by identity, ints
against an int threshold with Python's own operators (exact, as business-rules' epsilon
is below 1), and numbers far from the threshold are settled with float arithmetic — only
a value within 0.001 of it goes through business-rules' exact Decimal comparison, so the
answers are the same.

The explained form, called with a trace, checks the conditions in the order written and
appends each check to the trace as the closures do (a test holds the two check for check):
it is what the worker decides steps by, as it records why a step did not fire. The fast
form, called without one, decides each group's cheap members first (inlined expressions,
then cached reads, then loops over the order history). Its answer is the same: every
variable is pure and total — it never raises and always returns a value its type accepts
(a property test holds it to that) — so an all/any group's answer does not depend on the
order its members are asked in.
"""

from __future__ import annotations

import ast
import builtins
import functools
import inspect
import operator as op
import re
import textwrap
from collections.abc import Callable
from decimal import Decimal
from typing import Any, NamedTuple, Protocol

from business_rules.operators import NumericType
from business_rules.utils import float_to_decimal

from rules.catalog import variable_types


class ConditionResult(NamedTuple):
    """One evaluated leaf condition: what was asked, what the value was, whether it held.

    A named tuple, not a dataclass: every explained decision makes one per condition it
    checks, and a tuple is made in about half the time."""

    name: str
    operator: str
    value: Any
    actual: Any
    passed: bool


Trace = list[ConditionResult] | None
Node = Callable[[Any, Trace], bool]
EPSILON = NumericType.EPSILON


class CompiledConditions(Protocol):
    """A condition tree compiled once; call it with a FactVariables (and a trace to explain)."""

    def __call__(self, variables: Any, trace: Trace = None) -> bool: ...


def compile_conditions(conditions: dict[str, Any]) -> CompiledConditions:
    """Compile a validated condition tree: the generated function itself (one call layer
    fewer than a wrapper object), explained when called with a trace."""
    return generate(conditions)


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


# --- the fast form: generated source ---------------------------------------------------

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


def generate(conditions: dict[str, Any]) -> CompiledConditions:
    """Compile a condition tree to one generated Python function (see the module doc)."""
    from rules.variables import FactVariables  # the class whose cache the source reads

    traced = _compile(conditions)
    namespace: dict[str, Any] = {
        "FactVariables": FactVariables,
        "ConditionResult": ConditionResult,
        "traced": traced,
        "Decimal": Decimal,
        "EPSILON": EPSILON,
    }
    functions: list[str] = []

    def constant(value: Any) -> str:
        name = f"_k{len(namespace)}"
        namespace[name] = value
        return name

    def body(node: dict[str, Any], explained: bool) -> list[str]:
        """A group's lines: cheapest member first, or, explained, in the order written,
        each leaf's check appended to the ``trace`` as it is decided."""
        [(kind, members)] = node.items()
        lines: list[str] = []
        for member in members if explained else sorted(members, key=_cost):  # ties: as written
            if list(member) in (["all"], ["any"]):
                lines.append(f"r = {group(member, explained)}")
            else:
                lines.extend(leaf(member))
                if explained:
                    check = (member["name"], member["operator"], member["value"])
                    lines.append(f"trace.append(ConditionResult(*{constant(check)}, x, r))")
            lines.append("if not r: return False" if kind == "all" else "if r: return True")
        lines.append("return True" if kind == "all" else "return False")
        return lines

    def group(node: dict[str, Any], explained: bool) -> str:
        """Define a nested group's function (its own nested groups first, so each name is
        taken once); return the call of it."""
        lines = body(node, explained)
        name = f"_group{len(functions)}"
        arguments = "v, c, trace" if explained else "v, c"
        functions.append(f"def {name}({arguments}):\n" + _indent(lines))
        return f"{name}({arguments})"

    def leaf(node: dict[str, Any]) -> list[str]:
        name, operator_name, value = node["name"], node["operator"], node["value"]
        field_type = variable_types()[name]
        cast, compare = _COMPILERS[field_type](operator_name, value)
        exact = constant(lambda actual: bool(compare(cast(actual))))  # a check's verdict
        # the variable's own function, unwrapped: the generated code keeps the cache itself
        function = getattr(FactVariables, name).__wrapped__
        inlined = _inlined(function)
        if inlined is not None:
            read = [f"x = {inlined}"]
        else:
            read = [
                f"if {name!r} in c: x = c[{name!r}]",
                f"else: x = c[{name!r}] = {constant(function)}(v)",
            ]
        if field_type == "boolean":
            wanted = operator_name == "is_true"
            return [
                *read,
                f"r = {wanted} if x is True else {not wanted} if x is False else {exact}(x)",
            ]
        if field_type != "numeric":
            return [*read, f"r = {exact}(x)"]
        above = operator_name in ("greater_than", "greater_than_or_equal_to")
        below = operator_name in ("less_than", "less_than_or_equal_to")
        at = operator_name in ("equal_to", "greater_than_or_equal_to", "less_than_or_equal_to")
        in_range = f"{-FAST_RANGE} < x < {FAST_RANGE}"
        by_margin = [  # float arithmetic, and the exact test only near the threshold
            f"    d = x - {float(value)!r}",
            f"    r = {above} if d > {MARGIN} else {below} if d < {-MARGIN} else {exact}(x)",
        ]
        branches: dict[type, tuple[str, list[str]]] = {}
        if _fast_threshold(value):
            branches[float] = (f"t is float and {in_range}", by_margin)
        if type(value) is int:  # int against int is exact: only equal is within epsilon
            branches[int] = ("t is int", [f"    r = x {_INT_OPERATORS[operator_name]} {value!r}"])
        elif _fast_threshold(value):
            branches[int] = (f"t is int and {in_range}", by_margin)
        # Decimals: the same subtraction business-rules makes, then its epsilon tests
        threshold = constant(_to_decimal(value))
        branches[Decimal] = (
            "t is Decimal",
            [
                f"    d = x - {threshold}",
                f"    r = {above} if d > EPSILON else {below} if -d > EPSILON else {at}",
            ],
        )
        # the tests exclude each other: the type the variable is declared to return first
        expected = _RETURNS.get(function.__annotations__.get("return"), Decimal)
        ordered = sorted(branches.items(), key=lambda branch: branch[0] is not expected)
        lines = [*read, "t = type(x)"]
        for n, (_type, (test, body_lines)) in enumerate(ordered):
            lines += [f"{'elif' if n else 'if'} {test}:", *body_lines]
        return [*lines, "else:", f"    r = {exact}(x)"]

    root = conditions if list(conditions) in (["all"], ["any"]) else {"all": [conditions]}
    # the root group inlined (one call fewer), once per form; nested groups defined
    fast, explained = body(root, explained=False), body(root, explained=True)
    source = "".join(functions) + (
        "def conditions(v, trace=None):\n"
        "    if type(v) is not FactVariables:\n"
        "        return traced(v, trace)\n"
        "    c = v._cache\n"
        "    if trace is not None:\n" + _indent(explained, 2) + _indent(fast)
    )
    exec(compile(source, "<conditions>", "exec"), namespace)  # our own generated source
    return namespace["conditions"]  # type: ignore[no-any-return]


# builtins an inlined expression may call: each costs about as much as reading the cache
_CHEAP_BUILTINS = {"bool", "list", "len", "float", "int", "str"}


@functools.cache
def _inlined(function: Callable[..., Any]) -> str | None:
    """The expression of a variable whose body is ``return <expression>``, reading only
    ``self`` and calling only a few builtins (reads, tests and logic: cheaper to recompute
    in each step than to cache), as source reading ``v`` for ``self``; None for any other
    body, or when the source cannot be had (the variable is then called through the cache)."""
    definition = _definition(function)
    if definition is None:
        return None
    body = definition.body
    if ast.get_docstring(definition) is not None:
        body = body[1:]
    if len(body) != 1 or not isinstance(body[0], ast.Return) or body[0].value is None:
        return None
    expression = body[0].value
    for node in ast.walk(expression):
        if isinstance(node, ast.Lambda | ast.NamedExpr | ast.comprehension):
            return None  # names bound inside the expression
        if isinstance(node, ast.Call) and not (
            isinstance(node.func, ast.Name) and node.func.id in _CHEAP_BUILTINS
        ):
            return None  # may loop: computed once per fact set, through the cache
        if isinstance(node, ast.Name):
            if node.id == "self":
                node.id = "v"
            elif node.id in function.__globals__ or not hasattr(builtins, node.id):
                return None  # a module's name: the generated code's namespace has none
    return f"({ast.unparse(expression)})"


# what a condition costs to decide, by its variable: recomputed inline, read or computed
# once through the cache, or computed by a loop over the order history (or unknown)
INLINE, CACHED, LOOPS = 0, 1, 2


def _cost(node: dict[str, Any]) -> int:
    """A condition's cost, to decide a group's cheap members first: a group costs what all
    its members cost, the worst case of deciding it."""
    if list(node) in (["all"], ["any"]):
        return sum(_cost(member) for member in next(iter(node.values())))
    from rules.variables import FactVariables

    function = getattr(FactVariables, node["name"]).__wrapped__
    if _inlined(function) is not None:
        return INLINE
    return LOOPS if _loops(function, FactVariables) else CACHED


@functools.cache
def _loops(function: Callable[..., Any], owner: type) -> bool:
    """Whether a variable may loop: its body, or a helper it calls (one of ``owner``'s methods
    or a function of its module), has a loop or a comprehension; True when the source cannot
    be read."""
    definition = _definition(function)
    if definition is None:
        return True
    for node in ast.walk(ast.Module(definition.body, [])):  # the body, not its decorators
        if isinstance(node, ast.For | ast.While | ast.comprehension):
            return True
        if not isinstance(node, ast.Call):
            continue
        called = node.func
        helper: Any = None
        if isinstance(called, ast.Attribute) and isinstance(called.value, ast.Name):
            if called.value.id == "self":
                helper = getattr(owner, called.attr, None)
        elif isinstance(called, ast.Name):
            helper = function.__globals__.get(called.id)
        helper = getattr(helper, "__wrapped__", helper)
        if inspect.isfunction(helper) and helper is not function and _loops(helper, owner):
            return True
    return False


def _definition(function: Callable[..., Any]) -> ast.FunctionDef | None:
    """A function's own definition, parsed afresh (callers may change the tree); None when
    its source cannot be had."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError, SyntaxError):
        return None
    definition = tree.body[0] if tree.body else None
    return definition if isinstance(definition, ast.FunctionDef) else None


def _indent(lines: list[str], depth: int = 1) -> str:
    return "".join(f"{'    ' * depth}{line}\n" for line in lines)


def _fast_threshold(value: Any) -> bool:
    """A threshold float arithmetic represents exactly, in the range where it is safe."""
    return type(value) in (int, float) and abs(value) < FAST_RANGE and float(value) == value
