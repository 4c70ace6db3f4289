"""Episodes this transaction enrolled and has not flushed yet.

Enrolling flushed each new episode at once, for its id (its steps point at it), and ending
an episode or moving its steps flushed the session too. A flush costs ~130 µs however little
it writes, and those were three in four of the replay's flushes. Now a new episode and its
steps wait for the transaction's flush (a step points at its episode through
``Step.episode``), and the lookups that must see them ask here as well as the database.
The two never overlap: a flush drops this record, and from then on the database has them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from plugin.models import Episode, Step

KEY = "new_episodes"  # in session.info


@dataclass
class NewEpisodes:
    by_subject: dict[str, list[Episode]] = field(default_factory=dict)
    by_customer: dict[str, list[Episode]] = field(default_factory=dict)
    steps: dict[Episode, list[Step]] = field(default_factory=dict)


def add(session: Session, episode: Episode, steps: list[Step]) -> None:
    """Remember an episode just added to the session, with its steps."""
    held: NewEpisodes | None = session.info.get(KEY)
    if held is None:
        held = session.info[KEY] = NewEpisodes()
        if not event.contains(session, "after_flush", _forget):
            event.listen(session, "after_flush", _forget)
    held.by_subject.setdefault(episode.subject, []).append(episode)
    held.by_customer.setdefault(episode.customer_external_id, []).append(episode)
    held.steps[episode] = steps


def _forget(session: Session, _context: Any) -> None:
    session.info.pop(KEY, None)


def with_subjects(session: Session, shop_id: int, subjects: Iterable[str]) -> list[Episode]:
    """Unflushed episodes about these subjects, oldest first."""
    return _find(session, shop_id, subjects, "by_subject")


def with_customers(session: Session, shop_id: int, keys: Iterable[str]) -> list[Episode]:
    """Unflushed episodes of these customers, oldest first within each."""
    return _find(session, shop_id, keys, "by_customer")


def _find(session: Session, shop_id: int, keys: Iterable[str], index: str) -> list[Episode]:
    held: NewEpisodes | None = session.info.get(KEY)
    if held is None:
        return []
    found: dict[str, list[Episode]] = getattr(held, index)
    return [e for key in keys for e in found.get(key, ()) if e.shop_id == shop_id]


def steps_of(session: Session, episode: Episode) -> list[Step] | None:
    """The steps of an unflushed episode; None if it is in the database (so are they)."""
    held: NewEpisodes | None = session.info.get(KEY)
    return held.steps.get(episode) if held is not None else None
