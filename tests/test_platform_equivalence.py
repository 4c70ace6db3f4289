"""One rule set, the same decisions: the core workflows run over one store history told
once as Shopify webhooks and once as WooCommerce's (with Nudge's plugin: its carts and its
order meta), and every step decision and every email is compared.

The history: a subscriber who leaves a cart; one who orders from their cart and is
fulfilled; a guest who orders without consenting; a consenting guest who orders after the
reminder; a regular on a 20-day rhythm. Both shops live in one app, on one clock, run once a
day (and after each delivery).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from plugin.storage.models import Episode, OutboxMessage, Shop, Step
from tests.support import payloads, woo
from tests.support.clock import T0
from tests.support.shop import SHOP

DAYS = 40  # the regular's replenishment reminder falls due on day 37


@dataclass(frozen=True)
class Shopper:
    email: str
    customer_id: int | None  # None: a guest
    consents: bool


ANA = Shopper("ana@example.com", 501, True)
BEN = Shopper("ben@example.com", 502, True)
REG = Shopper("reg@example.com", 503, True)
GIL = Shopper("gil@example.com", None, False)
HAL = Shopper("hal@example.com", None, True)

H = timedelta(hours=1)
D = timedelta(days=1)
# (when, what, who, details)
HISTORY: list[tuple[datetime, str, Shopper, dict[str, Any]]] = [
    (T0, "signup", ANA, {}),
    (T0, "signup", BEN, {}),
    (T0, "signup", REG, {}),
    (T0, "order", REG, {"order": 2004, "total": "45.00"}),
    (T0, "cart", ANA, {"key": "k-ana", "total": "80.00"}),
    (T0 + H, "cart", BEN, {"key": "k-ben", "total": "60.00"}),
    (T0 + 2 * H, "cart", GIL, {"key": "k-gil", "total": "70.00"}),
    (T0 + 2 * H, "cart", HAL, {"key": "k-hal", "total": "30.00"}),
    (T0 + 3 * H, "order", BEN, {"order": 2001, "key": "k-ben", "total": "60.00"}),
    (T0 + 5 * H, "order", GIL, {"order": 2002, "key": "k-gil", "total": "70.00"}),
    (T0 + D, "fulfil", BEN, {"order": 2001, "key": "k-ben", "total": "60.00", "at": T0 + 3 * H}),
    (T0 + 2 * D, "order", HAL, {"order": 2003, "key": "k-hal", "total": "30.00"}),
    (T0 + 20 * D, "order", REG, {"order": 2005, "total": "45.00"}),
]


def as_shopify(when: datetime, what: str, who: Shopper, d: dict[str, Any]) -> list[tuple[str, Any]]:
    customer_id = who.customer_id
    if what == "signup":
        at = when.isoformat()
        return [
            (
                "customers/create",
                payloads.customer(customer_id, who.email, created_at=at, updated_at=at),
            ),
            (
                "customers_email_marketing_consent/update",
                payloads.consent(customer_id, who.email, who.consents, at),
            ),
        ]
    if what == "cart":
        checkout = payloads.checkout(
            d["key"],
            when,
            price=d["total"],
            email=who.email,
            customer_id=customer_id,
            accepts_marketing=who.consents,
        )
        return [("checkouts/create", checkout)]
    placed = d.get("at", when)
    fulfilled = when if what == "fulfil" else None
    order = payloads.order(
        d["order"],
        placed,
        checkout_token=d.get("key"),
        customer_id=customer_id or 0,
        email=who.email,
        price=d["total"],
        fulfilled_at=fulfilled,
    )
    order["buyer_accepts_marketing"] = who.consents
    if customer_id is None:
        order["customer"] = None
    return [("orders/fulfilled" if fulfilled else "orders/create", order)]


def as_woocommerce(
    when: datetime, what: str, who: Shopper, d: dict[str, Any]
) -> list[tuple[str, Any]]:
    customer_id = who.customer_id or 0
    if what == "signup":
        return [("customer.created", woo.customer(customer_id, when, who.email))]
    if what == "cart":
        cart = woo.cart(
            d["key"],
            when,
            email=who.email,
            customer_id=customer_id,
            accepts_marketing=who.consents,
            total=d["total"],
        )
        return [("nudge.cart_updated", cart)]
    placed = d.get("at", when)
    fulfilled = when if what == "fulfil" else None
    order = woo.order(
        d["order"],
        placed,
        customer_id=customer_id,
        email=who.email,
        total=d["total"],
        accepts_marketing=who.consents,
        cart_key=d.get("key"),
        status="completed" if fulfilled else "processing",
        completed_at=fulfilled,
    )
    return [("order.updated" if fulfilled else "order.created", order)]


def decisions(services, domain: str) -> dict[str, list[tuple[Any, ...]]]:  # type: ignore[no-untyped-def]
    """Every step decided and every message written, for one shop, in a stable order."""
    with services.sessions() as session:
        shop_id = session.scalars(select(Shop.id).where(Shop.domain == domain)).one()
        steps = session.execute(
            select(
                Episode.workflow,
                Episode.subject,
                Episode.customer_external_id,
                Episode.state,
                Step.step_id,
                Step.state,
                Step.reason,
                Step.due_at,
                Step.decided_at,
            )
            .join(Episode, Step.episode_id == Episode.id)
            .where(Step.shop_id == shop_id)
        ).all()
        messages = session.execute(
            select(
                OutboxMessage.workflow,
                OutboxMessage.step_id,
                OutboxMessage.kind,
                OutboxMessage.template,
                OutboxMessage.to_email,
                OutboxMessage.state,
            ).where(OutboxMessage.shop_id == shop_id)
        ).all()
    return {
        "steps": sorted(map(tuple, steps), key=repr),
        "messages": sorted(map(tuple, messages), key=repr),
    }


@pytest.mark.slow
def test_the_core_workflows_decide_alike_on_shopify_and_woocommerce(
    client, shop, send_webhook, services, at
):
    with services.sessions() as session, session.begin():
        session.add(woo.woo_store(services.settings["SECRET_KEY"]))
    send_woo = woo.WooSender(client)
    passes = sorted({when for when, *_ in HISTORY} | {T0 + n * D for n in range(DAYS)})
    history = sorted(HISTORY, key=lambda entry: entry[0])
    for moment in passes:
        while history and history[0][0] <= moment:
            entry = history.pop(0)
            for topic, payload in as_shopify(*entry):
                assert send_webhook(topic, payload).status_code == 200
            for topic, payload in as_woocommerce(*entry):
                assert send_woo(topic, payload).status_code == 200
        at(moment)

    shopify, woocommerce = decisions(services, SHOP), decisions(services, woo.WOO_SHOP)
    assert woocommerce == shopify
    # and the history did exercise the workflows: emails sent, consent and exits honoured
    emails = {(m[0], m[3], m[4]) for m in shopify["messages"] if m[2] == "email"}
    assert emails >= {
        ("cart_abandonment", "cart_reminder", ANA.email),
        ("cart_abandonment", "cart_offer", ANA.email),
        ("cart_abandonment", "cart_reminder", HAL.email),
        ("upsell", "upsell", BEN.email),
        ("feedback_request", "feedback_request", BEN.email),
        ("purchase_cycle", "replenishment", REG.email),
    }
    assert not {e for e in emails if e[2] == GIL.email}
    assert not {e for e in emails if e[0] == "cart_abandonment" and e[2] == BEN.email}
