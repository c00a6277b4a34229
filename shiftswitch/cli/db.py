"""``shiftswitch db``: the database schema, by Alembic (README: Results tables)."""

from __future__ import annotations

import click

from shiftswitch.cli.context import Context, pass_context
from shiftswitch.db import missing_file, no_such_file, redacted, revisions, upgrade


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@pass_context
def db_upgrade(ctx: Context, revision: str) -> None:
    """Apply the Alembic migrations to DATABASE_URL."""
    upgrade(ctx.settings.database_url, revision)
    click.echo(f"database at revision {revision}: {redacted(ctx.settings.database_url)}")


@db.command("current")
@pass_context
def db_current(ctx: Context) -> None:
    """Show the revision DATABASE_URL is at, and whether it is the newest (head) of this
    release. Exit 0 when the database can be read, whatever its revision."""
    url = ctx.settings.database_url
    where = redacted(url)
    if missing_file(url):  # connecting would create it
        raise click.ClickException(no_such_file(where))
    found = revisions(url)
    if found.at_head:
        click.echo(f"database at revision {found.head} (head): {where}")
    elif found.current is None:
        click.echo(
            f"database at no revision (never migrated), head is {found.head}: {where}; "
            "run 'shiftswitch db upgrade'"
        )
    elif not found.known:
        click.echo(
            f"database at revision {found.current}, which this release does not have (its head "
            f"is {found.head}): {where}; a newer release migrated it"
        )
    else:
        click.echo(
            f"database at revision {found.current}, not head ({found.head}): {where}; "
            "run 'shiftswitch db upgrade'"
        )
