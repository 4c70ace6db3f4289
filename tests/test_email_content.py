"""A step's email content as merchants write it: placeholders and blocks are checked whole
before a definition is saved, every problem with its JSON path."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from rules.definitions import WorkflowInvalid, parse_workflow, shipped_workflows
from rules.email_content import ALIASES, PLACEHOLDERS, Slot, split_text
from rules.validation import validate_workflow

OFFER = "steps[1].actions[1].params"  # cart_abandonment's offer: a discount, then its email


def offer_with(**params: Any) -> list[str]:
    definition = copy.deepcopy(shipped_workflows()["cart_abandonment"])
    definition["steps"][1]["actions"][1]["params"].update(params)
    return validate_workflow(definition)


def test_an_unknown_placeholder_is_refused_with_its_path_and_a_suggestion():
    blocks = [
        {"type": "heading", "text": "Hello"},
        {"type": "text", "text": "Hi {first_name}"},
        {"type": "text", "text": "Dear {nmae}, see {shop_nmae}"},
    ]
    assert offer_with(blocks=blocks) == [
        f"{OFFER}.blocks[2].text: unknown placeholder {{nmae}} (did you mean {{name}}?)",
        f"{OFFER}.blocks[2].text: unknown placeholder {{shop_nmae}} (did you mean {{shop_name}}?)",
    ]


def test_subject_and_preheader_take_the_same_placeholders():
    assert offer_with(subject="{first_name}, {discount} off", preheader="From {shop_name}") == []
    assert offer_with(subject="{frist_name}, hi", preheader="{cupon}") == [
        f"{OFFER}.subject: unknown placeholder {{frist_name}} (did you mean {{first_name}}?)",
        f"{OFFER}.preheader: unknown placeholder {{cupon}}",
    ]


def test_the_old_subject_placeholders_still_validate():
    subject = " ".join(f"{{{alias}}}" for alias in ALIASES)
    assert offer_with(subject=subject) == []
    assert all(target in PLACEHOLDERS for target in ALIASES.values())


def test_template_syntax_typed_by_a_merchant_is_literal_text_but_doubled_braces_are_pointed_out():
    assert offer_with(subject="50% {{ 7*7 }} {% if x %} {} {first_name|friend}") == []
    assert offer_with(subject="Hi {{first_name}}") == [
        f"{OFFER}.subject: a placeholder takes single braces: {{first_name}}"
    ]


@pytest.mark.parametrize(
    ("block", "error"),
    [
        ({"type": "headng", "text": "x"}, "blocks[0].type: unknown block type 'headng' (did you mean 'heading'?)"),
        ({"text": "x"}, "blocks[0].type: unknown block type 'None'"),
        ({"type": "text", "text": "x", "colour": "red"}, "blocks[0].colour: unknown field for a text block"),
        ({"type": "text", "text": "  "}, "blocks[0].text: must not be empty"),
        ({"type": "text"}, "blocks[0].text: expected text"),
        ({"type": "text", "text": "x" * 5001}, "blocks[0].text: at most 5000 characters"),
        ({"type": "button", "label": "Go", "url": "javascript:alert(1)"}, "blocks[0].url: a link starting with https:// or one of {cart_url}, {reorder_url}, {review_url}, {shop_url}"),
        ({"type": "button", "label": "Go", "url": "{discount_code}"}, "blocks[0].url: a link starting with https:// or one of {cart_url}, {reorder_url}, {review_url}, {shop_url}"),
        ({"type": "button", "label": "", "url": "{shop_url}"}, "blocks[0].label: must not be empty"),
        ({"type": "products", "source": "wishlist"}, "blocks[0].source: one of recommendations, best_sellers, new_arrivals, reorder_items, cart_items, order_items"),
        ({"type": "products", "source": "recommendations", "limit": 40}, "blocks[0].limit: a whole number from 1 to 12"),
        ({"type": "products", "source": "recommendations", "limit": True}, "blocks[0].limit: a whole number from 1 to 12"),
        ("heading", "blocks[0]: expected an object with a 'type'"),
    ],
    ids=lambda value: value if isinstance(value, str) and "blocks" in value else None,
)  # fmt: skip
def test_each_block_is_checked_field_by_field(block, error):
    assert offer_with(blocks=[block]) == [f"{OFFER}.{error}"]


@pytest.mark.parametrize(
    "block",
    [
        {"type": "heading", "text": "Hello {first_name|friend}"},
        {"type": "text", "text": "Line one\nline two\n\nA new paragraph"},
        {"type": "button", "label": "Back to {shop_name}", "url": "{cart_url}"},
        {"type": "button", "label": "Tea", "url": "{shop_url}/collections/tea"},
        {"type": "button", "label": "Code", "url": "https://shop.example/discount/{discount_code}"},
        {"type": "products", "source": "recommendations", "limit": 6, "title": "For {first_name}"},
        {"type": "products", "source": "cart_items"},
        {"type": "discount"},
        {"type": "discount", "text": "{discount} off with"},
        {"type": "footer"},
        {"type": "footer", "text": "Questions? Write to us."},
    ],
)
def test_well_formed_blocks_pass(block):
    assert offer_with(blocks=[block]) == []


def test_blocks_must_be_a_non_empty_list_and_not_too_many():
    remove = "(remove it for the template's own)"
    assert offer_with(blocks=[]) == [f"{OFFER}.blocks: a non-empty list {remove}"]
    assert offer_with(blocks={"type": "text"}) == [f"{OFFER}.blocks: a non-empty list {remove}"]
    too_many = [{"type": "footer"}] * 41
    assert offer_with(blocks=too_many) == [f"{OFFER}.blocks: at most 40"]
    assert offer_with(subject=" ") == [f"{OFFER}.subject: must not be empty {remove}"]
    assert offer_with(subject=7) == [f"{OFFER}.subject: expected text"]


def test_a_definition_with_bad_email_content_does_not_parse():
    definition = copy.deepcopy(shipped_workflows()["upsell"])
    definition["steps"][0]["actions"][0]["params"]["subject"] = "{nope}"
    with pytest.raises(WorkflowInvalid) as refused:
        parse_workflow(definition)
    assert refused.value.errors == [
        "steps[0].actions[0].params.subject: unknown placeholder {nope}"
    ]


def test_a_step_with_blocks_still_decides_and_asks_for_its_email():
    from rules.evaluation import requested_actions

    definition = copy.deepcopy(shipped_workflows()["upsell"])
    blocks = [{"type": "text", "text": "Hi {first_name}"}]
    definition["steps"][0]["actions"][0]["params"].update(blocks=blocks, preheader="P")
    [step] = parse_workflow(definition).steps
    [request] = requested_actions(step)
    assert request.params == {"template": "upsell", "preheader": "P", "blocks": blocks}


def test_text_splits_into_literal_pieces_and_placeholders():
    assert split_text("Hi {first_name|friend}, {{x}} {nmae}!") == [
        "Hi ",
        Slot("first_name", "friend", "{first_name|friend}"),
        ", {{x}} ",
        Slot("nmae", None, "{nmae}"),
        "!",
    ]
    assert Slot("name").canonical == "first_name" and Slot("nmae").canonical is None
