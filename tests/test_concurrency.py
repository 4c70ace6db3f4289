"""Two workers on one database never decide a step twice nor send a message twice."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

from sqlalchemy import select

from plugin.pipeline.inbox import process_inbox
from plugin.storage.models import OutboxMessage, Step
from tests.support import payloads
from tests.support.clock import T0
from tests.support.fake_sendgrid import FakeSendGrid

CUSTOMERS = 120


def test_two_run_due_processes_send_each_message_once(app, services, send_webhook):
    for n in range(CUSTOMERS):
        email = f"c{n}@example.com"
        send_webhook("customers_email_marketing_consent/update", payloads.consent(1000 + n, email))
        send_webhook(
            "checkouts/create", payloads.checkout(f"tok-{n}", T0, email=email, customer_id=1000 + n)
        )
    process_inbox(services, T0)
    with FakeSendGrid() as sendgrid:
        env = {
            **os.environ,
            "NUDGE_DATABASE_URL": services.settings["DATABASE_URL"],
            "NUDGE_SECRET_KEY": services.settings["SECRET_KEY"],
            "NUDGE_SENDGRID_API_KEY": "SG.fake",
            "NUDGE_SENDGRID_BASE_URL": sendgrid.url,
        }
        now = (T0 + timedelta(hours=4, minutes=5)).isoformat()
        workers = [
            subprocess.Popen(
                [sys.executable, "-m", "plugin.cli", "run-due", "--now", now],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for _ in range(2)
        ]
        outputs = [w.communicate(timeout=120)[0].decode() for w in workers]
        assert [w.returncode for w in workers] == [0, 0], outputs
    with services.sessions() as session:
        messages = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "email")).all()
        reminders = session.scalars(select(Step).where(Step.step_id == "reminder")).all()
    # every reminder decided exactly once (a second decision would fail on the outbox key)
    assert [(s.state, s.reason) for s in reminders] == [("fired", "conditions met")] * CUSTOMERS
    assert len(messages) == CUSTOMERS  # one reminder each: no step was decided twice
    assert {m.state for m in messages} == {"sent"}
    assert sorted(sendgrid.received) == sorted(m.idempotency_key for m in messages)
    assert set(sendgrid.received.values()) == {1}  # and each reached SendGrid exactly once
