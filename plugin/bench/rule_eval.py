"""Rule evaluation: steps decided as the worker decides them, against business-rules' ``run_all``.

The headline pair is what the worker runs: ``evaluate_step`` — the conditions, the actions
a fired step asks for and, for a step that does not fire, the reason the worker records —
against ``run_all`` running the same rule with its actions. Each step is decided on fresh
variables, as the worker's are, and both sides must agree on every decision and every
action asked for (the benchmark fails otherwise).

Beside it, the conditions alone: the generated form that answers without explaining
(``decide``, a group's cheap members first) against ``run_all`` without actions and a
hand-written function per step, one variables object per fact set. All must agree with
``run_all`` exactly, so the ratios compare equal work.

No shipped workflow reads product attributes (a merchant writes such conditions), so the
benchmark adds one of its own, ``CATALOG_WORKFLOW``, decided on fact sets of its own
(orders whose products the catalog describes, most of them): the conditions alone against
``run_all`` and the hand-written twin (``catalog_conditions``, ``catalog_run_all``,
``catalog_handwritten``). Kept apart from the core workflows' rows: its variables loop over
order lines, work every evaluator shares, and mixed in they would move those rows.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from business_rules import run_all

from plugin.bench.factsets import CATALOG_WORKFLOW_NAME, WORKFLOWS, catalog_factsets, factsets
from plugin.bench.handwritten import STEPS
from rules.actions import WorkflowActions
from rules.definitions import StepDef, load_shipped, parse_workflow
from rules.evaluation import evaluate_step
from rules.facts import FactSet
from rules.variables import FactVariables

Cases = list[tuple[str, FactSet]]
Steps = dict[str, list[StepDef]]
WARM_UP = 2_000  # fact sets each evaluator decides once before it is timed
ROUNDS = 5  # each evaluator is timed this many times, in turn; its fastest round counts


@dataclass(frozen=True)
class RuleEvalResult:
    factsets: int
    decisions: int
    fired: int
    # worker, run_all_acting; conditions, run_all, handwritten; and on the catalog
    # workflow's fact sets, catalog_conditions, catalog_run_all and catalog_handwritten
    seconds: dict[str, float]
    catalog_decisions: int

    def as_json(self) -> dict[str, Any]:
        s = self.seconds
        catalog = ("catalog_conditions", "catalog_run_all", "catalog_handwritten")
        return {
            "factsets": self.factsets,
            "decisions": self.decisions,
            "fired": self.fired,
            "catalog_decisions": self.catalog_decisions,
            "seconds": s,
            "decisions_per_second": {
                k: (self.catalog_decisions if k in catalog else self.decisions) / v
                for k, v in s.items()
            },
            "speedup_vs_run_all": s["run_all_acting"] / s["worker"],
            "conditions_speedup_vs_run_all": s["run_all"] / s["conditions"],
            "slowdown_vs_handwritten": s["conditions"] / s["handwritten"],
            "catalog_speedup_vs_run_all": s["catalog_run_all"] / s["catalog_conditions"],
            "catalog_slowdown_vs_handwritten": s["catalog_conditions"] / s["catalog_handwritten"],
        }


# A cross-sell a merchant could write: product conditions first, as the rule reads best.
CATALOG_WORKFLOW: dict[str, Any] = {
    "name": CATALOG_WORKFLOW_NAME,
    "title": "Cross-sell by product type",
    "category": "marketing",
    "trigger": {"event": "order_placed", "subject": "order"},
    "exit_on": ["order_placed"],
    "steps": [
        {
            "id": "suggest",
            "delay": {"days": 3, "from": "order_created"},
            "conditions": {
                "all": [
                    {
                        "name": "order_product_types",
                        "operator": "shares_at_least_one_element_with",
                        "value": ["Coffee", "Tea"],
                    },
                    {
                        "name": "history_product_tags",
                        "operator": "shares_no_elements_with",
                        "value": ["subscription"],
                    },
                    {"name": "order_products_known", "operator": "is_true", "value": True},
                    {"name": "order_cancelled", "operator": "is_false", "value": True},
                    {"name": "accepts_marketing", "operator": "is_true", "value": True},
                ]
            },
            "actions": [{"name": "send_email", "params": {"template": "upsell"}}],
        },
        {
            "id": "bundle",
            "delay": {"days": 10, "from": "order_created"},
            "conditions": {
                "all": [
                    {
                        "any": [
                            {
                                "name": "order_collections",
                                "operator": "contains_all",
                                "value": ["Best sellers"],
                            },
                            {
                                "name": "history_vendors",
                                "operator": "shares_at_least_one_element_with",
                                "value": ["botanica"],
                            },
                        ]
                    },
                    {
                        "name": "order_vendors",
                        "operator": "shares_no_elements_with",
                        "value": ["Acme"],
                    },
                    {"name": "accepts_marketing", "operator": "is_true", "value": True},
                ]
            },
            "actions": [{"name": "send_email", "params": {"template": "upsell"}}],
        },
    ],
}


def measured_steps() -> Steps:
    """The steps measured, by workflow: the core workflows' as shipped, and the catalog
    workflow's."""
    shipped = load_shipped()
    steps = {name: list(shipped[name].steps) for name in {w for w, _ in STEPS} if name in shipped}
    steps[CATALOG_WORKFLOW_NAME] = list(parse_workflow(CATALOG_WORKFLOW).steps)
    return steps


# The loops of each pair are the same shape (prepared callables per workflow, appended one
# by one) so that the harness costs each evaluator of a pair the same.


def decide_as_worker(cases: Cases, steps: Steps) -> list[Any]:
    out: list[Any] = []
    append = out.append
    for workflow, facts in cases:
        for step in steps[workflow]:
            decision = evaluate_step(step, facts)
            # what the worker reads of a decision: whether it fired, what it asks for, and
            # the reason it records
            append((decision.fired, decision.actions, decision.reason))
    return out


def decide_run_all_acting(cases: Cases, steps: Steps) -> list[Any]:
    rules = {
        name: [[{"conditions": s.conditions, "actions": list(s.actions)}] for s in workflow_steps]
        for name, workflow_steps in steps.items()
    }
    out: list[Any] = []
    append = out.append
    for workflow, facts in cases:
        for rule in rules[workflow]:
            actions = WorkflowActions()
            append((run_all(rule, FactVariables(facts), actions), actions.requested))
    return out


def decide_conditions(cases: Cases, steps: Steps) -> list[bool]:
    decide = {name: [s.compiled.decide for s in ws] for name, ws in steps.items()}
    out: list[bool] = []
    append = out.append
    for workflow, facts in cases:
        variables = FactVariables(facts)  # one per fact set: variables are computed lazily, once
        for conditions in decide[workflow]:
            append(conditions(variables))
    return out


def decide_run_all(cases: Cases, steps: Steps) -> list[bool]:
    rules = {
        name: [[{"conditions": s.conditions, "actions": []}] for s in workflow_steps]
        for name, workflow_steps in steps.items()
    }
    out: list[bool] = []
    append = out.append
    for workflow, facts in cases:
        variables = FactVariables(facts)
        actions = WorkflowActions()
        for rule in rules[workflow]:
            append(run_all(rule, variables, actions))
    return out


def decide_handwritten(cases: Cases, steps: Steps) -> list[bool]:
    functions = {name: [STEPS[(name, s.id)] for s in ws] for name, ws in steps.items()}
    out: list[bool] = []
    append = out.append
    for workflow, facts in cases:
        for function in functions[workflow]:
            append(function(facts))
    return out


def run(count: int) -> RuleEvalResult:
    cases = list(factsets(count))
    # as many as each core workflow has
    catalog_cases = [
        (CATALOG_WORKFLOW_NAME, facts) for facts in catalog_factsets(count // len(WORKFLOWS))
    ]
    steps = measured_steps()
    evaluators = {
        "run_all_acting": (decide_run_all_acting, cases),
        "worker": (decide_as_worker, cases),
        "run_all": (decide_run_all, cases),
        "conditions": (decide_conditions, cases),
        "handwritten": (decide_handwritten, cases),
        "catalog_conditions": (decide_conditions, catalog_cases),
        "catalog_run_all": (decide_run_all, catalog_cases),
        "catalog_handwritten": (decide_handwritten, catalog_cases),
    }
    seconds = dict.fromkeys(evaluators, float("inf"))
    results: dict[str, list[Any]] = {}
    for decide, these in evaluators.values():
        decide(these[:WARM_UP], steps)  # first calls pay for imports and caches: not timed
    # Rounds in turn, fastest kept (as timeit does): a noisy neighbour on a shared machine
    # slows one round, not one evaluator's only measurement. Each round is timed in this
    # process's CPU time: the work is one thread's computation and nothing else, and a
    # neighbour's load would add the time spent waiting for a core.
    for _ in range(ROUNDS):
        for name, (decide, these) in evaluators.items():
            started = time.process_time()
            results[name] = decide(these, steps)
            seconds[name] = min(seconds[name], time.process_time() - started)
    _check_agreement(results)
    return RuleEvalResult(
        count,
        len(results["run_all"]),
        sum(results["run_all"]),
        seconds,
        len(results["catalog_conditions"]),
    )


def _check_agreement(results: dict[str, list[Any]]) -> None:
    """Raise unless every evaluator decided as ``run_all`` did, the worker asked for the
    actions ``run_all`` took, and gave a reason for every skip."""
    fired = results["run_all"]
    catalog = results["catalog_run_all"]
    for name in ("catalog_conditions", "catalog_handwritten"):
        if results[name] != catalog:
            raise AssertionError(f"evaluators disagree with run_all on the catalog: {name}")
    worker = [(f, list(actions)) for f, actions, _reason in results["worker"]]
    acting = [(f, list(actions)) for f, actions in results["run_all_acting"]]
    disagreements = Counter(
        name
        for name, decided in (
            ("conditions", results["conditions"]),
            ("handwritten", results["handwritten"]),
            ("run_all_acting", [f for f, _ in acting]),
        )
        if decided != fired
    )
    unexplained = [reason for f, _actions, reason in results["worker"] if not f and not reason]
    if worker != acting or unexplained:
        disagreements["worker"] += 1
    if disagreements:
        raise AssertionError(f"evaluators disagree with run_all: {sorted(disagreements)}")
