"""``shiftswitch report adherence``: was each agent's device ON when planned (README: Reports)."""

from __future__ import annotations

import click

from shiftswitch.adherence import files
from shiftswitch.adherence.query import BY, BadQuery, Query, day_of
from shiftswitch.adherence.report import adherence
from shiftswitch.cli.context import Context, pass_context, table

DEFAULT_DAYS = 7


@click.group()
def report() -> None:
    """Reports over a period of the roster's local days."""


@report.command("adherence")
@click.option("--from", "first", metavar="D", help="First day, YYYY-MM-DD (default: 6 days ago).")
@click.option("--to", "last", metavar="D", help="Last day, included whole (default: today).")
@click.option("--agent", metavar="A", help="Only agent A.")
@click.option("--account", metavar="N", help="Only the agents of account N.")
@click.option("--by", type=click.Choice(BY), default="agent", show_default=True)
@click.option(
    "--format", "fmt", type=click.Choice(files.FORMATS), default="table", show_default=True
)
@click.option("--output", metavar="FILE", help="Write to FILE (xlsx needs one).")
@click.option("--roster", "roster_path", metavar="FILE", help="Roster file whose zone names days.")
@pass_context
def adherence_command(
    ctx: Context,
    first: str | None,
    last: str | None,
    agent: str | None,
    account: str | None,
    by: str,
    fmt: str,
    output: str | None,
    roster_path: str | None,
) -> None:
    """For each agent and device: the time planned ON (shifts, assignments, overrides) against
    the time shiftswitch confirmed the device ON, late starts, early OFFs, ON time not planned,
    and what explains a difference (a hold, a pause, a failed or blocked switch). Days are the
    roster's local days; a shift counts on the day it starts; time after now does not count."""
    if fmt == "xlsx" and not output:
        raise click.BadParameter("xlsx is a file: give --output FILE", param_hint="--format")
    now = ctx.clock.now()
    roster = ctx.current_roster(roster_path, now)
    today = now.astimezone(roster.zone).date()
    try:
        end = day_of(last, "to") if last else today
        start = (
            day_of(first, "from") if first else end.fromordinal(end.toordinal() - DEFAULT_DAYS + 1)
        )
        found = adherence(ctx.engine, Query(start, end, agent, account, by), roster, now)
    except BadQuery as exc:
        raise click.BadParameter(str(exc), param_hint=f"--{exc.place}") from None
    if fmt == "table":
        if output:
            raise click.BadParameter("a table is for the terminal: give --format csv, json or "
                                     "xlsx with --output", param_hint="--output")  # fmt: skip
        click.echo(found.title())
        if not found.rows:
            click.echo("nothing planned and nothing ON in that time", err=True)
            return
        table(*files.table_cells(found))
        return
    body = files.render(found, fmt)
    if output is None:
        assert isinstance(body, str)
        click.echo(body, nl=fmt == "json")
        return
    try:
        if isinstance(body, bytes):
            with open(output, "wb") as out:
                out.write(body)
        else:
            with open(output, "w", encoding="utf-8", newline="") as text_out:
                text_out.write(body)
    except OSError as exc:
        raise click.BadParameter(
            f"cannot write {output}: {exc.strerror}", param_hint="--output"
        ) from None
    click.echo(f"wrote {len(found.rows)} rows to {output} ({found.zone.key})", err=True)
