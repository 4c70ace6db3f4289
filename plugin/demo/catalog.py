"""The demo store's products, people and places: a coffee, tea and skincare shop."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, tzinfo
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


def _titled(*titles: str) -> tuple[Product, ...]:
    by_title = {p.title: p for p in PRODUCTS}
    return tuple(by_title[title] for title in titles)


@dataclass(frozen=True)
class Taste:
    """A way of making coffee or tea, or a routine: what its shoppers re-order (staples)
    and what they add to it over time (kit: equipment, accessories, the routine's next step)."""

    name: str
    weight: float
    staples: tuple[Product, ...]
    kit: tuple[Product, ...]
    topic: str | None = None  # what its shoppers ask emails about (a ``topic:<name>`` tag)


TASTES = (
    Taste(
        "espresso",
        0.15,
        _titled("House Espresso 1kg", "Colombia Huila 250g", "Sumatra Mandheling 250g"),
        _titled("Espresso Tamper", "Burr Grinder", "Digital Scale", "Stoneware Mug"),
        "espresso",
    ),
    Taste(
        "pour-over",
        0.14,
        _titled("Ethiopia Yirgacheffe 250g", "Kenya AA 250g", "Guatemala Antigua 250g"),
        _titled("V60 Dripper", "Paper Filters x100", "Pour-over Kettle", "Burr Grinder"),
        "pour-over",
    ),
    Taste(
        "cold-brew",
        0.08,
        _titled("Cold Brew Blend 500g", "Decaf Swiss Water 250g"),
        _titled("French Press 1l", "Travel Tumbler", "Aeropress Go", "Canister 500g"),
        "cold-brew",
    ),
    Taste(
        "green-tea",
        0.09,
        _titled("Sencha Green 100g", "Jasmine Pearls 100g"),
        _titled("Glass Teapot", "Tea Infuser", "Canister 500g"),
        "green-tea",
    ),
    Taste(
        "black-tea",
        0.10,
        _titled("Earl Grey Supreme 100g", "Darjeeling First Flush 100g", "Masala Chai 200g"),
        _titled("Tea Infuser", "Stoneware Mug", "Glass Teapot"),
        "chai",
    ),
    Taste(
        "herbal",
        0.06,
        _titled("Chamomile Calm 50g", "Rooibos Vanilla 100g"),
        _titled("Tea Infuser", "Stoneware Mug"),
    ),
    Taste(
        "skincare",
        0.24,
        _titled("Gentle Cleanser 150ml", "Daily Moisturiser 50ml"),
        _titled(
            "Hydrating Toner 200ml",
            "Vitamin C Serum 30ml",
            "SPF 30 Day Cream 50ml",
            "Night Repair Balm 50ml",
        ),
    ),
    Taste(
        "body-care",
        0.14,
        _titled("Shea Body Lotion 250ml", "Lavender Soap Bar"),
        _titled("Hand Cream 75ml", "Lip Balm Trio"),
    ),
)

# Bought in the same basket: the first brings the second along (the dripper its filters).
GOES_WITH = {
    first.id: second
    for first, second in (
        _titled("V60 Dripper", "Paper Filters x100"),
        _titled("Gentle Cleanser 150ml", "Daily Moisturiser 50ml"),
        _titled("Glass Teapot", "Tea Infuser"),
        _titled("Vitamin C Serum 30ml", "SPF 30 Day Cream 50ml"),
        _titled("Burr Grinder", "Digital Scale"),
        _titled("French Press 1l", "Cold Brew Blend 500g"),
    )
}

# How much more (or less) a product sells in some months: iced coffee in summer, chai and
# hand cream in winter (and what people give as presents in the weeks before the holidays).
_SEASONAL = (
    ("Cold Brew Blend 500g", {5: 1.6, 6: 2.6, 7: 3.0, 8: 2.6, 9: 1.3, 12: 0.4, 1: 0.4, 2: 0.5}),
    ("Travel Tumbler", {5: 1.6, 6: 2.6, 7: 3.0, 8: 2.6, 9: 1.3, 12: 0.4, 1: 0.4, 2: 0.5}),
    ("SPF 30 Day Cream 50ml", {5: 1.5, 6: 2.0, 7: 2.0, 8: 1.6}),
    ("Masala Chai 200g", {6: 0.6, 7: 0.5, 8: 0.6, 11: 1.6, 12: 2.0, 1: 2.0, 2: 1.6}),
    ("Hand Cream 75ml", {6: 0.6, 7: 0.5, 8: 0.6, 11: 1.6, 12: 2.0, 1: 2.0, 2: 1.6}),
    ("Night Repair Balm 50ml", {11: 1.6, 12: 2.0, 1: 2.0, 2: 1.6}),
)
SEASONS = {_titled(title)[0].id: months for title, months in _SEASONAL}
# The storefront's featured collection: shoppers straying from their usual buy from it most.
FEATURED = _titled(
    "House Espresso 1kg",
    "Burr Grinder",
    "Stoneware Mug",
    "Gentle Cleanser 150ml",
    "Cold Brew Blend 500g",
    "Travel Tumbler",
    "Earl Grey Supreme 100g",
    "Hand Cream 75ml",
)
GIFTS = _titled("Stoneware Mug", "Glass Teapot", "Lip Balm Trio", "Canister 500g", "Travel Tumbler")
_GIFT_IDS = frozenset(p.id for p in GIFTS)
GIFT_SEASON = ((11, 15), (12, 24))  # (month, day) to (month, day): shopping for presents


def season_weight(product: Product, day: date) -> float:
    """How much ``product`` sells on ``day`` against an ordinary day."""
    weight = SEASONS.get(product.id, {}).get(day.month, 1.0)
    if product.id in _GIFT_IDS and gift_season(day):
        weight *= 3.0
    return weight


def gift_season(day: date) -> bool:
    """Whether people are buying presents on ``day``."""
    return GIFT_SEASON[0] <= (day.month, day.day) <= GIFT_SEASON[1]


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
