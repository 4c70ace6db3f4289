"""A clock shared by local processes, read from a file: development and tests only.

Web, Celery workers and a test driving them must agree on "now" to replay a store's
history in simulated time. ``NUDGE_DEV_CLOCK_FILE`` names a file holding one ISO-8601
time; every process reads it whenever it asks for the time (re-read when the file
changes). It is refused unless ``NUDGE_APP_URL`` is on this machine, so a deployment,
whose public URL signs unsubscribe links, can never run on a fake clock.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


class DevClockRefused(RuntimeError):
    """The file clock was asked for outside development."""


class FileClock:
    """Now is the time written in ``path``; a missing or malformed file is an error, never
    a silent fall back to the real clock."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._seen: tuple[int, int] | None = None
        self._now: datetime | None = None

    def __call__(self) -> datetime:
        stat = os.stat(self.path)
        seen = (stat.st_mtime_ns, stat.st_size)
        if seen != self._seen or self._now is None:
            self._now = parse(self.path.read_text())
            self._seen = seen
        return self._now

    def set(self, when: datetime) -> None:
        """Move every process's clock to ``when`` (written atomically)."""
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(when.astimezone(UTC).isoformat())
        os.replace(temporary, self.path)


def parse(text: str) -> datetime:
    when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def clock_from_settings(settings: dict[str, Any]) -> FileClock | None:
    """The file clock the settings ask for, if any; refused unless the app is local."""
    path = settings.get("DEV_CLOCK_FILE")
    if not path:
        return None
    host = urlsplit(str(settings.get("APP_URL") or "")).hostname
    if host not in LOCAL_HOSTS:
        raise DevClockRefused(
            f"NUDGE_DEV_CLOCK_FILE is for development and tests only, and NUDGE_APP_URL "
            f"({settings.get('APP_URL')}) is not on this machine: unset NUDGE_DEV_CLOCK_FILE"
        )
    clock = FileClock(path)
    clock()  # fail at start, not at the first webhook, if the file is missing or malformed
    return clock
