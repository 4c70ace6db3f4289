"""`nudge shop add` and `nudge shop list`: shops registered without the install flow."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click
from rich.table import Table
from sqlalchemy import select

from connectors.woocommerce import rest_api
from connectors.woocommerce.stores import host_of, store_key
from plugin.cli.loading import Refused, console, load_services
from plugin.pipeline.held import release_held
from plugin.shop_settings.policies import postal_address, shop_settings
from plugin.shopify_app import tokens, webhook_secrets
from plugin.shopify_app.install import valid_shop_domain
from plugin.storage.models import Shop
from rules.validation import postal_address_error


@click.group()
def shop() -> None:
    """Register and list shops."""


@shop.command("add")
@click.argument("domain")
@click.option(
    "--token",
    default=None,
    help="Admin API access token, or a WooCommerce REST key pair 'ck_...:cs_...' "
    "(stored encrypted); none: discount codes and tags stay local",
)
@click.option("--platform", type=click.Choice(["shopify", "woocommerce"]), default="shopify")
@click.option(
    "--webhook-secret",
    default=None,
    help="Webhook signing secret, stored encrypted (default: the app secret)",
)
@click.option(
    "--address",
    default=None,
    help='The postal address marketing email shows, "street, city, country" '
    "(without one, marketing email is held)",
)
def shop_add(
    domain: str,
    token: str | None,
    platform: str,
    webhook_secret: str | None,
    address: str | None,
) -> None:
    """Register a shop without the install flow: a Shopify shop by its myshopify domain,
    a WooCommerce one by its URL (its host name, and path when below the root of its host)."""
    domain = shop_domain(domain, platform)
    if token and platform == "woocommerce":
        try:
            rest_api.split_credentials(token)
        except ValueError as exc:
            raise Refused(
                f"--token: {exc} (WooCommerce › Settings › Advanced › REST API)"
            ) from None
    if address is not None:
        address = " ".join(address.split())
        if (problem := postal_address_error(address)) is not None:
            raise Refused(f"--address: {problem.removeprefix('postal_address: ')}")
    services = load_services()
    with services.sessions() as session, session.begin():
        existing = session.scalar(select(Shop).where(Shop.domain == domain))
        row = existing or Shop(domain=domain, settings={})
        row.platform, row.active = platform, True
        if token:
            tokens.store_plain(row, token, tokens.cipher(services))
        if webhook_secret:
            webhook_secrets.store(row, webhook_secret, tokens.cipher(services))
        session.add(row)
        had_address = _has_address(row)
        if address is not None:
            row.settings = {**(row.settings or {}), "postal_address": address}
            session.flush()
            if not had_address:
                release_held(session, row.id, services.now())
    click.echo(f"{'updated' if existing else 'added'} {platform} shop {domain}")
    if address is None and not had_address:
        click.echo(
            "no postal address: its marketing email is held until one is set "
            "(--address, or the settings page)"
        )
    if platform == "woocommerce":
        app_url = services.settings["APP_URL"]
        click.echo(f"its webhooks go to {app_url}/webhooks/woocommerce/{domain}")


def _has_address(row: Shop) -> bool:
    return postal_address(shop_settings(row.settings)) is not None


def shop_domain(value: str, platform: str) -> str:
    """The domain a shop is stored under, or a refusal saying what is expected."""
    text = value.strip().lower()
    if platform == "shopify":
        if valid_shop_domain(text) is None:
            raise Refused(
                f"{value!r} is not a Shopify shop domain: give the shop's myshopify domain, "
                "such as your-shop.myshopify.com"
            )
        return text
    store = store_key(value)
    if store is None:
        raise Refused(
            f"{value!r} is not a store's address: give the WooCommerce store's host or URL, "
            "such as shop.example.com or https://example.com/shop"
        )
    if valid_shop_domain(host_of(store)):
        raise Refused(f"{store} is a Shopify shop: add it with --platform shopify")
    return store


@shop.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array")
def shop_list(as_json: bool) -> None:
    """List the shops: platform, installed or not, Admin API token (usable, expired or
    none), when added; --json also says whose secret signs their webhooks."""
    services = load_services()
    now = services.now()
    with services.sessions() as session:
        shops = session.scalars(select(Shop).order_by(Shop.domain)).all()
    rows = [shop_json(row, now) for row in shops]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no shops; add one with `nudge shop add`")
        return
    table = Table(caption="Without a usable Admin API token, discount codes and tags stay local.")
    table.add_column("domain", no_wrap=True)
    for column in ("platform", "installed", "Admin API token", "added"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["domain"],
            row["platform"],
            "yes" if row["installed"] else "no",
            row["token"],
            (row["created_at"] or "")[:10],
        )
    console.print(table)


def shop_json(row: Shop, now: datetime) -> dict[str, Any]:
    """A shop as `nudge shop list --json` prints it (no secrets)."""
    if not tokens.has_credentials(row):
        token = "none"
    else:
        token = "usable" if tokens.usable(row, now) else "expired"
    return {
        "domain": row.domain,
        "platform": row.platform,
        "installed": bool(row.active),
        "token": token,
        "webhook_secret": "own" if webhook_secrets.has_own(row) else "app",
        "created_at": row.created_at.isoformat() if row.created_at else None,
    }
