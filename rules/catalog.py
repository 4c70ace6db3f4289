"""The rule catalog: every variable, operator and action a workflow may use.

It is business-rules' own ``export_rule_data()``; validation and the settings page's rule
editor are both built from it, so they cannot disagree.
"""

from __future__ import annotations

import functools
from typing import Any

from business_rules.utils import export_rule_data

from rules.actions import WorkflowActions
from rules.variables import FactVariables


@functools.cache
def rule_catalog() -> dict[str, Any]:
    """Variables (with types), operators per type, and actions (with typed params)."""
    return export_rule_data(FactVariables, WorkflowActions)


@functools.cache
def variable_types() -> dict[str, str]:
    """Variable name -> field type name ('numeric', 'boolean', ...)."""
    return {v["name"]: v["field_type"] for v in rule_catalog()["variables"]}


@functools.cache
def operator_inputs() -> dict[str, dict[str, str]]:
    """Field type -> {operator name -> input type ('numeric', 'text', 'none', ...)}."""
    return {
        field_type: {op["name"]: op["input_type"] for op in ops}
        for field_type, ops in rule_catalog()["variable_type_operators"].items()
    }


@functools.cache
def action_params() -> dict[str, dict[str, str]]:
    """Action name -> {param name -> field type}."""
    return {
        a["name"]: {p["name"]: p["fieldType"] for p in (a["params"] or [])}
        for a in rule_catalog()["actions"]
    }


def label_of(variable: str) -> str:
    """The human label of a variable (its name when unknown)."""
    return _labels().get(variable, variable)


@functools.cache
def _labels() -> dict[str, str]:
    return {v["name"]: v["label"] for v in rule_catalog()["variables"]}
