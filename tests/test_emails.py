"""Built-in email templates: every one renders, escapes what shoppers typed, links out."""

from __future__ import annotations

import pytest

from plugin.emails.render import TEMPLATES, UnknownTemplate, render_email
from plugin.pipeline.outbox import STAFF_TEMPLATES

FULL = {
    "shop_name": "Northwind",
    "first_name": "Ann",
    "items": [{"title": "Beans", "quantity": 2, "price": "12.50"}],
    "value": "25.00",
    "currency": "USD",
    "recovery_url": "https://shop.example/recover/1",
    "discount_code": "NUDGE-ABC",
    "discount_percent": 10,
    "discount_expires_at": "March 3",
    "order_name": "#1001",
    "review_url": "https://shop.example/review",
    "shop_url": "https://shop.example",
    "unsubscribe_url": "https://app.example/unsubscribe/tok",
    "products": [{"title": "Grinder", "url": "https://shop.example/grinder"}],
    "customer_email": "ann@example.com",
}


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_renders_with_minimal_and_full_context(template):
    minimal = render_email(template, {"shop_name": "Northwind"})
    assert minimal.subject and "Northwind" in minimal.html and minimal.text.strip()
    full = render_email(template, FULL)
    if template in STAFF_TEMPLATES:  # to the shop's staff, about the customer
        assert "Hi Ann" not in full.html and "unsubscribe/tok" not in full.html
        assert "staff" in full.text and "ann@example.com" in full.html
    else:
        assert "Hi Ann" in full.html
        assert "unsubscribe/tok" in full.html and "Unsubscribe" in full.text


def test_cart_offer_shows_items_total_and_code():
    rendered = render_email("cart_offer", FULL)
    assert rendered.subject == "Still thinking it over? Here is 10% off"
    for fragment in ("Beans", "$12.50", "$25.00", "NUDGE-ABC", "recover/1"):
        assert fragment in rendered.html


def test_what_shoppers_typed_is_escaped():
    rendered = render_email(
        "cart_reminder",
        {
            "shop_name": "S",
            "first_name": "<script>alert(1)</script>",
            "items": [{"title": "<img src=x>", "quantity": 1, "price": "1"}],
        },
    )
    assert "<script>" not in rendered.html and "<img src=x>" not in rendered.html
    assert "&lt;script&gt;" in rendered.html


def test_unknown_template():
    with pytest.raises(UnknownTemplate):
        render_email("birthday", {"shop_name": "S"})
