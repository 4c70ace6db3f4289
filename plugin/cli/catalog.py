"""`nudge catalog sync SHOP`: a Shopify shop's product catalog read from the Admin API."""

from __future__ import annotations

import click

from connectors.shopify.admin_api import AdminApiError
from plugin.cli.loading import find_shop, load_services
from plugin.shopify_app.catalog_sync import CatalogUnavailable, sync_now


@click.group()
def catalog() -> None:
    """The shops' product catalogs."""


@catalog.command("sync")
@click.argument("shop")
def catalog_sync(shop: str) -> None:
    """Read SHOP's whole catalog from the Admin API now, and record it: in pages for a
    small catalog, by a bulk operation (waited for) for a large one. Products the catalog
    held that the shop no longer has are marked deleted."""
    services = load_services()
    row = find_shop(services, shop)
    try:
        result = sync_now(services, row, services.now())
    except CatalogUnavailable as exc:
        raise click.ClickException(f"{exc}; its catalog cannot be read") from None
    except AdminApiError as exc:
        raise click.ClickException(f"the Admin API did not answer: {exc}") from None
    how = "a bulk operation" if result.method == "bulk" else "pages"
    click.echo(
        f"{row.domain}: {result.products} products recorded (read in {how}), "
        f"{result.deleted} no longer in the shop marked deleted"
        + (f", {result.skipped} malformed skipped" if result.skipped else "")
    )
