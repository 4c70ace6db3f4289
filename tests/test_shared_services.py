"""Two test runs on one machine take turns with the shared services' resources."""

from __future__ import annotations

import subprocess
import sys

from tests.support.scale_services import hold, lock_path, release_held

# What another test run's process does to take a resource, without waiting for it.
TRY_TO_TAKE = """
import fcntl, sys
with open(sys.argv[1], "w") as handle:
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
"""


def _another_run_may_take(resource: str) -> bool:
    probe = subprocess.run(
        [sys.executable, "-c", TRY_TO_TAKE, str(lock_path(resource))],
        capture_output=True,
        text=True,
    )
    assert probe.returncode == 0 or "BlockingIOError" in probe.stderr, probe.stderr
    return probe.returncode == 0


def test_a_resource_held_by_a_test_waits_for_its_end_in_another_run():
    resource = "probe-of-the-locks"
    assert _another_run_may_take(resource)
    hold(resource)
    hold(resource)  # asked for again in the same test: already ours, no deadlock
    assert not _another_run_may_take(resource)
    release_held()  # what the autouse fixture does after each test
    assert _another_run_may_take(resource)
