"""`nudge demo` on a small history: the real endpoint, every workflow acting, previews left."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from statistics import median

from click.testing import CliRunner

from connectors import shopify
from plugin.cli import main
from plugin.demo.catalog import PRODUCTS, gift_season
from plugin.demo.census import purchases
from plugin.demo.history import PAGE_VIEW, describe, generate_history
from plugin.storefront.routes import KINDS, VISITOR
from rules.definitions import shipped_workflows
from rules.recommend import OrderLines

WORKFLOWS = set(shipped_workflows())  # the demo shop runs every one of them


def test_history_is_deterministic_ordered_and_realistic():
    first = list(generate_history(seed=3, customers=300, days=30, storefront=True))
    assert first == list(generate_history(seed=3, customers=300, days=30, storefront=True))
    assert first != list(generate_history(seed=4, customers=300, days=30, storefront=True))
    assert [d.at for d in first] == sorted(d.at for d in first)
    mix = describe(first)
    assert 250 < mix["customers"] <= 300  # some sign up only after the window
    assert mix["abandoned"] > 20 and mix["checkouts_with_email"] > mix["abandoned"]
    assert mix["repeat_buyers"] > 20 and mix["duplicates"] > 0
    assert mix["topic:customers_email_marketing_consent/update"] > 0
    assert 5 < mix["topic_signups"] < 0.2 * mix["consent_subscribed"]  # a share of subscribers
    assert 0 < mix["high_intent_views"] < mix["page_views"] < 100  # a few shoppers' visits
    assert mix["intent_customers"] <= mix["high_intent_views"] / 3
    for delivery in first:
        json.dumps(delivery.payload)
        if delivery.topic == PAGE_VIEW:  # what the storefront script would post
            assert VISITOR.match(delivery.payload["vid"]) and delivery.payload["type"] in KINDS
            assert delivery.payload["path"].startswith("/") and delivery.signed_in_as
            continue
        shopify.to_events(
            delivery.topic, delivery.payload
        )  # every payload is one Shopify could send


def test_storefront_only_adds_to_the_webhook_history():
    """The benchmark replays webhooks only; the storefront's part leaves the rest unchanged."""
    plain = list(generate_history(seed=3, customers=300, days=30))
    both = list(generate_history(seed=3, customers=300, days=30, storefront=True))
    assert not any(d.topic == PAGE_VIEW for d in plain)
    added = [d for d in both if d not in plain]
    assert [d for d in both if d not in added] == plain
    assert {d.topic for d in added} == {
        PAGE_VIEW,
        "customer.tags_added",
        "checkouts/create",
        "checkouts/update",
    }


def test_demo_runs_every_workflow_and_leaves_previews(tmp_path):
    out = tmp_path / "demo"
    result = CliRunner().invoke(
        main,
        ["demo", "--customers", "300", "--days", "30", "--out", str(out)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())  # as printed, but for line wrapping
    assert "webhooks replayed through POST /webhooks/shopify (0 rejected)" in output
    assert "page views posted to POST /storefront/" in output
    assert output.count("(0 rejected)") == 2
    report = json.loads((out / "report.json").read_text())
    assert set(report) == WORKFLOWS  # the demo shop runs those that ship switched off too
    alert = report.pop("sales_rep_alert")  # internal: emails the staff, never the customer
    assert alert["enrolled"] > 0 and alert["emails"] == 0
    assert alert["other_actions"] == alert["enrolled"] - sum(alert["skipped"].values())
    for name, row in report.items():
        assert row["enrolled"] > 0 and row["emails"] > 0, name
    # and why some were not sent (a series for subscribers who have not ordered may skip none)
    for name in WORKFLOWS - {"sales_rep_alert", "lead_nurturing", "topic_nurture"}:
        assert report[name]["skipped"], name
    for name in ("welcome_series", "topic_nurture", "lead_nurturing"):  # until they order
        assert report[name]["exited"] > 0, name
    assert report["cart_abandonment"]["converted"] <= report["cart_abandonment"]["exited"]
    # the emails whose designs show picked products carried them
    for name in ("upsell", "cart_abandonment", "reengagement", "purchase_cycle"):
        assert 0 < report[name]["emails_with_products"] <= report[name]["emails"], name
    upsells = [p.read_text() for p in (out / "previews").glob("upsell-*.html")]
    assert upsells and all("cdn.shopify.com" in html for html in upsells)
    # what the emails brought: the stand-in mailboxes' events credit orders to them, and the
    # cart-abandonment holdout is compared with those who got the reminder
    results = json.loads((out / "results.json").read_text())["workflows"]
    assert results["cart_abandonment"]["delivered"] > 0
    assert results["cart_abandonment"]["revenue"] > 0
    lift = results["cart_abandonment"]["lift"]
    assert lift["holdout"] > 0 and lift["treated"] > lift["holdout"]
    assert "Lift against the holdout group" in output
    previews = list((out / "previews").glob("*.html"))
    assert {p.name.split("-")[0] for p in previews} == WORKFLOWS
    assert all("<html" in p.read_text() for p in previews)
    alerts = [p for p in previews if p.name.startswith("sales_rep_alert-")]
    assert all("/pages/" in p.read_text() or "cart" in p.read_text() for p in alerts)


def bought_by_customer(orders: list[OrderLines]) -> dict[str | None, set[str]]:
    bought: dict[str | None, set[str]] = {}
    for o in orders:
        bought.setdefault(o.customer_id, set()).update(o.product_ids)
    return bought


def product(title: str) -> str:
    return str(next(p.id for p in PRODUCTS if p.title == title))


def test_shoppers_buy_what_goes_with_what_they_have():
    """Complements, in the same basket or a later one: what recommendations learn from."""
    bought = bought_by_customer(purchases(generate_history(seed=5, customers=600, days=60)))
    for first, then in (
        ("House Espresso 1kg", "Espresso Tamper"),  # an espresso drinker's next tool
        ("V60 Dripper", "Paper Filters x100"),
        ("Sencha Green 100g", "Glass Teapot"),
        ("Gentle Cleanser 150ml", "Daily Moisturiser 50ml"),
    ):
        a, b = product(first), product(then)
        with_a = [products for products in bought.values() if a in products]
        without_a = [products for products in bought.values() if a not in products]
        share_with = sum(b in products for products in with_a) / len(with_a)
        share_without = sum(b in products for products in without_a) / len(without_a)
        assert share_with > 3 * share_without, (first, then)


def test_staples_are_reordered_on_their_own_cycles():
    """Coffee runs out in about three weeks, tea in five, skincare in six."""
    gaps: dict[str, list[int]] = {}
    last: dict[tuple[str | None, str], datetime] = {}
    kinds = {str(p.id): p.product_type for p in PRODUCTS}
    for o in purchases(generate_history(seed=5, customers=600, days=60)):
        for p in o.product_ids:
            if (o.customer_id, p) in last:
                gaps.setdefault(kinds[p], []).append((o.placed_at - last[o.customer_id, p]).days)
            last[o.customer_id, p] = o.placed_at
    coffee, tea, skincare = (median(gaps[kind]) for kind in ("Coffee", "Tea", "Skincare"))
    assert coffee < tea < skincare


def test_seasons_shape_what_sells():
    """Cold brew in summer, chai in winter, mugs and teapots before the holidays."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    orders = purchases(generate_history(seed=5, customers=600, days=365, start=start))

    def share(title: str, when) -> float:  # type: ignore[no-untyped-def]
        chosen = [o for o in orders if when(o.placed_at.date())]
        return sum(product(title) in o.product_ids for o in chosen) / len(chosen)

    summer, winter = (lambda d: d.month in (6, 7, 8)), (lambda d: d.month in (1, 2))
    assert share("Cold Brew Blend 500g", summer) > 1.3 * share("Cold Brew Blend 500g", winter)
    assert share("Masala Chai 200g", winter) > 1.3 * share("Masala Chai 200g", summer)
    assert share("Stoneware Mug", gift_season) > 2 * share("Stoneware Mug", lambda d: True)
