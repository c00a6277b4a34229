"""``shiftswitch roster import|export|diff|versions|rollback`` and ``override add|list|remove``:
the roster in the database, edited whole or one override at a time, each edit a version."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

import click

from shiftswitch.cli.context import Context, count, pass_context, table
from shiftswitch.cli.options import by_option
from shiftswitch.models import RosterOverride
from shiftswitch.planner import Transition
from shiftswitch.problems import RosterError, quote
from shiftswitch.roster.diff import RosterDiff, transition_changes
from shiftswitch.roster.dump import dump, local_time
from shiftswitch.roster.loader import read_text
from shiftswitch.roster.model import Override, Roster, parse_instant
from shiftswitch.roster.store import NoRoster, RosterStore, Written, left_on, who
from shiftswitch.roster.tables import override_key
from shiftswitch.roster.validation import validate_text


def register(roster: click.Group, cli: click.Group) -> None:
    for command in (roster_import, roster_export, roster_diff, roster_versions, roster_rollback):
        roster.add_command(command)
    cli.add_command(override)


# -- roster ------------------------------------------------------------------------------------


@click.command("import")
@click.argument("file")
@by_option
@pass_context
def roster_import(ctx: Context, file: str, by: str | None) -> None:
    """Validate FILE and store it as the roster in the database, as a new version.

    An invalid file changes nothing. Two imports at once run one after the other. A scheduler
    running with --source db puts the new version in force at its next tick.
    """
    text = read_text(file)
    store = ctx.roster_store()
    written = store.write(
        lambda _before: text, source=f"import {file}", by=who(by), now=ctx.clock.now(), origin=file
    )
    _report(store, written, file)


@click.command("export")
@click.option("--version", "number", type=int, metavar="N", help="A past version (default: now).")
@click.option("-o", "--output", metavar="FILE", help="Write to FILE instead of stdout.")
@pass_context
def roster_export(ctx: Context, number: int | None, output: str | None) -> None:
    """Write the stored roster (or version N) as YAML that imports back to the same roster."""
    store = ctx.roster_store()
    text = dump(store.current()[1]) if number is None else _content(store, number)
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise click.ClickException(f"cannot write {output}: {exc.strerror}") from None
    click.echo(f"wrote {output}", err=True)


@click.command("diff")
@click.argument("file")
@click.option(
    "--hours",
    type=click.FloatRange(min=0, min_open=True, max=24 * 31),
    default=24.0,
    show_default=True,
    help="How far ahead to compare transitions.",
)
@pass_context
def roster_diff(ctx: Context, file: str, hours: float) -> None:
    """Show what importing FILE would change: names added (+), removed (-), changed (~), and
    the transitions it adds or removes in the next 24 hours. Changes nothing."""
    now = ctx.clock.now()
    report = validate_text(read_text(file), now)
    if not report.ok:
        raise RosterError(report.errors, file)
    assert report.roster is not None
    store = ctx.roster_store()
    try:
        number, before = store.current()
        against = f"the stored roster (version {number})"
    except NoRoster:
        before, against = None, "an empty database"
    diff = RosterDiff.between(before, report.roster)
    click.echo(f"{file} against {against}: {diff.summary()}")
    for line in diff.lines():
        click.echo(f"  {line}")
    added, removed = transition_changes(before, report.roster, now, now + timedelta(hours=hours))
    click.echo(f"transitions in the next {hours:g} h: {len(added)} added, {len(removed)} removed")
    rows = sorted([("+", t) for t in added] + [("-", t) for t in removed], key=lambda r: r[1].at)
    _transition_rows(rows)
    _warn_left_on(store, before, report.roster)


@click.command("versions")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
def roster_versions(ctx: Context, as_json: bool) -> None:
    """List the roster's versions: number, when, by whom, from what, what changed."""
    store = ctx.roster_store()
    versions = store.versions()
    try:
        stored = store.current()[0]
    except NoRoster:
        stored = None
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "number": v.number,
                        "at": v.created_at.isoformat().replace("+00:00", "Z"),
                        "by": v.created_by,
                        "source": v.source,
                        "summary": v.summary,
                        "stored": v.number == stored,
                    }
                    for v in versions
                ],
                indent=2,
            )
        )
        return
    if not versions:
        click.echo("no roster versions yet ('shiftswitch roster import FILE' stores one)", err=True)
        return
    table(
        ("", "VERSION", "WHEN (UTC)", "BY", "SOURCE", "WHAT CHANGED"),
        [
            (
                "*" if v.number == stored else "",
                str(v.number),
                f"{v.created_at:%Y-%m-%d %H:%M:%S}",
                v.created_by,
                v.source,
                v.summary,
            )
            for v in versions
        ],
    )
    if stored is not None:
        click.echo(f"* the roster stored in the database (version {stored})", err=True)


@click.command("rollback")
@click.argument("number", type=int, metavar="N")
@by_option
@pass_context
def roster_rollback(ctx: Context, number: int, by: str | None) -> None:
    """Store version N again, as a new version (validated again, as any import)."""
    store = ctx.roster_store()
    text = _content(store, number)
    written = store.write(
        lambda _before: text, source=f"rollback to {number}", by=who(by), now=ctx.clock.now()
    )
    _report(store, written, f"version {number}")


def _content(store: RosterStore, number: int) -> str:
    version = store.version(number)
    if version is None:
        known = [v.number for v in store.versions()]
        span = f"versions are {known[0]} to {known[-1]}" if known else "there are no versions yet"
        raise click.ClickException(f"no roster version {number}: {span} (see 'roster versions')")
    if version.content is None:
        raise click.ClickException(
            f"roster version {number} was recorded without its content (before this release)"
        )
    return version.content


def _report(store: RosterStore, written: Written, what: str) -> None:
    for warning in written.warnings:
        click.echo(warning.render(), err=True)
    if written.unchanged:
        click.echo(f"{what}: the same as the stored roster (version {written.number}); unchanged")
        return
    click.echo(f"stored roster version {written.number} from {what}: {written.diff.summary()}")
    _warn_left_on(store, written.before, written.roster)


def _warn_left_on(store: RosterStore, before: Roster | None, after: Roster) -> None:
    """Warn of each device the roster stops naming that Exotel last confirmed ON: shiftswitch
    never touches a device the roster does not name, so it would stay ON."""
    with store.sessions() as session:
        for s in left_on(session, before, after):
            click.echo(
                f"warning: {s.agent} {s.device} is ON (Exotel confirmed it "
                f"{s.confirmed_at:%Y-%m-%d %H:%M}Z) and the roster no longer names it, so "
                "shiftswitch will not turn it OFF; if no one should take its calls: "
                f"shiftswitch device off --user {s.user_id} --device {s.device_id} "
                f"--account {s.account}",
                err=True,
            )


def _transition_rows(rows: Sequence[tuple[str, Transition]]) -> None:
    if not rows:
        return
    table(
        ("", "LOCAL", "UTC", "AGENT", "DEVICE", "STATE", "SHIFT/OVERRIDE"),
        [
            (
                sign,
                f"{t.local:%a %Y-%m-%d %H:%M} {t.zone.key}",
                f"{t.at:%Y-%m-%d %H:%M}Z",
                t.agent,
                t.device,
                "ON" if t.available else "OFF",
                t.shift or t.override or "",
            )
            for sign, t in rows
        ],
    )


# -- override ----------------------------------------------------------------------------------


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
    _report(store, written, "override add")
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
    _report(store, written, f"override remove {override_id}")


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
    if parsed is None:
        raise click.BadParameter(
            f"{quote(text)} is not a date or date-time; write e.g. 2026-12-01T09:00, "
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
