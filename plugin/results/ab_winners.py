"""Decide A/B tests at the sweep: a winner once the sequential rule says so.

The rule is ``rules.sequential``'s (Haybittle–Peto): before the planned sample a variant
wins only if its 99.9 % interval against the control lies wholly above zero; at the planned
sample per variant one final look at 95 %, and if no variant is ahead the control is kept.
The winner is saved as a new version of the workflow, like a merchant's own pick, so the
history shows when and what changed. A test whose ``auto_winner`` is off waits for the
merchant.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from plugin.results.report import shop_report
from plugin.shop_settings.workflows import save_workflow, shop_workflows
from plugin.storage.models import Shop
from rules.sequential import MIN_PER_VARIANT, Arm, sequential_verdict

AUTO_PICK_MIN = MIN_PER_VARIANT  # recipients in every variant before any look
TEST_DAYS = 90  # how far back a test's messages are counted


def pick_winners(session: Session, shop: Shop, now: datetime) -> list[tuple[str, str, str]]:
    """Save a winner for every undecided test the rule decides now; the (workflow, step,
    variant) of each one picked."""
    workflows = shop_workflows(session, shop.id)
    undecided = {
        name: {
            step.id: step.auto_winner.planned_per_variant
            for step in item.workflow.steps
            if step.variants and step.winner is None and step.auto_winner.enabled
        }
        for name, item in workflows.items()
    }
    undecided = {name: steps for name, steps in undecided.items() if steps}
    if not undecided:
        return []
    report = shop_report(session, shop, now, TEST_DAYS)["workflows"]
    picked = []
    for name, planned in sorted(undecided.items()):
        definition = dict(workflows[name].definition)
        steps = [dict(step) for step in definition["steps"]]
        for step in steps:
            if step["id"] not in planned:
                continue
            test = report.get(name, {}).get("steps", {}).get(step["id"], {}).get("ab_test")
            if not test or test["winner"] is not None:
                continue
            arms = {
                variant: Arm(variant, row["recipients"], row["converted"])
                for variant, row in test["variants"].items()
            }
            control = arms.pop(test["control"])
            verdict = sequential_verdict(
                control, list(arms.values()), planned[step["id"]], AUTO_PICK_MIN
            )
            if verdict.winner is not None:
                step["winner"] = verdict.winner
                picked.append((name, step["id"], verdict.winner))
        if any(p[0] == name for p in picked):
            save_workflow(session, shop.id, {**definition, "steps": steps})
    return picked
