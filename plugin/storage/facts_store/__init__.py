"""The facts store: merge normalized events into rows, and read rows back as rules facts.

- ``merging``: events into customers, checkouts, orders and products (converging whatever
  order deliveries arrive in), engagement and suppressions.
- ``reading``: the rows back as ``rules`` facts, and what a step asks of a customer's
  history.
- ``batch_rows``: the rows a batch looked up by key, read once for it (its prefetches).
- ``catalog``: the shop's products as rules read them (by the ids facts name), what a
  customer ordered, and what the recommendation model may offer.

The rows a transaction merges into are plain records while it runs
(``plugin.storage.fact_rows``), held by its batch (``plugin.storage.batch``).
"""

from plugin.storage.facts_store.batch_rows import chunks, prefetch, prefetch_keys
from plugin.storage.facts_store.catalog import (
    live_products_missing_from,
    load_ordered_items,
    load_products,
    product_fact,
    product_states,
    unknown_product_ids,
)
from plugin.storage.facts_store.merging import apply_event
from plugin.storage.facts_store.reading import (
    GUEST_PREFIX,
    HISTORY_COLUMNS,
    NOT_SENT,
    aware,
    checkout_fact,
    customer_fact,
    customer_timezone,
    find_customer_by_email,
    guest_key,
    is_suppressed,
    last_email_at,
    line_items,
    load_checkout,
    load_customer,
    load_order,
    load_orders,
    normal_email,
    order_fact,
    suppressing_scopes,
    with_queued_emails,
)

__all__ = [
    "GUEST_PREFIX",
    "HISTORY_COLUMNS",
    "NOT_SENT",
    "apply_event",
    "aware",
    "chunks",
    "customer_timezone",
    "find_customer_by_email",
    "guest_key",
    "is_suppressed",
    "last_email_at",
    "line_items",
    "live_products_missing_from",
    "checkout_fact",
    "customer_fact",
    "load_checkout",
    "load_customer",
    "load_order",
    "load_ordered_items",
    "load_orders",
    "load_products",
    "normal_email",
    "order_fact",
    "prefetch",
    "prefetch_keys",
    "product_fact",
    "product_states",
    "suppressing_scopes",
    "unknown_product_ids",
    "with_queued_emails",
]
