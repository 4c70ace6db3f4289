"""`nudge app ...`: the Shopify app's own configuration, for the Shopify CLI."""

from __future__ import annotations

from pathlib import Path

import click

from plugin.config import environment_settings
from plugin.shopify_app import manifest


@click.group("app")
def app_group() -> None:
    """The Shopify app's own configuration."""


@app_group.command("toml")
@click.option(
    "--compliance-only",
    is_flag=True,
    help="Only the compliance topics (the others are registered per shop at install).",
)
def app_toml(compliance_only: bool) -> None:
    """Print the shopify.app.toml equivalent to manifest.json, for the Shopify CLI."""
    settings = environment_settings()  # no database: this only reads the manifest
    click.echo(
        manifest.shopify_app_toml(
            manifest.load(),
            client_id=settings.get("SHOPIFY_API_KEY") or "",
            app_url=settings["APP_URL"],
            compliance_only=compliance_only,
        ),
        nl=False,
    )


@app_group.command("extension")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path), default=Path("."))
def app_extension(folder: Path) -> None:
    """Write the theme app extension (the storefront script as an app embed) under FOLDER."""
    settings = environment_settings()
    files = manifest.theme_extension_files(manifest.load(), app_url=settings["APP_URL"])
    for relative, text in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        click.echo(f"wrote {path}")
