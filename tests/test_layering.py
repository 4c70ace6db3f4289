"""Dependencies point one way: plugin -> connectors -> rules, and rules does no I/O."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
FORBIDDEN = {
    "rules": {
        "plugin",
        "connectors",
        "flask",
        "sqlalchemy",
        "requests",
        "sendgrid",
        "shopify",
        "socket",
        "urllib",
    },
    "connectors": {"plugin", "flask", "sqlalchemy"},
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_point_one_way(package):
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_modules(path) & FORBIDDEN[package])
        for path in (ROOT / package).rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_rules_reads_no_clock():
    for path in (ROOT / "rules").rglob("*.py"):
        source = path.read_text()
        for call in ("datetime.now(", "time.time(", "date.today(", "utcnow("):
            assert call not in source, (
                f"{path.name} reads the clock ({call}); take `now` as an argument"
            )


# Inside plugin/, the areas point one way too: each may import only the areas listed (and
# itself). The top-level modules (the app factory, config, services, dev_clock, identity) are
# shared by all; the demo, the benchmark and the CLI sit on top and may import anything.
SHARED = {"config", "services", "dev_clock", "identity", "create_app"}
AREAS = {
    "storage": set(),
    "shop_settings": {"storage"},
    "emails": {"storage", "shop_settings"},
    "shopify_app": {"storage"},
    "woocommerce_app": {"storage", "shopify_app"},
    "results": {"storage", "shop_settings"},
    "pipeline": {"storage", "shop_settings", "emails", "shopify_app", "results"},
    "storefront": {"storage", "shop_settings", "emails", "pipeline"},
    "web": {
        "storage",
        "shop_settings",
        "emails",
        "shopify_app",
        "pipeline",
        "woocommerce_app",
        "results",
    },
}


def plugin_areas_imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        modules = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [node.module]
            if node.module == "plugin":
                modules = [f"plugin.{alias.name}" for alias in node.names]
        names.update(m.split(".")[1] for m in modules if m.startswith("plugin."))
    return names


@pytest.mark.parametrize("area", sorted(AREAS))
def test_plugin_areas_point_one_way(area):
    allowed = AREAS[area] | SHARED | {area}
    offenders = {
        str(path.relative_to(ROOT)): sorted(plugin_areas_imported(path) - allowed)
        for path in (ROOT / "plugin" / area).rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}
