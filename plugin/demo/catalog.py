"""The demo store's products, people and places: a coffee, tea and skincare shop."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo
from decimal import Decimal
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil import tz

SHOP_ID = 61_482_093_517
SHOP_TIMEZONE = "America/New_York"  # Shopify stamps payload times in the shop's zone
CURRENCY = "USD"


@dataclass(frozen=True)
class Product:
    """A product of the demo shop; consumables have a typical re-order cycle."""

    id: int
    variant_id: int
    sku: str
    title: str
    price: Decimal
    grams: int
    vendor: str
    product_type: str
    cycle_days: int | None = None


@dataclass(frozen=True)
class Region:
    """Where a shopper lives: their timezone (for time of day) and a postal address."""

    timezone: str
    weight: float
    city: str
    province: str
    province_code: str
    country: str
    country_code: str
    zip: str


# (product type, vendor, re-order cycle in days or None for durables, [(title, price, grams)])
_LINES = (
    (
        "Coffee",
        "Northwind Roasters",
        21,
        (
            ("Ethiopia Yirgacheffe 250g", "16.00", 250),
            ("Colombia Huila 250g", "14.50", 250),
            ("House Espresso 1kg", "42.00", 1000),
            ("Decaf Swiss Water 250g", "15.00", 250),
            ("Guatemala Antigua 250g", "15.50", 250),
            ("Kenya AA 250g", "18.00", 250),
            ("Cold Brew Blend 500g", "24.00", 500),
            ("Sumatra Mandheling 250g", "15.00", 250),
        ),
    ),
    (
        "Tea",
        "Leaf & Kettle",
        35,
        (
            ("Sencha Green 100g", "12.00", 100),
            ("Earl Grey Supreme 100g", "11.00", 100),
            ("Darjeeling First Flush 100g", "19.00", 100),
            ("Chamomile Calm 50g", "9.50", 50),
            ("Masala Chai 200g", "13.00", 200),
            ("Jasmine Pearls 100g", "21.00", 100),
            ("Rooibos Vanilla 100g", "10.00", 100),
        ),
    ),
    (
        "Skincare",
        "Botanica",
        45,
        (
            ("Daily Moisturiser 50ml", "28.00", 90),
            ("Gentle Cleanser 150ml", "19.00", 180),
            ("Vitamin C Serum 30ml", "36.00", 60),
            ("SPF 30 Day Cream 50ml", "31.00", 90),
            ("Night Repair Balm 50ml", "39.00", 90),
            ("Hydrating Toner 200ml", "22.00", 240),
        ),
    ),
    (
        "Body Care",
        "Botanica",
        30,
        (
            ("Hand Cream 75ml", "14.00", 100),
            ("Shea Body Lotion 250ml", "24.00", 300),
            ("Lavender Soap Bar", "8.00", 120),
            ("Lip Balm Trio", "12.00", 40),
        ),
    ),
    (
        "Equipment",
        "Northwind Roasters",
        None,
        (
            ("Burr Grinder", "129.00", 2300),
            ("Pour-over Kettle", "64.00", 900),
            ("V60 Dripper", "24.00", 300),
            ("French Press 1l", "39.00", 700),
            ("Espresso Tamper", "29.00", 400),
            ("Digital Scale", "45.00", 500),
            ("Aeropress Go", "42.00", 400),
        ),
    ),
    (
        "Accessories",
        "Leaf & Kettle",
        None,
        (
            ("Stoneware Mug", "18.00", 350),
            ("Glass Teapot", "34.00", 600),
            ("Tea Infuser", "12.00", 60),
            ("Travel Tumbler", "27.00", 300),
            ("Paper Filters x100", "6.50", 150),
            ("Canister 500g", "21.00", 400),
        ),
    ),
)


def _products() -> tuple[Product, ...]:
    products = []
    for number, (product_type, vendor, cycle, items) in enumerate(_LINES, start=1):
        for position, (title, price, grams) in enumerate(items, start=1):
            product_id = 8_100_000_000_000 + number * 100 + position
            products.append(
                Product(
                    id=product_id,
                    variant_id=44_900_000_000_000 + number * 100 + position,
                    sku=f"{vendor[:2].upper()}-{product_type[:3].upper()}-{position:03d}",
                    title=title,
                    price=Decimal(price),
                    grams=grams,
                    vendor=vendor,
                    product_type=product_type,
                    cycle_days=cycle,
                )
            )
    return tuple(products)


PRODUCTS = _products()
CONSUMABLES = tuple(p for p in PRODUCTS if p.cycle_days)
DURABLES = tuple(p for p in PRODUCTS if not p.cycle_days)

# Topics a shopper can ask emails about (a ``topic:<name>`` customer tag), by product type.
TOPICS = {"Coffee": ("espresso", "pour-over", "cold-brew"), "Tea": ("green-tea", "chai")}

# Storefront pages (path, title): where browsing starts, and the pages that show a
# business buyer's intent (the sales-rep alert's trigger names the same paths).
BROWSE_PAGES = (
    ("/", "Northwind Coffee & Tea"),
    ("/collections/coffee", "Coffee"),
    ("/collections/tea", "Tea"),
    ("/collections/equipment", "Equipment"),
    ("/blogs/journal", "Journal"),
)
HIGH_INTENT_PAGES = (
    ("/pages/wholesale", "Wholesale"),
    ("/pages/pricing", "Volume pricing"),
    ("/pages/contact", "Contact us"),
)
BULK_PRODUCT = next(p for p in PRODUCTS if p.title == "House Espresso 1kg")


def handle(product: Product) -> str:
    """The product's storefront handle: 'House Espresso 1kg' -> 'house-espresso-1kg'."""
    return "-".join("".join(c if c.isalnum() else " " for c in product.title.lower()).split())


FIRST_NAMES = (
    "Ada Grace Alan Edsger Barbara Donald Margaret Ken Radia Tim Frances Linus Anita Guido Hedy "
    "Dennis Katherine John Sophie Niklaus Mary Bjarne Joan Claude Lynn Vint Shafi Whitfield Jean "
    "Leslie Priya Kwame Mei Diego Amara Yuki Omar Ingrid Rafael Zainab"
).split()
LAST_NAMES = (
    "Lovelace Hopper Turing Dijkstra Liskov Knuth Hamilton Thompson Perlman Berners-Lee Allen "
    "Torvalds Borg Rossum Lamarr Ritchie Johnson McCarthy Wilson Wirth Kenwood Stroustrup Clarke "
    "Shannon Conway Cerf Okafor Tanaka Haddad Nakamura Silva Mensah"
).split()

REGIONS = (
    Region("America/New_York", 0.30, "Brooklyn", "New York", "NY", "United States", "US", "11201"),
    Region("America/Chicago", 0.20, "Chicago", "Illinois", "IL", "United States", "US", "60614"),
    Region("America/Denver", 0.08, "Denver", "Colorado", "CO", "United States", "US", "80202"),
    Region("America/Los_Angeles", 0.22, "Portland", "Oregon", "OR", "United States", "US", "97205"),
    Region("America/Toronto", 0.10, "Toronto", "Ontario", "ON", "Canada", "CA", "M5V 2T6"),
    Region("Europe/London", 0.10, "London", "England", "ENG", "United Kingdom", "GB", "EC1V 9LT"),
)


@cache
def zone(name: str) -> tzinfo:
    """The named timezone; dateutil's bundled copy where the system has no tz database."""
    try:
        return ZoneInfo(name)
    except ZoneInfoNotFoundError:
        found = tz.gettz(name)
        if found is None:
            raise
        return found
