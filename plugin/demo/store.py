"""The simulation's state and what it emits: one random source, the window, the deliveries."""

from __future__ import annotations

import base64
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from plugin.demo.catalog import zone
from plugin.demo.realism import HOURLY_WEIGHTS, Realism
from plugin.demo.shoppers import Shopper

PAGE_VIEW = "storefront/page_view"  # not a webhook: the storefront script reports a view

_HOURS = range(24)
_CUMULATIVE_HOURS = [sum(HOURLY_WEIGHTS[: h + 1]) for h in _HOURS]
_ULID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


@dataclass(frozen=True)
class SimulatedDelivery:
    """One webhook as Shopify would send it, arriving at simulated time ``at``.

    Or, with topic ``PAGE_VIEW``, a view the storefront script reports: ``payload`` is the
    script's body but for the visitor token, which only the app can sign, for the customer
    ``signed_in_as`` (logged in to the storefront); ``webhook_id`` is the view's own id.
    """

    at: datetime
    topic: str
    payload: dict[str, Any]
    webhook_id: str
    signed_in_as: int | None = None


class Store:
    """The simulation's state: one random source, the window, and the deliveries so far."""

    def __init__(
        self, seed: int, realism: Realism, start: datetime, days: int, shop: str, first: int = 0
    ):
        self.rng = random.Random(seed)
        self.realism = realism
        self.seed = seed
        self.start, self.days = start, days
        self.end = start + timedelta(days=days)
        self.shop_domain = shop
        self.arrivals: list[tuple[datetime, int, str, dict[str, Any], str, int | None]] = []
        self.orders: list[tuple[datetime, int, list[dict[str, Any]]]] = []
        self._sent = self._views = 0
        self._next_id = 5_400_000_000_000 + first * 100_000  # disjoint ids per cohort
        self.first_order_number = 1001 + first * 10
        # the cart-abandonment holdout the shop runs; None: shoppers never answer reminders
        self.reminder_holdout_percent: float | None = None

    def new_id(self) -> int:
        """A fresh Shopify-like numeric id (one sequence for every kind of object)."""
        self._next_id += self.rng.randint(1, 97)
        return self._next_id

    def token(self) -> str:
        return f"{self.rng.getrandbits(128):032x}"

    def cart_token(self) -> str:
        """A cart token in Shopify's current format: base64 of 'gcp-us-east1:<ULID>'."""
        ulid = "".join(self.rng.choice(_ULID_ALPHABET) for _ in range(26))
        return base64.b64encode(f"gcp-us-east1:{ulid}".encode()).decode()

    def emit(self, at: datetime, topic: str, payload: dict[str, Any], late_by: float = 0) -> None:
        """Queue the delivery of an event that happened at ``at``.

        It arrives a few seconds later, ``late_by`` seconds more when Shopify retried it;
        events from before the window arrive at ``start``, when the app learns the history.
        """
        r = self.realism
        if at < self.start:
            arrival = self.start
        else:
            lag = self.rng.uniform(*r.delivery_lag_seconds) + late_by
            arrival = at + timedelta(seconds=lag)
        self._sent += 1
        webhook_id = str(uuid.uuid5(uuid.NAMESPACE_OID, f"nudge-demo:{self.seed}:{self._sent}"))
        self.arrivals.append((arrival, len(self.arrivals), topic, payload, webhook_id, None))
        if self.rng.random() < r.duplicate_rate:
            again = arrival + timedelta(seconds=self.rng.uniform(*r.duplicate_delay_seconds))
            self.arrivals.append((again, len(self.arrivals), topic, payload, webhook_id, None))

    def view(
        self, at: datetime, s: Shopper, vid: str, page: tuple[str, str], product: int | None
    ) -> None:
        """Queue a page (or product) view the storefront script reports as it happens."""
        self._views += 1
        path, title = page
        body: dict[str, Any] = {"vid": vid, "type": "page_view", "path": path, "title": title}
        if product is not None:
            body.update(type="product_view", product_id=str(product))
        view_id = str(uuid.uuid5(uuid.NAMESPACE_OID, f"nudge-demo:{self.seed}:view:{self._views}"))
        self.arrivals.append((at, len(self.arrivals), PAGE_VIEW, body, view_id, s.id))

    def local_moment(self, day: date, timezone: str) -> datetime:
        """A time on ``day`` when people shop, by the clock of ``timezone``."""
        hour = self.rng.choices(_HOURS, cum_weights=_CUMULATIVE_HOURS)[0]
        minute, second = self.rng.randrange(60), self.rng.randrange(60)
        local = datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=zone(timezone))
        return local.astimezone(UTC)

    def between(self, earliest: datetime, latest: datetime) -> datetime:
        return earliest + (latest - earliest) * self.rng.random()
