"""What happens to a demo order: payment, shipment, and now and then a cancel or a refund."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from plugin.demo import payloads
from plugin.demo.order_payloads import PlacedOrder, fulfillment_json, order_json, refund_json
from plugin.demo.shoppers import Basket, Shopper
from plugin.demo.store import Store

REFUND_NOTES = ("Arrived damaged", "Wrong grind size", "Not as expected", "Duplicate order")


def place_order(
    store: Store,
    s: Shopper,
    at: datetime,
    basket: Basket,
    accepts_marketing: bool,
    checkout: tuple[int, str, str] | None = None,
    backfill: bool = False,
) -> PlacedOrder:
    """Place an order at ``at`` (for ``checkout``: id, token, cart token) and play out its life.

    A ``backfill`` order lies before the window: one orders/create showing it paid and
    shipped, delivered at the window's start.
    """
    rng, r = store.rng, store.realism
    checkout_id, checkout_token, cart_token = checkout or (None, None, None)
    o = PlacedOrder(
        id=store.new_id(),
        token=store.token(),
        basket=basket,
        line_ids=tuple(store.new_id() for _ in basket),
        created=at,
        checkout_id=checkout_id,
        checkout_token=checkout_token,
        cart_token=cart_token,
        accepts_marketing=accepts_marketing,
    )
    s.orders += 1
    s.spent += payloads.subtotal(basket) + payloads.shipping(basket)
    s.last_order_id = o.id
    s.updated_at = at
    bodies: list[dict[str, Any]] = []
    store.orders.append((at, o.id, bodies))

    def send(moment: datetime, topic: str, financial: str = "paid", **state: Any) -> None:
        body = order_json(s, o, moment, store.shop_domain, financial, **state)
        bodies.append(body)
        store.emit(moment, topic, body)

    shipped = at + timedelta(days=rng.uniform(*r.fulfil_days))
    shipment = fulfillment_json(o, store.new_id(), shipped)
    if backfill:
        send(at, "orders/create", fulfillment=shipment)
        return o
    pay_later = rng.random() < r.pay_later_rate
    send(at, "orders/create", "pending" if pay_later else "paid")
    paid = at + timedelta(seconds=rng.uniform(600, 5400) if pay_later else rng.uniform(2, 30))
    send(paid, "orders/paid")
    if rng.random() < r.purchasing_summary_rate:
        summary_at = at + timedelta(seconds=rng.uniform(30, 300))
        store.emit(
            summary_at,
            "customers/purchasing_summary",
            payloads.purchasing_summary_json(s, summary_at),
        )
    roll = rng.random()
    if roll < r.cancel_rate:
        cancelled = paid + timedelta(hours=rng.uniform(1, 20))
        refund = refund_json(o, store.new_id(), cancelled, "Order cancelled")
        send(cancelled, "orders/cancelled", "refunded", cancelled=cancelled, refund=refund)
        return o
    send(shipped, "orders/fulfilled", fulfillment=shipment)
    if roll < r.cancel_rate + r.refund_rate:
        refunded = shipped + timedelta(days=rng.uniform(2, 8))
        refund = refund_json(o, store.new_id(), refunded, rng.choice(REFUND_NOTES))
        send(refunded, "orders/updated", "refunded", fulfillment=shipment, refund=refund)
    return o
