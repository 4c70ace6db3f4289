"""Built-in emails: every one renders; merchant text fills placeholders and never executes;
product cards link back with tracking; a cart's lines and total add up."""

from __future__ import annotations

import re
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest

from plugin.emails.designs import DESIGNS
from plugin.emails.render import EDITABLE, FIXED, TEMPLATES, UnknownTemplate, render_email
from rules.email_content import email_params_errors

SHOP_URL = "https://northwind.example"
TRACKING = {
    "utm_source": "nudge",
    "utm_medium": "email",
    "utm_campaign": "upsell",
    "utm_content": "recommend",
    "nudge_t": "signed-token",
}
FULL = {
    "shop_name": "Northwind",
    "first_name": "Ann",
    "customer_email": "ann@example.com",
    "currency": "USD",
    "cart": {
        "items": [{"title": "Beans", "quantity": 2, "price": "12.50"}],
        "total": "25.00",
        "currency": "USD",
    },
    "order": {
        "items": [{"title": "Kettle", "quantity": 1, "price": "48.00"}],
        "total": "48.00",
        "currency": "USD",
    },
    "items": [{"title": "Beans", "quantity": 2, "price": "12.50"}],
    "value": "25.00",
    "recovery_url": f"{SHOP_URL}/recover/1",
    "discount_code": "NUDGE-ABC",
    "discount_percent": 10,
    "discount_expires_at": "March 3",
    "order_name": "#1001",
    "review_url": f"{SHOP_URL}/account/orders",
    "shop_url": SHOP_URL,
    "unsubscribe_url": "https://app.example/unsubscribe/tok",
    "topic": "pour-over",
    "recommendations": [
        {
            "title": "Grinder",
            "url": f"{SHOP_URL}/products/grinder",
            "image_url": "https://cdn.example/grinder.png",
            "price": "30.00",
            "compare_at_price": "40.00",
        }
    ],
    "best_sellers": [{"title": "Filters", "url": f"{SHOP_URL}/products/filters", "price": "6"}],
    "link_params": TRACKING,
}


def links(html: str) -> list[str]:
    return [m.replace("&amp;", "&") for m in re.findall(r'href="([^"]+)"', html)]


def visible_text(html: str) -> str:
    """What a reader sees: no tags, no hidden preheader."""
    body = re.sub(r'(?s)<div style="display:none.*?</div>', "", html.split("<body", 1)[1])
    return re.sub(r"<[^>]+>", " ", body)


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_renders_with_minimal_and_full_context(template):
    minimal = render_email(template, {"shop_name": "Northwind"})
    assert minimal.subject and "Northwind" in minimal.html and minimal.text.strip()
    full = render_email(template, FULL)
    if template in FIXED - {"signup_confirm"}:  # to the shop's staff, about the customer
        assert "Hi Ann" not in full.html and "unsubscribe/tok" not in full.html
        assert "staff" in full.text and "ann@example.com" in full.html
    elif template in EDITABLE:
        assert "Hi Ann" in full.html and "Hi Ann" in full.text
        assert "unsubscribe/tok" in full.html and "unsubscribe/tok" in full.text


@pytest.mark.parametrize("template", sorted(EDITABLE))
def test_every_design_passes_the_merchant_checks_and_leaves_no_brace(template):
    design = DESIGNS[template]
    content = {"subject": design.subject, "preheader": design.preheader, "blocks": design.blocks}
    assert email_params_errors({**content, "blocks": list(design.blocks)}, "params") == []
    for context in ({"shop_name": "Northwind"}, FULL):
        rendered = render_email(template, context)
        for part in (
            rendered.subject,
            rendered.preheader,
            rendered.text,
            visible_text(rendered.html),
        ):
            assert "{" not in part and "}" not in part
        assert rendered.preheader in rendered.html


def test_placeholders_fill_subject_preheader_and_every_text_field():
    content = {
        "subject": "{first_name}, your cart at {shop_name} is waiting",
        "preheader": "Use {discount_code} by {discount_expires}",
        "blocks": [
            {"type": "heading", "text": "{discount} off, {first_name}"},
            {"type": "text", "text": "Order {order_name} for {customer_email}"},
            {"type": "button", "label": "Back to {shop_name}", "url": "{cart_url}"},
            {"type": "footer", "text": "About {topic}"},
        ],
    }
    rendered = render_email("cart_offer", FULL, content)
    assert rendered.subject == "Ann, your cart at Northwind is waiting"
    assert rendered.preheader == "Use NUDGE-ABC by March 3"
    for shown in (
        "10% off, Ann",
        "Order #1001 for ann@example.com",
        "Back to Northwind",
        "About pour-over",
    ):
        assert shown in rendered.html and shown in rendered.text
    assert any(link.startswith(f"{SHOP_URL}/recover/1?") for link in links(rendered.html))


def test_the_old_placeholders_work_as_aliases():
    """A subject saved with the earlier placeholders; it once went out with its braces."""
    content = {"subject": "{name}, {percent} off at {shop} for {order} ({customer})"}
    rendered = render_email("cart_offer", FULL, content)
    assert rendered.subject == "Ann, 10% off at Northwind for #1001 (ann@example.com)"


def test_a_missing_value_shows_its_fallback():
    content = {
        "subject": "{first_name}: {first_name|friend}, {discount}, [{order_name}], [{topic|tea}]",
        "blocks": [{"type": "text", "text": "Hi {first_name},"}],
    }
    rendered = render_email("upsell", {"shop_name": "Northwind"}, content)
    assert rendered.subject == "there: friend, a discount, [], [tea]"
    assert "Hi there," in rendered.html
    assert render_email("upsell", {"shop_name": ""}).text.startswith("our shop")


def test_merchant_text_is_escaped_and_never_executed():
    typed = "<script>alert(1)</script> {{ 7*7 }} {% for x in range(3) %}x{% endfor %} {first_name.__class__}"
    content = {
        "subject": typed,
        "blocks": [
            {"type": "text", "text": typed},
            {"type": "heading", "text": "{{ config }} {first_name}"},
        ],
    }
    rendered = render_email("upsell", {**FULL, "first_name": "<b>Ann</b>"}, content)
    literal = "{{ 7*7 }} {% for x in range(3) %}x{% endfor %} {first_name.__class__}"
    assert literal in rendered.subject and "49" not in rendered.subject
    assert "&lt;script&gt;" in rendered.html and "<script>" not in rendered.html
    assert "{{ 7*7 }}" in rendered.html and "xxx" not in rendered.html
    assert "{{ config }}" in rendered.html
    assert literal in rendered.text
    assert "&lt;b&gt;Ann&lt;/b&gt;" in rendered.html  # what a shopper typed, escaped too


def test_product_cards_show_image_title_price_and_a_tracked_link():
    products = [
        *FULL["recommendations"],
        {"title": "Mug", "url": f"{SHOP_URL}/products/mug", "image_url": "http://cdn.example/mug.png", "price": "12.00", "compare_at_price": "10.00"},
        {"title": "Sneaky", "url": "javascript:alert(1)", "image_url": "data:image/png;base64,AAAA", "price": "1"},
        {"title": "", "url": f"{SHOP_URL}/products/untitled", "price": "1"},
    ]  # fmt: skip
    rendered = render_email("upsell", {**FULL, "recommendations": products})
    cards = rendered.html.split('data-block="products"')[1].split("</table>")[0]
    assert '<img src="https://cdn.example/grinder.png" alt="Grinder"' in cards
    assert "$30.00" in cards and "<s" in cards and "$40.00" in cards
    assert "http://cdn.example/mug.png" not in cards  # https images only
    assert "$10.00" not in cards  # a compare-at price below the price is no saving
    assert "javascript:" not in rendered.html and "data:image" not in rendered.html
    assert "untitled" not in rendered.html
    product_links = [link for link in links(cards) if "/products/" in link]
    assert {urlsplit(link).path for link in product_links} == {"/products/grinder", "/products/mug"}
    for link in product_links:
        assert {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()} == TRACKING
    assert "Grinder: $30.00 (was $40.00)" in rendered.text
    assert next(link for link in product_links if "grinder" in link) in rendered.text


def test_a_product_block_with_nothing_to_show_is_left_out():
    content = {"blocks": [{"type": "text", "text": "Hello"}, {"type": "products", "source": "recommendations", "title": "Picked"}, {"type": "discount"}]}  # fmt: skip
    rendered = render_email("upsell", {"shop_name": "Northwind"}, content)
    assert "Picked" not in rendered.html and 'data-block="products"' not in rendered.html
    assert "Your code" not in rendered.html


def test_the_limit_caps_the_cards():
    many = [
        {"title": f"Product {i}", "url": f"{SHOP_URL}/products/{i}", "price": "5"} for i in range(9)
    ]
    content = {"blocks": [{"type": "products", "source": "best_sellers", "limit": 3}]}
    rendered = render_email("winback", {**FULL, "best_sellers": many}, content)
    assert "Product 2" in rendered.html and "Product 3" not in rendered.html


def amounts(text: str) -> dict[str, Decimal]:
    """Each "label: $amount" line of the text version, as numbers (a minus sign included)."""
    found = re.findall(r"^(.+): (\u2212?)\$(\d+\.\d\d)$", text, re.M)
    return {label: Decimal(number) * (-1 if sign else 1) for label, sign, number in found}


def test_line_prices_quantities_and_adjustments_add_up_to_the_total():
    """The issue's order: 2 x $24.00 and a total of $54.90; the line shows $48.00 and the
    $6.90 the facts do not explain is labelled."""
    cart = {"items": [{"title": "Beans", "quantity": 2, "price": "24.00"}], "total": "54.90"}
    rendered = render_email("cart_reminder", {**FULL, "cart": cart})
    lines = rendered.html.split('data-block="lines"')[1].split("</table>")[0]
    assert "2 &times; $24.00" in lines and "$48.00" in lines
    assert "Shipping, taxes and discounts" in lines and "$6.90" in lines
    assert "$54.90" in lines
    shown = amounts(rendered.text)
    assert shown == {
        "2 x Beans at $24.00 each": Decimal("48.00"),
        "Subtotal": Decimal("48.00"),
        "Shipping, taxes and discounts": Decimal("6.90"),
        "Total": Decimal("54.90"),
    }


def test_known_shipping_tax_and_discounts_are_each_labelled():
    cart = {
        "items": [
            {"title": "Beans", "quantity": 3, "price": "10.00"},
            {"title": "Mug", "quantity": 1, "price": "15.00"},
        ],
        "shipping": "4.90",
        "tax": "3.10",
        "discounts": "5.00",
        "total": "50.00",
    }
    shown = amounts(render_email("cart_reminder", {**FULL, "cart": cart}).text)
    assert shown["Subtotal"] == Decimal("45.00")
    assert (shown["Discounts"], shown["Shipping"], shown["Tax"]) == (
        Decimal("-5.00"),
        Decimal("4.90"),
        Decimal("3.10"),
    )
    assert shown["Other charges and discounts"] == Decimal("2.00")
    rows = [v for k, v in shown.items() if k not in ("Total", "Subtotal") and " x " not in k]
    assert shown["Subtotal"] + sum(rows) == shown["Total"] == Decimal("50.00")


def test_lines_beyond_the_limit_are_summed_so_the_column_still_adds_up():
    items = [{"title": f"Tea {i}", "quantity": 2, "price": "3.00"} for i in range(5)]
    content = {"blocks": [{"type": "products", "source": "order_items", "limit": 3}]}
    rendered = render_email(
        "replenishment", {**FULL, "order": {"items": items, "total": "30.00"}}, content
    )
    shown = amounts(rendered.text)
    assert shown["6 more items"] == Decimal("18.00")
    assert (
        shown["2 x Tea 0 at $3.00 each"] + shown["2 x Tea 1 at $3.00 each"] + shown["6 more items"]
        == shown["Total"]
    )
    assert "Tea 2" not in rendered.html


def test_buttons_keep_to_http_links_and_only_the_shops_get_tracking():
    content = {
        "blocks": [
            {"type": "button", "label": "Shop", "url": "{shop_url}/collections/tea"},
            {"type": "button", "label": "Blog", "url": "https://blog.example/post"},
            {"type": "button", "label": "Bad", "url": "javascript:alert(1)"},
        ]
    }
    rendered = render_email("welcome", FULL, content)
    found = links(rendered.html)
    shop = next(link for link in found if link.startswith(f"{SHOP_URL}/collections/tea?"))
    assert parse_qs(urlsplit(shop).query)["nudge_t"] == ["signed-token"]
    assert "https://blog.example/post" in found
    assert "Bad" not in rendered.html and "javascript" not in rendered.html


def test_the_text_version_carries_the_same_content():
    rendered = render_email("cart_offer", FULL)
    for shown in ("Northwind", "A little something for you", "Hi Ann,", "NUDGE-ABC", "valid until March 3", "2 x Beans at $12.50 each: $25.00", "Total: $25.00", "Complete your order: https://northwind.example/recover/1?", "Unsubscribe from marketing emails: https://app.example/unsubscribe/tok"):  # fmt: skip
        assert shown in rendered.text
    assert "<" not in rendered.text


def test_a_text_block_keeps_its_paragraphs_and_line_breaks():
    content = {"blocks": [{"type": "text", "text": "One\ntwo\n\nThree"}]}
    html = render_email("welcome", FULL, content).html
    assert '<p style="margin:0 0 16px;">One<br>\ntwo</p>' in html
    assert '<p style="margin:0 0 16px;">Three</p>' in html


def test_footer_blocks_go_to_the_footer_and_the_unsubscribe_link_stays():
    content = {
        "blocks": [{"type": "footer", "text": "Visit our café"}, {"type": "text", "text": "Hi"}]
    }
    html = render_email("welcome", FULL, content).html
    footer = html.split("background:#f9fafb")[1]
    assert "Visit our café" in footer and "unsubscribe/tok" in footer


def test_unknown_template():
    with pytest.raises(UnknownTemplate):
        render_email("birthday", {"shop_name": "S"})


def test_an_unknown_placeholder_saved_before_the_checks_goes_out_as_typed():
    content = {
        "subject": "Hi {nmae}",
        "blocks": [{"type": "text", "text": "{nmae} and {first_name}"}],
    }
    rendered = render_email("welcome", FULL, content)
    assert rendered.subject == "Hi {nmae}" and "{nmae} and Ann" in rendered.text
