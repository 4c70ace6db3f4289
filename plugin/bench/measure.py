"""What every benchmark part reports about the process and machine it ran on."""

from __future__ import annotations

import os
import platform
import resource
import sys


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """This process's CPU time so far, user and system."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine() -> dict[str, object]:
    return {
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
    }


# The benchmark shops' settings: a postal address, so their marketing email is decided and
# written as a live shop's is, not held for the address (plugin.pipeline.held).
BENCH_SETTINGS = {"postal_address": "1 Benchmark Way, Springfield, United States"}
