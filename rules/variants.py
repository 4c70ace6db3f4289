"""A/B tests of a step: its variants, who gets which, and a variant's actions.

A step may carry ``"variants"``: a list of two to five ``{"id", "weight", "actions"?,
"delay"?}``. A variant without ``actions`` sends the step's own (the control); one with
``actions`` sends those instead — another subject, template or text, another discount. A
variant with a ``delay`` (the same shape as the step's) falls due after it instead of the
step's. Each customer gets one variant, always the same (a hash of workflow, step and
customer, like the holdout), in proportion to the weights. ``"winner": "<id>"`` on the step
ends the test: everyone gets that variant. The step's conditions are shared by all variants.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rules.actions import ActionRequest, WorkflowActions
from rules.delays import Delay, parse_delay


@dataclass(frozen=True)
class Variant:
    """One arm of a step's test; ``actions`` or ``delay`` None: the step's own."""

    id: str
    weight: float
    actions: tuple[dict[str, Any], ...] | None = None
    delay: Delay | None = None


def parse_variants(data: Any) -> tuple[Variant, ...]:
    """The variants of a validated step definition (empty when it has none)."""
    return tuple(
        Variant(
            id=item["id"],
            weight=float(item["weight"]),
            actions=tuple(item["actions"]) if item.get("actions") is not None else None,
            delay=parse_delay(item["delay"]) if item.get("delay") is not None else None,
        )
        for item in data or ()
    )


def choose_variant(
    variants: Sequence[Variant], workflow: str, step: str, customer: str, winner: str | None
) -> Variant | None:
    """The variant this customer gets: the winner once there is one, else by weight,
    stably (the same answer on every machine and every run). None: the step has none."""
    if not variants:
        return None
    if winner is not None:
        return next((v for v in variants if v.id == winner), variants[0])
    digest = hashlib.sha256(f"variant:{workflow}:{step}:{customer}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") / 2**64 * sum(v.weight for v in variants)
    for variant in variants:
        point -= variant.weight
        if point < 0:
            return variant
    return variants[-1]


def variant_actions(actions: Sequence[dict[str, Any]]) -> tuple[ActionRequest, ...]:
    """What a variant's own actions ask for when its step fires."""
    requests = WorkflowActions()
    for action in actions:
        getattr(requests, action["name"])(**(action.get("params") or {}))
    return tuple(requests.requested)
