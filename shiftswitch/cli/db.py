"""``shiftswitch db``: the database schema, by Alembic (SPEC §6)."""

from __future__ import annotations

import click
from sqlalchemy.engine import make_url

from shiftswitch.cli.context import Context, pass_context
from shiftswitch.db import upgrade


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@pass_context
def db_upgrade(ctx: Context, revision: str) -> None:
    """Apply the Alembic migrations to DATABASE_URL."""
    upgrade(ctx.settings.database_url, revision)
    click.echo(f"database at revision {revision}: {_redacted(ctx.settings.database_url)}")


def _redacted(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)
