"""The catalog from the Admin API: the first read queued at install and run by the worker
(pages, or a bulk operation across passes), `nudge catalog sync`, products looked up when
an order names them, and product conditions on real payloads. Shopify is mocked at the
network edge."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import responses
from click.testing import CliRunner
from sqlalchemy import select

from connectors import shopify
from plugin.cli import main
from plugin.pipeline.due_steps import run_due
from plugin.pipeline.inbox import process_inbox
from plugin.shop_settings.workflows import save_workflow
from plugin.shopify_app import catalog_sync, tokens
from plugin.storage import facts_store
from plugin.storage.batch import begin_batch
from plugin.storage.models import CatalogSync, ProductRow, Shop, Step
from tests.support import payloads
from tests.support.clock import T0
from tests.support.fake_shopify import (
    FakeAdmin,
    grant,
    product_node,
    throttled,
    token_endpoint,
)
from tests.support.recorded import load_fixture
from tests.support.session_tokens import session_token
from tests.support.shop import SHOP
from tests.support.workflows import emails

NEW_SHOP = "new-shop.myshopify.com"
BULK = catalog_sync.catalog.BULK_ABOVE + 1  # products: read by a bulk operation


@pytest.fixture
def admin(shop, services):  # type: ignore[no-untyped-def]
    """The test shop with an Admin API token, and its Admin API."""
    with services.sessions() as session, session.begin():
        row = session.scalars(select(Shop).where(Shop.domain == SHOP)).one()
        tokens.store_plain(row, "shpat_catalog", tokens.cipher(services))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        yield FakeAdmin(mocked, SHOP)


def products_of(services) -> dict[str, ProductRow]:  # type: ignore[no-untyped-def]
    with services.sessions() as session:
        return {row.product_id: row for row in session.scalars(select(ProductRow))}


def sync_row(services) -> CatalogSync:  # type: ignore[no-untyped-def]
    with services.sessions() as session:
        return session.scalars(select(CatalogSync)).one()


def queue_sync(services) -> None:  # type: ignore[no-untyped-def]
    with services.sessions() as session, session.begin():
        shop_id = session.scalars(select(Shop.id).where(Shop.domain == SHOP)).one()
        catalog_sync.request_sync(session, shop_id, T0)


# --- the first read, queued at install ----------------------------------------------------


@responses.activate
def test_install_queues_a_first_read_that_the_worker_runs(client, services):
    admin = FakeAdmin(responses, NEW_SHOP)
    admin.products = [product_node(n, product_type="Coffee") for n in range(1, 4)]
    responses.post(token_endpoint(NEW_SHOP), json=grant("shpat_first", "shprt_first"))
    response = client.post(
        "/auth/session", headers={"Authorization": f"Bearer {session_token(NEW_SHOP)}"}
    )
    assert response.status_code == 200
    assert sync_row(services).state == "queued"
    assert "productsCount" not in admin.operations()  # the install request did not wait

    process_inbox(services, T0)

    sync = sync_row(services)
    assert (sync.state, sync.method, sync.products) == ("done", "pages", 3)
    assert sorted(products_of(services)) == ["1", "2", "3"]
    assert products_of(services)["1"].collections == []  # the Admin API says: none


def test_a_large_catalog_is_read_by_a_bulk_operation_across_worker_passes(admin, services):
    admin.products = [product_node(n, collections=("All",)) for n in range(1, BULK + 1)]
    queue_sync(services)

    process_inbox(services, T0)  # starts it, and goes on
    assert (sync_row(services).state, admin.downloads) == ("running", 0)
    process_inbox(services, T0 + timedelta(seconds=5))  # too soon to ask again
    assert admin.operations().count("node(") == 0
    process_inbox(services, T0 + timedelta(seconds=31))  # still running
    assert (sync_row(services).state, admin.operations().count("node(")) == ("running", 1)
    process_inbox(services, T0 + timedelta(seconds=62))  # completed: downloaded, recorded

    sync = sync_row(services)
    assert (sync.state, sync.method, sync.products, admin.downloads) == ("done", "bulk", BULK, 1)
    stored = products_of(services)
    assert len(stored) == BULK and stored["7"].collections == ["All"]
    assert [v["id"] for v in stored["7"].variants] == ["700"]


def test_a_complete_read_marks_deleted_what_the_shop_no_longer_has(admin, services):
    admin.products = [product_node(1)]
    gone = {"id": 2, "title": "Gone", "updated_at": "2026-01-01T00:00:00+00:00"}
    changed_meanwhile = {
        "id": 3,
        "title": "New",
        "updated_at": (T0 + timedelta(minutes=1)).isoformat(),
    }
    with services.sessions() as session:
        shop_id = session.scalars(select(Shop.id)).one()
    for payload in (gone, changed_meanwhile):
        catalog_sync.record_events(services, shop_id, shopify.to_events("products/update", payload))

    result = catalog_sync.sync_now(services, _shop(services), T0)

    assert (result.products, result.deleted) == (1, 1)
    stored = products_of(services)
    assert stored["2"].deleted_at == T0 and stored["3"].deleted_at is None
    assert sync_row(services).deleted == 1


def test_a_failed_bulk_operation_fails_the_sync_with_its_reason(admin, services):
    admin.products = [product_node(n) for n in range(1, BULK + 1)]
    admin.bulk_error = "ACCESS_DENIED"
    queue_sync(services)
    process_inbox(services, T0)
    process_inbox(services, T0 + timedelta(minutes=1))
    sync = sync_row(services)
    assert (sync.state, sync.error) == ("failed", "bulk operation FAILED: ACCESS_DENIED")
    assert products_of(services) == {}


def test_an_unreachable_api_leaves_the_sync_to_try_again_later(admin, services):
    admin.products = [product_node(1)]
    queue_sync(services)
    admin.queue(503)
    process_inbox(services, T0)
    sync = sync_row(services)
    assert sync.state == "queued" and "503" in (sync.error or "")
    process_inbox(services, T0 + timedelta(minutes=1))
    assert (sync_row(services).state, list(products_of(services))) == ("done", ["1"])


def test_a_shop_without_a_token_fails_its_sync_saying_why(shop, services):
    queue_sync(services)
    process_inbox(services, T0)
    sync = sync_row(services)
    assert (sync.state, sync.error) == ("failed", f"{SHOP} has no Admin API token")


# --- nudge catalog sync -------------------------------------------------------------------


def test_catalog_sync_reads_the_whole_catalog_now(admin, services, monkeypatch):
    admin.products = [product_node(n) for n in range(1, 26)]
    monkeypatch.setenv("NUDGE_DATABASE_URL", services.settings["DATABASE_URL"])
    monkeypatch.setenv("NUDGE_SECRET_KEY", services.settings["SECRET_KEY"])
    result = CliRunner().invoke(main, ["catalog", "sync", SHOP], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.output == (
        f"{SHOP}: 25 products recorded (read in pages), 0 no longer in the shop marked deleted\n"
    )
    assert len(products_of(services)) == 25 and sync_row(services).state == "done"


def test_catalog_sync_waits_for_a_bulk_operation(admin, services):
    admin.products = [product_node(n) for n in range(1, BULK + 1)]
    admin.bulk_polls = 3
    waited: list[float] = []
    result = catalog_sync.sync_now(services, _shop(services), T0, sleep=waited.append)
    assert (result.method, result.products) == ("bulk", BULK)
    assert waited == [catalog_sync.catalog.POLL_SECONDS] * 2


@pytest.mark.parametrize(
    ("domain", "platform", "said"),
    [
        (SHOP, "shopify", f"{SHOP} has no Admin API token; its catalog cannot be read"),
        ("woo.example.com", "woocommerce", "its products arrive by product webhooks"),
    ],
)
def test_catalog_sync_says_why_a_catalog_cannot_be_read(
    shop, services, monkeypatch, domain, platform, said
):
    with services.sessions() as session, session.begin():
        if platform == "woocommerce":
            session.add(Shop(domain=domain, platform=platform, settings={}))
    monkeypatch.setenv("NUDGE_DATABASE_URL", services.settings["DATABASE_URL"])
    result = CliRunner().invoke(main, ["catalog", "sync", domain])
    assert result.exit_code == 1 and said in result.output


# --- products an order names that the catalog does not know -------------------------------


def test_an_order_naming_unknown_products_has_them_looked_up(admin, services, send_webhook):
    admin.products = [
        product_node(
            632910392, "IPod Nano - 8GB", product_type="Cult Products", collections=("Music",)
        )
    ]
    real_order = json.loads(load_fixture("shopify/orders_partially_fulfilled.json"))
    send_webhook("orders/partially_fulfilled", real_order)
    gone = payloads.order(9001, T0, items=[payloads.line_item(404)])
    send_webhook("orders/create", gone)
    process_inbox(services, T0)

    stored = products_of(services)
    assert stored["632910392"].product_type == "Cult Products"
    assert stored["632910392"].collections == ["Music"]
    assert stored["404"].deleted_at == T0 and stored["404"].title is None  # no such product
    looked_up = [r["variables"]["id"] for r in admin.requests if r["operation"] == "product("]
    assert sorted(looked_up) == ["gid://shopify/Product/404", "gid://shopify/Product/632910392"]

    send_webhook("orders/updated", {**real_order, "updated_at": "2022-01-02T00:00:00-05:00"})
    process_inbox(services, T0 + timedelta(minutes=1))
    assert admin.operations().count("product(") == 2  # known now: not asked again


def test_a_failing_lookup_never_holds_up_the_inbox(admin, services, send_webhook):
    for _ in range(3):
        admin.queue(500)
    send_webhook("orders/create", payloads.order(9001, T0, items=[payloads.line_item(77)]))
    stats = process_inbox(services, T0)
    assert (stats.processed, stats.failed) == (1, 0)
    assert products_of(services) == {}  # still unknown: asked again when an order names it


def test_a_throttled_lookup_waits_for_a_later_order_not_in_the_inbox(
    admin, services, send_webhook, monkeypatch
):
    slept: list[float] = []
    monkeypatch.setattr("connectors.shopify.admin_api.time.sleep", slept.append)
    admin.queue(200, throttled(requested=150, available=0, rate=50))
    send_webhook("orders/create", payloads.order(9001, T0, items=[payloads.line_item(77)]))
    assert process_inbox(services, T0).processed == 1
    assert slept == [] and products_of(services) == {}


def test_shops_without_a_token_are_not_looked_up(shop, services, send_webhook):
    with responses.RequestsMock() as nothing_called:
        send_webhook("orders/create", payloads.order(9001, T0))
        assert process_inbox(services, T0).processed == 1
        assert len(nothing_called.calls) == 0


# --- product conditions on real payloads ----------------------------------------------------


def cult_followup(services) -> None:  # type: ignore[no-untyped-def]
    """A merchant's rule: write to buyers of Cult Products once their order goes out."""
    with services.sessions() as session, session.begin():
        shop_id = session.scalars(select(Shop.id)).one()
        save_workflow(
            session,
            shop_id,
            {
                "name": "cult_followup",
                "title": "Cult products follow-up",
                "category": "transactional",
                "trigger": {"event": "order_fulfilled", "subject": "order"},
                "steps": [
                    {
                        "id": "follow_up",
                        "delay": {"hours": 0},
                        "conditions": {
                            "all": [
                                {
                                    "name": "order_product_types",
                                    "operator": "contains_all",
                                    "value": ["Cult Products"],
                                }
                            ]
                        },
                        "actions": [{"name": "send_email", "params": {"template": "upsell"}}],
                    }
                ],
            },
            enabled=True,
        )


def decided(services) -> tuple[str, str | None]:  # type: ignore[no-untyped-def]
    with services.sessions() as session:
        step = session.scalars(select(Step).where(Step.step_id == "follow_up")).one()
        return step.state, step.reason


def test_a_product_type_condition_matches_a_real_order_once_its_product_is_in_the_catalog(
    send_webhook, services
):
    cult_followup(services)
    send_webhook("products/create", json.loads(load_fixture("shopify/products_create.json")))
    order = json.loads(load_fixture("shopify/orders_partially_fulfilled.json"))
    assert all("product_type" not in item for item in order["line_items"])  # as Shopify sends
    send_webhook("orders/partially_fulfilled", order)
    process_inbox(services, T0)
    run_due(services, T0)
    assert decided(services) == ("fired", "conditions met")
    assert [m.workflow for m in emails(services)] == ["cult_followup"]


def test_the_same_condition_reads_unknown_before_the_product_is_in_the_catalog(
    send_webhook, services
):
    cult_followup(services)
    order = json.loads(load_fixture("shopify/orders_partially_fulfilled.json"))
    send_webhook("orders/partially_fulfilled", order)
    process_inbox(services, T0)
    run_due(services, T0)
    assert decided(services) == (
        "skipped",
        "Product types in order is unknown: product 632910392 is not in the catalog yet "
        "(needs contains all [Cult Products])",
    )


# --- a catalog of 100,000 products -----------------------------------------------------------


def test_a_catalog_of_100k_products_is_read_in_bulk_and_a_decision_reads_only_its_own(
    admin, services
):
    admin.products = [
        product_node(n, product_type="Coffee" if n % 2 else "Tea") for n in range(1, 100_001)
    ]
    result = catalog_sync.sync_now(services, _shop(services), T0, sleep=lambda _s: None)
    assert (result.method, result.products, result.skipped) == ("bulk", 100_000, 0)
    with services.sessions() as session:
        shop_id = session.scalars(select(Shop.id)).one()
        assert len(facts_store.product_states(session, shop_id)) == 100_000
    with begin_batch(services.sessions) as batch:
        found = facts_store.load_products(batch, shop_id, ["99999", "100000"], read_only=True)
    assert {k: p.product_type for k, p in found.items()} == {"99999": "Coffee", "100000": "Tea"}


def _shop(services) -> Shop:  # type: ignore[no-untyped-def]
    with services.sessions() as session:
        row = session.scalars(select(Shop).where(Shop.domain == SHOP)).one()
        session.expunge(row)
    return row
