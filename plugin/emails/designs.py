"""The built-in emails a workflow step can send, as editable content: a subject, a preheader
and blocks, written with the same placeholders merchants use (``rules.email_content``).

A step's own ``subject``, ``preheader`` or ``blocks`` replace the design's; without them the
step sends the design as it is here, so an improvement here reaches every shop that has not
rewritten that email.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Design:
    """A built-in email's default content."""

    subject: str
    preheader: str
    blocks: tuple[dict[str, Any], ...]


def _text(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def _heading(text: str) -> dict[str, Any]:
    return {"type": "heading", "text": text}


def _button(label: str, url: str = "{shop_url}") -> dict[str, Any]:
    return {"type": "button", "label": label, "url": url}


def _products(source: str, limit: int = 4, title: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "products", "source": source, "limit": limit}
    if title:
        block["title"] = title
    return block


DISCOUNT = {"type": "discount"}
THANKS = {"type": "footer", "text": "Thank you for shopping with {shop_name}."}
READING = {"type": "footer", "text": "Thanks for reading, from all of us at {shop_name}."}


def _hello(body: str) -> dict[str, Any]:
    return _text("Hi {first_name},\n\n" + body)


DESIGNS: dict[str, Design] = {
    "cart_reminder": Design(
        subject="{first_name|Hi}, you left something in your cart",
        preheader="We saved your cart, so you can pick up where you left off.",
        blocks=(
            _heading("Your cart is waiting"),
            _hello(
                "You left a few things in your cart. We saved them for you, so you can "
                "pick up right where you left off."
            ),
            _products("cart_items", limit=6),
            _button("Return to your cart", "{cart_url}"),
            _products("recommendations", limit=3, title="You may also like"),
            READING,
        ),
    ),
    "cart_offer": Design(
        subject="Still thinking it over? Here is {discount} off",
        preheader="Your cart is still waiting, with a little something from us.",
        blocks=(
            _heading("A little something for you"),
            _hello(
                "Your cart is still waiting, and to help you decide, here is {discount} "
                "off your order."
            ),
            DISCOUNT,
            _products("cart_items", limit=6),
            _button("Complete your order", "{cart_url}"),
            _products("recommendations", limit=3, title="You may also like"),
            READING,
        ),
    ),
    "upsell": Design(
        subject="{first_name|Hi}, we picked these for you",
        preheader="Customers who bought what you did also loved these.",
        blocks=(
            _heading("Picked for you"),
            _hello(
                "Thanks again for ordering from {shop_name}. Customers who bought the same "
                "also loved these."
            ),
            _products("recommendations", limit=4),
            _button("See what is new"),
            THANKS,
        ),
    ),
    "replenishment": Design(
        subject="Running low on {reorder_product|what you ordered}? Time to restock",
        preheader="Reorder {reorder_product|what you bought last time} in a few clicks.",
        blocks=(
            _heading("Time to restock?"),
            _hello(
                "By our reckoning you may be running low on {reorder_product|what you ordered "
                "last time}. Restock now so you never run out."
            ),
            _products("reorder_items", limit=1),
            _products("order_items", limit=6, title="Your last order"),
            _button("Reorder now", "{reorder_url}"),
            THANKS,
        ),
    ),
    "feedback_request": Design(
        subject="How was your order {order_name|from us}?",
        preheader="A short review helps other shoppers and helps us do better.",
        blocks=(
            _heading("How did we do?"),
            _hello(
                "Your order arrived about a week ago. How is it working out? A short review "
                "helps other shoppers and helps us do better."
            ),
            _products("order_items", limit=6, title="Your order {order_name}"),
            _button("Leave a review", "{review_url}"),
            THANKS,
        ),
    ),
    "winback": Design(
        subject="We miss you, {first_name|friend}",
        preheader="A lot has changed since your last visit.",
        blocks=(
            _heading("It has been a while"),
            _hello(
                "It has been a while, and we have added a lot since your last visit. "
                "Come and see what is new."
            ),
            _products("best_sellers", limit=4, title="What customers love right now"),
            _products("new_arrivals", limit=4, title="New since your last visit"),
            _button("Visit the shop"),
            THANKS,
        ),
    ),
    "winback_offer": Design(
        subject="A welcome-back gift: {discount} off",
        preheader="Here is something off your next order.",
        blocks=(
            _heading("Welcome back"),
            _hello(
                "We would love to see you again. Here is a welcome-back gift for your next order."
            ),
            DISCOUNT,
            _button("Shop with your code"),
            THANKS,
        ),
    ),
    "stay_subscribed": Design(
        subject="Do you still want to hear from us?",
        preheader="One click keeps you on the list.",
        blocks=(
            _heading("Still interested?"),
            _hello(
                "We have not heard from you in a while. If you would still like our emails, "
                "just click below. If not, no hard feelings: we will stop writing soon."
            ),
            _button("Keep me subscribed"),
            THANKS,
        ),
    ),
    "welcome": Design(
        subject="Welcome to {shop_name}",
        preheader="Thanks for subscribing. Here is what to expect.",
        blocks=(
            _heading("Welcome to {shop_name}"),
            _hello(
                "Thank you for subscribing. We will keep you posted on new arrivals, stories "
                "and the occasional offer, never more than we think is useful."
            ),
            _button("Visit the shop"),
            READING,
        ),
    ),
    "welcome_bestsellers": Design(
        subject="Where to start: our best sellers",
        preheader="The things our customers come back for.",
        blocks=(
            _heading("Where to start"),
            _hello(
                "Not sure where to start? These are the things our customers come back for "
                "again and again."
            ),
            _products("best_sellers", limit=4),
            _button("See the best sellers"),
            READING,
        ),
    ),
    "welcome_offer": Design(
        subject="A welcome gift: {discount} off your first order",
        preheader="The code inside is yours.",
        blocks=(
            _heading("A welcome gift"),
            _hello("A small welcome gift for your first order with us. The code below is yours."),
            DISCOUNT,
            _button("Use my code"),
            READING,
        ),
    ),
    "topic_nurture": Design(
        subject="Getting started with {topic|your topic}",
        preheader="Here is where to begin.",
        blocks=(
            _heading("Getting started with {topic|what interests you}"),
            _hello(
                "You asked to hear from us about {topic|what interests you}. Here is where to begin."
            ),
            _button("Start reading"),
            READING,
        ),
    ),
    "topic_guide": Design(
        subject="Our guide to {topic|getting the most out of it}",
        preheader="What to look for, and what to avoid.",
        blocks=(
            _heading("Our guide to {topic|getting the most out of it}"),
            _hello("What to look for, and what to avoid: our short guide, written by our team."),
            _button("Read the guide"),
            READING,
        ),
    ),
    "topic_picks": Design(
        subject="Our picks for {topic|you}",
        preheader="Chosen by the people who know them best.",
        blocks=(
            _heading("Our picks for {topic|you}"),
            _hello("Our picks, chosen by the people who know them best."),
            _products("best_sellers", limit=4),
            _button("See our picks"),
            READING,
        ),
    ),
    "lead_guide": Design(
        subject="How to choose well",
        preheader="Our short buying guide, written by our team.",
        blocks=(
            _heading("How to choose well"),
            _hello(
                "Choosing well takes a little know-how. Here is our short buying guide, "
                "written by our team."
            ),
            _button("Read the buying guide"),
            READING,
        ),
    ),
    "lead_stories": Design(
        subject="What our customers say",
        preheader="In their own words.",
        blocks=(
            _heading("What our customers say"),
            _hello("What other customers say about us, in their own words."),
            _button("Read their stories"),
            READING,
        ),
    ),
    "lead_offer": Design(
        subject="A gift for your first order: {discount} off",
        preheader="Ready when you are.",
        blocks=(
            _heading("Ready when you are"),
            _hello("Here is {discount} off your first order, whenever you are ready."),
            DISCOUNT,
            _button("Use my code"),
            READING,
        ),
    ),
}


def design_json() -> dict[str, dict[str, Any]]:
    """Every design as the settings page's editor starts from it."""
    return {
        name: {
            "subject": design.subject,
            "preheader": design.preheader,
            "blocks": [dict(block) for block in design.blocks],
        }
        for name, design in DESIGNS.items()
    }
