"""Privacy and lifecycle webhooks: idempotent, and redaction leaves no trace."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import LargeBinary, String, Text, select

from plugin.models import Base, ComplianceRecord, OutboxMessage, Shop, Step
from tests import payloads
from tests.conftest import SHOP
from tests.test_workflows import T0, emails, subscribe

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


def test_customer_redaction_leaves_no_trace(send_webhook, services, at):
    history(send_webhook, at)
    assert "customers.email" in everything_mentioning(services, EMAIL)
    assert "deliveries.body" in everything_mentioning(services, EMAIL)
    for webhook_id in ("r1", "r2"):  # Shopify may deliver it twice
        assert send_webhook("customers/redact", request(), webhook_id=webhook_id).status_code == 200
        at(T0 + timedelta(hours=7))
    assert everything_mentioning(services, EMAIL) == []
    assert everything_mentioning(services, "Lovelace") == []
    with services.sessions() as session:
        outcomes = session.scalars(
            select(ComplianceRecord.outcome).where(ComplianceRecord.topic == "customers/redact")
        ).all()
    assert len(outcomes) == 2 and outcomes[0] != "erased 0 records"


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
