"""Real processes a test starts together, with one environment and a log each."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import requests


class Processes:
    """Start processes with one environment; stop them all; show their logs on failure."""

    def __init__(self, env: dict[str, str], folder: Path):
        self.env, self.folder = env, folder
        self.running: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, *argv: str) -> None:
        with (self.folder / f"{name}.log").open("wb") as log:  # the child keeps its own copy
            process = subprocess.Popen(
                list(argv), env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.folder
            )
        self.running.append((name, process))

    def check_alive(self) -> None:
        for name, process in self.running:
            assert process.poll() is None, f"{name} exited:\n{self.log(name)}"

    def wait_healthy(self, base: str, name: str, seconds: float = 30) -> None:
        """Until the server at ``base`` answers /healthz (its log in the failure)."""
        deadline = time.monotonic() + seconds
        while True:
            self.check_alive()
            try:
                if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:  # not listening yet, or still starting
                pass
            assert time.monotonic() < deadline, self.log(name)
            time.sleep(0.1)

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        for _, process in self.running:
            process.terminate()
        for _, process in self.running:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
