"""Rule evaluation: Nudge's compiled conditions vs business-rules' ``run_all`` vs hand-written.

All three decide every step of the five core workflows on the same fact sets; the decisions
must agree exactly (the benchmark fails otherwise), so the ratios compare equal work.

Beside them, a step decided as the worker decides it (``evaluate_step``: the conditions,
the actions it asks for, and for a step that does not fire the reason the worker records)
is timed against ``run_all`` running the same rule with its actions, each step on its own
fresh variables as the worker's are: the explanation is work ``run_all`` does not do, so
this pair has no target of the issue's, and is reported to show what the worker pays.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from business_rules import run_all

from plugin.bench.factsets import factsets
from plugin.bench.handwritten import STEPS
from rules.actions import WorkflowActions
from rules.definitions import load_shipped
from rules.evaluation import evaluate_step
from rules.facts import FactSet
from rules.variables import FactVariables

Decisions = list[bool]
WARM_UP = 2_000  # fact sets each evaluator decides once before it is timed
ROUNDS = 5  # each evaluator is timed this many times, in turn; its fastest round counts


@dataclass(frozen=True)
class RuleEvalResult:
    factsets: int
    decisions: int
    fired: int
    seconds: dict[str, float]  # nudge, run_all, handwritten; worker, run_all_acting

    def as_json(self) -> dict[str, Any]:
        s = self.seconds
        return {
            "factsets": self.factsets,
            "decisions": self.decisions,
            "fired": self.fired,
            "seconds": s,
            "decisions_per_second": {k: self.decisions / v for k, v in s.items()},
            "speedup_vs_run_all": s["run_all"] / s["nudge"],
            "slowdown_vs_handwritten": s["nudge"] / s["handwritten"],
            "worker_speedup_vs_run_all_acting": s["run_all_acting"] / s["worker"],
        }


def _core_steps() -> dict[str, list[Any]]:
    shipped = load_shipped()
    return {name: list(shipped[name].steps) for name in {w for w, _ in STEPS}}


# The three loops are the same shape (prepared callables per workflow, appended one by one)
# so that the harness costs each evaluator the same.


def decide_nudge(cases: list[tuple[str, FactSet]], steps: dict[str, list[Any]]) -> Decisions:
    compiled = {name: [s.compiled for s in ws] for name, ws in steps.items()}
    out: Decisions = []
    append = out.append
    for workflow, facts in cases:
        variables = FactVariables(facts)  # one per fact set: variables are computed lazily, once
        for conditions in compiled[workflow]:
            append(conditions(variables))
    return out


def decide_run_all(cases: list[tuple[str, FactSet]], steps: dict[str, list[Any]]) -> Decisions:
    rules = {
        name: [[{"conditions": s.conditions, "actions": []}] for s in workflow_steps]
        for name, workflow_steps in steps.items()
    }
    out: Decisions = []
    append = out.append
    for workflow, facts in cases:
        variables = FactVariables(facts)
        actions = WorkflowActions()
        for rule in rules[workflow]:
            append(run_all(rule, variables, actions))
    return out


def decide_handwritten(cases: list[tuple[str, FactSet]], steps: dict[str, list[Any]]) -> Decisions:
    functions = {name: [STEPS[(name, s.id)] for s in ws] for name, ws in steps.items()}
    out: Decisions = []
    append = out.append
    for workflow, facts in cases:
        for function in functions[workflow]:
            append(function(facts))
    return out


def decide_as_worker(cases: list[tuple[str, FactSet]], steps: dict[str, list[Any]]) -> Decisions:
    out: Decisions = []
    append = out.append
    for workflow, facts in cases:
        for step in steps[workflow]:
            append(evaluate_step(step, facts).fired)  # a skip's reason is made with it
    return out


def decide_run_all_acting(
    cases: list[tuple[str, FactSet]], steps: dict[str, list[Any]]
) -> Decisions:
    rules = {
        name: [[{"conditions": s.conditions, "actions": list(s.actions)}] for s in workflow_steps]
        for name, workflow_steps in steps.items()
    }
    out: Decisions = []
    append = out.append
    for workflow, facts in cases:
        for rule in rules[workflow]:
            append(run_all(rule, FactVariables(facts), WorkflowActions()))
    return out


def run(count: int) -> RuleEvalResult:
    cases = list(factsets(count))
    steps = _core_steps()
    evaluators = {
        "run_all": decide_run_all,
        "nudge": decide_nudge,
        "handwritten": decide_handwritten,
        "run_all_acting": decide_run_all_acting,
        "worker": decide_as_worker,
    }
    seconds = dict.fromkeys(evaluators, float("inf"))
    results: dict[str, Decisions] = {}
    for decide in evaluators.values():
        decide(cases[:WARM_UP], steps)  # first calls pay for imports and caches: not timed
    # Rounds in turn, fastest kept (as timeit does): a noisy neighbour on a shared machine
    # slows one round, not one evaluator's only measurement.
    for _ in range(ROUNDS):
        for name, decide in evaluators.items():
            started = time.perf_counter()
            results[name] = decide(cases, steps)
            seconds[name] = min(seconds[name], time.perf_counter() - started)
    disagreements = Counter(
        name for name in results if name != "run_all" and results[name] != results["run_all"]
    )
    if disagreements:
        raise AssertionError(f"evaluators disagree with run_all: {sorted(disagreements)}")
    return RuleEvalResult(count, len(results["nudge"]), sum(results["nudge"]), seconds)
