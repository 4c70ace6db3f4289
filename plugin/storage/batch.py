"""A batch: one transaction of the pipeline and what it holds beyond its session.

A stage of the pipeline (an inbox batch, a batch of due steps, a sweep) reads and writes a
batch's worth of rows at once: the rows its events merge into, the episodes they look up,
the steps they end. What it holds of them lives in one ``Batch``, made for the transaction
and passed to what needs it. It belongs to that transaction alone: a commit writes what it
still holds first, and after a commit or a rollback the session's next transaction gets a
fresh one, so nothing of a rolled-back batch can leak into the next.

Code outside a stage (one API call, the CLI) takes the batch of its session's transaction
with ``Batch.of``: one for every caller in the transaction, so what one merges the next reads
and the commit writes.

The session events that act for the batch (a flush writes what it holds, a statement that
reads the facts' tables finds them written) are given the session alone: ``Batch.current``
finds the batch from it. This module links the two, in ``session.info``, the one place in
the app that does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from plugin.storage.models import OutboxMessage

if TYPE_CHECKING:
    from plugin.storage.batch_episodes import Prefetched, Unflushed
    from plugin.storage.fact_rows import FactRecord

# The link from a session to the batch of its transaction (see Batch.current).
_LINK = "batch"

# (shop id, customer key) -> the outbox rows a transaction added for that customer
Queued = dict[tuple[int, str | None], list[OutboxMessage]]


@dataclass(eq=False)
class Batch:
    """What one transaction holds beyond its session, by the module that keeps it."""

    session: Session
    transaction: SessionTransaction
    # fact_rows: the records set since they were last written, by id()
    changed: dict[int, FactRecord] = field(default_factory=dict)
    # facts_store: the customers, checkouts, orders and products looked up by key, per
    # (model name, shop id): key -> record (None: no such row); the order tokens whose
    # orders were read (shop id, token); each customer's stored orders that stand, per
    # (shop id, customer): [(order key, value, created_at)]
    rows: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    order_tokens_read: set[tuple[int, str]] = field(default_factory=set)
    standing_orders: dict[tuple[int, str], list[tuple[str, Decimal | None, datetime | None]]] = (
        field(default_factory=dict)
    )
    # facts_store.with_queued_emails: the outbox rows added, by shop and customer
    queued: Queued = field(default_factory=dict)
    # batch_episodes: the episodes read for the batch, by shop; those enrolled and not
    # flushed; the cancels of the stored pending steps of the episodes it ended
    episodes: dict[int, Prefetched] = field(default_factory=dict)
    unflushed: Unflushed | None = None
    cancels: list[dict[str, Any]] = field(default_factory=list)
    # plugin.shop_settings (a package above this one): each shop's workflows and merged
    # settings, by shop id
    workflows: dict[int, Any] = field(default_factory=dict)
    settings: dict[int, tuple[Any, dict[str, Any]]] = field(default_factory=dict)
    # plugin.pipeline.step_histories: the histories read for the batch's steps, by shop;
    # dropped by a flush (what it wrote, they were read without)
    histories: dict[int, Any] = field(default_factory=dict)
    # plugin.pipeline.refusals: the enrollments refused since the last write, by (shop id,
    # customer, workflow) -> (reason, subject, event kind, event time, refused at)
    refusals: dict[tuple[int, str, str], tuple[Any, ...]] = field(default_factory=dict)
    refusal_counts: dict[tuple[int, str, str], tuple[int, datetime]] = field(default_factory=dict)
    # plugin.pipeline.product_picks: each shop's recommendation model and the products its
    # catalog offers, read once for the batch's emails, by shop id
    recommending: dict[int, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, session: Session) -> Batch:
        """The batch of the session's transaction (begun, as a query would begin it, if none
        is), made on first use."""
        transaction = session.get_transaction()
        if transaction is None:
            session.connection()  # autobegin
            transaction = session.get_transaction()
            assert transaction is not None
        held = cls.current(session)
        if held is None:
            held = session.info[_LINK] = cls(session, transaction)
            for row in session.new:  # added before it was made
                held.note_queued(row)
        return held

    @staticmethod
    def current(session: Session) -> Batch | None:
        """The batch of the session's transaction, if one was made."""
        held: Batch | None = session.info.get(_LINK)
        if held is None or held.transaction is not session.get_transaction():
            return None  # none, or one of a transaction that ended
        return held

    def note_queued(self, row: object) -> None:
        if isinstance(row, OutboxMessage):
            key = (row.shop_id, row.customer_external_id)
            self.queued.setdefault(key, []).append(row)

    def forget_rows(self) -> None:
        """Drop what the batch read of customers, checkouts, orders, products and episodes: after
        statements that delete or blank rows behind it."""
        self.rows.clear()
        self.order_tokens_read.clear()
        self.standing_orders.clear()
        self.episodes.clear()


@contextmanager
def begin_batch(sessions: sessionmaker[Session]) -> Iterator[Batch]:
    """One batch in a new session and transaction: committed on success, rolled back on any
    error."""
    with sessions() as session, session.begin():
        yield Batch.of(session)


@event.listens_for(Session, "transient_to_pending")
def _note_queued(session: Session, row: object) -> None:
    """Index the outbox rows a transaction adds by customer: a batch of due steps asked
    ``session.new`` (every object the batch added) once per decided step."""
    held = Batch.current(session)
    if held is not None:
        held.note_queued(row)
