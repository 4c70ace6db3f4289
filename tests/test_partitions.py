"""Deciding partitioned by shop: which partition a shop is in, the rounds that keep a
backlog from starving other shops, the per-shop claims of the inbox and the due steps, and
(on PostgreSQL) a partition another worker holds left to it."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from plugin.pipeline import partitions
from plugin.pipeline.due_steps import due_shops, run_due
from plugin.pipeline.inbox import NO_SHOP, pending_shops, process_inbox
from plugin.pipeline.partitions import (
    EMAIL_LANE,
    PARTITIONS,
    by_partition,
    partition_of,
    rotated,
    rounds,
)
from plugin.storage.models import Delivery, Shop, Step
from plugin.web.webhooks import store_delivery
from tests.support import payloads


def test_a_shop_has_one_partition_and_deliveries_of_no_shop_a_lane_of_their_own():
    assert partition_of(3) == partition_of(3 + PARTITIONS) == 3
    assert partition_of(None) == EMAIL_LANE not in {partition_of(n) for n in range(200)}
    assert by_partition([PARTITIONS + 1, None, 1, 2, 1]) == {
        1: [1, PARTITIONS + 1],
        2: [2],
        EMAIL_LANE: [None],
    }
    assert partitions.lock_key(partitions.INBOX, 5) != partitions.lock_key(partitions.DECISIONS, 5)


def test_workers_start_their_rounds_at_different_partitions():
    assert rotated([1, 5, 9, 12], 6) == [9, 12, 1, 5]
    assert rotated([1, 5], 0) == [1, 5]


def test_a_backlog_gets_one_batch_a_round_like_every_other_shop(services):
    backlog = {1: 3, 2: 1, 3: 1}  # batches of work left, per shop
    served: list[int | None] = []

    def one_batch(shop_id: int | None) -> int:
        assert shop_id is not None
        served.append(shop_id)
        backlog[shop_id] -= 1
        return 1

    done = rounds(
        services, partitions.INBOX, lambda: [s for s, n in backlog.items() if n], one_batch
    )
    assert done.done == 5 and not done.unfinished
    assert sorted(served[:3]) == [1, 2, 3]  # the others are served before the backlog's second
    assert served[3:] == [1, 1]


def test_rounds_out_of_time_say_so(services):
    done = rounds(services, partitions.INBOX, lambda: [1], lambda shop_id: 1, seconds=0)
    assert done.unfinished and done.done == 1


def _add_shops(services, count: int) -> list[int]:  # type: ignore[no-untyped-def]
    with services.sessions() as session, session.begin():
        shops = [
            Shop(domain=f"p{n}.myshopify.com", platform="shopify", settings={})
            for n in range(count)
        ]
        session.add_all(shops)
        session.flush()
        return [shop.id for shop in shops]


def _store(services, shop_id: int | None, n: int) -> None:  # type: ignore[no-untyped-def]
    store_delivery(
        services,
        shop_id=shop_id,
        source="shopify" if shop_id else "sendgrid",
        delivery_id=f"d-{shop_id}-{n}",
        topic="customers/create",
        body=json.dumps(payloads.customer(n, f"c{n}@example.com")).encode() if shop_id else b"[]",
    )


def test_the_inbox_claims_one_shops_deliveries_a_bounded_batch_at_a_time(services):
    first, second = _add_shops(services, 2)
    for n in range(5):
        _store(services, first, n)
    _store(services, second, 100)
    _store(services, None, 200)  # email events name no shop
    assert set(pending_shops(services)) == {first, second, None}

    stats = process_inbox(services, services.now(), limit=2, scope=first, batches=2)
    assert (stats.processed, stats.more) == (4, True)
    assert pending_ids(services) == [f"d-{first}-4", f"d-{second}-100", "d-None-200"]
    process_inbox(services, services.now(), scope=NO_SHOP)
    assert pending_ids(services) == [f"d-{first}-4", f"d-{second}-100"]
    stats = process_inbox(services, services.now(), scope=first)
    assert (stats.processed, stats.more) == (1, False)


def pending_ids(services) -> list[str]:  # type: ignore[no-untyped-def]
    with services.sessions() as session:
        return list(
            session.scalars(
                select(Delivery.delivery_id)
                .where(Delivery.status == "pending")
                .order_by(Delivery.id)
            )
        )


def test_due_steps_are_claimed_by_shop(services, clock):
    first, second = _add_shops(services, 2)
    for shop_id in (first, second):
        _store(services, shop_id, shop_id)
        payload = payloads.checkout(f"tok-{shop_id}", clock.now, email=f"c{shop_id}@x.com")
        store_delivery(
            services,
            shop_id=shop_id,
            source="shopify",
            delivery_id=f"checkout-{shop_id}",
            topic="checkouts/create",
            body=json.dumps(payload).encode(),
        )
    process_inbox(services, services.now())
    clock.now += timedelta(days=3)
    assert set(due_shops(services, clock.now)) == {first, second}
    run_due(services, clock.now, shop=first)
    assert due_shops(services, clock.now) == [second]
    with services.sessions() as session:
        undecided = session.scalars(
            select(Step.shop_id).where(Step.state == "pending", Step.due_at <= clock.now)
        ).all()
    assert set(undecided) == {second}


def test_a_partition_another_worker_holds_is_left_to_it(services):
    if services.engine.dialect.name != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's (CI's PostgreSQL pass runs this test)")
    work = [1, 2]  # shops with work, in partitions 1 and 2
    served: list[int | None] = []

    def one_batch(shop_id: int | None) -> int:
        served.append(shop_id)
        work.remove(shop_id)
        return 1

    key = partitions.lock_key(partitions.DECISIONS, partition_of(1))
    with partitions.exclusive(services, key) as held:  # another worker's, on its connection
        assert held
        done = rounds(services, partitions.DECISIONS, lambda: work, one_batch)
    assert served == [2] and done.done == 1  # shop 1 was left to the lock's holder
    rounds(services, partitions.DECISIONS, lambda: work, one_batch)
    assert served == [2, 1]
