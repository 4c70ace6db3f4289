"""Retention: applied webhook bodies and page views go after their periods; facts, and
deliveries not yet applied, stay."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import func, select

from plugin.pipeline.retention import purge
from plugin.pipeline.worker import upkeep
from plugin.storage.models import CustomerRow, Delivery, PageView
from tests.support import payloads
from tests.support.shop import SHOP


def view(client, path: str) -> None:  # type: ignore[no-untyped-def]
    body = {"vid": "visitor-0123456789abcdef", "type": "page_view", "path": path}
    response = client.post(
        f"/storefront/{SHOP}/events", data=json.dumps(body), content_type="text/plain"
    )
    assert response.status_code == 200


def add_delivery(services, shop, status: str, received_at, n: int) -> None:  # type: ignore[no-untyped-def]
    with services.sessions() as session, session.begin():
        session.add(
            Delivery(
                shop_id=shop.id,
                source="shopify",
                delivery_id=f"{status}-{n}",
                topic="customers/update",
                body=b'{"id": 501, "email": "ada@example.com"}',
                status=status,
                received_at=received_at,
            )
        )


def test_old_applied_bodies_and_page_views_go_while_facts_and_unapplied_ones_stay(
    client, services, shop, send_webhook, at, clock
):
    start = clock.now
    send_webhook("customers/create", payloads.customer())
    view(client, "/pages/old")
    at(start)  # applied: the customer is a fact now
    for status in ("failed", "pending"):  # never purged, however old: still to be applied
        add_delivery(services, shop, status, start, 0)
    add_delivery(services, shop, "ignored", start, 0)  # a topic Nudge does not read

    clock.now = start + timedelta(days=29)
    send_webhook("customers/update", payloads.customer(first_name="Augusta"))
    view(client, "/pages/recent")
    with services.sessions() as session, session.begin():
        # the recent delivery waits for the worker: pending, and young besides
        assert session.scalar(select(func.count()).select_from(Delivery)) == 5

    upkeep(services, start + timedelta(days=30, minutes=1))  # what the workers run hourly
    with services.sessions() as session:
        left = sorted(tuple(r) for r in session.execute(select(Delivery.status, Delivery.topic)))
        views = session.scalars(select(PageView.path)).all()
        customer = session.scalars(select(CustomerRow)).one()
    assert left == [
        ("failed", "customers/update"),
        ("pending", "customers/update"),
        ("pending", "customers/update"),
    ]
    assert views == ["/pages/old", "/pages/recent"]  # 90 days for page views
    assert customer.email == "ada@example.com"  # the fact stays

    purged = purge(services, start + timedelta(days=91))
    with services.sessions() as session:
        assert session.scalars(select(PageView.path)).all() == ["/pages/recent"]
    assert purged.page_views == 1


def test_periods_are_settings_and_a_backlog_goes_in_batches(services, shop, clock):
    services.settings.update(RETAIN_WEBHOOK_DAYS=2, RETAIN_PAGE_VIEWS_DAYS=2)
    for n in range(5):
        add_delivery(services, shop, "processed", clock.now, n)
    with services.sessions() as session, session.begin():
        session.add(
            PageView(shop_id=shop.id, visitor_id="v", kind="page", path="/", viewed_at=clock.now)
        )
    early = purge(services, clock.now + timedelta(days=1, hours=23), batch=2)
    assert (early.deliveries, early.page_views) == (0, 0)
    purged = purge(services, clock.now + timedelta(days=2, seconds=1), batch=2)
    assert (purged.deliveries, purged.page_views) == (5, 1)
    with services.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 0
