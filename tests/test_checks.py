"""CI runs the linter, the formatter's check and the type checker before the tests, and the
pre-commit hooks run the same three."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CHECKS = ["ruff check", "ruff format --check", "mypy"]


def ci_commands() -> list[str]:
    """.ci/run's commands at the start of a line, comments and continuations aside."""
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line[0].isspace()]


def test_ci_runs_the_checks_on_the_whole_tree_before_the_first_test():
    commands = ci_commands()
    # a test run: pytest as the command, after any VAR=value assignments or `env -u VAR`
    first_test = next(i for i, command in enumerate(commands) if "pytest" in command.split())
    before = [command.removesuffix(" .") for command in commands[:first_test]]
    assert [command for command in before if command in CHECKS] == CHECKS


def test_the_pre_commit_hooks_run_the_checks_ci_runs():
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    entries = [hook["entry"] for repo in config["repos"] for hook in repo["hooks"]]
    assert entries == CHECKS
