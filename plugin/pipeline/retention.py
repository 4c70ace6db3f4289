"""Retention: raw webhook bodies and storefront page views are deleted once they are old.

A delivery's raw body is kept so that a failed one can be applied again by hand; once it
has been applied (``processed``) or set aside as a topic Nudge does not read
(``ignored``) it is only personal data waiting to leak, so it goes after
``NUDGE_RETAIN_WEBHOOK_DAYS`` (30 by default, far beyond the 48 hours in which Shopify
repeats a delivery). A ``pending`` or ``failed`` delivery is never purged: it still has
to be applied. Page views go after ``NUDGE_RETAIN_PAGE_VIEWS_DAYS`` (90): the workflows
read a few days of browsing at most. The facts drawn from either (customers, orders,
consent, engagement) stay.

Rows are deleted a batch at a time, each batch its own short transaction, so a purge of a
large backlog never holds the database's writer for long.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select

from plugin.services import Services
from plugin.storage.models import Delivery, PageView

log = logging.getLogger(__name__)

SETTLED = ("processed", "ignored")  # applied, or nothing in it Nudge reads
BATCH = 2000


@dataclass
class Purged:
    """What one purge deleted."""

    deliveries: int = 0
    page_views: int = 0


def purge(services: Services, now: datetime, batch: int = BATCH) -> Purged:
    """Delete settled deliveries and page views older than their retention periods."""
    settings = services.settings
    webhook_cutoff = now - timedelta(days=int(settings["RETAIN_WEBHOOK_DAYS"]))
    views_cutoff = now - timedelta(days=int(settings["RETAIN_PAGE_VIEWS_DAYS"]))
    old_deliveries = select(Delivery.id).where(
        Delivery.status.in_(SETTLED), Delivery.received_at < webhook_cutoff
    )
    old_views = select(PageView.id).where(PageView.viewed_at < views_cutoff)
    result = Purged(
        deliveries=_delete_in_batches(services, Delivery, old_deliveries, batch),
        page_views=_delete_in_batches(services, PageView, old_views, batch),
    )
    if result.deliveries or result.page_views:
        log.info(
            "retention: deleted %d webhook bodies and %d page views",
            result.deliveries,
            result.page_views,
        )
    return result


def _delete_in_batches(services: Services, model: Any, ids: Any, batch: int) -> int:
    total = 0
    while True:
        with services.engine.begin() as connection:
            chosen = connection.execute(ids.order_by(model.id).limit(batch)).scalars().all()
            if not chosen:
                return total
            result = connection.execute(delete(model).where(model.id.in_(chosen)))
            total += cast("CursorResult[Any]", result).rowcount or 0
        if len(chosen) < batch:
            return total
