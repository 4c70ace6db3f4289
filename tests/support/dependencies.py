"""What pyproject.toml declares, and whether this environment satisfies it."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def requirements(*extras: str) -> list[Requirement]:
    """The main dependencies and those of ``extras``, with the extras they name expanded."""
    found = [Requirement(text) for text in PROJECT["dependencies"]]
    pending = list(extras)
    seen: set[str] = set()
    while pending:
        extra = pending.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for text in PROJECT["optional-dependencies"][extra]:
            requirement = Requirement(text)
            if canonicalize_name(requirement.name) == canonicalize_name(PROJECT["name"]):
                pending += requirement.extras
            else:
                found.append(requirement)
    return found


def declared(*extras: str) -> set[str]:
    return {canonicalize_name(r.name) for r in requirements(*extras)}


def unmet(wanted: list[Requirement]) -> dict[str, str | None]:
    """requirement -> the installed version (None: not installed), for each one the
    environment does not satisfy; the requirements of the extras each names included."""
    wrong: dict[str, str | None] = {}
    pending, seen = list(wanted), set()
    while pending:
        requirement = pending.pop()
        if str(requirement) in seen:
            continue
        seen.add(str(requirement))
        try:
            version: str | None = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            version = None
        if version is None or not requirement.specifier.contains(version, prereleases=True):
            wrong[str(requirement)] = version
            continue
        for extra in requirement.extras:
            for text in metadata.requires(requirement.name) or []:
                needed = Requirement(text)
                if needed.marker and "extra" in str(needed.marker):
                    if needed.marker.evaluate({"extra": extra}):
                        pending.append(needed)
    return wrong
