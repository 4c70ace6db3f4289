"""`nudge shop add`: shops registered without the install flow."""

from __future__ import annotations

import click
from sqlalchemy import select

from plugin.cli.loading import load_services
from plugin.shopify_app import tokens
from plugin.storage.models import Shop


@click.group()
def shop() -> None:
    """Manage shops."""


@shop.command("add")
@click.argument("domain")
@click.option(
    "--token",
    default=None,
    help="Admin API access token (stored encrypted); none: actions stay local",
)
@click.option("--platform", type=click.Choice(["shopify", "woocommerce"]), default="shopify")
@click.option(
    "--webhook-secret", default=None, help="Webhook signing secret (default: the app secret)"
)
def shop_add(domain: str, token: str | None, platform: str, webhook_secret: str | None) -> None:
    """Register a shop without the install flow."""
    services = load_services()
    domain = domain.strip().lower()
    with services.sessions() as session, session.begin():
        existing = session.scalar(select(Shop).where(Shop.domain == domain))
        row = existing or Shop(domain=domain, settings={})
        row.platform, row.active = platform, True
        if token:
            tokens.store_plain(row, token, tokens.cipher(services))
        if webhook_secret:
            row.webhook_secret = webhook_secret
        session.add(row)
    click.echo(f"{'updated' if existing else 'added'} {platform} shop {domain}")
