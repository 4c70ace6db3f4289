"""A merchant's email content end to end: saved through the API, rendered into the outbox
when the step fires, with the customer's own name, cart and a tracked link back."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from plugin.identity import read_visitor_token
from tests.support import payloads
from tests.support.clock import T0
from tests.support.session_tokens import session_token
from tests.support.workflows import emails, subscribe


def headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {session_token()}"}


def save_reminder(client, **params) -> None:  # type: ignore[no-untyped-def]
    """Save cart_abandonment with the reminder's email params changed."""
    workflow = client.get("/api/workflows/cart_abandonment", headers=headers()).json["workflow"]
    definition = workflow["definition"]
    definition["steps"][0]["actions"][0]["params"].update(params)
    response = client.put(
        "/api/workflows/cart_abandonment", json={"definition": definition}, headers=headers()
    )
    assert response.status_code == 200, response.json


def abandon(send_webhook, at, checkout: dict) -> None:  # type: ignore[no-untyped-def, type-arg]
    subscribe(send_webhook)
    send_webhook("checkouts/create", checkout)
    at(T0 + timedelta(hours=4, minutes=1))


def test_a_custom_subject_goes_out_with_its_placeholders_filled(
    client, shop, send_webhook, at, services
):
    """The issue's subject was sent with its braces."""
    save_reminder(
        client,
        subject="{name}, your cart is waiting",
        preheader="{shop_name} kept it for you",
        blocks=[
            {"type": "heading", "text": "Still thinking, {first_name}?"},
            {"type": "products", "source": "cart_items"},
            {"type": "button", "label": "Back to your cart", "url": "{cart_url}"},
        ],
    )
    abandon(send_webhook, at, payloads.checkout("tok-s", T0))
    [reminder] = emails(services, "cart_abandonment")
    assert reminder.subject == "Ada, your cart is waiting"
    html = reminder.preview_html or ""
    assert "Still thinking, Ada?" in html and "Still thinking, Ada?" in reminder.params["text"]
    assert "test-shop.myshopify.com kept it for you" in html
    assert "You left a few things" not in html  # the merchant's blocks replace the design's
    assert "blocks" not in reminder.params  # the rendered email is what is kept
    assert reminder.params["context"]["preheader"] == "test-shop.myshopify.com kept it for you"


def test_links_back_to_the_shop_carry_utm_parameters_and_the_customers_signed_token(
    client, shop, send_webhook, at, services
):
    abandon(send_webhook, at, payloads.checkout("tok-l", T0))
    [reminder] = emails(services, "cart_abandonment")
    link = next(
        href.replace("&amp;", "&")
        for href in re.findall(r'href="([^"]+)"', reminder.preview_html or "")
        if "/checkouts/tok-l/recover" in href
    )
    query = {key: values[0] for key, values in parse_qs(urlsplit(link).query).items()}
    assert query.pop("nudge_t") and query == {
        "utm_source": "nudge",
        "utm_medium": "email",
        "utm_campaign": "cart_abandonment",
        "utm_content": "reminder",
    }
    token = parse_qs(urlsplit(link).query)["nudge_t"][0]
    assert read_visitor_token("test-secret-key-0123456789abcdef", token, shop.id) == "501"


def test_the_carts_lines_add_up_to_its_total_and_the_rest_is_labelled(
    client, shop, send_webhook, at, services
):
    checkout = payloads.checkout("tok-t", T0, price="54.90")
    checkout["line_items"] = [payloads.line_item(111, price="24.00", quantity=2, title="Beans")]
    abandon(send_webhook, at, checkout)
    [reminder] = emails(services, "cart_abandonment")
    text = reminder.params["text"]
    for line in (
        "2 x Beans at $24.00 each: $48.00",
        "Subtotal: $48.00",
        "Shipping, taxes and discounts: $6.90",
        "Total: $54.90",
    ):
        assert line in text
    assert "2 &times; $24.00" in (reminder.preview_html or "")


def test_a_sendgrid_dynamic_template_still_gets_its_context_and_a_rendered_subject(
    client, shop, send_webhook, at, services
):
    template_id = "d-" + "0123456789abcdef" * 2
    save_reminder(client, template_id=template_id, subject="For {first_name}")
    abandon(send_webhook, at, payloads.checkout("tok-d", T0))
    [reminder] = emails(services, "cart_abandonment")
    assert reminder.params["template_id"] == template_id
    assert reminder.subject == "For Ada"
    context = reminder.params["context"]
    assert context["first_name"] == "Ada" and context["cart"]["total"] == "60.00"
    assert context["link_params"]["utm_campaign"] == "cart_abandonment"
