"""``shiftswitch plan``: the transitions ahead, in the order they will be applied (SPEC §7)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import click

from shiftswitch.cli.context import Context, pass_context, table
from shiftswitch.cli.options import roster_option
from shiftswitch.clock import local_to_utc
from shiftswitch.planner import Planner, Transition
from shiftswitch.problems import count, quote
from shiftswitch.roster.model import Roster
from shiftswitch.roster.store import DATABASE

MIN_YEAR, MAX_YEAR = 1971, 9000  # instants shiftswitch plans for; far from datetime's limits


def _finite(_ctx: click.Context, _param: click.Parameter, value: float) -> float:
    if not math.isfinite(value):
        raise click.BadParameter("must be a number of hours, such as 24 or 1.5")
    return value


@click.command()
@click.option(
    "--from",
    "start",
    metavar="T",
    help="Start: ISO date-time (roster zone unless it has an offset), or 'now'.",
)
@click.option(
    "--hours",
    type=click.FloatRange(min=0, min_open=True, max=24 * 62),
    default=24.0,
    show_default=True,
    callback=_finite,
    help="Length of the window.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of transitions.")
@roster_option
@pass_context
def plan(
    ctx: Context, start: str | None, hours: float, as_json: bool, roster_path: str | None
) -> None:
    """Show the transitions ahead, in the order they will be applied."""
    now = ctx.clock.now()
    stored = ctx.reads_stored(roster_path)
    path = DATABASE if stored else roster_path or ctx.settings.roster_path
    r = ctx.current_roster(roster_path, now)
    begin = _parse_from(start, r, now)
    end = begin + timedelta(hours=hours)
    transitions = Planner(r).transitions(begin, end)
    if as_json:
        click.echo(json.dumps([t.as_json() for t in transitions], indent=2))
        return
    _print_table(transitions)
    click.echo(
        f"{count(len(transitions), 'transition')} from {begin:%Y-%m-%d %H:%M}Z "
        f"to {end:%Y-%m-%d %H:%M}Z ({path})",
        err=not transitions,
    )


def _parse_from(text: str | None, r: Roster, now: datetime) -> datetime:
    if text is None or text.strip().lower() == "now":
        return now
    raw = text.strip()
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        parsed = None
    if parsed is None or not MIN_YEAR <= parsed.year <= MAX_YEAR:
        raise click.BadParameter(
            f"{quote(raw)} is not a date-time from {MIN_YEAR} to {MAX_YEAR}; "
            "write e.g. 2026-12-01T09:00 or 2026-12-01T03:30Z",
            param_hint="--from",
        )
    if parsed.tzinfo is None:
        return local_to_utc(parsed, r.zone)
    return parsed.astimezone(UTC)


def _print_table(transitions: Sequence[Transition]) -> None:
    if not transitions:
        return
    # Ramped ONs are seconds apart: show seconds when any time has them.
    clock = "%H:%M:%S" if any(t.at.second or t.at.microsecond for t in transitions) else "%H:%M"
    rows = [
        (
            f"{t.local:%a %Y-%m-%d {clock}} {t.zone.key}",
            f"{t.at:%Y-%m-%d {clock}}Z",
            t.agent,
            t.device,
            "ON" if t.available else "OFF",
            (t.shift or t.override or "")
            + (f" (ramp: starts {t.boundary.astimezone(t.zone):%H:%M})" if t.boundary else ""),
        )
        for t in transitions
    ]
    table(("LOCAL", "UTC", "AGENT", "DEVICE", "STATE", "SHIFT/OVERRIDE"), rows)
