"""`nudge app ...`: the Shopify app's own configuration, for the Shopify CLI."""

from __future__ import annotations

from pathlib import Path

import click

from plugin.config import environment_settings, is_local_url
from plugin.shopify_app import manifest


@click.group("app")
def app_group() -> None:
    """The Shopify app's own configuration."""


@app_group.command("toml")
@click.option(
    "--compliance-only",
    is_flag=True,
    help="Only the compliance topics, for an app that registers the others per shop at install.",
)
def app_toml(compliance_only: bool) -> None:
    """Print the shopify.app.toml equivalent to manifest.json, for the Shopify CLI.

    Its webhook subscriptions are app-wide: set NUDGE_SHOPIFY_MANAGED_WEBHOOKS=1 where the
    app runs, so that it does not also register them per shop at install.
    """
    settings = environment_settings()  # no database: this only reads the manifest
    for line in _toml_warnings(settings, compliance_only):
        click.echo(f"warning: {line}", err=True)
    click.echo(
        manifest.shopify_app_toml(
            manifest.load(),
            client_id=settings.get("SHOPIFY_API_KEY") or "",
            app_url=settings["APP_URL"],
            compliance_only=compliance_only,
        ),
        nl=False,
    )


def _toml_warnings(settings: dict[str, object], compliance_only: bool) -> list[str]:
    """What would make the printed configuration wrong for a live app."""
    lines = []
    if is_local_url(str(settings["APP_URL"])):
        lines.append(
            f"NUDGE_APP_URL is {settings['APP_URL']}, this machine: Shopify would send "
            "webhooks, redirects and the app proxy there; set it to the app's public https address"
        )
    if not settings.get("SHOPIFY_API_KEY"):
        lines.append(
            "NUDGE_SHOPIFY_API_KEY is not set, so client_id is empty: set it to the app's client id"
        )
    if not compliance_only and not settings.get("SHOPIFY_MANAGED_WEBHOOKS"):
        lines.append(
            "NUDGE_SHOPIFY_MANAGED_WEBHOOKS is off, so the app also registers these topics per "
            "shop at install and Shopify would deliver each twice: set it to 1 where the app "
            "runs, or print this with --compliance-only"
        )
    return lines


@app_group.command("extension")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path), default=Path("."))
def app_extension(folder: Path) -> None:
    """Write the theme app extension (the storefront script as an app embed) under FOLDER.

    It holds no address of the app: the script ships in its assets and calls the shop's app
    proxy, so the same extension serves every deployment.
    """
    for relative, text in manifest.theme_extension_files(manifest.load()).items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        click.echo(f"wrote {path}")
