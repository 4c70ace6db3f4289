"""Storefront browsing as facts: high-intent page views and large carts left open.

The storefront script records page views (plugin.storefront.routes); the sales-rep alert's sweep
finds customers here, and the step that alerts is judged on ``Browsing`` loaded here.
Page paths are compared lowercase, as prefixes of the merchant's high-intent pages.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, false, func, or_, select
from sqlalchemy.orm import Session

from plugin.storage.models import CheckoutRow, PageView
from rules.definitions import Workflow
from rules.facts import Browsing, PageVisit

BROWSING_VARIABLES = ("high_intent_page_views", "abandoned_cart_total")
RECENT_PAGES = 10

_needs: dict[int, tuple[Workflow, bool]] = {}


def needs_browsing(workflow: Workflow) -> bool:
    """Whether a workflow's steps look at browsing (so the facts are worth loading)."""
    known = _needs.get(id(workflow))
    if known is None or known[0] is not workflow:
        text = repr([step.conditions for step in workflow.steps])
        uses = workflow.trigger.sweep == "high_intent" or any(
            name in text for name in BROWSING_VARIABLES
        )
        if len(_needs) > 1024:
            _needs.clear()
        known = _needs[id(workflow)] = (workflow, uses)
    return known[1]


def intent_params(workflow: Workflow) -> dict[str, Any]:
    """The high-intent thresholds, from the sales-rep alert's trigger (with its defaults)."""
    params = workflow.trigger.params
    return {
        "pages": [str(p).strip().lower() for p in params.get("pages") or () if str(p).strip()],
        "page_views": float(params.get("page_views", 3)),
        "window": timedelta(hours=float(params.get("window_hours", 72))),
        "cart_value": Decimal(str(params.get("cart_value", 300))),
        "cart_idle": timedelta(hours=float(params.get("cart_idle_hours", 1))),
    }


def _high_intent_path(pages: list[str]) -> ColumnElement[bool]:
    if not pages:
        return false()
    return or_(*(PageView.path.startswith(page, autoescape=True) for page in pages))


def _open_cart(shop_id: int, params: dict[str, Any], now: datetime) -> list[ColumnElement[bool]]:
    activity = func.coalesce(CheckoutRow.updated_at, CheckoutRow.created_at)
    return [
        CheckoutRow.shop_id == shop_id,
        CheckoutRow.completed_at.is_(None),
        CheckoutRow.customer_external_id.is_not(None),
        CheckoutRow.value >= params["cart_value"],
        activity <= now - params["cart_idle"],
        activity > now - params["window"],
    ]


def intent_customers(
    session: Session,
    shop_id: int,
    workflow: Workflow,
    now: datetime,
    limit: int,
    only: str | None = None,
) -> list[str]:
    """Known customers over a threshold in the window: high-intent views, or a large open cart."""
    params = intent_params(workflow)
    views = (
        select(PageView.customer_external_id)
        .where(
            PageView.shop_id == shop_id,
            PageView.customer_external_id.is_not(None),
            PageView.viewed_at > now - params["window"],
            _high_intent_path(params["pages"]),
        )
        .group_by(PageView.customer_external_id)
        .having(func.count() >= params["page_views"])
        .limit(limit)
    )
    carts = select(CheckoutRow.customer_external_id).where(*_open_cart(shop_id, params, now))
    if only is not None:
        views = views.where(PageView.customer_external_id == only)
        carts = carts.where(CheckoutRow.customer_external_id == only)
    found = dict.fromkeys(c for c in session.scalars(views) if c)
    found.update(dict.fromkeys(c for c in session.scalars(carts.limit(limit)) if c))
    return list(found)[:limit]


def load_browsing(
    session: Session, shop_id: int, customer_id: str, workflow: Workflow, now: datetime
) -> Browsing:
    """What the customer did in the workflow's window: high-intent visits, other pages, carts."""
    params = intent_params(workflow)
    rows = session.scalars(
        select(PageView)
        .where(
            PageView.shop_id == shop_id,
            PageView.customer_external_id == customer_id,
            PageView.viewed_at > now - params["window"],
            PageView.viewed_at <= now,
        )
        .order_by(PageView.viewed_at.desc())
        .limit(500)
    ).all()
    high: list[PageVisit] = []
    recent: list[PageVisit] = []
    for row in rows:
        visit = PageVisit(row.path, row.viewed_at, row.title, row.product_id)
        if any(row.path.startswith(page) for page in params["pages"]):
            high.append(visit)
        elif len(recent) < RECENT_PAGES:
            recent.append(visit)
    cart = session.scalar(
        select(func.max(CheckoutRow.value)).where(
            *_open_cart(shop_id, params, now), CheckoutRow.customer_external_id == customer_id
        )
    )
    return Browsing(tuple(high), tuple(recent), Decimal(cart or 0))
