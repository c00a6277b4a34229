"""``shiftswitch plan``: the transitions ahead, in the order they will be applied (README:
Commands)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import click

from shiftswitch import heap
from shiftswitch.cli.context import Context, pass_context, table
from shiftswitch.cli.options import roster_option
from shiftswitch.operations import plans
from shiftswitch.planning.planner import Planner
from shiftswitch.planning.transitions import Transition
from shiftswitch.problems import count
from shiftswitch.sources.store import DATABASE


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
    type=click.FloatRange(min=0, min_open=True, max=plans.MAX_HOURS),
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
    begin, end = plans.window(start, hours, r, now)
    with heap.paused():
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
