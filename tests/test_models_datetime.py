"""Datetimes on SQLite: stored as the text SQLAlchemy's DATETIME writes, read back aware UTC.

UTCDateTime converts on SQLite in one step of its own (plugin.storage.models); the stored text must
stay what DATETIME would write, byte for byte: rows already stored and every SQL comparison
of datetimes (``due_at <= :now``) depend on it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, select, text
from sqlalchemy.dialects import postgresql, sqlite

from plugin.storage.models import UTCDateTime

SQLITE = sqlite.dialect()
OFFSETS = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
AWARE = st.datetimes(
    min_value=datetime(1900, 1, 2), max_value=datetime(2200, 1, 1), timezones=OFFSETS
)


def _composed(value: datetime) -> str:
    """What SQLAlchemy's own TypeDecorator-over-DATETIME steps make of a value."""
    naive = UTCDateTime().process_bind_param(value, SQLITE)
    return sqlite.DATETIME().bind_processor(SQLITE)(naive)


@given(AWARE)
def test_the_stored_text_is_what_sqlite_datetime_writes(value):
    assert UTCDateTime().bind_processor(SQLITE)(value) == _composed(value)


@given(AWARE)
def test_the_text_reads_back_as_the_same_instant_in_utc(value):
    stored = UTCDateTime().bind_processor(SQLITE)(value)
    read = UTCDateTime().result_processor(SQLITE, None)(stored)
    assert read == value and read.tzinfo is UTC


@given(st.datetimes(min_value=datetime(1900, 1, 2), timezones=st.just(UTC)))
def test_utc_values_take_the_short_way_to_the_same_text(value):
    assert UTCDateTime().bind_processor(SQLITE)(value) == _composed(value)
    stored = UTCDateTime().bind_processor(SQLITE)(value)
    assert UTCDateTime().result_processor(SQLITE, None)(stored) == value


def test_text_in_another_form_reads_as_before():
    # a date alone, e.g. written by hand: midnight UTC, as before the offset was appended
    read = UTCDateTime().result_processor(SQLITE, None)("2026-03-02")
    assert read == datetime(2026, 3, 2, tzinfo=UTC) and read.tzinfo is UTC


def test_none_stays_none_and_naive_datetimes_are_refused():
    assert UTCDateTime().bind_processor(SQLITE)(None) is None
    assert UTCDateTime().result_processor(SQLITE, None)(None) is None
    with pytest.raises(ValueError, match="naive datetime"):
        UTCDateTime().bind_processor(SQLITE)(datetime(2026, 3, 2, 12, 0))


def test_text_without_microseconds_reads_as_sqlite_datetime_reads_it():
    # e.g. written by SQLite itself (CURRENT_TIMESTAMP) or by hand
    read = UTCDateTime().result_processor(SQLITE, None)("2026-03-02 12:00:00")
    assert read == datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def test_postgresql_keeps_the_composed_steps():
    dialect = postgresql.psycopg.dialect()
    bind = UTCDateTime().bind_processor(dialect)
    result = UTCDateTime().result_processor(dialect, None)
    noon_in_new_york = datetime(2026, 3, 2, 7, tzinfo=timezone(timedelta(hours=-5)))
    assert bind(noon_in_new_york) == datetime(2026, 3, 2, 12)  # naive UTC, for psycopg
    assert result(datetime(2026, 3, 2, 12)) == datetime(2026, 3, 2, 12, tzinfo=UTC)


def test_sqlite_stores_compares_and_reads_through_an_engine(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'dt.sqlite3'}")
    table = Table(
        "t", MetaData(), Column("id", Integer, primary_key=True), Column("at", UTCDateTime)
    )
    table.metadata.create_all(engine)
    moments = [
        datetime(2026, 3, 2, 12, 0, tzinfo=UTC),
        datetime(2026, 3, 2, 12, 0, 0, 1, tzinfo=UTC),
        datetime(2026, 3, 2, 8, 30, tzinfo=timezone(timedelta(hours=-5))),  # 13:30 UTC
    ]
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"id": i, "at": at} for i, at in enumerate(moments)])
        stored = conn.execute(text("SELECT at FROM t ORDER BY id")).scalars().all()
        due = (
            conn.execute(
                select(table.c.id).where(table.c.at <= datetime(2026, 3, 2, 13, tzinfo=UTC))
            )
            .scalars()
            .all()
        )
        read = conn.execute(select(table.c.at).order_by(table.c.id)).scalars().all()
    engine.dispose()
    assert stored == [
        "2026-03-02 12:00:00.000000",
        "2026-03-02 12:00:00.000001",
        "2026-03-02 13:30:00.000000",
    ]
    assert sorted(due) == [0, 1]
    assert read == moments
