"""The shop-wide offer policy: one open discount code per customer (configurable), codes
spaced apart, and overlapping series that end each other."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from plugin.shop_settings.workflows import save_workflow, shop_workflows
from plugin.storage.models import Episode, OutboxMessage, Shop, Step
from rules.offers import Offer, OfferPolicy, offer_refusal, open_offers
from tests.support import payloads
from tests.support.clock import T0
from tests.support.session_tokens import session_token
from tests.support.workflows import enable, episodes, new_subscriber, subscribe

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)


def offer(days_ago: float, lasts_days: float = 3) -> Offer:
    given = NOW - timedelta(days=days_ago)
    return Offer("NUDGE-X", given, given + timedelta(days=lasts_days))


def test_a_code_is_open_until_it_expires_or_the_customer_orders():
    fresh, expired = offer(1), offer(5)
    assert open_offers([fresh, expired], None, NOW) == [fresh]
    assert open_offers([fresh], NOW - timedelta(hours=1), NOW) == []  # ordered since
    assert open_offers([fresh], NOW - timedelta(days=2), NOW) == [fresh]  # ordered before


def test_the_policy_refuses_a_second_open_code_and_one_too_soon():
    policy = OfferPolicy(max_open=1, min_days_between=14)
    assert offer_refusal(policy, [], None, NOW) is None
    assert offer_refusal(policy, [offer(1)], None, NOW) == (
        "offer policy: already holds 1 open discount code"
    )
    # expired, but given 5 days ago: still too soon
    assert offer_refusal(policy, [offer(5)], None, NOW) == (
        "offer policy: a discount code in the last 14 days"
    )
    assert offer_refusal(policy, [offer(15)], None, NOW) is None
    two = OfferPolicy(max_open=2, min_days_between=0)
    assert offer_refusal(two, [offer(1)], None, NOW) is None
    assert offer_refusal(two, [offer(1), offer(0.5)], None, NOW) is not None


def codes(services) -> list[OutboxMessage]:  # type: ignore[no-untyped-def]
    with services.sessions() as session:
        return list(
            session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.kind == "create_discount")
                .order_by(OutboxMessage.id)
            )
        )


def reasons(services, workflow: str) -> list[str | None]:  # type: ignore[no-untyped-def]
    with services.sessions() as session:
        return list(
            session.scalars(
                select(Step.reason)
                .join(Episode, Episode.id == Step.episode_id)
                .where(Episode.workflow == workflow, Step.state == "skipped")
            )
        )


def two_abandoned_carts(send_webhook, at) -> None:  # type: ignore[no-untyped-def]
    subscribe(send_webhook)
    send_webhook("checkouts/create", payloads.checkout("tok-a", T0))
    send_webhook("checkouts/create", payloads.checkout("tok-b", T0 + timedelta(hours=2)))
    # tok-b's offer: capped after tok-a's, then the send window: decided at 09:00 on day 3
    for hours in (1, 5, 25, 27, 41, 60, 72):
        at(T0 + timedelta(hours=hours))


def test_a_second_open_offer_is_not_given(send_webhook, services, at):
    two_abandoned_carts(send_webhook, at)
    [code] = codes(services)  # tok-a's; tok-b's offer came while it was open
    assert "offer policy: already holds 1 open discount code" in reasons(
        services, "cart_abandonment"
    )
    with services.sessions() as session:
        offer_emails = session.scalars(
            select(OutboxMessage.template).where(OutboxMessage.template == "cart_offer")
        ).all()
    assert offer_emails == ["cart_offer"]  # nor its email, which is about the code
    assert code.params["code"].startswith("NUDGE-")


def test_the_policy_is_the_shops_to_set(client, send_webhook, services, at):
    response = client.put(
        "/api/settings",
        json={"offers": {"max_open_per_customer": 2, "min_days_between": 0}},
        headers={"Authorization": f"Bearer {session_token()}"},
    )
    assert response.status_code == 200, response.json
    assert response.json["settings"]["offers"]["exclusive_series"]  # the rest kept
    two_abandoned_carts(send_webhook, at)
    assert len(codes(services)) == 2


def test_the_policy_settings_are_validated(client, shop):
    response = client.put(
        "/api/settings",
        json={"offers": {"max_open_per_customer": -1, "exclusive_series": [["only_one"]]}},
        headers={"Authorization": f"Bearer {session_token()}"},
    )
    assert response.status_code == 422
    assert {e["path"] for e in response.json["errors"]} == {
        "offers.max_open_per_customer",
        "offers.exclusive_series[0]",
    }


def test_entering_lead_nurturing_ends_the_welcome_series(send_webhook, services, at):
    enable(services, "welcome_series", "lead_nurturing")
    with services.sessions() as session, session.begin():
        shop_id = session.scalars(select(Shop.id)).one()
        lead = dict(shop_workflows(session, shop_id)["lead_nurturing"].definition)
        lead["trigger"] = {**lead["trigger"], "after_days": 3}  # overlaps the welcome series
        save_workflow(session, shop_id, lead)
    new_subscriber(send_webhook, T0)
    for day in range(0, 14):
        at(T0 + timedelta(days=day, minutes=5))
    [welcome] = episodes(services, "welcome_series")
    assert (welcome.state, welcome.exit_reason) == ("exited", "exit: entered lead_nurturing")
    assert [c.workflow for c in codes(services)] == ["lead_nurturing"]  # one first-order code
