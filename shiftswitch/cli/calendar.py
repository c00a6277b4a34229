"""``shiftswitch calendar key|revoke AGENT``: the key to an agent's own calendar feed
(README: Calendar feeds)."""

from __future__ import annotations

from urllib.parse import quote

import click

from shiftswitch.access import AccessStore
from shiftswitch.cli.context import Context, pass_context
from shiftswitch.cli.options import by_option, roster_option
from shiftswitch.sources.store import who


@click.group()
def calendar() -> None:
    """Give agents their shifts in their own calendar app: a feed per agent, opened by a key."""


@calendar.command("key")
@click.argument("agent")
@by_option
@roster_option
@pass_context
def calendar_key(ctx: Context, agent: str, by: str | None, roster_path: str | None) -> None:
    """Make AGENT a new calendar key and print the feed's address, alone on standard output;
    the old key stops working. The key is shown this once (only its digest is stored)."""
    now = ctx.clock.now()
    roster = ctx.current_roster(roster_path, now)
    if agent not in roster.agents:
        raise click.UsageError(f"unknown agent {agent!r} (the roster has {len(roster.agents)})")
    key = AccessStore(ctx.engine).new_calendar_key(agent, by=who(by), now=now)
    click.echo(
        f"calendar key for {agent}; shown this once. Subscribe to this address on the API's "
        "host (https://HOST:PORT), in Google, Outlook or Apple Calendar:",
        err=True,
    )
    click.echo(f"/calendar/{quote(agent)}.ics?key={key}")


@calendar.command("revoke")
@click.argument("agent")
@pass_context
def calendar_revoke(ctx: Context, agent: str) -> None:
    """Stop AGENT's calendar key working (the feed answers 404 until a new key is made)."""
    if AccessStore(ctx.engine).revoke_calendar_key(agent, by=who(None)):
        click.echo(f"revoked {agent}'s calendar key")
    else:
        click.echo(f"{agent} has no calendar key", err=True)
