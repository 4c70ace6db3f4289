"""Test modules share helpers through tests/support/, never through one another or
conftest.py (pytest advises against importing conftest); conftest.py holds only fixtures."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).parent


def imported_modules(path: Path) -> set[str]:
    """Every module the file imports, anywhere in it (local imports included), in full."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            names.add(module)
            # `from tests import test_x` names the module in the alias
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def shares_a_test_module(module: str) -> bool:
    """Whether ``module`` is a test module or conftest, however it is spelled."""
    last = module.rsplit(".", 1)[-1]
    return last == "conftest" or last.startswith("test_")


def test_no_module_imports_a_test_module_or_conftest():
    offenders = {}
    for path in sorted(TESTS.rglob("*.py")):
        if path.name == Path(__file__).name:
            continue  # this file names test modules only as data
        if wrong := sorted(m for m in imported_modules(path) if shares_a_test_module(m)):
            offenders[str(path.relative_to(TESTS))] = wrong
    assert offenders == {}, "import from tests.support instead"


def is_fixture(node: ast.AST) -> bool:
    decorators = getattr(node, "decorator_list", [])
    return any(
        "pytest.fixture" in ast.unparse(d.func if isinstance(d, ast.Call) else d)
        for d in decorators
    )


def test_conftest_defines_only_fixtures_and_hooks():
    tree = ast.parse((TESTS / "conftest.py").read_text())
    others = []
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring
        if isinstance(node, ast.FunctionDef) and (
            is_fixture(node) or node.name.startswith("pytest_")
        ):
            continue
        others.append(getattr(node, "name", None) or ast.unparse(node).split("\n")[0])
    assert others == [], "move what test modules use into tests/support/"


def test_tests_reach_their_database_through_the_fixture():
    """The PostgreSQL pass runs the tests that take the ``database_url`` fixture (conftest's
    collection hook); a test making its database another way would silently stay on SQLite."""
    callers = [
        str(path.relative_to(TESTS))
        for path in sorted(TESTS.rglob("test_*.py"))
        if "database_url_for_test" in path.read_text() and path.name != Path(__file__).name
    ]
    assert callers == [], "take the database_url fixture instead"
