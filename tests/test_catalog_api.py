"""Reading a shop's catalog from the Admin GraphQL API: one product, pages for a small
catalog, a bulk operation for a large one. Shopify is mocked at the network edge."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import responses

from connectors.shopify import catalog
from connectors.shopify.admin_api import AdminApiError, AdminClient
from tests.support.fake_shopify import API_VERSION, FakeAdmin, product_node, throttled

SHOP = "catalog-shop.myshopify.com"


class Sleeps(list):
    """Records each requested sleep instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client(sleep: Sleeps | None = None) -> AdminClient:
    return AdminClient(SHOP, "shpat_x", API_VERSION, sleep=sleep if sleep is not None else Sleeps())


def products(count: int) -> list[dict]:  # type: ignore[type-arg]
    return [
        product_node(n, f"Product {n}", product_type="Coffee" if n % 2 else "Tea")
        for n in range(1, count + 1)
    ]


@responses.activate
def test_one_product_with_its_variants_and_collections():
    admin = FakeAdmin(responses, SHOP)
    admin.products = [
        product_node(
            42,
            "Espresso",
            product_type="Coffee",
            vendor="Northwind",
            tags=("dark", "beans"),
            collections=("Best sellers", "Coffee"),
            prices=("12.00", "9.50"),
            image_url="https://cdn.shopify.com/espresso.png",
        )
    ]
    product = catalog.fetch_product(client(), "42")
    assert product is not None
    assert (product.id, product.title, product.product_type, product.vendor) == (
        "42",
        "Espresso",
        "Coffee",
        "Northwind",
    )
    assert product.tags == ("dark", "beans")
    assert product.collections == ("Best sellers", "Coffee")
    assert [v.id for v in product.variants] == ["4200", "4201"]
    assert product.price == Decimal("9.50")  # the cheapest variant's
    assert (product.available, product.status) == (True, "active")
    assert product.image_url == "https://cdn.shopify.com/espresso.png"
    assert product.url == "https://shop.example/products/product-42"
    [request] = admin.requests
    assert request["variables"] == {"id": "gid://shopify/Product/42"}


@responses.activate
def test_a_product_the_shop_does_not_have_is_none():
    FakeAdmin(responses, SHOP)
    assert catalog.fetch_product(client(), "404") is None


@responses.activate
def test_a_small_catalog_is_read_in_pages():
    admin = FakeAdmin(responses, SHOP)
    admin.products = products(45)
    read = catalog.read_catalog(client())
    found = list(read.products)
    assert read.method == "pages" and read.complete and read.skipped == 0
    assert [p.id for p in found] == [str(n) for n in range(1, 46)]
    assert admin.operations() == ["productsCount", "products(", "products(", "products("]
    assert [r["variables"]["after"] for r in admin.requests[1:]] == [None, "20", "40"]


@responses.activate
def test_a_throttled_page_waits_for_its_cost():
    admin = FakeAdmin(responses, SHOP)
    admin.products = products(3)
    sleeps = Sleeps()
    read = catalog.read_catalog(client(sleeps))
    admin.queue(200, throttled(requested=800, available=100, rate=100))
    assert len(list(read.products)) == 3
    assert sleeps == [7.0]


@responses.activate
def test_a_large_catalog_is_read_by_a_bulk_operation_waited_for():
    admin = FakeAdmin(responses, SHOP)
    admin.products = products(catalog.BULK_ABOVE + 1)
    admin.products[0] = product_node(
        1, "Espresso", collections=("Coffee",), prices=("12.00", "9.50")
    )
    admin.bulk_polls = 3
    sleeps = Sleeps()
    read = catalog.read_catalog(client(), sleep=sleeps, poll_seconds=2.0)
    found = {p.id: p for p in read.products}
    assert read.method == "bulk" and read.complete and admin.downloads == 1
    assert len(found) == catalog.BULK_ABOVE + 1
    # the JSONL lists variants and collections before their products: put back together
    assert [v.id for v in found["1"].variants] == ["100", "101"]
    assert found["1"].collections == ("Coffee",) and found["1"].price == Decimal("9.50")
    assert sleeps == [2.0, 2.0]  # until the third look found it completed
    assert admin.operations() == [
        "productsCount",
        "bulkOperationRunQuery",
        "node(",
        "node(",
        "node(",
    ]


@responses.activate
def test_a_failed_bulk_operation_is_an_error():
    admin = FakeAdmin(responses, SHOP)
    admin.products = products(catalog.BULK_ABOVE + 1)
    admin.bulk_error = "TIMEOUT"
    with pytest.raises(AdminApiError, match="bulk operation FAILED: TIMEOUT"):
        catalog.read_catalog(client(), sleep=Sleeps())
    assert admin.downloads == 0


def test_malformed_nodes_are_skipped_and_counted_not_the_whole_read():
    lines = [
        json.dumps(product_node(1, "Good")),
        json.dumps({"id": "gid://shopify/Product/not-a-number", "title": "Bad"}),
        "not json",
        json.dumps({"id": "gid://shopify/Product/2", "title": "Bad price"}),
        json.dumps(
            {
                "id": "gid://shopify/ProductVariant/9",
                "price": "free",
                "__parentId": "gid://shopify/Product/2",
            }
        ),
    ]
    read = catalog.CatalogRead("bulk")
    found = list(catalog.bulk_products(lines, read))
    assert [p.id for p in found] == ["1"]
    assert read.skipped == 3 and read.complete


@responses.activate
def test_an_unreachable_bulk_result_is_a_retryable_error():
    responses.add(responses.GET, "https://storage.example/gone.jsonl", status=503)
    with pytest.raises(AdminApiError) as raised:
        list(catalog.download_lines("https://storage.example/gone.jsonl"))
    assert raised.value.retryable
