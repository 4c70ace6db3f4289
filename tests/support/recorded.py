"""Real payloads recorded from the platforms, under tests/fixtures/."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).parent.parent / "fixtures"


def load_fixture(relative: str) -> bytes:
    return (FIXTURES / relative).read_bytes()
