"""One-click unsubscribe: no login, recorded at once, mirrored to SendGrid's group."""

from __future__ import annotations

import json
from datetime import timedelta

import responses
from sqlalchemy import select

from plugin.pipeline.delivery import deliver_pending
from plugin.pipeline.outbox import unsubscribe_token
from plugin.storage.models import OutboxMessage, Shop, Suppression
from tests.support import payloads
from tests.support.clock import T0
from tests.support.workflows import emails, subscribe

GROUP_URL = "https://sendgrid.test/v3/asm/groups/42/suppressions"


def _link(services, email: str = "ada@example.com") -> str:  # type: ignore[no-untyped-def]
    with services.sessions() as session:
        shop = session.scalars(select(Shop)).one()
    return f"/unsubscribe/{unsubscribe_token(services.settings['SECRET_KEY'], shop.id, email)}"


def test_get_asks_and_one_click_post_unsubscribes_for_good(client, send_webhook, services, at):
    subscribe(send_webhook)
    link = _link(services)
    page = client.get(link)
    assert page.status_code == 200 and b"Unsubscribe" in page.data
    with services.sessions() as session:
        assert (
            session.scalars(select(Suppression)).all() == []
        )  # a link scanner's GET changes nothing
    response = client.post(
        link, data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    assert client.post(link).status_code == 200  # idempotent
    with services.sessions() as session:
        [row] = session.scalars(select(Suppression)).all()
    assert (row.email, row.scope) == ("ada@example.com", "marketing")
    send_webhook("checkouts/create", payloads.checkout("tok-x", T0))
    at(T0)
    at(T0 + timedelta(hours=30))
    assert emails(services) == []


def test_head_unsubscribes_nobody(client, send_webhook, services):
    subscribe(send_webhook)
    assert client.head(_link(services)).status_code == 200  # a mail scanner's prefetch
    with services.sessions() as session:
        assert session.scalars(select(Suppression)).all() == []


def test_forged_link_is_404(client, shop):
    assert client.post("/unsubscribe/forged.token.value").status_code == 404
    assert client.get("/unsubscribe/x").status_code == 404


@responses.activate
def test_mirrored_to_the_shops_sendgrid_group(client, send_webhook, services):
    with services.sessions() as session, session.begin():
        shop_row = session.scalars(select(Shop)).one()
        shop_row.settings = {**shop_row.settings, "asm_group_id": 42}
    subscribe(send_webhook)
    client.post(_link(services))
    services.settings.update(SENDGRID_API_KEY="SG.k", SENDGRID_BASE_URL="https://sendgrid.test")
    responses.post(GROUP_URL, status=201, json={"recipient_emails": ["ada@example.com"]})
    deliver_pending(services, T0 + timedelta(days=1))
    assert json.loads(responses.calls[0].request.body) == {"recipient_emails": ["ada@example.com"]}
    with services.sessions() as session:
        mirror = session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "sendgrid_unsubscribe")
        ).one()
    assert mirror.state == "sent"
