"""``shiftswitch override add|list|remove``: the stored roster's overrides, one at a time, each
edit a new version of the roster."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

import click

from shiftswitch.cli.context import Context, pass_context, table
from shiftswitch.cli.options import by_option
from shiftswitch.cli.roster import report_write
from shiftswitch.models import RosterOverride
from shiftswitch.problems import RosterError, count, quote
from shiftswitch.roster.dump import dump, local_time
from shiftswitch.roster.fields import CALENDAR, within_calendar
from shiftswitch.roster.model import Override, Roster, parse_instant
from shiftswitch.roster.store import NoRoster, RosterStore, who
from shiftswitch.roster.tables import override_key


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
@by_option
@pass_context
def override_add(
    ctx: Context, agent: str, device: str | None, off: bool, start: str, end: str, by: str | None
) -> None:
    """Add an override for AGENT: --device D ON (others OFF) or --off, from T to T.

    Times are in the roster's zone unless they carry an offset. The roster with the override
    is validated whole (overlapping overrides, conflicts) and stored as a new version.
    """
    if (device is None) == (not off):
        raise click.UsageError("give --device D (that device ON) or --off (every device OFF)")
    now = ctx.clock.now()
    store = ctx.roster_store()
    made: list[Override] = []

    def build(before: Roster | None) -> str:
        if before is None:
            raise NoRoster()
        if agent not in before.agents:
            raise click.ClickException(f"unknown agent {quote(agent)} in the stored roster")
        devices = before.agents[agent].devices
        if device is not None and device not in devices:
            raise click.ClickException(
                f"unknown device {quote(device)} of agent {quote(agent)}; "
                f"it has {', '.join(devices)}"
            )
        begin = _instant(start, before, now, "--from", end=False)
        finish = _instant(end, before, now, "--to", end=True)
        if finish <= begin:
            raise click.BadParameter("must be after --from", param_hint="--to")
        if finish <= now:
            raise click.BadParameter(
                "is in the past; the override would never apply", param_hint="--to"
            )
        new = Override(len(before.overrides), agent, device, begin, finish, before.zone)
        made.append(new)
        listed.extend((*before.overrides, new))
        return dump(_with_overrides(before, tuple(listed)))

    listed: list[Override] = []
    try:
        written = store.write(build, source=f"override add {agent}", by=who(by), now=now)
    except RosterError as exc:
        raise click.ClickException(_refused_override(exc, listed, store)) from None
    report_write(store, written, "override add")
    for row in store.overrides():
        if made and override_key(row) == override_key(made[-1]):
            click.echo(f"override {row.id}: {_override_text(row, written.roster)}")


@override.command("list")
@click.option("--all", "show_all", is_flag=True, help="Also the overrides already over.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
def override_list(ctx: Context, show_all: bool, as_json: bool) -> None:
    """The stored roster's overrides, in force or ahead (with --all, also those over)."""
    now = ctx.clock.now()
    store = ctx.roster_store()
    _, roster = store.current()
    rows = [r for r in store.overrides() if show_all or r.ends_at > now]
    state = {r.id: _when(r.starts_at, r.ends_at, now) for r in rows}
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "id": r.id,
                        "agent": r.agent,
                        "device": r.device,
                        "off": r.device is None,
                        "from": r.starts_at.isoformat().replace("+00:00", "Z"),
                        "to": r.ends_at.isoformat().replace("+00:00", "Z"),
                        "state": state[r.id],
                    }
                    for r in rows
                ],
                indent=2,
            )
        )
        return
    if not rows:
        click.echo("no overrides" + ("" if show_all else " in force or ahead"), err=True)
        return
    zone = roster.zone
    table(
        ("ID", "AGENT", "DEVICE", "FROM", "TO", "STATE"),
        [
            (
                str(r.id),
                r.agent,
                r.device or "OFF (all)",
                local_time(r.starts_at, zone),
                local_time(r.ends_at, zone),
                state[r.id],
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
    now = ctx.clock.now().replace(microsecond=0)
    store = ctx.roster_store()
    row = next((r for r in store.overrides() if r.id == override_id), None)
    if row is None:
        raise click.ClickException(f"no override {override_id} (see 'shiftswitch override list')")
    if row.ends_at <= now:
        raise click.ClickException(
            f"override {override_id} ended at {row.ends_at:%Y-%m-%d %H:%M}Z; "
            "nothing to remove (it stays in the roster's history)"
        )
    cut = row.starts_at < now
    key = (row.agent, row.device, row.starts_at, row.ends_at)

    def build(before: Roster | None) -> str:
        if before is None:
            raise NoRoster()
        kept: list[Override] = []
        found = False
        for o in before.overrides:
            if (o.agent, o.device, o.start, o.end) == key:
                found = True
                if cut:
                    kept.append(Override(o.index, o.agent, o.device, o.start, now, o.zone))
            else:
                kept.append(o)
        if not found:
            raise click.ClickException(f"override {override_id} was changed meanwhile; try again")
        return dump(_with_overrides(before, tuple(kept)))

    written = store.write(build, source=f"override remove {override_id}", by=who(by), now=now)
    what = _override_text(row, written.roster)
    if cut:
        at = local_time(now, written.roster.zone)
        click.echo(f"override {override_id} ({what}) was in force: cut at now ({at})")
    else:
        click.echo(f"override {override_id} ({what}) removed")
    report_write(store, written, f"override remove {override_id}")


def _refused_override(exc: RosterError, listed: Sequence[Override], store: RosterStore) -> str:
    """Why an override was refused, in one line, naming the overrides by the ids ``override
    list`` shows (the validator knows them by their place in the roster)."""
    ids = {override_key(row): row.id for row in store.overrides()}

    def name(match: re.Match[str]) -> str:
        index = int(match.group(1))
        if index >= len(listed):
            return match.group(0)
        if index == len(listed) - 1:
            return "the new override"
        return f"override {ids.get(override_key(listed[index]), '?')}"

    first = _OVERRIDE_PLACE.sub(name, exc.problems[0].render())
    more = len(exc.problems) - 1
    return (
        first
        + (f" (and {count(more, 'more problem')})" if more else "")
        + ("; 'shiftswitch override list' shows them" if "override " in first else "")
    )


_OVERRIDE_PLACE = re.compile(r"overrides\[(\d+)\]")


def _with_overrides(roster: Roster, overrides: tuple[Override, ...]) -> Roster:
    return replace(roster, overrides=overrides, warnings=())


def _instant(text: str, roster: Roster, now: datetime, hint: str, *, end: bool) -> datetime:
    if text.strip().lower() == "now":
        return now.replace(microsecond=0)
    parsed = parse_instant(text, roster.zone, end=end)
    if parsed is None or not within_calendar(parsed):
        raise click.BadParameter(
            f"{quote(text)} is not a date or date-time {CALENDAR}; write e.g. 2026-12-01T09:00, "
            "2026-12-24 or now",
            param_hint=hint,
        )
    return parsed


def _when(start: datetime, end: datetime, now: datetime) -> str:
    return "over" if end <= now else "in force" if start <= now else "ahead"


def _override_text(row: RosterOverride, roster: Roster) -> str:
    state = f"{row.device} ON" if row.device else "every device OFF"
    zone = roster.zone
    return (
        f"{row.agent}: {state} from {local_time(row.starts_at, zone)} "
        f"to {local_time(row.ends_at, zone)}"
    )
