"""Workflow definitions: JSON (business-rules conditions and actions, plus trigger, delays
and exits) parsed into typed, compiled objects.

A definition is validated whole before it is parsed, so a workflow that runs has no
condition that could fail at evaluation time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from rules.compiler import CompiledConditions, compile_conditions
from rules.delays import Delay, parse_delay
from rules.sequential import AutoWinner, parse_auto_winner
from rules.validation import validate_workflow
from rules.variants import Variant, parse_variants


class WorkflowInvalid(ValueError):
    """A definition failed validation; ``errors`` name the JSON path of each problem."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class Trigger:
    """What enrolls a customer: an event kind, or a periodic sweep."""

    subject: str
    event: str | None = None
    sweep: str | None = None
    max_age_hours: float | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StepDef:
    """One step: when it is due, what must hold then, what it does."""

    id: str
    delay: Delay
    conditions: dict[str, Any]
    actions: tuple[dict[str, Any], ...]
    compiled: CompiledConditions = field(compare=False, repr=False)
    variants: tuple[Variant, ...] = ()  # an A/B test of its actions or delay (rules.variants)
    winner: str | None = None  # the variant everyone gets once the test is decided
    auto_winner: AutoWinner = AutoWinner()  # whether and when the test decides itself


@dataclass(frozen=True)
class Workflow:
    """A parsed, validated, compiled workflow."""

    name: str
    title: str
    description: str
    category: str
    trigger: Trigger
    exit_on: tuple[str, ...]
    reenroll_after_days: float | None
    holdout_percent: float
    steps: tuple[StepDef, ...]

    def sends_marketing_email(self, step: StepDef) -> bool:
        """Whether the step sends a marketing email: such a step waits for the shop's
        send window and its frequency cap."""
        return self.category == "marketing" and any(
            action.get("name") == "send_email" for action in step.actions
        )


def parse_workflow(data: dict[str, Any]) -> Workflow:
    """Validate and parse a definition; raise WorkflowInvalid with every problem found."""
    errors = validate_workflow(data)
    if errors:
        raise WorkflowInvalid(errors)
    trigger = dict(data["trigger"])
    return Workflow(
        name=data["name"],
        title=data.get("title", data["name"]),
        description=data.get("description", ""),
        category=data.get("category", "marketing"),
        trigger=Trigger(
            subject=trigger.pop("subject"),
            event=trigger.pop("event", None),
            sweep=trigger.pop("sweep", None),
            max_age_hours=trigger.pop("max_age_hours", None),
            params=trigger,
        ),
        exit_on=tuple(data.get("exit_on", ())),
        reenroll_after_days=data.get("reenroll_after_days"),
        holdout_percent=float(data.get("holdout_percent", 0)),
        steps=tuple(_step(data["name"], step) for step in data["steps"]),
    )


def _step(workflow: str, data: dict[str, Any]) -> StepDef:
    return StepDef(
        id=data["id"],
        delay=parse_delay(data["delay"]),
        conditions=data["conditions"],
        actions=tuple(data["actions"]),
        compiled=compile_conditions(data["conditions"], label=f"{workflow}/{data['id']}"),
        variants=parse_variants(data.get("variants")),
        winner=data.get("winner"),
        auto_winner=parse_auto_winner(data.get("auto_winner")),
    )


@cache
def _shipped_texts() -> dict[str, str]:
    folder = resources.files("rules") / "workflows"
    return {
        entry.name.removesuffix(".json"): entry.read_text(encoding="utf-8")
        for entry in folder.iterdir()
        if entry.name.endswith(".json")
    }


def shipped_workflows() -> dict[str, dict[str, Any]]:
    """The default definitions shipped in rules/workflows/, by name (fresh copies)."""
    return {name: json.loads(text) for name, text in sorted(_shipped_texts().items())}


def load_shipped() -> dict[str, Workflow]:
    """Every shipped workflow, parsed."""
    return {name: parse_workflow(data) for name, data in shipped_workflows().items()}
