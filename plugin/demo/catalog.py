"""The demo store's products and people: a coffee, tea and skincare shop."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Product:
    """A product of the demo shop; consumables have a typical re-order cycle."""

    id: int
    title: str
    price: Decimal
    vendor: str
    product_type: str
    cycle_days: int | None = None


def _products() -> tuple[Product, ...]:
    lines = [
        # (type, vendor, cycle, [(title, price)...])
        (
            "Coffee",
            "Northwind Roasters",
            21,
            [
                ("Ethiopia Yirgacheffe 250g", "16.00"),
                ("Colombia Huila 250g", "14.50"),
                ("House Espresso 1kg", "42.00"),
                ("Decaf Swiss Water 250g", "15.00"),
                ("Guatemala Antigua 250g", "15.50"),
                ("Kenya AA 250g", "18.00"),
                ("Cold Brew Blend 500g", "24.00"),
                ("Sumatra Mandheling 250g", "15.00"),
            ],
        ),
        (
            "Tea",
            "Leaf & Kettle",
            35,
            [
                ("Sencha Green 100g", "12.00"),
                ("Earl Grey Supreme 100g", "11.00"),
                ("Darjeeling First Flush 100g", "19.00"),
                ("Chamomile Calm 50g", "9.50"),
                ("Masala Chai 200g", "13.00"),
                ("Jasmine Pearls 100g", "21.00"),
                ("Rooibos Vanilla 100g", "10.00"),
            ],
        ),
        (
            "Skincare",
            "Botanica",
            45,
            [
                ("Daily Moisturiser 50ml", "28.00"),
                ("Gentle Cleanser 150ml", "19.00"),
                ("Vitamin C Serum 30ml", "36.00"),
                ("SPF 30 Day Cream 50ml", "31.00"),
                ("Night Repair Balm 50ml", "39.00"),
                ("Hydrating Toner 200ml", "22.00"),
            ],
        ),
        (
            "Equipment",
            "Northwind Roasters",
            None,
            [
                ("Burr Grinder", "129.00"),
                ("Pour-over Kettle", "64.00"),
                ("V60 Dripper", "24.00"),
                ("French Press 1l", "39.00"),
                ("Espresso Tamper", "29.00"),
                ("Digital Scale", "45.00"),
                ("Aeropress Go", "42.00"),
            ],
        ),
        (
            "Accessories",
            "Leaf & Kettle",
            None,
            [
                ("Stoneware Mug", "18.00"),
                ("Glass Teapot", "34.00"),
                ("Tea Infuser", "12.00"),
                ("Travel Tumbler", "27.00"),
                ("Paper Filters x100", "6.50"),
                ("Canister 500g", "21.00"),
                ("Gift Card", "50.00"),
            ],
        ),
    ]
    products = []
    next_id = 8_100_000_000_001
    for product_type, vendor, cycle, items in lines:
        for title, price in items:
            products.append(Product(next_id, title, Decimal(price), vendor, product_type, cycle))
            next_id += 1
    return tuple(products)


PRODUCTS = _products()
CONSUMABLES = tuple(p for p in PRODUCTS if p.cycle_days)
DURABLES = tuple(p for p in PRODUCTS if not p.cycle_days)

FIRST_NAMES = (
    "Ada Grace Alan Edsger Barbara Donald Margaret Ken Radia Tim Frances Linus Anita Guido Hedy "
    "Dennis Katherine John Sophie Niklaus Mary Bjarne Joan Claude Lynn Vint Shafi Whitfield Jean Leslie"
).split()
LAST_NAMES = (
    "Lovelace Hopper Turing Dijkstra Liskov Knuth Hamilton Thompson Perlman Berners-Lee Allen Torvalds "
    "Borg Rossum Lamarr Ritchie Johnson McCarthy Wilson Wirth Kenwood Stroustrup Clarke Shannon Conway Cerf"
).split()
TIMEZONES = (
    ("America/New_York", -5),
    ("America/Chicago", -6),
    ("America/Los_Angeles", -8),
    ("Europe/London", 0),
    ("America/Toronto", -5),
)
