"""Decide A/B tests: once a variant is clearly ahead of the control, make it the winner.

"Clearly": its conversion's 95 % interval against the control's (Newcombe's, as the report
shows it) lies wholly above zero, with at least ``AUTO_PICK_MIN`` recipients in each of the
two. The winner is saved as a new version of the workflow, like a merchant's own pick, so
the history shows when and what changed. This is checked at every sweep: looking again and
again makes a false winner likelier than the interval's 5 %, which is why the minimum
sample is well above the report's.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from plugin.results.report import shop_report
from plugin.shop_settings.workflows import save_workflow, shop_workflows
from plugin.storage.models import Shop

AUTO_PICK_MIN = 100  # recipients in the leading variant and in the control
TEST_DAYS = 90  # how far back a test's messages are counted


def pick_winners(session: Session, shop: Shop, now: datetime) -> list[tuple[str, str, str]]:
    """Save a winner for every undecided test with a clear leader; the (workflow, step,
    variant) of each one picked."""
    workflows = shop_workflows(session, shop.id)
    undecided = {
        name
        for name, item in workflows.items()
        if any(step.variants and step.winner is None for step in item.workflow.steps)
    }
    if not undecided:
        return []
    report = shop_report(session, shop, now, TEST_DAYS)["workflows"]
    picked = []
    for name in sorted(undecided):
        definition = dict(workflows[name].definition)
        steps = [dict(step) for step in definition["steps"]]
        for step in steps:
            test = report.get(name, {}).get("steps", {}).get(step["id"], {}).get("ab_test")
            if not test or test["winner"] is not None or test["leading"] is None:
                continue
            leading, control = test["variants"][test["leading"]], test["variants"][test["control"]]
            if min(leading["recipients"], control["recipients"]) >= AUTO_PICK_MIN:
                step["winner"] = test["leading"]
                picked.append((name, step["id"], test["leading"]))
        if any(p[0] == name for p in picked):
            save_workflow(session, shop.id, {**definition, "steps": steps})
    return picked
