"""``shiftswitch notify test|list``: the channels of ``SHIFTSWITCH_NOTIFY`` tried, and what was
told (README: Notifications)."""

from __future__ import annotations

import json

import click

from shiftswitch.cli.context import EXIT_PROBLEMS, Context, pass_context, table
from shiftswitch.notify import history
from shiftswitch.notify.service import configured


@click.group()
def notify() -> None:
    """Tell people: try a channel, list what was told."""


@notify.command("test")
@click.argument("channel")
@pass_context
def notify_test(ctx: Context, channel: str) -> None:
    """Send a test message to CHANNEL now (exit 1, saying why, when it does not go)."""
    config = configured(ctx.settings.notify_path)
    if not config.channels:
        raise click.UsageError(
            "no channels: set SHIFTSWITCH_NOTIFY to a file of channels and rules"
        )
    error = history.send_test(ctx.engine, config, channel, ctx.clock.now())
    if error is not None:
        click.echo(f"shiftswitch: error: {error}", err=True)
        raise SystemExit(EXIT_PROBLEMS)
    click.echo(f"sent a test message to {channel}")


@notify.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@pass_context
def notify_list(ctx: Context, as_json: bool, limit: int) -> None:
    """The latest messages and their delivery (sent, failing, waiting), and the events not in
    a message yet."""
    sent, pending = history.recent(ctx.engine, limit), history.waiting(ctx.engine)
    if as_json:
        click.echo(json.dumps({"messages": sent, "waiting": pending}, indent=2))
        return
    if not sent and not pending:
        click.echo("nothing told yet", err=True)
        return
    table(
        ("ID", "CREATED (UTC)", "CHANNEL", "KIND", "EVENTS", "STATE", "ATTEMPTS", "ERROR"),
        [
            (
                str(m["id"]), str(m["created_at"])[:19].replace("T", " "), m["channel"],
                m["kind"], str(m["events"]), m["state"], str(m["attempts"]),
                m["last_error"] or "",
            )
            for m in sent
        ],
    )  # fmt: skip
    for w in pending:
        click.echo(f"waiting: {w['events']} {w['kind']} for {w['channel']} since {w['since']}")
