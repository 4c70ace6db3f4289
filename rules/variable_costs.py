"""What a condition costs to decide, read from its variable's own source.

A variable whose body is one cheap expression is inlined into generated conditions
(recomputing it costs less than the call and the cache); any other is computed once per
fact set through the cache, and one that loops over the order history costs the most.
The generated form that decides without explaining asks a group's cheap members first.
"""

from __future__ import annotations

import ast
import builtins
import functools
import inspect
import textwrap
from collections.abc import Callable
from typing import Any

from rules.variables import FactVariables

# what a condition costs to decide, by its variable: recomputed inline, read or computed
# once through the cache, or computed by a loop over the order history (or unknown)
INLINE, CACHED, LOOPS = 0, 1, 2

# builtins an inlined expression may call: each costs about as much as reading the cache
_CHEAP_BUILTINS = {"bool", "list", "len", "float", "int", "str"}


def variable_function(name: str) -> Callable[[FactVariables], Any]:
    """A variable's own function, without the per-instance cache business-rules calls it
    through (generated code keeps the cache itself)."""
    return getattr(FactVariables, name).__wrapped__  # type: ignore[no-any-return]


def cost(node: dict[str, Any]) -> int:
    """A condition's cost, to decide a group's cheap members first: a group costs what all
    its members cost, the worst case of deciding it."""
    if list(node) in (["all"], ["any"]):
        return sum(cost(member) for member in next(iter(node.values())))
    function = variable_function(node["name"])
    if inlined_expression(function) is not None:
        return INLINE
    return LOOPS if _may_loop(function, FactVariables) else CACHED


@functools.cache
def inlined_expression(function: Callable[..., Any]) -> str | None:
    """The expression of a variable whose body is ``return <expression>``, reading only
    ``self`` and calling only a few builtins (reads, tests and logic: cheaper to recompute
    in each step than to cache), as source reading ``facts`` for ``self.facts`` and
    ``variables`` for any other use of ``self``; None for any other body, or when the
    source cannot be had (the variable is then called through the cache)."""
    definition = _parsed_definition(function)
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
                node.id = "variables"
            elif node.id in function.__globals__ or not hasattr(builtins, node.id):
                return None  # a module's name: the generated code's namespace has none
    return f"({ast.unparse(_ReadFactsDirectly().visit(expression))})"


class _ReadFactsDirectly(ast.NodeTransformer):
    """``variables.facts`` -> ``facts``: generated code reads the attribute once per call."""

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        if (
            isinstance(node.value, ast.Name)
            and node.value.id == "variables"
            and node.attr == "facts"
        ):
            return ast.copy_location(ast.Name("facts", ast.Load()), node)
        return self.generic_visit(node)


@functools.cache
def _may_loop(function: Callable[..., Any], owner: type) -> bool:
    """Whether a variable may loop: its body, or a helper it calls (one of ``owner``'s methods
    or a function of its module), has a loop or a comprehension; True when the source cannot
    be read."""
    definition = _parsed_definition(function)
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
        if inspect.isfunction(helper) and helper is not function and _may_loop(helper, owner):
            return True
    return False


def _parsed_definition(function: Callable[..., Any]) -> ast.FunctionDef | None:
    """A function's own definition, parsed afresh (callers may change the tree); None when
    its source cannot be had."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError, SyntaxError):
        return None
    definition = tree.body[0] if tree.body else None
    return definition if isinstance(definition, ast.FunctionDef) else None
