"""The repository's Procfile, read as the scale tests run it: one argv per process type."""

from __future__ import annotations

import shlex
from pathlib import Path

PROCFILE = Path(__file__).resolve().parents[2] / "Procfile"


def procfile_commands(path: Path = PROCFILE) -> dict[str, list[str]]:
    """Process type -> its command's argv (``name: command`` lines, as Heroku, honcho and
    foreman read them)."""
    commands: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, command = line.partition(":")
        commands[name.strip()] = shlex.split(command)
    return commands


def with_option(argv: list[str], flags: tuple[str, ...], value: str) -> list[str]:
    """``argv`` with the value of the option spelt by one of ``flags`` replaced; the
    option must be there (a test that changes what the Procfile does not say would drift
    from it)."""
    at = next(i for i, arg in enumerate(argv) if arg in flags)
    return argv[: at + 1] + [value] + argv[at + 2 :]
