"""Headless Chromium for the browser tests: Debian's build, driven by Playwright.

Missing Playwright or Chromium skips a browser test with the reason, except under CI
(CI=true), where it fails: CI installs Debian's chromium.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("NUDGE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


def playwright_or_skip() -> Any:
    """Playwright's sync API, or skip (fail under CI) saying what is missing."""
    problem = None
    try:
        from playwright import sync_api
    except ImportError:
        problem = "Playwright is not installed (pip install playwright)"
    if problem is None and not Path(CHROMIUM).exists():
        problem = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(problem)
        pytest.skip(problem)
    return sync_api
