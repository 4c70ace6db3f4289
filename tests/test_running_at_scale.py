"""The README's "Running at scale" commands, run as written: the extra they install, the
database upgrade, gunicorn, a Celery worker and beat, on the local PostgreSQL and Redis.

Only what points at other machines changes: the database and broker hosts become the local
services (a database of the test's own, dropped at the end; the driver stays the README's),
and gunicorn listens on a free loopback port.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from packaging.utils import canonicalize_name
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from connectors import shopify
from plugin.storage.models import CustomerRow, Delivery
from tests.support import payloads
from tests.support.dependencies import declared, requirements, unmet
from tests.support.network import free_port
from tests.support.processes import Processes
from tests.support.scale_services import POSTGRES, postgres_database, redis_url
from tests.support.shop import SHOP_ADDRESS

ROOT = Path(__file__).resolve().parents[1]
DATABASE = "nudge_readme_scale"
REDIS_DB = 13  # test_celery uses 15, the scale integration test 14
SHOP = "readme-scale.myshopify.com"
SECRET = "readme-scale-webhook-secret"
LONG_RUNNING = {"gunicorn", "celery"}


def readme_commands() -> list[list[str]]:
    """The shell block of the README's "Running at scale" section, one argv per line."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Running at scale\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "the section has no ```sh block"
    return [argv for line in block[1].splitlines() if (argv := shlex.split(line, comments=True))]


@pytest.fixture
def own_database():
    """A PostgreSQL database for this test alone, dropped when it ends."""
    url = postgres_database(DATABASE)
    yield url
    admin = create_engine(f"{POSTGRES}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
    admin.dispose()


def local(name: str, value: str, database: str, broker: str) -> str:
    """The README's value of setting ``name``, pointed at this machine's services."""
    if name == "NUDGE_BROKER_URL":
        assert urlsplit(value).scheme == urlsplit(broker).scheme, value
        return broker
    if name == "NUDGE_DATABASE_URL":  # the README's driver; our server and database
        ours = make_url(database)
        theirs = make_url(value).set(
            username=ours.username,
            password=ours.password,
            host=ours.host,
            port=ours.port,
            database=ours.database,
        )
        return theirs.render_as_string(hide_password=False)
    return value


@pytest.mark.slow
def test_the_readme_commands_run_the_app_at_scale(tmp_path, own_database):
    pytest.importorskip("celery")
    broker = redis_url(REDIS_DB)
    commands = readme_commands()
    bin_dir = Path(sys.executable).parent
    env = {name: value for name, value in os.environ.items() if not name.startswith("NUDGE_")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"  # the commands of this venv
    processes = Processes(env, tmp_path)  # started after the exports, so with them
    port = free_port()
    try:
        for argv in commands:
            if argv[:2] == ["pip", "install"]:
                (target,) = [arg for arg in argv[2:] if not arg.startswith("-")]
                extras = re.fullmatch(r"\.\[(.+)\]", target)
                assert extras, target
                assert unmet(requirements(*extras[1].split(","))) == {}
            elif argv[0] == "export":
                for assignment in argv[1:]:
                    name, value = assignment.split("=", 1)
                    env[name] = local(name, value, own_database, broker)
            elif argv[0] == "nudge":
                ran = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True)
                assert ran.returncode == 0, ran.stderr
            elif argv[0] in LONG_RUNNING:
                if argv[0] == "gunicorn":
                    argv = with_bind(argv, f"127.0.0.1:{port}")
                name = next((a for a in argv if a in ("worker", "beat")), argv[0])
                processes.start(name, *argv)
            else:
                pytest.fail(f"a command this test does not know how to run: {shlex.join(argv)}")
        assert {name for name, _ in processes.running} == {"gunicorn", "worker", "beat"}

        add_shop(env, tmp_path)
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: healthy(base), processes, "gunicorn answering /healthz")
        customer = payloads.customer(email="readme@example.com")
        post_webhook(base, "customers/create", customer)
        wait_for(lambda: applied(env, customer["email"]), processes, "the worker applying it")
        wait_for(lambda: "Sending due task" in processes.log("beat"), processes, "beat ticking")
        processes.check_alive()
    finally:
        processes.stop()
    # each one shut down on SIGTERM by itself (stop() kills only what outlives its wait)
    exits = {name: process.returncode for name, process in processes.running}
    assert exits == {"gunicorn": 0, "worker": 0, "beat": 0}


def with_bind(argv: list[str], address: str) -> list[str]:
    """``argv`` with gunicorn's bind address replaced."""
    flag = next(i for i, arg in enumerate(argv) if arg in ("-b", "--bind"))
    return argv[: flag + 1] + [address] + argv[flag + 2 :]


def add_shop(env: dict[str, str], folder: Path) -> None:
    argv = ["nudge", "shop", "add", SHOP, "--webhook-secret", SECRET, "--address", SHOP_ADDRESS]
    added = subprocess.run(argv, env=env, cwd=folder, capture_output=True, text=True)
    assert added.returncode == 0, added.stderr


def post_webhook(base: str, topic: str, payload: dict) -> None:
    body = json.dumps(payload).encode()
    headers = {
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": SHOP,
        "X-Shopify-Webhook-Id": f"readme-{topic}",
        "X-Shopify-Hmac-Sha256": shopify.sign(body, SECRET),
        "Content-Type": "application/json",
    }
    response = requests.post(f"{base}/webhooks/shopify", data=body, headers=headers, timeout=10)
    assert response.status_code == 200, response.text


def healthy(base: str) -> bool:
    try:
        return requests.get(f"{base}/healthz", timeout=1).status_code == 200
    except requests.RequestException:  # not listening yet
        return False


def applied(env: dict[str, str], email: str) -> bool:
    """True once the stored delivery is processed and its customer is a fact."""
    engine = create_engine(env["NUDGE_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            statuses = conn.scalars(select(Delivery.status)).all()
            customer = conn.scalar(select(CustomerRow.id).where(CustomerRow.email == email))
    finally:
        engine.dispose()
    return statuses == ["processed"] and customer is not None


def wait_for(
    condition: Callable[[], bool], processes: Processes, what: str, timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        processes.check_alive()
        logs = {name: processes.log(name) for name, _ in processes.running}
        assert time.monotonic() < deadline, f"no sign of {what}:\n{logs}"
        time.sleep(0.5)


def test_the_readme_database_url_names_a_driver_the_scale_extra_installs():
    exports = dict(
        assignment.split("=", 1)
        for argv in readme_commands()
        if argv[0] == "export"
        for assignment in argv[1:]
    )
    driver = make_url(exports["NUDGE_DATABASE_URL"]).get_dialect().import_dbapi()
    installed_by = metadata.packages_distributions()[driver.__name__.partition(".")[0]]
    assert {canonicalize_name(name) for name in installed_by} & declared("scale")
