"""The shop's catalog through the Admin GraphQL API: one product, or all of them.

- ``fetch_product``: one ``product(id:)`` query, for a product an order names that the
  catalog does not know yet; None when the shop has no such product (it was deleted).
- ``count_products`` chooses how to read the whole catalog: up to ``BULK_ABOVE`` products
  in pages (``read_pages``: ``products(first:, after:)``), more through a bulk operation
  (``start_bulk``, then ``bulk_status`` until it completes, then ``bulk_products`` over its
  JSONL result, downloaded with ``download_lines``). ``read_catalog`` does all of it,
  waiting for the bulk operation, for a caller that can wait (the CLI).

Shopify refuses a query whose requested cost is over 1,000 points, and a connection costs
its page size times what each node costs: a page of 20 products, each with 20 variants and
10 collections, asks for about 800. So a page reads a product's first 20 variants and 10
collections; the bulk operation, which has no cost limit, reads them all. Its JSONL lists
each variant and collection on a line of its own, naming its product in ``__parentId``, in
no promised order (Shopify no longer groups them under their parent): a product is
complete only once the whole file is read.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import requests

from connectors.errors import MalformedPayload
from connectors.shopify import mapping
from connectors.shopify.admin_api import TIMEOUT, AdminApiError, AdminClient
from rules.facts import Product, ProductVariant

log = logging.getLogger(__name__)

PAGE_SIZE = 20
BULK_ABOVE = 250  # products: a larger catalog is read by a bulk operation (13+ pages)
MAX_PAGES = 1_000  # a paginated read stops here whatever the cursor says
POLL_SECONDS = 5.0  # between two looks at a running bulk operation (read_catalog)
MAX_BULK_WAIT = 3 * 3600.0  # read_catalog gives up on a bulk operation after this
DOWNLOAD_CHUNK = 1 << 16  # bytes read at a time from a bulk result

PRODUCT_FIELDS = """
    id title handle productType vendor tags status createdAt updatedAt onlineStoreUrl
    featuredMedia { preview { image { url } } }"""
VARIANT_FIELDS = "id title sku price compareAtPrice availableForSale"

PRODUCT_QUERY = f"""
query NudgeProduct($id: ID!) {{
  product(id: $id) {{{PRODUCT_FIELDS}
    variants(first: 100) {{ nodes {{ {VARIANT_FIELDS} }} }}
    collections(first: 50) {{ nodes {{ title }} }}
  }}
}}
"""

PAGE_QUERY = f"""
query NudgeProducts($after: String) {{
  products(first: {PAGE_SIZE}, after: $after) {{
    nodes {{{PRODUCT_FIELDS}
      variants(first: 20) {{ nodes {{ {VARIANT_FIELDS} }} }}
      collections(first: 10) {{ nodes {{ title }} }}
    }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}
"""

COUNT_QUERY = "query NudgeProductsCount { productsCount { count } }"

# What the bulk operation runs: every product, its variants and collections (connections
# without page sizes; edges and nodes, as bulk queries are written).
BULK_QUERY = f"""
{{
  products {{
    edges {{ node {{{PRODUCT_FIELDS}
      variants {{ edges {{ node {{ {VARIANT_FIELDS} }} }} }}
      collections {{ edges {{ node {{ id title }} }} }}
    }} }}
  }}
}}
"""

BULK_MUTATION = """
mutation NudgeCatalogBulk($query: String!) {
  bulkOperationRunQuery(query: $query) {
    bulkOperation { id status }
    userErrors { field message }
  }
}
"""

BULK_STATUS_QUERY = """
query NudgeBulkStatus($id: ID!) {
  node(id: $id) {
    ... on BulkOperation { id status errorCode objectCount url partialDataUrl }
  }
}
"""

BULK_DONE = "COMPLETED"
BULK_FAILED = frozenset({"FAILED", "CANCELED", "CANCELLED", "EXPIRED"})


@dataclass(frozen=True)
class BulkStatus:
    """A bulk operation as Shopify reports it: its status, its result's URL once it
    completed (None: nothing matched), why it failed."""

    status: str
    url: str | None = None
    error: str | None = None

    @property
    def done(self) -> bool:
        return self.status == BULK_DONE

    @property
    def failed(self) -> bool:
        return self.status in BULK_FAILED


@dataclass
class CatalogRead:
    """What reading the whole catalog went through: ``method`` ('pages' or 'bulk'), the
    product nodes skipped as malformed (each logged), and whether ``products`` reached the
    catalog's end (set once they are all read)."""

    method: str
    skipped: int = 0
    complete: bool = False
    products: Iterator[Product] = field(default_factory=lambda: iter(()))


# --- one product -------------------------------------------------------------------------


def product_gid(product_id: str) -> str:
    return f"gid://shopify/Product/{product_id}"


def fetch_product(client: AdminClient, product_id: str) -> Product | None:
    """The product as the shop has it now; None when it has no such product."""
    node = client.query(PRODUCT_QUERY, {"id": product_gid(product_id)}).get("product")
    if node is None:
        return None
    return product_from_node(
        node,
        _nodes(node.get("variants")),
        [c.get("title") for c in _nodes(node.get("collections"))],
    )


# --- the whole catalog ---------------------------------------------------------------------


def count_products(client: AdminClient) -> int:
    """How many products the shop has (Shopify stops counting at 10,000)."""
    counted = client.query(COUNT_QUERY).get("productsCount") or {}
    count = counted.get("count")
    return count if isinstance(count, int) and not isinstance(count, bool) else 0


def read_pages(client: AdminClient, read: CatalogRead) -> Iterator[Product]:
    """Every product, a page at a time (for a small catalog: see the module's docstring)."""
    after = None
    for _ in range(MAX_PAGES):
        page = client.query(PAGE_QUERY, {"after": after}).get("products") or {}
        for node in page.get("nodes") or []:
            product = _parsed(read, node)
            if product is not None:
                yield product
        info = page.get("pageInfo") or {}
        if not info.get("hasNextPage"):
            read.complete = True
            return
        if not info.get("endCursor"):
            log.warning("catalog read stopped: a page said there is more, with no cursor")
            return
        after = info["endCursor"]
    log.warning("catalog read stopped after %d pages", MAX_PAGES)


def start_bulk(client: AdminClient) -> str:
    """Start the bulk operation that reads every product; return its id."""
    payload = client.mutate(BULK_MUTATION, {"query": BULK_QUERY}, "bulkOperationRunQuery")
    operation = payload.get("bulkOperation") or {}
    if not operation.get("id"):
        raise AdminApiError("bulkOperationRunQuery: no operation in the response")
    return str(operation["id"])


def bulk_status(client: AdminClient, operation_id: str) -> BulkStatus:
    """Where a bulk operation stands."""
    node = client.query(BULK_STATUS_QUERY, {"id": operation_id}).get("node")
    if not isinstance(node, dict) or not node.get("status"):
        raise AdminApiError(f"bulk operation {operation_id}: not found")
    error = node.get("errorCode")
    return BulkStatus(
        status=str(node["status"]),
        url=node.get("url") or None,
        error=str(error) if error else None,
    )


def download_lines(url: str, http: requests.Session | None = None) -> Iterator[bytes]:
    """A bulk operation's JSONL result, line by line, as it downloads."""
    getter = http or requests
    try:
        response = getter.get(url, stream=True, timeout=TIMEOUT)
    except requests.RequestException as exc:
        raise AdminApiError(f"bulk result unreachable: {exc}", retryable=True) from exc
    with response:
        if response.status_code != 200:
            raise AdminApiError(
                f"bulk result download answered {response.status_code}",
                retryable=response.status_code >= 500,
                status=response.status_code,
            )
        yield from (line for line in response.iter_lines(chunk_size=DOWNLOAD_CHUNK) if line)


def bulk_products(lines: Iterable[bytes | str], read: CatalogRead) -> Iterator[Product]:
    """The products of a bulk operation's JSONL, each with its variants and collections."""
    nodes: dict[str, dict[str, Any]] = {}
    variants: dict[str, list[dict[str, Any]]] = {}
    collections: dict[str, list[Any]] = {}
    for line in lines:
        try:
            node = json.loads(line)
        except ValueError:
            read.skipped += 1
            log.warning("catalog bulk result: a line that is not JSON skipped")
            continue
        if not isinstance(node, dict):
            read.skipped += 1
            continue
        gid = str(node.get("id") or "")
        parent = node.get("__parentId")
        if parent is None:
            nodes[gid] = node
        elif "/ProductVariant/" in gid:
            variants.setdefault(str(parent), []).append(node)
        elif "/Collection/" in gid:
            collections.setdefault(str(parent), []).append(node.get("title"))
    for gid, node in nodes.items():
        product = _parsed(read, node, variants.pop(gid, []), collections.pop(gid, []))
        if product is not None:
            yield product
    read.complete = True


def read_catalog(
    client: AdminClient,
    *,
    http: requests.Session | None = None,
    sleep: Callable[[float], None] = time.sleep,
    poll_seconds: float = POLL_SECONDS,
    max_wait: float = MAX_BULK_WAIT,
) -> CatalogRead:
    """Every product of the shop, in pages or by a bulk operation (waited for here)."""
    if count_products(client) <= BULK_ABOVE:
        read = CatalogRead("pages")
        read.products = read_pages(client, read)
        return read
    operation = start_bulk(client)
    waited = 0.0
    status = bulk_status(client, operation)
    while not status.done:
        if status.failed:
            raise AdminApiError(f"bulk operation {status.status}: {status.error or 'no reason'}")
        if waited >= max_wait:
            raise AdminApiError(f"bulk operation still {status.status} after {waited:.0f} s")
        sleep(poll_seconds)
        waited += poll_seconds
        status = bulk_status(client, operation)
    read = CatalogRead("bulk")
    lines = download_lines(status.url, http) if status.url else iter(())
    read.products = bulk_products(lines, read)
    return read


# --- GraphQL nodes -> facts ----------------------------------------------------------------


def product_from_node(
    node: Any, variant_nodes: Iterable[Any], collection_titles: Iterable[Any]
) -> Product:
    """A product from its GraphQL node and those of its variants and collections."""
    data = mapping.obj(node, "product")
    pid = mapping.product_id(data.get("id"))
    variants = tuple(_variant(v, pid) for v in variant_nodes)
    price, compare_at, available = mapping.cheapest(variants)
    media = data.get("featuredMedia") or {}
    image = ((media.get("preview") or {}).get("image") or {}) if isinstance(media, dict) else {}
    return Product(
        id=pid,
        variants=variants,
        title=mapping.text(data.get("title")) or "",
        handle=mapping.text(data.get("handle")),
        url=mapping.https_url(data.get("onlineStoreUrl"), "storefront URL", pid),
        product_type=data["productType"] if isinstance(data.get("productType"), str) else "",
        vendor=data["vendor"] if isinstance(data.get("vendor"), str) else "",
        tags=mapping.tag_list(data.get("tags")) or (),
        collections=tuple(t for t in collection_titles if isinstance(t, str) and t),
        image_url=mapping.https_url(image.get("url"), "image URL", pid)
        if isinstance(image, dict)
        else None,
        price=price,
        compare_at_price=compare_at,
        available=available,
        status=mapping.product_status(data.get("status")),
        created_at=mapping.moment(data.get("createdAt"), "createdAt"),
        updated_at=mapping.moment(data.get("updatedAt"), "updatedAt"),
    )


def _variant(node: Any, product: str) -> ProductVariant:
    data = mapping.obj(node, f"product {product} variant")
    available = data.get("availableForSale")
    price, compare_at = data.get("price"), data.get("compareAtPrice")
    return ProductVariant(
        id=mapping.product_id(data.get("id"), f"product {product} variant"),
        title=mapping.text(data.get("title")),
        sku=mapping.text(data.get("sku")),
        price=mapping.money(price, "variant price") if price not in (None, "") else None,
        compare_at_price=mapping.money(compare_at, "variant compareAtPrice")
        if compare_at not in (None, "")
        else None,
        available=available if isinstance(available, bool) else None,
    )


def _nodes(connection: Any) -> list[Any]:
    if not isinstance(connection, dict):
        return []
    nodes = connection.get("nodes")
    return nodes if isinstance(nodes, list) else []


def _parsed(
    read: CatalogRead,
    node: Any,
    variant_nodes: Iterable[Any] | None = None,
    collection_titles: Iterable[Any] | None = None,
) -> Product | None:
    """The product a node describes (its variants and collections inside it, unless given);
    a malformed one is skipped and counted, not the whole read."""
    try:
        if variant_nodes is None:
            variant_nodes = _nodes(node.get("variants"))
        if collection_titles is None:
            collection_titles = [
                c.get("title") for c in _nodes(node.get("collections")) if isinstance(c, dict)
            ]
        return product_from_node(node, variant_nodes, collection_titles)
    except (MalformedPayload, KeyError, TypeError, ValueError, AttributeError) as exc:
        read.skipped += 1
        what = node.get("id") if isinstance(node, dict) else type(node).__name__
        log.warning("catalog: product %.80s skipped, malformed: %s", what, exc)
        return None
