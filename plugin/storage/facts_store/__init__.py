"""The facts store: merge normalized events into rows, and read rows back as rules facts.

- ``merging``: events into customers, checkouts and orders (converging whatever order
  deliveries arrive in), engagement and suppressions.
- ``reading``: the rows back as ``rules`` facts, and what a step asks of a customer's
  history.
- ``batch_rows``: the rows a batch looked up by key, read once for it (its prefetches).

The rows a transaction merges into are plain records while it runs
(``plugin.storage.fact_rows``), held by its batch (``plugin.storage.batch``).
"""

from plugin.storage.facts_store.batch_rows import chunks, prefetch, prefetch_keys
from plugin.storage.facts_store.merging import apply_event
from plugin.storage.facts_store.reading import (
    GUEST_PREFIX,
    HISTORY_COLUMNS,
    NOT_SENT,
    aware,
    customer_timezone,
    find_customer_by_email,
    guest_key,
    is_suppressed,
    last_email_at,
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
    "load_checkout",
    "load_customer",
    "load_order",
    "load_orders",
    "normal_email",
    "order_fact",
    "prefetch",
    "prefetch_keys",
    "suppressing_scopes",
    "with_queued_emails",
]
