"""The catalog in the facts store: product deliveries through the inbox, convergence when
they arrive out of order, deletions, the recommendation model's eligibility, the schema."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from alembic import command
from click.testing import CliRunner
from sqlalchemy import create_engine, inspect, select, text

from plugin.cli import main
from plugin.pipeline.inbox import process_inbox
from plugin.storage import facts_store
from plugin.storage.batch import begin_batch
from plugin.storage.models import CatalogSync, Delivery, ProductRow, Shop
from plugin.storage.schema import alembic_config, head_revision
from rules import events as ev
from rules.events import Event
from rules.facts import Product
from tests.support.clock import T0
from tests.support.recorded import load_fixture

IPOD = json.loads(load_fixture("shopify/products_create.json"))  # a products/create delivery


def product_payload(**changes):  # type: ignore[no-untyped-def]
    return {**IPOD, **changes}


def stored(services) -> dict[str, ProductRow]:  # type: ignore[no-untyped-def]
    with services.sessions() as session:
        return {row.product_id: row for row in session.scalars(select(ProductRow))}


def apply(services, shop_id: int, *events: Event) -> None:  # type: ignore[no-untyped-def]
    with begin_batch(services.sessions) as batch:
        facts_store.prefetch(batch, shop_id, events)
        for event in events:
            facts_store.apply_event(batch, shop_id, event)


def upserted(updated: str, **fields: object) -> Event:
    at = datetime.fromisoformat(updated)
    product = Product(id="7", title="Tea", product_type="Tea", tags=(), updated_at=at)
    return Event(
        ev.PRODUCT_UPSERTED, occurred_at=at, product=Product(**{**_fields(product), **fields})
    )


def _fields(product: Product) -> dict[str, object]:
    return {name: getattr(product, name) for name in Product.__dataclass_fields__}


def test_a_product_delivery_is_kept_whole(send_webhook, services):
    assert send_webhook("products/create", IPOD).status_code == 200
    assert process_inbox(services, T0).processed == 1
    row = stored(services)["632910392"]
    assert (row.title, row.handle, row.product_type, row.vendor) == (
        "IPod Nano - 8GB",
        "ipod-nano",
        "Cult Products",
        "Apple",
    )
    assert row.tags == ["Emotive", "Flash Memory", "MP3", "Music"]
    assert row.variants == [
        {
            "id": "808950810",
            "title": "Pink",
            "sku": "IPOD2008PINK",
            "price": "199.99",
            "compare_at_price": None,
            "available": True,
        }
    ]
    assert (row.price, row.compare_at_price, row.available, row.status) == (
        Decimal("199.99"),
        None,
        True,
        "active",
    )
    assert row.image_url.startswith("https://cdn.shopify.com/")
    assert row.collections is None and row.deleted_at is None  # not in webhooks: not known


def test_the_newest_delivery_wins_and_an_older_one_only_fills_the_unknown(shop, services):
    apply(services, shop.id, upserted("2026-01-02T00:00:00+00:00", product_type="Green tea"))
    apply(
        services,
        shop.id,
        upserted("2026-01-01T00:00:00+00:00", product_type="Tea", collections=("Teas",)),
    )
    row = stored(services)["7"]
    assert (row.product_type, row.collections) == ("Green tea", ["Teas"])
    # a newer delivery may empty what it says: the merchant removed the type
    apply(services, shop.id, upserted("2026-01-03T00:00:00+00:00", product_type=""))
    row = stored(services)["7"]
    assert (row.product_type, row.collections) == ("", ["Teas"])  # collections: not said


def test_a_deletion_stands_against_older_deliveries_and_keeps_what_was_known(shop, services):
    deleted = Event(
        ev.PRODUCT_DELETED,
        occurred_at=datetime(2026, 1, 5, tzinfo=UTC),
        product=Product(id="7", deleted=True),
    )
    apply(services, shop.id, deleted)  # arrives first: a product known only by its deletion
    row = stored(services)["7"]
    assert row.deleted_at is not None and row.title is None
    apply(services, shop.id, upserted("2026-01-02T00:00:00+00:00"))  # older, delivered late
    row = stored(services)["7"]
    assert row.deleted_at == datetime(2026, 1, 5, tzinfo=UTC) and row.product_type == "Tea"


def test_a_deleted_product_still_in_old_orders_keeps_its_type_and_is_never_offered(
    send_webhook, services
):
    send_webhook("products/create", IPOD)
    send_webhook("products/create", product_payload(id=2, title="Cable", status="draft"))
    send_webhook("products/delete", {"id": 632910392})
    process_inbox(services, T0)
    with begin_batch(services.sessions) as batch:
        shop_id = batch.session.scalars(select(Shop.id)).one()
        [ipod] = facts_store.load_products(batch, shop_id, ["632910392"]).values()
    assert ipod.deleted and ipod.product_type == "Cult Products"  # old orders still match
    with services.sessions() as session:
        states = facts_store.product_states(session, shop_id)
    assert set(states) == {"2"}  # the deleted one is not offered at all
    assert states["2"].recommendable is False  # a draft


def test_a_product_webhook_for_an_unknown_shop_is_refused_and_stores_nothing(
    send_webhook, services
):
    response = send_webhook("products/create", IPOD, shop="unknown-shop.myshopify.com")
    assert response.status_code == 401  # as for any topic: the endpoint reveals nothing
    with services.sessions() as session:
        assert session.scalars(select(Delivery)).all() == []


def test_a_malformed_product_is_kept_as_failed_and_the_rest_go_through(send_webhook, services):
    send_webhook("products/update", {"id": "not-a-number", "title": "Broken"})
    send_webhook("products/update", product_payload(variants=[{"id": 1, "price": "free"}]))
    send_webhook("products/create", IPOD)
    stats = process_inbox(services, T0)
    assert (stats.processed, stats.failed) == (1, 2)
    with services.sessions() as session:
        errors = session.scalars(select(Delivery.error).where(Delivery.status == "failed")).all()
    assert all("MalformedPayload" in error for error in errors)
    assert list(stored(services)) == ["632910392"]


def test_an_image_that_is_not_https_is_not_kept(send_webhook, services, caplog):
    caplog.set_level(logging.WARNING, logger="connectors")  # whatever other tests set
    image = {**IPOD["image"], "src": "http://cdn.example/ipod.png"}
    send_webhook("products/create", product_payload(image=image))
    process_inbox(services, T0)
    assert stored(services)["632910392"].image_url is None
    assert "image URL dropped, not an https URL" in caplog.text


def test_products_enroll_no_one(send_webhook, services):
    send_webhook("products/create", IPOD)
    assert process_inbox(services, T0).events == 1
    with services.sessions() as session:
        assert session.execute(text("SELECT count(*) FROM episodes")).scalar() == 0


def test_shop_redact_erases_the_catalog(send_webhook, services, at):
    send_webhook("products/create", IPOD)
    at(T0)
    with services.sessions() as session, session.begin():
        shop_id = session.scalars(select(Shop.id)).one()
        session.add(CatalogSync(shop_id=shop_id, requested_at=T0, products=0, deleted=0))
    send_webhook("shop/redact", {"shop_id": 1, "shop_domain": "test-shop.myshopify.com"})
    at(T0 + timedelta(hours=1))
    with services.sessions() as session:
        assert session.scalars(select(ProductRow)).all() == []
        assert session.scalars(select(CatalogSync)).all() == []


def test_db_upgrade_adds_the_catalog_to_an_existing_database(database_url, monkeypatch):
    url = database_url
    engine = create_engine(url)
    config = alembic_config(url)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0004")
        conn.execute(
            text(
                "INSERT INTO shops (domain, platform, settings, active, created_at) "
                "VALUES ('old.myshopify.com', 'shopify', '{}', true, '2026-01-01')"
            )
        )
    assert "products" not in inspect(engine).get_table_names()
    monkeypatch.setenv("NUDGE_DATABASE_URL", url)
    result = CliRunner().invoke(main, ["db", "upgrade"], catch_exceptions=False)
    assert result.exit_code == 0 and f"at revision {head_revision()}" in result.output
    tables = inspect(engine).get_table_names()
    assert {"products", "catalog_syncs"} <= set(tables)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT domain FROM shops")).scalars().all() == [
            "old.myshopify.com"
        ]
    engine.dispose()


@pytest.fixture
def woo_shop(services):  # type: ignore[no-untyped-def]
    with services.sessions() as session, session.begin():
        session.add(
            Shop(
                domain="woo.example.com", platform="woocommerce", webhook_secret="woo", settings={}
            )
        )


def test_woocommerce_product_deliveries_keep_the_catalog(client, woo_shop, services):
    from connectors import woocommerce

    def post(topic: str, body: bytes, delivery: str):  # type: ignore[no-untyped-def]
        return client.post(
            "/webhooks/woocommerce/woo.example.com",
            data=body,
            headers={
                "X-WC-Webhook-Topic": topic,
                "X-WC-Webhook-Signature": woocommerce.sign(body, "woo"),
                "X-WC-Webhook-Delivery-ID": delivery,
            },
        )

    created = load_fixture("woocommerce/product_created.json")
    assert post("product.created", created, "p-1").status_code == 200
    assert post("product.deleted", b'{"id": 794}', "p-2").status_code == 200
    process_inbox(services)
    row = stored(services)["794"]
    assert (row.product_type, row.collections, row.deleted_at is not None) == (
        "Clothing",
        ["Clothing", "T-shirts"],
        True,
    )
    # taken out of the trash after its deletion (dated when it arrived: the test clock)
    restored = {**json.loads(created), "date_modified_gmt": "2026-03-05T10:00:00", "name": "II"}
    assert post("product.restored", json.dumps(restored).encode(), "p-3").status_code == 200
    process_inbox(services)
    row = stored(services)["794"]
    assert (row.title, row.deleted_at) == ("II", None)
