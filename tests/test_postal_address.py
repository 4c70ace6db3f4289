"""CAN-SPAM: marketing email shows the shop's postal address; a shop without one has its
marketing email held (transactional email still goes) and is told so on the page."""

from __future__ import annotations

from datetime import timedelta

import pytest
import responses
from click.testing import CliRunner
from sqlalchemy import select

from plugin.cli import main
from plugin.emails.render import render_email
from plugin.pipeline.held import HELD_REASON
from plugin.shop_settings.workflows import save_workflow, shop_workflows
from plugin.shopify_app.install import profile_address
from plugin.shopify_app.manifest import load
from plugin.storage.models import Episode, Shop, Step
from rules.validation import postal_address_error
from tests.support import payloads
from tests.support.clock import T0
from tests.support.fake_shopify import FakeAdmin, grant, token_endpoint
from tests.support.session_tokens import session_token
from tests.support.shop import SHOP_ADDRESS
from tests.support.workflows import emails, subscribe

NEW_ADDRESS = "5 Quay Street, Bristol, BS1 4DJ, United Kingdom"


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {session_token()}"}


def without_address(services) -> None:  # type: ignore[no-untyped-def]
    with services.sessions() as session, session.begin():
        row = session.scalars(select(Shop)).one()
        row.settings = {k: v for k, v in row.settings.items() if k != "postal_address"}


def step_of(services, workflow: str, step_id: str) -> Step:  # type: ignore[no-untyped-def]
    with services.sessions() as session:
        return session.scalars(
            select(Step)
            .join(Episode, Episode.id == Step.episode_id)
            .where(Episode.workflow == workflow, Step.step_id == step_id)
        ).one()


def test_marketing_email_carries_the_address_in_html_and_text(send_webhook, services, at):
    subscribe(send_webhook)
    send_webhook("checkouts/create", payloads.checkout("tok-pa", T0))
    at(T0 + timedelta(hours=4, minutes=1))
    [reminder] = emails(services, "cart_abandonment")
    assert SHOP_ADDRESS in (reminder.preview_html or "")
    assert SHOP_ADDRESS in reminder.params["text"]


def test_without_an_address_marketing_is_held_until_one_is_saved(
    client, send_webhook, services, at
):
    without_address(services)
    subscribe(send_webhook)
    send_webhook("checkouts/create", payloads.checkout("tok-held", T0))
    at(T0 + timedelta(hours=4, minutes=1))
    assert emails(services) == []
    held = step_of(services, "cart_abandonment", "reminder")
    assert (held.state, held.reason) == ("pending", HELD_REASON)
    assert held.due_at > T0 + timedelta(hours=10)  # looked at again later, not every pass

    answer = client.get("/api/settings", headers=auth()).json
    assert answer["held_for_postal_address"] == 1
    [warning] = [w for w in answer["warnings"] if w["setting"] == "postal_address"]
    assert "held" in warning["message"] and "1 waiting" in warning["message"]

    saved = client.put("/api/settings", json={"postal_address": NEW_ADDRESS}, headers=auth())
    assert saved.status_code == 200 and saved.json["released_for_postal_address"] == 1
    at(T0 + timedelta(hours=4, minutes=2))
    [reminder] = emails(services, "cart_abandonment")
    assert NEW_ADDRESS in (reminder.preview_html or "")
    answer = client.get("/api/settings", headers=auth()).json
    assert answer["held_for_postal_address"] is None
    assert "postal_address" not in [w["setting"] for w in answer["warnings"]]


def test_without_an_address_transactional_email_still_goes(send_webhook, services, at):
    without_address(services)
    with services.sessions() as session, session.begin():
        shop_id = session.scalars(select(Shop.id)).one()
        definition = dict(shop_workflows(session, shop_id)["feedback_request"].definition)
        definition["category"] = "transactional"
        save_workflow(session, shop_id, definition, confirm_transactional=True)
    subscribe(send_webhook)
    fulfilled = T0 + timedelta(days=2)
    send_webhook("orders/create", payloads.order(6101, T0))
    send_webhook("orders/fulfilled", payloads.order(6101, T0, fulfilled_at=fulfilled))
    at(fulfilled + timedelta(days=7, minutes=1))
    assert [m.template for m in emails(services, "feedback_request")] == ["feedback_request"]


@pytest.mark.parametrize(
    "value",
    [
        "Portland",  # no street or country
        "12 Harbour Street, Portland",  # no country
        "12 Harbour Street,\nPortland, USA",  # two lines
        "x, " * 150,  # too long
        {"street": "12 Harbour Street"},  # not text
    ],
)
def test_the_settings_refuse_what_is_not_a_postal_address(client, shop, services, value):
    response = client.put("/api/settings", json={"postal_address": value}, headers=auth())
    assert response.status_code == 422
    assert [e["path"] for e in response.json["errors"]] == ["postal_address"]
    with services.sessions() as session:
        assert session.scalars(select(Shop)).one().settings["postal_address"] == SHOP_ADDRESS


def test_an_address_check_accepts_street_city_country():
    assert postal_address_error(NEW_ADDRESS) is None
    assert postal_address_error(None) is None  # not set: allowed, and marketing is held


def test_shop_add_takes_an_address_and_stays_valid_without_one(services, monkeypatch):
    monkeypatch.setenv("NUDGE_DATABASE_URL", services.settings["DATABASE_URL"])
    monkeypatch.setenv("NUDGE_SECRET_KEY", services.settings["SECRET_KEY"])
    bare = CliRunner().invoke(main, ["shop", "add", "bare.myshopify.com"])
    assert bare.exit_code == 0, bare.output
    assert "no postal address" in bare.output and "held" in bare.output
    added = CliRunner().invoke(
        main, ["shop", "add", "addr.myshopify.com", "--address", f"  {NEW_ADDRESS} "]
    )
    assert added.exit_code == 0, added.output
    refused = CliRunner().invoke(main, ["shop", "add", "bad.myshopify.com", "--address", "Paris"])
    assert refused.exit_code == 2 and "--address" in refused.output
    with services.sessions() as session:
        settings = {d: s for d, s in session.execute(select(Shop.domain, Shop.settings))}
    assert "postal_address" not in settings["bare.myshopify.com"]
    assert settings["addr.myshopify.com"]["postal_address"] == NEW_ADDRESS
    assert "bad.myshopify.com" not in settings


@responses.activate
def test_install_takes_the_address_from_the_shop_profile(client, services):
    domain = "profile-shop.myshopify.com"
    FakeAdmin(responses, domain)
    responses.post(token_endpoint(domain), json=grant())
    token = session_token(domain)
    response = client.post("/auth/session", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    with services.sessions() as session:
        row = session.scalars(select(Shop).where(Shop.domain == domain)).one()
    expected = "77 Mill Road, Unit 4, Burlington, Vermont 05401, United States"
    assert row.settings["postal_address"] == expected


@responses.activate
def test_a_shop_installed_before_without_an_address_reads_it_when_the_page_opens(client, services):
    """A shop installed before install read the address has a usable token and no address:
    the page's next open reads the profile with that token, and exchanges nothing."""
    domain = "earlier-shop.myshopify.com"
    FakeAdmin(responses, domain)
    every_scope = ",".join(load().scopes)
    exchange = responses.post(token_endpoint(domain), json=grant(scope=every_scope))
    bearer = {"Authorization": f"Bearer {session_token(domain)}"}
    assert client.post("/auth/session", headers=bearer).status_code == 200
    with services.sessions() as session, session.begin():  # as an earlier install left it
        row = session.scalars(select(Shop).where(Shop.domain == domain)).one()
        row.settings = {}
    assert client.post("/auth/session", headers=bearer).status_code == 200
    with services.sessions() as session:
        row = session.scalars(select(Shop).where(Shop.domain == domain)).one()
    assert row.settings["postal_address"].startswith("77 Mill Road")
    assert exchange.call_count == 1


def test_a_profile_address_without_street_city_or_country_is_not_taken():
    assert profile_address({"city": "Burlington", "country": "United States"}) is None
    assert profile_address(None) is None
    full = {"address1": "1 Main St", "city": "Lyon", "zip": "69001", "country": "France"}
    assert profile_address(full) == "1 Main St, Lyon, 69001, France"


def test_the_footer_shows_the_address_only_when_known():
    context = {"shop_name": "Tea Shop", "postal_address": NEW_ADDRESS}
    assert NEW_ADDRESS in render_email("welcome", context).html
    assert NEW_ADDRESS in render_email("welcome", context).text
    assert "Bristol" not in render_email("welcome", {"shop_name": "Tea Shop"}).html
