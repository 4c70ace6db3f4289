"""A batch belongs to one transaction (plugin.storage.batch): what it holds never outlives it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select

from plugin.storage import facts_store
from plugin.storage.batch import Batch
from plugin.storage.models import CustomerRow
from rules import events as ev
from rules.events import Event
from rules.facts import Customer
from tests.support.database import fresh_store

ROOT = Path(__file__).parent.parent


def test_every_caller_in_a_transaction_shares_its_batch_and_the_next_gets_a_fresh_one():
    sessions = fresh_store()
    with sessions() as session:
        with session.begin():
            first = Batch.of(session)
            assert Batch.of(session) is first and Batch.current(session) is first
        assert Batch.current(session) is None  # committed: gone with its transaction
        with session.begin():
            assert Batch.of(session) is not first


def test_a_rolled_back_batch_leaves_nothing_to_the_next_transaction():
    sessions = fresh_store()
    ann = Event(ev.CUSTOMER_UPSERTED, customer=Customer(id="c1", email="ann@example.com"))
    with sessions() as session:
        with pytest.raises(RuntimeError), session.begin():
            rolled_back = Batch.of(session)
            facts_store.apply_event(rolled_back, 1, ann)
            raise RuntimeError("the batch failed")
        with session.begin():
            batch = Batch.of(session)
            assert batch is not rolled_back and not batch.rows and not batch.changed
            assert facts_store.load_customer(batch, 1, "c1") is None
    with sessions() as session:
        assert session.scalars(select(CustomerRow)).all() == []


def test_only_the_batch_module_reads_or_writes_session_info():
    users = {
        str(path.relative_to(ROOT))
        for path in (ROOT / "plugin").rglob("*.py")
        if re.search(r"\bsession\.info\b", path.read_text())
    }
    assert users <= {"plugin/storage/batch.py"}
