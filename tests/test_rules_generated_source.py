"""Generated condition code can be debugged: tracebacks through it show its lines."""

from __future__ import annotations

import gc
import linecache
import traceback
from datetime import UTC, datetime
from typing import Any

import pytest

from rules.actions import ActionRequest
from rules.compiler import compile_conditions
from rules.definitions import load_shipped, parse_workflow
from rules.evaluation import evaluate_step
from rules.facts import Customer, FactSet
from rules.variables import FactVariables

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
CONSENT = {"name": "accepts_marketing", "operator": "is_true", "value": True}  # inlined
NO_LATER_ORDER = {"name": "orders_since_subject", "operator": "equal_to", "value": 0}  # cached


def raise_through(decide: Any, facts: Any) -> BaseException:
    with pytest.raises(AttributeError) as raised:
        decide(FactVariables(facts))
    return raised.value


@pytest.mark.parametrize("condition", [CONSENT, NO_LATER_ORDER], ids=["inlined", "cached"])
@pytest.mark.parametrize("form", ["decide", "decide_noting_failures"])
def test_a_traceback_through_generated_conditions_shows_the_generated_line(
    condition: dict[str, Any], form: str
):
    compiled = compile_conditions({"all": [condition]}, label="test/broken")
    decide = getattr(compiled, form)
    if form == "decide_noting_failures":
        decide = lambda variables, decide=decide: decide(variables, [])  # noqa: E731
    # facts with no customer, and an order history holding no order: the variable reading
    # either raises inside the conditions
    broken = FactSet(now=NOW, customer=None, orders=(None,), anchor_at=NOW)  # type: ignore[arg-type]
    error = raise_through(decide, broken)

    generated = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if frame.filename == compiled.filename
    ]
    assert generated, "the traceback passes through the generated code"
    source_lines = compiled.source.splitlines()
    for frame in generated:
        assert frame.line, f"no source shown for line {frame.lineno} of {frame.filename}"
        assert frame.line == source_lines[frame.lineno - 1].strip()
    text = "".join(traceback.format_exception(error))
    assert f'File "{compiled.filename}"' in text
    assert generated[-1].line in text
    assert condition["name"] in generated[-1].line  # the line reads the failing variable


def test_generated_source_is_named_after_its_workflow_and_step():
    reminder = load_shipped()["cart_abandonment"].steps[0]
    assert reminder.compiled.filename.startswith("<nudge-conditions:cart_abandonment/reminder#")
    other = compile_conditions(CONSENT, label="cart_abandonment/reminder")
    assert other.filename != reminder.compiled.filename  # each compiled tree has its own


def test_generated_source_is_forgotten_with_its_conditions():
    compiled = compile_conditions(CONSENT, label="test/forgotten")
    filename = compiled.filename
    assert linecache.getlines(filename) == compiled.source.splitlines(True)
    del compiled
    gc.collect()
    assert filename not in linecache.cache


def test_each_step_asks_for_its_own_actions_after_others_are_gone():
    # steps made and dropped one after another often reuse one address: what a fired step
    # asks for must never be another (collected) step's
    facts = FactSet(now=NOW, customer=Customer(id="1", accepts_marketing=True))
    for n in range(50):
        tag = f"tag-{n}"
        [step] = parse_workflow(
            {
                "name": "tagging",
                "trigger": {"event": "customer_upserted", "subject": "customer"},
                "steps": [
                    {
                        "id": "tag",
                        "delay": {"hours": 0},
                        "conditions": {"all": [CONSENT]},
                        "actions": [{"name": "tag_customer", "params": {"tag": tag}}],
                    }
                ],
            }
        ).steps
        decision = evaluate_step(step, facts)
        assert decision.actions == (ActionRequest("tag_customer", {"tag": tag}),)
        del step, decision
