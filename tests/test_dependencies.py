"""pyproject.toml declares what the code imports, the installed versions satisfy it, and a
plain install and the test install pick the same versions."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.dependencies import PROJECT, ROOT, declared, requirements, unmet

OURS = {"plugin", "connectors", "rules", "tests"}
# Declared, never imported: programs and drivers the code reaches by name.
NOT_IMPORTED = {"gunicorn": "the WSGI server, started as a program"}


def imported_distributions(*folders: str) -> dict[str, set[str]]:
    """distribution -> the files under ``folders`` that import one of its modules."""
    owners = metadata.packages_distributions()
    found: dict[str, set[str]] = {}
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for module in _imported_modules(path):
                top = module.partition(".")[0]
                if top in OURS or top in sys.stdlib_module_names:
                    continue
                for distribution in owners.get(top, [f"<no installed distribution: {top}>"]):
                    found.setdefault(canonicalize_name(distribution), set()).add(
                        str(path.relative_to(ROOT))
                    )
    return found


def _imported_modules(path: Path) -> list[str]:
    modules = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.append(node.module)
    return modules


def test_every_package_the_code_imports_is_declared():
    # the app's optional pieces: Celery and Redis, imported only when running at scale;
    # Playwright, only by the storefront script's measurement
    missing = {
        name: files
        for name, files in imported_distributions("plugin", "connectors", "rules").items()
        if name not in declared("scale", "browser")
    }
    assert missing == {}


def test_every_package_the_tests_import_is_declared():
    missing = {
        name: files
        for name, files in imported_distributions("tests").items()
        if name not in declared("test")
    }
    assert missing == {}


def test_every_main_dependency_is_imported_or_named_as_a_program():
    used = set(imported_distributions("plugin", "connectors", "rules")) | set(NOT_IMPORTED)
    assert declared() - used == set()


def test_the_installed_versions_satisfy_every_declared_requirement():
    assert unmet(requirements("test")) == {}, "reinstall: pip install -e '.[test]'"


def test_the_checkers_are_pinned_to_exact_versions():
    for text in PROJECT["optional-dependencies"]["lint"]:
        assert [spec.operator for spec in Requirement(text).specifier] == ["=="], text


def resolved(target: str, report: Path) -> dict[str, str]:
    """The versions pip would install for ``target`` into an empty environment."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet"]
        + ["--report", str(report), target],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if result.returncode != 0:
        reason = f"pip could not resolve {target}: {result.stderr[-2000:]}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    installs = json.loads(report.read_text())["install"]
    return {
        canonicalize_name(item["metadata"]["name"]): item["metadata"]["version"]
        for item in installs
    }


@pytest.mark.slow
def test_a_plain_install_and_the_test_install_pick_the_same_versions(tmp_path):
    plain = resolved(".", tmp_path / "plain.json")
    tested = resolved(".[test]", tmp_path / "test.json")
    # name -> (plain, test); None: the test install leaves it out
    differing = {
        name: (version, tested.get(name))
        for name, version in plain.items()
        if version != tested.get(name)
    }
    assert differing == {}
