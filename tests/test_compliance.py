"""Privacy and lifecycle webhooks: idempotent, and redaction leaves no trace."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import LargeBinary, String, Text, func, select

from plugin.identity import visitor_token
from plugin.storage.models import (
    Base,
    ComplianceRecord,
    Delivery,
    OutboxMessage,
    PageView,
    Shop,
    Step,
    Visitor,
)
from tests.support import payloads
from tests.support.clock import T0
from tests.support.shop import SHOP
from tests.support.workflows import emails, subscribe

EMAIL = "ada@example.com"


def request(customer_id: int = 501, email: str = EMAIL) -> dict:
    return {
        "shop_id": 1,
        "shop_domain": SHOP,
        "customer": {"id": customer_id, "email": email, "phone": None},
        "orders_to_redact": [9001],
    }


def history(send_webhook, at) -> None:  # type: ignore[no-untyped-def]
    """A customer with consent, an abandoned checkout (reminded), and an order."""
    subscribe(send_webhook)
    send_webhook("checkouts/create", payloads.checkout("tok-p", T0))
    at(T0 + timedelta(hours=4, minutes=1))
    send_webhook(
        "orders/create", payloads.order(9001, T0 + timedelta(hours=5), checkout_token="tok-p")
    )
    at(T0 + timedelta(hours=6))


def everything_mentioning(services, needle: str) -> list[str]:  # type: ignore[no-untyped-def]
    found = []
    with services.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            columns = [
                c
                for c in table.columns
                if isinstance(c.type, String | Text | LargeBinary)
                or c.type.__class__.__name__ == "JSON"
            ]
            for row in conn.execute(select(*columns)) if columns else []:
                for column, value in zip(columns, row, strict=True):
                    text = (
                        value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
                    )
                    if needle in text:
                        found.append(f"{table.name}.{column.name}")
    return sorted(set(found))


def storefront_history(client, services) -> None:  # type: ignore[no-untyped-def]
    """The customer browsed the storefront from an email link and signed up for a topic."""
    with services.sessions() as session, session.begin():
        shop = session.scalars(select(Shop).where(Shop.domain == SHOP)).one()
        shop.settings = {**shop.settings, "storefront": {"topics": ["tea"]}}
        shop_id = shop.id
    token = visitor_token(services.settings["SECRET_KEY"], shop_id, "501")
    visit = {"vid": "visitor-redact-0123456789", "type": "page_view", "path": "/pages/pricing"}
    for body in (
        {**visit, "t": token},
        {**visit, "email": EMAIL, "topic": "tea", "consent": True},  # known: subscribed at once
        {"vid": "visitor-other-device-012345", "email": EMAIL, "topic": "tea", "consent": True},
    ):
        path = "events" if "email" not in body else "signup"
        response = client.post(
            f"/storefront/{SHOP}/{path}", data=json.dumps(body), content_type="text/plain"
        )
        assert response.status_code in (200, 202), response.get_json()  # 202: to confirm


def customer_page_views(services) -> int:  # type: ignore[no-untyped-def]
    with services.sessions() as session:
        views = session.scalar(
            select(func.count()).select_from(PageView).where(PageView.customer_external_id == "501")
        )
        visitors = session.scalar(
            select(func.count()).select_from(Visitor).where(Visitor.customer_external_id == "501")
        )
    return int(views or 0) + int(visitors or 0)


def test_customer_redaction_leaves_no_trace(send_webhook, services, at, client):
    history(send_webhook, at)
    storefront_history(client, services)
    assert "customers.email" in everything_mentioning(services, EMAIL)
    assert "deliveries.body" in everything_mentioning(services, EMAIL)
    assert "topic_signups.email" in everything_mentioning(services, EMAIL)
    assert customer_page_views(services) > 0
    for webhook_id in ("r1", "r2"):  # Shopify may deliver it twice
        assert send_webhook("customers/redact", request(), webhook_id=webhook_id).status_code == 200
        at(T0 + timedelta(hours=7))
    assert everything_mentioning(services, EMAIL) == []
    assert everything_mentioning(services, "Lovelace") == []
    assert customer_page_views(services) == 0  # what they browsed is no longer theirs
    with services.sessions() as session:
        outcomes = session.scalars(
            select(ComplianceRecord.outcome).where(ComplianceRecord.topic == "customers/redact")
        ).all()
    assert len(outcomes) == 2 and outcomes[0] != "erased 0 records"


def test_redaction_takes_only_the_customers_own_deliveries(send_webhook, services, at):
    """Exact ids and addresses in the parsed body: never a substring of someone else's."""
    bob = payloads.customer(5010, "bob@example.com", first_name="Bob")
    mentions_bob = {"id": 77, "note": "ask bob@example.com", "total_price": "5.00", "sku": "5"}
    theirs = [
        payloads.customer(5, "OB@Example.com"),
        {"id": 78, "customer": {"id": 5}, "line_items": []},
        {"id": 79, "email": "ob@example.com"},
        {"id": 80, "admin_graphql_api_id": "gid://shopify/Customer/5"},
    ]
    for n, body in enumerate([bob, mentions_bob, *theirs]):
        topic = "customers/create" if n in (0, 2) else "orders/create"
        send_webhook(topic, body, webhook_id=f"d-{n}")
    at(T0)
    send_webhook("customers/redact", request(5, "ob@example.com"), webhook_id="redact")
    at(T0 + timedelta(minutes=1))
    with services.sessions() as session:
        kept = [
            json.loads(body)
            for body in session.scalars(select(Delivery.body).order_by(Delivery.id))
            if body != b"{}"
        ]
    assert kept == [bob, mentions_bob]


def test_data_request_exports_what_is_held(send_webhook, services, at):
    history(send_webhook, at)
    send_webhook("customers/data_request", request())
    at(T0 + timedelta(hours=7))
    with services.sessions() as session:
        record = session.scalars(
            select(ComplianceRecord).where(ComplianceRecord.topic == "customers/data_request")
        ).one()
    export = record.export or {}
    assert export["emails"] == [EMAIL]
    assert [c["email"] for c in export["customers"]] == [EMAIL]
    assert [o["external_id"] for o in export["orders"]] == ["9001"]
    assert [m["template"] for m in export["messages"]] == ["cart_reminder"]


def test_uninstall_stops_all_sending_and_revokes_the_token(send_webhook, services, at):
    subscribe(send_webhook)
    send_webhook("checkouts/create", payloads.checkout("tok-u", T0))
    at(T0)
    send_webhook("app/uninstalled", {"id": 1, "name": "Test shop", "domain": SHOP})
    at(T0 + timedelta(minutes=1))
    at(T0 + timedelta(days=3))
    assert emails(services) == []
    with services.sessions() as session:
        shop = session.scalars(select(Shop)).one()
        assert (shop.active, shop.access_token) == (False, None)
        assert {s.state for s in session.scalars(select(Step))} == {"cancelled"}


def test_shop_redaction_erases_the_shop(send_webhook, services, at):
    history(send_webhook, at)
    send_webhook("shop/redact", {"shop_id": 1, "shop_domain": SHOP})
    at(T0 + timedelta(hours=7))
    with services.sessions() as session:
        assert session.scalars(select(Shop)).all() == []
        assert session.scalars(select(OutboxMessage)).all() == []
        assert session.scalars(select(ComplianceRecord.outcome)).all() == ["shop erased"]
    assert everything_mentioning(services, EMAIL) == []


def test_a_redaction_amid_one_batch_forgets_the_rows_the_batch_loaded(
    send_webhook, services, monkeypatch
):
    """The inbox loads a batch's rows up front; a redaction in the middle of the batch
    deletes them, and what comes after it must start afresh, in the same batch."""
    import plugin.pipeline.inbox as inbox
    from plugin.storage.models import CustomerRow

    def one_by_one(*args):  # type: ignore[no-untyped-def]
        raise AssertionError("the batch fell back to one delivery at a time")

    monkeypatch.setattr(inbox, "_process_one_by_one", one_by_one)
    send_webhook("customers/create", payloads.customer(), webhook_id="before")
    send_webhook("customers/redact", request(), webhook_id="redact")
    later = payloads.customer(
        email="new@example.com", first_name="Grace", updated_at="2026-01-01T10:00:00+00:00"
    )
    send_webhook("customers/update", later, webhook_id="after")
    assert inbox.process_inbox(services, T0).processed == 3
    with services.sessions() as session:
        rows = session.execute(select(CustomerRow.email, CustomerRow.first_name)).all()
    assert rows == [("new@example.com", "Grace")]
