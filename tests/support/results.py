"""A shop with enough abandoned carts under a holdout for the lift to get its interval."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from plugin.shop_settings.workflows import save_workflow, shop_workflows
from plugin.storage.models import OutboxMessage, Shop
from rules.scheduling import in_holdout
from tests.support import payloads
from tests.support.clock import T0
from tests.support.sendgrid_events import PUBLIC, message_event, post_events

HOLDOUT_PERCENT = 50


def with_cart_holdout(services: Any, percent: float = HOLDOUT_PERCENT) -> None:
    """Hold out ``percent`` of cart-abandonment shoppers (a new version of the workflow)."""
    with services.sessions() as session, session.begin():
        shop = session.scalars(select(Shop)).one()
        definition = dict(shop_workflows(session, shop.id)["cart_abandonment"].definition)
        save_workflow(session, shop.id, {**definition, "holdout_percent": percent})


def groups(size: int, first: int = 600) -> tuple[list[int], list[int]]:
    """``size`` customer ids emailed and ``size`` held out, from ``first`` on."""
    treated: list[int] = []
    held: list[int] = []
    customer = first
    while len(treated) < size or len(held) < size:
        group = held if in_holdout(str(customer), "cart_abandonment", HOLDOUT_PERCENT) else treated
        if len(group) < size:
            group.append(customer)
        customer += 1
    return treated, held


def abandoned_carts_with_holdout(
    services: Any, send_webhook: Any, client: Any, at: Any, size: int, buyers: tuple[int, int]
) -> tuple[list[int], list[int]]:
    """``size`` reminded shoppers and ``size`` held out; the first ``buyers[0]`` reminded ones
    and ``buyers[1]`` held-out ones buy their cart (60.00) 6 hours after abandoning it,
    after the reminder's delivery, which SendGrid reports. Returns (treated, held) ids."""
    with_cart_holdout(services)
    treated, held = groups(size)
    buying = set(treated[: buyers[0]]) | set(held[: buyers[1]])
    abandon_and_buy(services, send_webhook, client, at, treated + held, buying)
    at(T0 + timedelta(days=2))
    return treated, held


def abandon_and_buy(
    services: Any, send_webhook: Any, client: Any, at: Any, customers: list[int], buyers: set[int]
) -> None:
    """Each customer abandons a cart at T0; reminders go out and SendGrid reports them
    delivered; ``buyers`` buy their cart (60.00) 6 hours after abandoning it."""
    services.settings["SENDGRID_EVENT_PUBLIC_KEY"] = PUBLIC
    for customer in customers:
        email = f"c{customer}@example.com"
        send_webhook("customers/create", payloads.customer(customer, email=email))
        send_webhook(
            "customers_email_marketing_consent/update", payloads.consent(customer, email=email)
        )
        checkout = payloads.checkout(f"tok-{customer}", T0, customer_id=customer, email=email)
        send_webhook("checkouts/create", checkout)
    at(T0 + timedelta(hours=4, minutes=1))
    with services.sessions() as session:
        reminders = session.execute(
            select(OutboxMessage.id, OutboxMessage.to_email).where(OutboxMessage.kind == "email")
        ).all()
    delivered_at = T0 + timedelta(hours=4, minutes=2)
    events = [message_event("delivered", id_, email, delivered_at) for id_, email in reminders]
    assert post_events(client, events).status_code == 200
    for customer in sorted(buyers):
        send_webhook(
            "orders/create",
            payloads.order(
                9000 + customer,
                T0 + timedelta(hours=6),
                checkout_token=f"tok-{customer}",
                customer_id=customer,
                email=f"c{customer}@example.com",
            ),
        )
