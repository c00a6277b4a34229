"""``shiftswitch override add|list|remove``: the stored roster's overrides, one at a time, each
edit a new version of the roster."""

from __future__ import annotations

import json

import click

from shiftswitch.cli.context import Context, pass_context, table
from shiftswitch.cli.options import by_option
from shiftswitch.cli.roster import report_write
from shiftswitch.operations import overrides
from shiftswitch.roster.dump import local_time
from shiftswitch.sources.store import who


@click.group()
def override() -> None:
    """Dated exceptions in the roster in the database, without editing a file."""


@override.command("add")
@click.argument("agent")
@click.option("--device", metavar="D", help="The device ON while the override lasts.")
@click.option("--off", is_flag=True, help="Every device of AGENT OFF while it lasts (leave).")
@click.option(
    "--from", "start", required=True, metavar="T", help="Start: ISO date-time, date, or 'now'."
)
@click.option("--to", "end", required=True, metavar="T", help="End (a date alone: its whole day).")
@click.option("--reason", metavar="TEXT", help="Why (leave, training...): shown with it.")
@by_option
@pass_context
def override_add(
    ctx: Context,
    agent: str,
    device: str | None,
    off: bool,
    start: str,
    end: str,
    reason: str | None,
    by: str | None,
) -> None:
    """Add an override for AGENT: --device D ON (others OFF) or --off, from T to T.

    Times are in the roster's zone unless they carry an offset. The roster with the override
    is validated whole (overlapping overrides, conflicts) and stored as a new version.
    """
    edited = overrides.add(
        ctx, agent, device=device, off=off, start=start, end=end, by=who(by), reason=reason
    )
    report_write(ctx.roster_store(), edited.written, "override add")
    click.echo(f"override {edited.row.id}: {edited.text}")


@override.command("list")
@click.option("--all", "show_all", is_flag=True, help="Also the overrides already over.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
def override_list(ctx: Context, show_all: bool, as_json: bool) -> None:
    """The stored roster's overrides, in force or ahead (with --all, also those over)."""
    _, roster = ctx.roster_store().current()
    rows = overrides.listing(ctx, show_all=show_all)
    if as_json:
        click.echo(json.dumps([r.as_json() for r in rows], indent=2))
        return
    if not rows:
        click.echo("no overrides" + ("" if show_all else " in force or ahead"), err=True)
        return
    zone = roster.zone
    table(
        ("ID", "AGENT", "DEVICE", "FROM", "TO", "STATE"),
        [
            (
                str(r.row.id),
                r.row.agent,
                r.row.device or "OFF (all)",
                local_time(r.row.starts_at, zone),
                local_time(r.row.ends_at, zone),
                r.state,
            )
            for r in rows
        ],
    )


@override.command("remove")
@click.argument("override_id", type=int, metavar="ID")
@by_option
@pass_context
def override_remove(ctx: Context, override_id: int, by: str | None) -> None:
    """Remove override ID (see 'override list'). One in force is cut at now instead: what it
    did stays in the history, and the roster applies again from now."""
    edited = overrides.remove(ctx, override_id, by=who(by))
    if edited.cut_at is not None:
        at = local_time(edited.cut_at, edited.written.roster.zone)
        click.echo(f"override {override_id} ({edited.text}) was in force: cut at now ({at})")
    else:
        click.echo(f"override {override_id} ({edited.text}) removed")
    report_write(ctx.roster_store(), edited.written, f"override remove {override_id}")
