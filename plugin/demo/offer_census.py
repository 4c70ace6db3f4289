"""Count the discount codes a run gave per customer: how many customers got more than
one, and two within 14 days of each other (what the offer policy is there to prevent)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from itertools import pairwise

from sqlalchemy import select
from sqlalchemy.orm import Session

from plugin.storage.facts_store import NOT_SENT
from plugin.storage.models import OutboxMessage

WINDOW = timedelta(days=14)
CART = "cart_abandonment"


def offer_counts(session: Session) -> dict[str, int]:
    """Customers given codes, those given more than one, and two within 14 days; the same
    for the customers given a cart offer; and those given first-order codes by both the
    welcome series and lead nurturing."""
    given: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for customer, created_at, workflow in session.execute(
        select(
            OutboxMessage.customer_external_id, OutboxMessage.created_at, OutboxMessage.workflow
        ).where(OutboxMessage.kind == "create_discount", OutboxMessage.state.not_in(NOT_SENT))
    ):
        given[customer or ""].append((created_at, workflow))
    cart = {c: codes for c, codes in given.items() if any(w == CART for _, w in codes)}
    return {
        "customers_with_codes": len(given),
        "more_than_one": sum(len(codes) > 1 for codes in given.values()),
        "two_within_14_days": sum(_close(codes) for codes in given.values()),
        "cart_offer_recipients": len(cart),
        "cart_recipients_more_than_one": sum(len(codes) > 1 for codes in cart.values()),
        "cart_recipients_two_within_14_days": sum(_close(codes) for codes in cart.values()),
        "welcome_and_lead_codes": sum(
            {"welcome_series", "lead_nurturing"} <= {w for _, w in codes}
            for codes in given.values()
        ),
    }


def _close(codes: list[tuple[datetime, str]]) -> bool:
    moments = sorted(at for at, _ in codes)
    return any(later - earlier < WINDOW for earlier, later in pairwise(moments))


if __name__ == "__main__":  # python -m plugin.demo.offer_census nudge-demo/nudge.sqlite3
    import json
    import sys

    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{sys.argv[1]}")
    with Session(engine) as session:
        print(json.dumps(offer_counts(session), indent=2))
