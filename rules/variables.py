"""Rule variables: what conditions can ask about a FactSet.

business-rules has no date type, so time is expressed as numbers (hours/days since...)
computed from ``facts.now``. When a fact is unknown, a variable returns a value chosen
so that the usual condition on it fails safe (no message rather than a wrong one); each
such value is named below. Each variable is computed at most once per evaluation, except
the one-expression ones, which compiled conditions recompute inline where they are used
(cheaper than the cache: rules.compiler).

Every variable is pure and total: it reads only the FactSet, never raises on one, and
returns a value of its type. Compiled conditions rely on that to ask a group's cheap
members first (rules.compiler); a test holds each variable to it on random facts.

Product attributes (types, tags, vendors, collections) come from the catalog by product
id (``FactSet.catalog``): real line items carry none but the vendor. A product the catalog
does not know yet gives the line item's own value when it has one, else nothing: such a
variable's value holds what is known, and names the products it could not read
(a ``CatalogValues``), so a skip's reason says "unknown" and why. Conditions still
compare a plain list — exactly what business-rules compares — so "contains Coffee" fails
on an unknown product and no message goes out on a guess; a condition that must not pass
on an unknown product ("shares no element with Gift") adds the scope's
``…_products_known is true``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from business_rules.variables import (
    BaseVariables,
    boolean_rule_variable,
    numeric_rule_variable,
    select_multiple_rule_variable,
)

from rules.facts import FactSet, LineItem, Product
from rules.reorder import soonest_due

NEVER_DAYS = 36_500.0  # "never happened": longer ago (or further away) than any window
NOT_YET = -1.0  # "has not happened yet": fails any "at least N days since" condition
_NUMBERS = (int, float, Decimal)

TOPIC_TAG = "topic:"  # a customer tag naming a nurture topic, e.g. "topic:skincare"

F = TypeVar("F", bound=Callable[..., Any])


def memoized(func: F) -> F:
    """Compute a variable once per FactVariables instance (business-rules calls it per condition)."""

    @functools.wraps(func)
    def wrapper(self: FactVariables) -> Any:
        cache = self._cache
        if func.__name__ not in cache:
            cache[func.__name__] = func(self)
        return cache[func.__name__]

    return wrapper  # type: ignore[return-value]


def _days(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / 86_400


def _values(items: Iterable[LineItem], attribute: str) -> list[str]:
    found: list[str] = []
    for item in items:
        value = getattr(item, attribute)
        for one in value if isinstance(value, tuple) else (value,):
            if one and one not in found:
                found.append(str(one))
    return found


class CatalogValues(list[str]):
    """A product attribute's values in a set of line items, when some product's value is
    not known: ``unknown`` names those products (not in the catalog yet, and their lines do
    not say). A value with nothing unknown is a plain list."""

    unknown: tuple[str, ...] = ()

    def words(self) -> str:
        """The value in a merchant's words: the known values, then what is unknown and why
        ('[Coffee], unknown for product 42: not in the catalog yet')."""
        ids = self.unknown
        if not ids:
            return "[" + ", ".join(self) + "]"
        if len(ids) > UNKNOWN_NAMED:
            named = f"{', '.join(ids[:UNKNOWN_NAMED])} and {len(ids) - UNKNOWN_NAMED} more"
        else:
            named = " and ".join(filter(None, (", ".join(ids[:-1]), ids[-1])))
        products = f"product {named}" if len(ids) == 1 else f"products {named}"
        if not self:
            verb = "is" if len(ids) == 1 else "are"
            return f"unknown: {products} {verb} not in the catalog yet"
        return "[" + ", ".join(self) + f"], unknown for {products}: not in the catalog yet"


def unknown_products(value: object) -> tuple[str, ...]:
    """The products a variable's value could not read (none for most values)."""
    return value.unknown if type(value) is CatalogValues else ()


UNKNOWN_NAMED = 3  # a reason names at most this many unknown products

# The variables that read the customer's ordered items (FactSet.ordered_items), and all
# those that read the catalog: facts are loaded for them only when a workflow names them
# (a test holds every other variable to not reading them).
HISTORY_PRODUCT_VARIABLES = frozenset(
    {
        "history_product_types",
        "history_product_tags",
        "history_vendors",
        "history_collections",
        "history_products_known",
    }
)
CATALOG_VARIABLES = HISTORY_PRODUCT_VARIABLES | {
    f"{scope}_{name}"
    for scope in ("order", "checkout")
    for name in ("product_types", "product_tags", "vendors", "collections", "products_known")
}


def _catalog_values(
    items: Iterable[LineItem], catalog: Mapping[str, Product], attribute: str
) -> list[str]:
    """An attribute's values over line items: the catalog's for a product it describes,
    else the line's own; a product neither says it of is unknown (``CatalogValues``).
    Loops written out: this runs for every decision that reads a product attribute."""
    found: list[str] = []
    unknown: list[str] | None = None
    get = catalog.get
    for item in items:
        # None when the catalog does not say: no such product, one known only by its
        # deletion (it holds nothing but its id), or an attribute it was not told of
        value = getattr(get(item.product_id), attribute, None)  # type: ignore[arg-type]
        if value is None:  # the line may say
            value = getattr(item, attribute, None)
            if not value:
                product_id = item.product_id
                if product_id is not None:
                    if unknown is None:
                        unknown = [product_id]
                    elif product_id not in unknown:
                        unknown.append(product_id)
                continue
        if type(value) is tuple:
            for one in value:
                if one and one not in found:
                    found.append(one)
        elif value and value not in found:
            found.append(value)
    if unknown is None:
        return found
    values = CatalogValues(found)
    values.unknown = tuple(unknown)
    return values


def _in_catalog(items: Iterable[LineItem], catalog: Mapping[str, Product]) -> bool:
    """Whether the catalog describes every product the line items name."""
    for item in items:
        if item.product_id is not None:
            product = catalog.get(item.product_id)
            if product is None or product.title is None:  # not described: see Product
                return False
    return True


class FactVariables(BaseVariables):
    """Variables over one FactSet (customer, subject checkout/order, history)."""

    def __init__(self, facts: FactSet):
        self.facts = facts
        self._cache: dict[str, Any] = {}

    # --- customer ---------------------------------------------------------------------

    @boolean_rule_variable(label="Has an email address")
    @memoized
    def has_email(self) -> bool:
        return bool(self.facts.customer.email)

    @boolean_rule_variable(label="Accepts marketing email")
    @memoized
    def accepts_marketing(self) -> bool:
        """Unknown consent counts as no consent."""
        return self.facts.customer.accepts_marketing is True

    @boolean_rule_variable(label="Address is suppressed or unsubscribed")
    @memoized
    def suppressed(self) -> bool:
        return self.facts.suppressed

    @select_multiple_rule_variable(label="Customer tags")
    @memoized
    def customer_tags(self) -> list[str]:
        return list(self.facts.customer.tags or ())

    @numeric_rule_variable(label="Orders placed")
    @memoized
    def orders_count(self) -> int:
        known = self.facts.customer.orders_count
        if known is not None and known >= len(self.facts.orders):
            return known  # no count of the history can be higher
        placed = 0
        for order in self.facts.orders:  # plain loops: these run for every decision
            if order.cancelled_at is None:
                placed += 1
        return known if known and known > placed else placed

    @numeric_rule_variable(label="Total spent")
    @memoized
    def total_spent(self) -> Any:
        if self.facts.customer.total_spent is not None:
            return self.facts.customer.total_spent
        return sum((o.value for o in self.facts.orders if o.cancelled_at is None), start=0)

    @numeric_rule_variable(label="Days since the customer was created")
    @memoized
    def days_since_customer_created(self) -> float:
        """Unknown creation date: 0 (a new customer)."""
        created = self.facts.customer.created_at
        return _days(self.facts.now, created) if created else 0.0

    @numeric_rule_variable(label="Days since last order")
    @memoized
    def days_since_last_order(self) -> float:
        """No order ever: NEVER_DAYS."""
        last = self._last_order_at()
        return _days(self.facts.now, last) if last else NEVER_DAYS

    @numeric_rule_variable(label="Days since last email engagement (open or click)")
    @memoized
    def days_since_last_engagement(self) -> float:
        """No engagement ever: NEVER_DAYS."""
        engaged = self.facts.customer.last_engaged_at
        return _days(self.facts.now, engaged) if engaged else NEVER_DAYS

    @numeric_rule_variable(label="Days since last activity (order, engagement or signup)")
    @memoized
    def days_since_last_activity(self) -> float:
        customer = self.facts.customer
        moments = [
            m for m in (self._last_order_at(), customer.last_engaged_at, customer.created_at) if m
        ]
        return _days(self.facts.now, max(moments)) if moments else NEVER_DAYS

    @numeric_rule_variable(label="Days until the expected re-order")
    @memoized
    def days_until_expected_reorder(self) -> float:
        """Negative once the date has passed; no known cycle: NEVER_DAYS.

        The cycle is the merchant's per-product interval when the engine passes one in
        ``facts.extra["reorder_interval_days"]``, else the customer's mean interval.
        """
        override = self.facts.extra.get("reorder_interval_days") if self.facts.extra else None
        interval = float(override) if isinstance(override, _NUMBERS) else None
        interval = interval or self._mean_interval()
        last = self._last_order_at()
        if not interval or last is None:
            return NEVER_DAYS
        return interval - _days(self.facts.now, last)

    @numeric_rule_variable(label="Days until a product the customer re-orders is due again")
    @memoized
    def days_until_product_reorder(self) -> float:
        """The soonest of the customer's products bought on their own rhythm (two orders of
        it at least, or the merchant's interval for it): negative once its date has
        passed; none: NEVER_DAYS."""
        due = soonest_due(self.facts.product_rhythms)
        return (
            NEVER_DAYS if due is None or due.due_at is None else _days(due.due_at, self.facts.now)
        )

    @numeric_rule_variable(label="Days since the last abandonment email")
    @memoized
    def days_since_abandonment_email(self) -> float:
        """None sent: NEVER_DAYS."""
        sent = self.facts.last_abandonment_email_at
        return _days(self.facts.now, sent) if sent else NEVER_DAYS

    @numeric_rule_variable(label="Hours since the last marketing email")
    @memoized
    def hours_since_marketing_email(self) -> float:
        """None sent: NEVER_DAYS in hours."""
        sent = self.facts.last_marketing_email_at
        return _days(self.facts.now, sent) * 24 if sent else NEVER_DAYS * 24

    @numeric_rule_variable(label="Orders placed since this workflow's subject")
    @memoized
    def orders_since_subject(self) -> int:
        """Orders since the subject: how "converted" / "no order since" is expressed.

        Checkout subject: orders for that checkout or cart, or placed after it was created.
        Order subject: other orders placed after it. Customer subject: orders after the
        episode's anchor. An unknown time on either side counts as no order since.
        """
        facts = self.facts
        if not facts.orders:
            return 0
        count = 0
        if facts.checkout is not None:
            checkout, since = facts.checkout, facts.checkout.created_at
            tokens = (checkout.token or None, checkout.cart_token or None)  # blank ties nothing
            for o in facts.orders:
                if (
                    (o.checkout_token is not None and o.checkout_token in tokens)
                    or (o.cart_token is not None and o.cart_token in tokens)
                    or (since is not None and o.created_at is not None and o.created_at >= since)
                ):
                    count += 1
            return count
        if facts.order is not None:
            subject, since = facts.order.id, facts.order.created_at
            if since is None:
                return 0
            for o in facts.orders:
                if o.id != subject and o.created_at is not None and o.created_at > since:
                    count += 1
            return count
        since = facts.anchor_at
        if since is None:
            return 0
        for o in facts.orders:
            if o.created_at is not None and o.created_at > since:
                count += 1
        return count

    # --- checkout ---------------------------------------------------------------------

    @boolean_rule_variable(label="Checkout completed")
    @memoized
    def checkout_completed(self) -> bool:
        """No checkout: True (nothing to recover)."""
        checkout = self.facts.checkout
        return checkout is None or checkout.completed_at is not None

    @numeric_rule_variable(label="Cart value")
    @memoized
    def checkout_value(self) -> Any:
        return self.facts.checkout.value if self.facts.checkout else 0

    @numeric_rule_variable(label="Items in cart")
    @memoized
    def cart_item_count(self) -> int:
        checkout = self.facts.checkout
        return sum(item.quantity for item in checkout.items) if checkout else 0

    @numeric_rule_variable(label="Hours since last checkout activity")
    @memoized
    def hours_since_checkout_activity(self) -> float:
        """No checkout, or no time on it: NEVER_DAYS in hours (fails "active recently")."""
        checkout = self.facts.checkout
        moment = checkout and (checkout.updated_at or checkout.created_at)
        return _days(self.facts.now, moment) * 24 if moment else NEVER_DAYS * 24

    @select_multiple_rule_variable(label="Products in cart")
    @memoized
    def checkout_product_ids(self) -> list[str]:
        return _values(self.facts.checkout.items, "product_id") if self.facts.checkout else []

    @select_multiple_rule_variable(label="Product types in cart")
    @memoized
    def checkout_product_types(self) -> list[str]:
        checkout = self.facts.checkout
        return (
            _catalog_values(checkout.items, self.facts.catalog, "product_type") if checkout else []
        )

    @select_multiple_rule_variable(label="Product tags in cart")
    @memoized
    def checkout_product_tags(self) -> list[str]:
        checkout = self.facts.checkout
        return _catalog_values(checkout.items, self.facts.catalog, "tags") if checkout else []

    @select_multiple_rule_variable(label="Vendors in cart")
    @memoized
    def checkout_vendors(self) -> list[str]:
        checkout = self.facts.checkout
        return _catalog_values(checkout.items, self.facts.catalog, "vendor") if checkout else []

    @select_multiple_rule_variable(label="Collections in cart")
    @memoized
    def checkout_collections(self) -> list[str]:
        checkout = self.facts.checkout
        return (
            _catalog_values(checkout.items, self.facts.catalog, "collections") if checkout else []
        )

    @boolean_rule_variable(label="Every product in the cart is in the catalog")
    @memoized
    def checkout_products_known(self) -> bool:
        """No checkout: True (nothing unknown)."""
        checkout = self.facts.checkout
        return checkout is None or _in_catalog(checkout.items, self.facts.catalog)

    # --- order ------------------------------------------------------------------------

    @numeric_rule_variable(label="Order value")
    @memoized
    def order_value(self) -> Any:
        return self.facts.order.value if self.facts.order else 0

    @select_multiple_rule_variable(label="Products in order")
    @memoized
    def order_product_ids(self) -> list[str]:
        return self._order_values("product_id")

    @select_multiple_rule_variable(label="Product types in order")
    @memoized
    def order_product_types(self) -> list[str]:
        order = self.facts.order
        return _catalog_values(order.items, self.facts.catalog, "product_type") if order else []

    @select_multiple_rule_variable(label="Product tags in order")
    @memoized
    def order_product_tags(self) -> list[str]:
        order = self.facts.order
        return _catalog_values(order.items, self.facts.catalog, "tags") if order else []

    @select_multiple_rule_variable(label="Vendors in order")
    @memoized
    def order_vendors(self) -> list[str]:
        order = self.facts.order
        return _catalog_values(order.items, self.facts.catalog, "vendor") if order else []

    @select_multiple_rule_variable(label="Collections in order")
    @memoized
    def order_collections(self) -> list[str]:
        order = self.facts.order
        return _catalog_values(order.items, self.facts.catalog, "collections") if order else []

    @boolean_rule_variable(label="Every product in the order is in the catalog")
    @memoized
    def order_products_known(self) -> bool:
        """No order: True (nothing unknown)."""
        order = self.facts.order
        return order is None or _in_catalog(order.items, self.facts.catalog)

    @boolean_rule_variable(label="Order cancelled")
    @memoized
    def order_cancelled(self) -> bool:
        """No order: True (fails "not cancelled")."""
        return self.facts.order is None or self.facts.order.cancelled_at is not None

    @boolean_rule_variable(label="Order refunded")
    @memoized
    def order_refunded(self) -> bool:
        """No order: True (fails "not refunded")."""
        return self.facts.order is None or self.facts.order.refunded

    @boolean_rule_variable(label="Order fulfilled")
    @memoized
    def order_fulfilled(self) -> bool:
        return self.facts.order is not None and self.facts.order.fulfilled_at is not None

    @numeric_rule_variable(label="Days since the order was fulfilled")
    @memoized
    def days_since_fulfilled(self) -> float:
        """Not fulfilled: NOT_YET."""
        order = self.facts.order
        if order is None or order.fulfilled_at is None:
            return NOT_YET
        return _days(self.facts.now, order.fulfilled_at)

    @numeric_rule_variable(label="Days since the order was placed")
    @memoized
    def days_since_order(self) -> float:
        """No order: NOT_YET."""
        order = self.facts.order
        if order is None or order.created_at is None:
            return NOT_YET
        return _days(self.facts.now, order.created_at)

    # --- what the customer has ordered (loaded only for workflows that ask) -------------

    @select_multiple_rule_variable(label="Product types the customer has ordered")
    @memoized
    def history_product_types(self) -> list[str]:
        return _catalog_values(self.facts.ordered_items, self.facts.catalog, "product_type")

    @select_multiple_rule_variable(label="Product tags the customer has ordered")
    @memoized
    def history_product_tags(self) -> list[str]:
        return _catalog_values(self.facts.ordered_items, self.facts.catalog, "tags")

    @select_multiple_rule_variable(label="Vendors the customer has ordered from")
    @memoized
    def history_vendors(self) -> list[str]:
        return _catalog_values(self.facts.ordered_items, self.facts.catalog, "vendor")

    @select_multiple_rule_variable(label="Collections the customer has ordered from")
    @memoized
    def history_collections(self) -> list[str]:
        return _catalog_values(self.facts.ordered_items, self.facts.catalog, "collections")

    @boolean_rule_variable(label="Every product the customer has ordered is in the catalog")
    @memoized
    def history_products_known(self) -> bool:
        return _in_catalog(self.facts.ordered_items, self.facts.catalog)

    # --- storefront browsing (loaded only for workflows that look at it) ---------------

    @numeric_rule_variable(label="High-intent page views in the window")
    @memoized
    def high_intent_page_views(self) -> int:
        """Browsing not loaded, or none: 0 (fails "at least N views")."""
        browsing = self.facts.browsing
        return len(browsing.high_intent) if browsing else 0

    @numeric_rule_variable(label="Largest cart abandoned in the window")
    @memoized
    def abandoned_cart_total(self) -> Any:
        """Browsing not loaded, or no open cart: 0 (fails "at least N")."""
        browsing = self.facts.browsing
        return browsing.abandoned_cart_value if browsing else 0

    @select_multiple_rule_variable(label="Topics the customer signed up for")
    @memoized
    def customer_topics(self) -> list[str]:
        """From ``topic:<name>`` tags; storefront signups tag the customer the same way."""
        return [
            tag[len(TOPIC_TAG) :].strip().lower()
            for tag in self.facts.customer.tags or ()
            if tag.lower().startswith(TOPIC_TAG)
        ]

    # --- helpers ----------------------------------------------------------------------

    def _order_values(self, attribute: str) -> list[str]:
        return _values(self.facts.order.items, attribute) if self.facts.order else []

    def _last_order_at(self) -> datetime | None:
        latest = self.facts.customer.last_order_at
        for o in self.facts.orders:
            created = o.created_at
            if o.cancelled_at is None and created is not None:
                if latest is None or created > latest:
                    latest = created
        return latest

    def _mean_interval(self) -> float | None:
        known = self.facts.customer.mean_days_between_orders
        if known:
            return known
        first = last = None
        placed = 0
        for o in self.facts.orders:
            created = o.created_at
            if o.cancelled_at is None and created is not None:
                placed += 1
                if first is None or created < first:
                    first = created
                if last is None or created > last:
                    last = created
        if placed < 2:
            return None
        return _days(last, first) / (placed - 1)  # type: ignore[arg-type]
