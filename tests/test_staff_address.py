"""A staff address set on the settings page gets nothing but its confirmation link until
that link is POSTed; test emails are limited per shop."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from plugin.storage.models import OutboxMessage, Shop
from plugin.web.api import TEST_EMAILS_PER_HOUR
from plugin.web.staff_address import CONFIRMATIONS_PER_DAY
from tests.support import payloads
from tests.support.clock import T0
from tests.support.session_tokens import session_token
from tests.support.workflows import enable, new_subscriber, outbox

OWNER = "owner@shop.example"  # the shop's own address, from the install
STRANGER = "victim@elsewhere.example"


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {session_token()}"}


@pytest.fixture
def owned(services, shop):  # type: ignore[no-untyped-def]
    with services.sessions() as session, session.begin():
        session.get_one(Shop, shop.id).email = OWNER
    return shop


def set_staff(client, address: str | None):  # type: ignore[no-untyped-def]
    response = client.put("/api/settings", json={"staff_email": address}, headers=auth())
    assert response.status_code == 200, response.json
    return response.json


def ask_for_test_email(client):  # type: ignore[no-untyped-def]
    return client.post("/api/workflows/upsell/test-email", json={}, headers=auth())


def confirmation_links(services) -> list[str]:  # type: ignore[no-untyped-def]
    with services.sessions() as session:
        rows = session.scalars(
            select(OutboxMessage).where(OutboxMessage.workflow == "staff_email_confirm")
        ).all()
    return [
        re.search(
            r'href="https://nudge\.example(/staff-email/confirm/[^"]+)"', row.preview_html or ""
        ).group(1)  # type: ignore[union-attr]
        for row in rows
    ]


def test_a_new_staff_address_gets_only_its_link_until_it_is_confirmed(client, services, owned):
    answer = set_staff(client, STRANGER)
    assert answer["settings"]["staff_email"] == STRANGER  # kept as typed, for the page
    assert answer["staff_email_confirmed"] is False
    assert answer["staff_email_confirmation_sent"] is True
    [link] = confirmation_links(services)
    assert ask_for_test_email(client).json["queued"]["to"] == OWNER  # not the unconfirmed address
    with services.sessions() as session:
        to_stranger = session.scalars(
            select(OutboxMessage.workflow).where(OutboxMessage.to_email == STRANGER)
        ).all()
    assert to_stranger == ["staff_email_confirm"]

    for look in (client.head, client.get):  # a mail scanner's prefetch confirms nothing
        assert look(link).status_code == 200
    assert client.get("/api/settings", headers=auth()).json["staff_email_confirmed"] is False
    assert client.post(link).status_code == 200
    assert client.get("/api/settings", headers=auth()).json["staff_email_confirmed"] is True
    assert ask_for_test_email(client).json["queued"]["to"] == STRANGER


def test_without_an_owner_address_a_test_email_waits_for_the_confirmation(client, shop):
    set_staff(client, STRANGER)
    response = ask_for_test_email(client)
    assert response.status_code == 422
    assert "confirm" in response.json["errors"][0]["message"]


def test_the_owners_own_address_needs_no_link_and_a_link_of_an_old_address_does_nothing(
    client, services, owned
):
    set_staff(client, STRANGER)
    [link] = confirmation_links(services)
    assert set_staff(client, OWNER)["staff_email_confirmed"] is True
    assert len(confirmation_links(services)) == 1  # none for the owner's own
    assert client.post(link).status_code == 404  # the address it confirms is no longer set
    assert ask_for_test_email(client).json["queued"]["to"] == OWNER


def test_staff_alerts_skip_an_unconfirmed_address(client, send_webhook, services, owned, at):
    enable(services, "sales_rep_alert")
    set_staff(client, STRANGER)
    new_subscriber(send_webhook, T0)
    send_webhook("checkouts/create", payloads.checkout("big", T0, price="450.00"))
    at(T0 + timedelta(hours=1, minutes=5))
    [alert] = outbox(services, "sales_rep_alert")
    assert alert.to_email == OWNER


def test_confirmation_links_are_limited_per_shop(client, services, owned):
    for address in ["a@elsewhere.example", "b@elsewhere.example", "a@elsewhere.example"] + [
        f"staff{n}@elsewhere.example" for n in range(2)
    ]:  # the same address again, at the same moment, is one more link
        set_staff(client, address)
    assert len(confirmation_links(services)) == CONFIRMATIONS_PER_DAY


def test_test_emails_are_limited_per_shop_per_hour(client, services, owned, clock):
    for _ in range(TEST_EMAILS_PER_HOUR):
        assert ask_for_test_email(client).status_code == 200
    refused = ask_for_test_email(client)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert f"at most {TEST_EMAILS_PER_HOUR} an hour" in refused.json["error"]
    clock.now += timedelta(hours=1, seconds=1)
    assert ask_for_test_email(client).status_code == 200
