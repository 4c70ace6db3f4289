"""Shopify's Theme Check, as .ci/run installs it (``.ci/theme-check``, run with Node).

Missing Node or the installed checker skips a test with the reason, except under CI
(CI=true), where it fails: CI installs both before the tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

CHECKER = Path(__file__).resolve().parents[2] / ".ci" / "theme-check"


def run_theme_check(extension: Path) -> subprocess.CompletedProcess[str]:
    """Theme Check on one extension folder, with Shopify's app-extension configuration."""
    node = shutil.which("node")
    problem = None
    if node is None:
        problem = "Node is not installed (apt-get install nodejs npm)"
    elif not (CHECKER / "node_modules" / "@shopify" / "theme-check-node").is_dir():
        problem = f"Theme Check is not installed (npm ci --prefix {CHECKER})"
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(problem)
        pytest.skip(problem)
    assert node is not None
    return subprocess.run(
        [node, str(CHECKER / "check.js"), str(extension)],
        capture_output=True,
        text=True,
        timeout=120,
    )
