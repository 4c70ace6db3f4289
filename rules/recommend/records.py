"""The records recommendations are built from and answered with."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Reason = Literal["also_bought", "best_seller", "new_arrival"]


@dataclass(frozen=True, slots=True)
class OrderLines:
    """The products of one placed order; ``customer_id`` is None for a guest order."""

    customer_id: str | None
    placed_at: datetime
    product_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ProductState:
    """What the catalog says of a product now; a product it does not list is deleted."""

    available: bool = True
    status: str = "active"  # Shopify's product status: active, draft, archived
    created_at: datetime | None = None

    @property
    def recommendable(self) -> bool:
        """Whether an email may show it: published and in stock."""
        return self.available and self.status == "active"


@dataclass(frozen=True, slots=True)
class Recommendation:
    """A product to show, its score, and why: bought with ``because``, selling well, or new."""

    product_id: str
    score: float
    reason: Reason
    because: str | None = None  # the customer's product that contributed most (also_bought)
