"""The ``nudge`` command line: one module per group of commands.

Every command checks the ``NUDGE_*`` settings first; one that cannot be run with is refused
in one line, exit status 2 (``plugin.cli.loading``), and an unknown ``NUDGE_*`` name gets
a warning with the setting it most likely meant.
"""

from __future__ import annotations

import click

from plugin.cli import (
    catalog,
    database,
    explain,
    messages,
    report,
    serve,
    shopify_app,
    shops,
    tools,
    workflows,
)
from plugin.cli.loading import RefusingGroup
from plugin.config import environment_settings, unknown_settings


@click.group(cls=RefusingGroup)
def main() -> None:
    """Nudge: marketing automation for online stores."""
    environment_settings()  # refuses a malformed value before the command does anything
    for line in unknown_settings():
        click.echo(f"warning: {line}", err=True)


for command in (
    serve.serve,
    tools.demo,
    tools.bench,
    shops.shop,
    catalog.catalog,
    shopify_app.app_group,
    workflows.workflows,
    database.db,
    messages.run_due,
    messages.inbox,
    messages.outbox,
    explain.explain,
    explain.backtest,
    report.report,
):
    main.add_command(command)
