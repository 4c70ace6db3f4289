"""JSON from the outside world, read strictly: every request body is parsed here.

Python's ``json`` reads bytes leniently: surrogates encoded in UTF-8 pass, a ``"\\ud800"``
escape becomes a lone surrogate that no database or encoder accepts later, ``NaN`` and
``Infinity`` are numbers, and nesting is bounded only by the interpreter's recursion limit
(a ``RecursionError``, not a ``ValueError``). Here each of those is an ``UnreadableJson``
whose message says what was wrong, fit for a 400 or for a delivery kept as failed.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 64  # objects and arrays inside one another; real payloads nest under ten
# a \uD800-\uDFFF escape, the only way a lone surrogate gets past strict UTF-8 decoding
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class UnreadableJson(ValueError):
    """The body is not JSON Nudge reads; the message says why."""


def _refuse_constant(name: str) -> Any:
    raise UnreadableJson(f"{name} is not a JSON number")


def parse(raw: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value in ``raw``: strict UTF-8, at most ``max_depth`` deep, no lone
    surrogates, no NaN or Infinity."""
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")  # strict: invalid bytes and encoded surrogates fail
        except UnicodeDecodeError:
            raise UnreadableJson("not UTF-8 text") from None
    else:
        text = raw
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise UnreadableJson(f"JSON nested more than {max_depth} deep") from None
    except UnreadableJson:
        raise
    except ValueError as exc:
        raise UnreadableJson(f"not JSON ({exc})") from None
    # Both walks below cost about as much as parsing; each runs only when the text could
    # hold what it looks for (more brackets than the depth allowed, a surrogate escape).
    if text.count("{") + text.count("[") > max_depth and _deeper_than(value, max_depth):
        raise UnreadableJson(f"JSON nested more than {max_depth} deep")
    if SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(value):
        raise UnreadableJson("a lone surrogate (\\ud800-\\udfff) is not text")
    return value


def parse_object(raw: bytes | str, max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """``parse``, for a body that must be a JSON object."""
    value = parse(raw, max_depth)
    if not isinstance(value, dict):
        raise UnreadableJson("expected a JSON object")
    return value


def _containers(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [v for v in value.values() if isinstance(v, dict | list)]
    return [v for v in value if isinstance(v, dict | list)]


def _deeper_than(value: Any, limit: int) -> bool:
    level = [value] if isinstance(value, dict | list) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        level = [child for container in level for child in _containers(container)]
    return False


def _has_lone_surrogate(value: Any) -> bool:
    try:
        # the C encoder visits every key and string; strict UTF-8 refuses a lone surrogate
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
