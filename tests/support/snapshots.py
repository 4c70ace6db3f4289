"""Snapshot files: normalized events as JSON beside the fixture they came from."""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any


def to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    return value


def assert_snapshot(path: Path, value: Any) -> None:
    """Compare with the stored snapshot; UPDATE_SNAPSHOTS=1 rewrites it (review the diff!)."""
    actual = to_jsonable(value)
    if os.environ.get("UPDATE_SNAPSHOTS") == "1" or not path.exists():
        if os.environ.get("CI") == "true" and not path.exists():
            raise AssertionError(f"missing snapshot {path}; create it locally and review it")
        path.write_text(json.dumps(actual, indent=2, sort_keys=True) + "\n")
    assert actual == json.loads(path.read_text()), f"events differ from {path.name}"
