"""Shopify's mandatory privacy webhooks and app/uninstalled. Every handler is idempotent.

- ``app/uninstalled``: stop all sending for the shop and forget its access token.
- ``app/scopes_update``: keep the scopes the shop now grants; when they grew, flag the
  token pair for renewal (plugin.shopify_app.tokens.renew_due), so that it carries them.
- ``customers/data_request``: export everything held about the customer (stored, for the
  merchant to hand over).
- ``customers/redact``: erase the customer's personal data everywhere: facts, outbox,
  engagement, suppressions, and the raw webhook bodies in the inbox that mention them.
- ``shop/redact``: erase the shop and all its data (48 hours after uninstall).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Executable, ScalarResult, delete, or_, select, update
from sqlalchemy.orm import Session

from connectors import untrusted_json
from plugin.shopify_app import tokens
from plugin.storage.batch import Batch
from plugin.storage.models import (
    CheckoutRow,
    ComplianceRecord,
    CustomerRefusal,
    CustomerRow,
    Delivery,
    EngagementRow,
    Episode,
    OrderRow,
    OutboxMessage,
    PageView,
    ProductRhythmRow,
    Shop,
    Step,
    Suppression,
    TopicSignup,
    Visitor,
)

REDACTED = "redacted"


def _changed(session: Session, statement: Executable) -> int:
    """Run an UPDATE or DELETE; return the count of rows it changed."""
    # Session.execute is typed to return a plain Result; for these it is a CursorResult.
    return cast("CursorResult[Any]", session.execute(statement)).rowcount or 0


def _settle_session(session: Session) -> None:
    # The statements below delete and blank rows behind the session: what the session added
    # must be in the database for them to reach it (a batch's new episodes wait for a flush,
    # plugin.storage.batch_episodes), and the rows it remembers by key must be looked up again.
    session.flush()
    Batch.of(session).forget_rows()


def erase_deleted_customer(
    session: Session, shop: Shop, topic: str, customer_id: str, email: str | None, now: datetime
) -> None:
    """Erase a customer the shop deleted (WooCommerce's ``customer.deleted``) as
    ``customers/redact`` does, and record it."""
    _settle_session(session)
    erased = erase_customer(session, shop.id, customer_id, email)
    session.add(
        ComplianceRecord(
            shop_domain=shop.domain,
            topic=topic,
            customer_external_id=customer_id,
            outcome=f"erased {erased} records",
            created_at=now,
        )
    )


def handle(
    session: Session, shop: Shop, topic: str, payload: dict[str, Any], now: datetime
) -> None:
    """Carry out one compliance or lifecycle delivery."""
    _settle_session(session)
    customer = payload.get("customer")
    if not isinstance(customer, dict):
        customer = {}
    customer_id = str(customer["id"]) if customer.get("id") is not None else None
    email = customer.get("email") if isinstance(customer.get("email"), str) else None
    if topic == "app/uninstalled":
        outcome = uninstall(session, shop, now)
    elif topic == "app/scopes_update":
        outcome = scopes_updated(shop, payload)
    elif topic == "customers/data_request":
        export = export_customer(session, shop.id, customer_id, email)
        session.add(
            ComplianceRecord(
                shop_domain=shop.domain,
                topic=topic,
                customer_external_id=customer_id,
                outcome="exported",
                export=export,
                created_at=now,
            )
        )
        return
    elif topic == "customers/redact":
        outcome = f"erased {erase_customer(session, shop.id, customer_id, email)} records"
    elif topic == "shop/redact":
        domain = shop.domain
        session.execute(
            delete(Shop).where(Shop.id == shop.id).execution_options(synchronize_session=False)
        )
        session.add(
            ComplianceRecord(shop_domain=domain, topic=topic, outcome="shop erased", created_at=now)
        )
        return
    else:
        return
    session.add(
        ComplianceRecord(
            shop_domain=shop.domain,
            topic=topic,
            customer_external_id=customer_id,
            outcome=outcome,
            created_at=now,
        )
    )


def uninstall(session: Session, shop: Shop, now: datetime) -> str:
    """Stop everything for the shop: no more steps, nothing left to send, no token."""
    shop.active = False
    tokens.revoke(shop)  # the plaintext legacy column and the encrypted pair alike
    steps = _changed(
        session,
        update(Step)
        .where(Step.shop_id == shop.id, Step.state == "pending")
        .values(state="cancelled", decided_at=now, reason="app uninstalled"),
    )
    messages = _changed(
        session,
        update(OutboxMessage)
        .where(OutboxMessage.shop_id == shop.id, OutboxMessage.state == "pending")
        .values(state="cancelled", last_error="app uninstalled"),
    )
    return f"sending stopped: {steps} steps and {messages} messages cancelled; token revoked"


def scopes_updated(shop: Shop, payload: dict[str, Any]) -> str:
    """Keep the scopes Shopify says the shop grants now; flag the pair for renewal when
    they include one it did not grant before."""
    current = _scope_list(payload.get("current"))
    if current is None:
        return "ignored: no list of current scopes"
    before = set(_scope_list(payload.get("previous")) or []) | set(
        filter(None, (shop.scopes or "").split(","))
    )
    shop.scopes = ",".join(current)
    added = sorted(set(current) - before)
    if added and shop.refresh_token_encrypted:
        shop.token_renewal_due = True
        return f"scopes now {shop.scopes}; the token pair is renewed to carry {', '.join(added)}"
    return f"scopes now {shop.scopes}"


def _scope_list(value: Any) -> list[str] | None:
    if not isinstance(value, list):
        return None
    return [s.strip() for s in value if isinstance(s, str) and s.strip()]


def _customer_keys(
    session: Session, shop_id: int, customer_id: str | None, email: str | None
) -> tuple[set[str], set[str]]:
    """All ids and emails the customer is known by (a guest is known by email only)."""
    ids, emails = set(), set()
    if customer_id:
        ids.add(customer_id)
    if email:
        emails.add(email.strip().lower())
        ids.add("email:" + email.strip().lower())
    for row_id, row_email in session.execute(
        select(CustomerRow.external_id, CustomerRow.email).where(
            CustomerRow.shop_id == shop_id,
            or_(CustomerRow.external_id.in_(ids or {""}), CustomerRow.email.in_(emails or {""})),
        )
    ):
        ids.add(row_id)
        if row_email:
            emails.add(row_email)
            ids.add("email:" + row_email)
    return ids, emails


def export_customer(
    session: Session, shop_id: int, customer_id: str | None, email: str | None
) -> dict[str, Any]:
    """Everything held about one customer, as JSON-ready data."""
    ids, emails = _customer_keys(session, shop_id, customer_id, email)

    def rows(model: Any, *conditions: Any) -> list[dict[str, Any]]:
        statement = select(model).where(model.shop_id == shop_id, or_(*conditions))
        found: ScalarResult[Any] = session.scalars(statement)
        return [{c.name: _plain(getattr(r, c.key)) for c in model.__table__.columns} for r in found]

    return {
        "customer_ids": sorted(ids),
        "emails": sorted(emails),
        "customers": rows(CustomerRow, CustomerRow.external_id.in_(ids)),
        "checkouts": rows(
            CheckoutRow, CheckoutRow.customer_external_id.in_(ids), CheckoutRow.email.in_(emails)
        ),
        "orders": rows(
            OrderRow, OrderRow.customer_external_id.in_(ids), OrderRow.email.in_(emails)
        ),
        "engagements": rows(EngagementRow, EngagementRow.email.in_(emails)),
        "suppressions": rows(Suppression, Suppression.email.in_(emails)),
        "messages": rows(
            OutboxMessage,
            OutboxMessage.customer_external_id.in_(ids),
            OutboxMessage.to_email.in_(emails),
        ),
        "workflow_enrollments": rows(Episode, Episode.customer_external_id.in_(ids)),
    }


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if value is not None and not isinstance(value, str | int | float | bool | list | dict):
        return str(value)
    return value


def erase_customer(
    session: Session, shop_id: int, customer_id: str | None, email: str | None
) -> int:
    """Remove the customer's personal data from every table; return how many rows changed."""
    ids, emails = _customer_keys(session, shop_id, customer_id, email)
    if not ids and not emails:
        return 0
    ids_or_none, emails_or_none = ids or {""}, emails or {""}
    changed = 0
    statements = [
        delete(CustomerRow).where(
            CustomerRow.shop_id == shop_id, CustomerRow.external_id.in_(ids_or_none)
        ),
        delete(CustomerRow).where(
            CustomerRow.shop_id == shop_id, CustomerRow.email.in_(emails_or_none)
        ),
        delete(CheckoutRow).where(
            CheckoutRow.shop_id == shop_id,
            or_(
                CheckoutRow.customer_external_id.in_(ids_or_none),
                CheckoutRow.email.in_(emails_or_none),
            ),
        ),
        update(OrderRow)
        .where(
            OrderRow.shop_id == shop_id,
            or_(OrderRow.customer_external_id.in_(ids_or_none), OrderRow.email.in_(emails_or_none)),
        )
        .values(email=None, customer_external_id=REDACTED, items=[]),
        delete(ProductRhythmRow).where(
            ProductRhythmRow.shop_id == shop_id,
            ProductRhythmRow.customer_external_id.in_(ids_or_none),
        ),
        delete(EngagementRow).where(
            EngagementRow.shop_id == shop_id, EngagementRow.email.in_(emails_or_none)
        ),
        delete(CustomerRefusal).where(
            CustomerRefusal.shop_id == shop_id,
            CustomerRefusal.customer_external_id.in_(ids_or_none),
        ),
        delete(Suppression).where(
            Suppression.shop_id == shop_id, Suppression.email.in_(emails_or_none)
        ),
        # storefront: views and signups tied to the customer; the visitor id stays, unlinked
        delete(PageView).where(
            PageView.shop_id == shop_id, PageView.customer_external_id.in_(ids_or_none)
        ),
        delete(TopicSignup).where(
            TopicSignup.shop_id == shop_id,
            or_(
                TopicSignup.email.in_(emails_or_none),
                TopicSignup.customer_external_id.in_(ids_or_none),
            ),
        ),
        update(Visitor)
        .where(Visitor.shop_id == shop_id, Visitor.customer_external_id.in_(ids_or_none))
        .values(customer_external_id=None),
        update(OutboxMessage)
        .where(
            OutboxMessage.shop_id == shop_id,
            or_(
                OutboxMessage.customer_external_id.in_(ids_or_none),
                OutboxMessage.to_email.in_(emails_or_none),
            ),
        )
        .values(
            to_email=None,
            customer_external_id=REDACTED,
            preview_html=None,
            params={},
            subject=None,
            state=REDACTED,
        ),
        update(Episode)
        .where(Episode.shop_id == shop_id, Episode.customer_external_id.in_(ids_or_none))
        .values(
            customer_external_id=REDACTED, subject=REDACTED, state="cancelled", exit_reason=REDACTED
        ),
    ]
    for statement in statements:
        changed += _changed(session, statement.execution_options(synchronize_session=False))
    # The inbox keeps raw bodies; those about the customer go too. (Read here, not in SQL,
    # so it works the same on every database; redaction is rare.)
    customer_ids = {i for i in ids if not i.startswith("email:")}
    mentioning = [
        delivery_id
        for delivery_id, topic, body in session.execute(
            select(Delivery.id, Delivery.topic, Delivery.body).where(Delivery.shop_id == shop_id)
        )
        if delivery_is_about(topic, body, customer_ids, emails)
    ]
    if mentioning:
        changed += _changed(
            session,
            update(Delivery)
            .where(Delivery.id.in_(mentioning))
            .values(body=b"{}", error=REDACTED)
            .execution_options(synchronize_session=False),
        )
    return changed


# topics whose payload is the customer itself: its top-level "id" is the customer's
CUSTOMER_TOPICS = ("customers/", "customer.")


def delivery_is_about(topic: str, body: bytes, ids: set[str], emails: set[str]) -> bool:
    """Whether a stored delivery names the customer: one of their ids where a customer id
    goes, or exactly one of their addresses (in any case), anywhere in its parsed JSON.

    Never a substring of the raw text: redacting ``ob@example.com`` must leave
    ``bob@example.com``'s deliveries alone, and customer 5's an order for 5.00.
    """
    try:
        payload = untrusted_json.parse(body)
    except untrusted_json.UnreadableJson:
        # kept as failed because it could not be read: an address in it, quoted as JSON
        # writes one, still makes it theirs
        text = body.decode("utf-8", "replace").lower()
        return any(f'"{email}"' in text for email in emails)
    # texts that name the customer wherever they appear: addresses, and Admin API ids
    names = emails | {f"gid://shopify/customer/{i}" for i in ids}
    if topic.startswith(CUSTOMER_TOPICS) and isinstance(payload, dict):
        if _as_id(payload.get("id")) in ids:
            return True
    pending = [payload]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            if _as_id(value.get("customer_id")) in ids:
                return True
            customer = value.get("customer")
            if isinstance(customer, dict) and _as_id(customer.get("id")) in ids:
                return True
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str) and value.strip().lower() in names:
            return True
    return False


def _as_id(value: object) -> str | None:
    """A customer id as the facts keep it (a JSON number or text), else None."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    return str(value)
