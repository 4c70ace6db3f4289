"""The episodes an inbox batch looks up, read once for the batch, and those it enrolls.

Every applied event asks for episodes: the active ones it exits (by customer and by
subject), the active ones whose steps it moves, the newest one of each workflow it may
enroll, and for an order the ones that messaged its buyer in the week before (to credit
the order to them). These were the inbox's most frequent queries. ``prefetch`` reads them
for a whole batch in four queries per chunk, and in one more the stored steps its events
will move (a query per move before); a sweep reads its customers' newest episodes so
too. A lookup of a key it read is answered here; any other key (a customer found by
email, a topic series) is read from the database as before. Callers check state and
conversion on the episodes returned, as the session holds them.

New episodes are not flushed one by one (a flush costs more than a statement, however
little it writes): an episode waits for the transaction's flush, and its steps, kept in the batch
and not in the session, are written right after it in one executemany (the unit of work
writes SQLite rows with generated ids one INSERT at a time). Until then the database does
not have them, so lookups of keys not prefetched add them from the unflushed list, which
that flush drops. Lookups of prefetched keys find them in the prefetched answers, where
``add`` puts them too.

An episode that ends cancels its steps still pending (``cancel_steps``): those of an
unflushed episode where they wait, those in the database by a statement the batch holds
back until ``write_cancels`` (or its commit), so that the cancels of every episode a batch
ends go in one executemany. The stages read no pending step of an episode that ended
before they write them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Table, bindparam, event, exists, func, insert, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from plugin.storage import facts_store
from plugin.storage.batch import Batch
from plugin.storage.models import Episode, Step, UTCDateTime


@dataclass
class Prefetched:
    """A shop's episodes as a batch began, for the keys it read, plus those it enrolled."""

    customers: set[str] = field(default_factory=set)  # keys whose active episodes were read
    subjects: set[str] = field(default_factory=set)  # whose active and newest were read
    active_by_customer: dict[str, list[Episode]] = field(default_factory=dict)
    active_by_subject: dict[str, list[Episode]] = field(default_factory=dict)
    newest: dict[tuple[str, str], Episode] = field(default_factory=dict)  # (workflow, subject)
    # the customers' episodes not converted, each with the times a step of it messaged
    # them (fired, or held out) within ``touched_window``; none is decided during a batch
    touched: dict[str, list[tuple[Episode, datetime]]] = field(default_factory=dict)
    touched_window: tuple[datetime, datetime] | None = None
    # by episode id: the steps an event of the batch may move, of its subjects' active
    # episodes (every episode read has an entry; see movable_steps)
    movable: dict[int, list[MovableStep]] = field(default_factory=dict)


@dataclass(slots=True)
class MovableStep:
    """A stored step that a moved anchor moves: pending, never deferred (a deferred step
    keeps the time its window or frequency cap gave it)."""

    id: int
    step_id: str  # which step of the definition, whatever its position there now
    due_at: datetime


@dataclass(slots=True)
class NewStep:
    """A step of an episode enrolled in this transaction, as its row will be written
    (``_flushed``): a plain object, where an ORM ``Step`` that is never added to the
    session cost its instrumented construction for nothing."""

    shop_id: int
    step_id: str
    position: int
    due_at: datetime
    state: str = "pending"
    deferrals: int = 0
    claimed_until: datetime | None = None
    decided_at: datetime | None = None
    reason: str | None = None


@dataclass
class Unflushed:
    by_subject: dict[str, list[Episode]] = field(default_factory=dict)
    by_customer: dict[str, list[Episode]] = field(default_factory=dict)
    steps: dict[Episode, list[NewStep]] = field(default_factory=dict)


def prefetch(
    batch: Batch,
    shop_id: int,
    customers: Iterable[str],
    subjects: Iterable[str],
    touched_window: tuple[datetime, datetime] | None = None,
    moving: Collection[str] = (),
) -> None:
    """Read the active episodes of these customers and subjects, each workflow's newest
    episode about these subjects, the customers' episodes that messaged them within
    ``touched_window`` (the weeks before the batch's orders), and the movable steps of the
    active episodes of the subjects in ``moving`` (those an event of the batch moves)."""
    held = Prefetched(touched_window=touched_window)
    customer_keys, subject_keys = sorted(set(customers)), sorted(set(subjects))
    with batch.session.no_autoflush:
        for chunk in facts_store.chunks(customer_keys):
            values = {"shop": shop_id, "keys": chunk}
            for episode in batch.session.scalars(
                _active_statement(Episode.customer_external_id, False), values
            ):
                held.active_by_customer.setdefault(episode.customer_external_id, []).append(episode)
            if touched_window is not None:
                since, until = touched_window
                window = {**values, "since": since, "until": until}
                for episode, decided_at in batch.session.execute(_TOUCHED_IN_WINDOW, window):
                    assert decided_at is not None  # the window's bounds leave undecided steps out
                    held.touched.setdefault(episode.customer_external_id, []).append(
                        (episode, decided_at)
                    )
        for chunk in facts_store.chunks(subject_keys):
            values = {"shop": shop_id, "keys": chunk}
            for episode in batch.session.scalars(_active_statement(Episode.subject, False), values):
                held.active_by_subject.setdefault(episode.subject, []).append(episode)
            for episode in batch.session.scalars(_NEWEST_OF_SUBJECTS, values):
                held.newest[(episode.workflow, episode.subject)] = episode
        _prefetch_movable(batch, held, moving)
    held.customers.update(customer_keys)
    held.subjects.update(subject_keys)
    batch.episodes[shop_id] = held


def _prefetch_movable(batch: Batch, held: Prefetched, moving: Collection[str]) -> None:
    # Only the subjects an event moves: reading the steps of every active episode of the
    # batch's subjects cost more than the queries it saved (most of them nothing moves).
    ids = sorted(e.id for key in moving for e in held.active_by_subject.get(key, ()))
    for chunk in facts_store.chunks(ids):
        for episode_id in chunk:
            held.movable[episode_id] = []
        for episode_id, row_id, step_id, due_at in batch.session.execute(
            _MOVABLE_OF_EPISODES, {"ids": chunk}
        ):
            held.movable[episode_id].append(MovableStep(row_id, step_id, due_at))


def movable_steps(batch: Batch, episode: Episode) -> list[MovableStep]:
    """The stored pending steps of an episode in the database that a moved anchor moves,
    as the batch read them and has moved them since."""
    held = _prefetched(batch, episode.shop_id)
    if held is not None and episode.id in held.movable:
        return held.movable[episode.id]
    with batch.session.no_autoflush:
        rows = batch.session.execute(_MOVABLE_OF_EPISODES, {"ids": [episode.id]})
        return [MovableStep(row_id, step_id, due_at) for _, row_id, step_id, due_at in rows]


def add(batch: Batch, episode: Episode, steps: list[NewStep]) -> None:
    """Remember an episode just added to the session, with its steps (not added: the flush
    that writes the episode writes them)."""
    unflushed = batch.unflushed
    if unflushed is None:
        unflushed = batch.unflushed = Unflushed()
    unflushed.by_subject.setdefault(episode.subject, []).append(episode)
    unflushed.by_customer.setdefault(episode.customer_external_id, []).append(episode)
    unflushed.steps[episode] = steps
    held = _prefetched(batch, episode.shop_id)
    if held is None:
        return
    if episode.subject in held.subjects:
        held.active_by_subject.setdefault(episode.subject, []).append(episode)
        held.newest[(episode.workflow, episode.subject)] = episode
    if episode.customer_external_id in held.customers:
        held.active_by_customer.setdefault(episode.customer_external_id, []).append(episode)


def write_unflushed_steps(batch: Batch) -> None:
    """Insert the steps of the episodes the batch enrolled, once a flush has written them."""
    unflushed, batch.unflushed = batch.unflushed, None
    if unflushed is None:
        return
    rows = [
        {column: getattr(step, column) for column in _STEP_COLUMNS} | {"episode_id": episode.id}
        for episode, steps in unflushed.steps.items()
        for step in steps
    ]
    if rows:
        batch.session.connection().execute(_INSERT_STEP, rows)


@event.listens_for(Session, "after_flush")
def _write_steps_after_flush(session: Session, _context: object) -> None:
    held = Batch.current(session)
    if held is not None:
        write_unflushed_steps(held)


_STEP_COLUMNS = tuple(c.key for c in Step.__table__.columns if c.key not in ("id", "episode_id"))
_INSERT_STEP = insert(cast(Table, Step.__table__))


def _prefetched(batch: Batch, shop_id: int) -> Prefetched | None:
    return batch.episodes.get(shop_id)


def active_of_customers(
    batch: Batch, shop_id: int, keys: Collection[str], workflows: Collection[str]
) -> list[Episode]:
    """Episodes of these customers in these workflows, active in the database as this
    transaction began or enrolled since (the caller checks the state the session holds)."""
    return _active(batch, shop_id, keys, workflows, Episode.customer_external_id)


def active_of_subjects(
    batch: Batch, shop_id: int, subjects: Collection[str], workflows: Collection[str] | None
) -> list[Episode]:
    """As active_of_customers, by subject; ``workflows`` None: in any workflow."""
    return _active(batch, shop_id, subjects, workflows, Episode.subject)


def _active(
    batch: Batch,
    shop_id: int,
    keys: Collection[str],
    workflows: Collection[str] | None,
    column: InstrumentedAttribute[str],
) -> list[Episode]:
    by_customer = column is Episode.customer_external_id
    found: list[Episode] = []
    rest = list(keys)
    held = _prefetched(batch, shop_id)
    if held is not None:
        covered = held.customers if by_customer else held.subjects
        index = held.active_by_customer if by_customer else held.active_by_subject
        rest = [key for key in keys if key not in covered]
        found += (e for key in keys if key in covered for e in index.get(key, ()))
    if rest:
        values: dict[str, Any] = {"shop": shop_id, "keys": rest}
        if workflows is not None:
            values["workflows"] = list(workflows)
        with batch.session.no_autoflush:
            found += batch.session.scalars(_active_statement(column, workflows is not None), values)
        unflushed = batch.unflushed
        if unflushed is not None:
            index = unflushed.by_customer if by_customer else unflushed.by_subject
            found += (e for key in rest for e in index.get(key, ()) if e.shop_id == shop_id)
    return [e for e in found if workflows is None or e.workflow in workflows]


def newest(batch: Batch, shop_id: int, workflow: str, subject: str) -> Episode | None:
    """The newest episode of this workflow about this subject."""
    held = _prefetched(batch, shop_id)
    if held is not None and subject in held.subjects:
        return held.newest.get((workflow, subject))
    unflushed = batch.unflushed
    for episode in reversed(unflushed.by_subject.get(subject, []) if unflushed else []):
        if episode.workflow == workflow and episode.shop_id == shop_id:
            return episode  # enrolled in this transaction: newer than any in the database
    with batch.session.no_autoflush:
        values = {"shop": shop_id, "workflow": workflow, "subject": subject}
        return batch.session.scalars(_NEWEST_EPISODE, values).first()


def touched_before_order(
    batch: Batch,
    shop_id: int,
    keys: Collection[str],
    order_id: str,
    since: datetime,
    until: datetime,
) -> list[Episode]:
    """Episodes of these customers, not about this order, with a step that messaged them
    (fired, or held out) between ``since`` and ``until``, not converted in the database as
    this transaction began (the caller checks conversion as the session holds it)."""
    held = _prefetched(batch, shop_id)
    window = held.touched_window if held is not None else None
    if held is not None and window is not None and window[0] <= since and until <= window[1]:
        if all(key in held.customers for key in keys):
            found = {
                episode: None
                for key in keys
                for episode, decided_at in held.touched.get(key, ())
                if episode.subject != order_id and since <= decided_at <= until
            }
            return list(found)
    values = {"shop": shop_id, "keys": list(keys or {""}), "order": order_id}
    # Without a flush: the episodes this transaction enrolled have no step decided yet.
    with batch.session.no_autoflush:
        return list(
            batch.session.scalars(_TOUCHED_BEFORE_ORDER, {**values, "since": since, "until": until})
        )


def steps_of(batch: Batch, episode: Episode) -> list[NewStep] | None:
    """The steps of an unflushed episode; None if it is in the database (so are they)."""
    unflushed = batch.unflushed
    return unflushed.steps.get(episode) if unflushed is not None else None


def cancel_steps(batch: Batch, episode: Episode, reason: str, now: datetime) -> None:
    """Cancel the steps an ended episode still has pending: at once if it was enrolled in
    this batch (its steps are only here), else held back until ``write_cancels``."""
    unflushed = steps_of(batch, episode)
    if unflushed is None:
        batch.cancels.append({"episode": episode.id, "now": now, "why": reason})
        return
    for step in unflushed:
        if step.state == "pending":
            step.state, step.decided_at, step.reason = "cancelled", now, reason


def write_cancels(batch: Batch) -> None:
    """Cancel, in one executemany, the stored pending steps of the episodes that ended since
    the last write: as if each had gone when it ended."""
    if batch.cancels:
        cancels, batch.cancels = batch.cancels, []
        batch.session.connection().execute(_CANCEL_PENDING, cancels)


@event.listens_for(Session, "before_commit")
def _write_cancels_at_commit(session: Session) -> None:
    held = Batch.current(session)
    if held is not None:
        write_cancels(held)


# Built once each: they run for every applied event whose keys were not prefetched.
@lru_cache(maxsize=4)
def _active_statement(column: InstrumentedAttribute[str], of_workflows: bool) -> Any:
    statement = select(Episode).where(
        Episode.shop_id == bindparam("shop"),
        column.in_(bindparam("keys", expanding=True)),
        Episode.state == "active",
    )
    if of_workflows:
        statement = statement.where(Episode.workflow.in_(bindparam("workflows", expanding=True)))
    return statement


_NEWEST_EPISODE = (
    select(Episode)
    .where(
        Episode.shop_id == bindparam("shop"),
        Episode.workflow == bindparam("workflow"),
        Episode.subject == bindparam("subject"),
    )
    .order_by(Episode.enrolled_at.desc(), Episode.id.desc())  # ties: the later enrolled
    .limit(1)
)


def _newest_of_subjects() -> Any:
    ranked = (
        select(
            Episode.id,
            func.row_number()
            .over(
                partition_by=(Episode.workflow, Episode.subject),
                order_by=(Episode.enrolled_at.desc(), Episode.id.desc()),
            )
            .label("rank"),
        )
        .where(
            Episode.shop_id == bindparam("shop"),
            Episode.subject.in_(bindparam("keys", expanding=True)),
        )
        .subquery()
    )
    return select(Episode).join(ranked, Episode.id == ranked.c.id).where(ranked.c.rank == 1)


_NEWEST_OF_SUBJECTS = _newest_of_subjects()


_MOVABLE_OF_EPISODES = select(Step.episode_id, Step.id, Step.step_id, Step.due_at).where(
    Step.episode_id.in_(bindparam("ids", expanding=True)),
    Step.state == "pending",
    Step.deferrals == 0,
)


_MESSAGED = (
    (Step.state == "fired") | Step.reason.like("holdout%"),
    Step.decided_at >= bindparam("since"),
    Step.decided_at <= bindparam("until"),
)
_NOT_CONVERTED_OF_CUSTOMERS = (
    Episode.shop_id == bindparam("shop"),
    Episode.customer_external_id.in_(bindparam("keys", expanding=True)),
    Episode.converted_at.is_(None),
)
_TOUCHED_BEFORE_ORDER = select(Episode).where(
    *_NOT_CONVERTED_OF_CUSTOMERS,
    Episode.subject != bindparam("order"),
    exists().where(Step.episode_id == Episode.id, *_MESSAGED),
)
_TOUCHED_IN_WINDOW = (
    select(Episode, Step.decided_at)
    .join(Step, Step.episode_id == Episode.id)
    .where(*_NOT_CONVERTED_OF_CUSTOMERS, *_MESSAGED)
)

# Built once: it runs for every batch that ends an episode. On the session's connection, no
# flush first: of these rows the session holds at most steps a batch claimed (running in the
# database, so not matched) or moved (due_at only, which the next flush writes alone).
_CANCEL_PENDING = (
    update(Step)
    .where(Step.episode_id == bindparam("episode"), Step.state == "pending")
    .values(
        state="cancelled",
        decided_at=bindparam("now", type_=UTCDateTime()),
        reason=bindparam("why"),
    )
)
