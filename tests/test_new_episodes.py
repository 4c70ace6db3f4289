"""Episodes enrolled, moved and ended within one inbox batch, before anything is flushed
(plugin.new_episodes): the same outcome as one delivery at a time, and one flush."""

from __future__ import annotations

import traceback
from datetime import timedelta

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from plugin import enrollment
from plugin.inbox import process_inbox
from plugin.models import Episode, Step
from tests import payloads
from tests.test_workflows import T0, subscribe


def test_a_checkout_enrolled_and_ordered_in_one_batch_ends_with_its_steps_cancelled(
    send_webhook, services
):
    subscribe(send_webhook)
    send_webhook("checkouts/create", payloads.checkout("tok-b", T0))
    send_webhook(
        "checkouts/update", payloads.checkout("tok-b", T0 + timedelta(hours=1), created_at=T0)
    )
    send_webhook("orders/create", payloads.order(7200, T0, checkout_token="tok-b"))
    now = T0 + timedelta(hours=2)
    flushes_in_enrollment = []

    def record(session: Session, _context: object) -> None:
        if any(frame.filename == enrollment.__file__ for frame in traceback.extract_stack()):
            flushes_in_enrollment.append(session)

    event.listen(Session, "after_flush", record)
    try:
        stats = process_inbox(services, now)
    finally:
        event.remove(Session, "after_flush", record)
    assert (stats.processed, stats.failed) == (5, 0)
    assert flushes_in_enrollment == []  # none per enrollment, exit or move: the commit's
    with services.sessions() as session:
        [episode] = session.scalars(
            select(Episode).where(Episode.workflow == "cart_abandonment")
        ).all()  # the update found the episode the create had just started
        steps = session.execute(
            select(Step.state, Step.reason, Step.decided_at).where(Step.episode_id == episode.id)
        ).all()
    assert (episode.subject, episode.state) == ("tok-b", "exited")
    assert episode.exit_reason == "exit: order_placed"
    assert steps and set(steps) == {("cancelled", "exit: order_placed", now)}
