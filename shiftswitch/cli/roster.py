"""``shiftswitch roster validate|import|export|diff|versions|rollback|import-shifts``: the roster
file checked; the roster in the database stored whole, each store a version, and rolled back;
dated shifts imported from a WFM export or a calendar. (Its overrides, one at a time:
:mod:`shiftswitch.cli.overrides`.)

The database's side (:mod:`shiftswitch.operations.rosters` and ``imports``, and the store) is
imported by the commands that use it: ``roster validate`` reads a file alone, and a roster of
100,000 agents is checked in less time than importing SQLAlchemy would add to it."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from shiftswitch.cli.context import EXIT_PROBLEMS, Context, pass_context, table
from shiftswitch.cli.options import VERSION, by_option
from shiftswitch.planning.transitions import Transition
from shiftswitch.planning.validation import validate_text
from shiftswitch.problems import count
from shiftswitch.roster.loader import read_text
from shiftswitch.roster.model import Roster
from shiftswitch.wfm.files import decode, read_bytes
from shiftswitch.wfm.layout import shipped, shipped_mapping
from shiftswitch.wfm.rows import DAYS

if TYPE_CHECKING:
    from shiftswitch.sources.store import RosterStore, Written


@click.group()
def roster() -> None:
    """Check the roster; store it in the database, version it, roll it back."""


@roster.command("validate")
@click.argument("file", required=False)
@pass_context
def roster_validate(ctx: Context, file: str | None) -> None:
    """Check FILE (default: $SHIFTSWITCH_ROSTER or schedules.yaml).

    Exit 0 when valid; otherwise every problem with its place, and exit 1. Conflicts (an agent
    ON on two devices at once) are looked for in the next 28 days. A file over 32 MiB, with
    more than 2,000,000 values (aliases counted in full each time), nested more than 32 levels
    or with a value over 1,024 characters is refused at once.
    """
    path = file or ctx.settings.roster_path
    report = validate_text(read_text(path), ctx.clock.now())
    for warning in report.warnings:
        click.echo(warning.render(path), err=True)
    if not report.ok:
        for problem in report.errors:
            click.echo(problem.render(path), err=True)
        click.echo(f"{path}: {count(len(report.errors), 'problem')}; roster refused", err=True)
        sys.exit(EXIT_PROBLEMS)
    assert report.roster is not None
    click.echo(f"{path}: valid: {report.roster.summary()}")


@roster.command("import")
@click.argument("file")
@by_option
@pass_context
def roster_import(ctx: Context, file: str, by: str | None) -> None:
    """Validate FILE and store it as the roster in the database, as a new version.

    An invalid file changes nothing. Two imports at once run one after the other. A scheduler
    running with --source db puts the new version in force at its next tick.
    """
    from shiftswitch.operations import rosters  # noqa: PLC0415
    from shiftswitch.sources.store import who  # noqa: PLC0415

    written = rosters.store(ctx, read_text(file), source=f"import {file}", by=who(by), origin=file)
    report_write(ctx.roster_store(), written, file)


@roster.command("export")
@click.option(
    "--version", "number", type=VERSION, metavar="N", help="A past version (default: now)."
)
@click.option("-o", "--output", metavar="FILE", help="Write to FILE instead of stdout.")
@pass_context
def roster_export(ctx: Context, number: int | None, output: str | None) -> None:
    """Write the stored roster (or version N) as YAML that imports back to the same roster."""
    from shiftswitch.operations import rosters  # noqa: PLC0415

    text = rosters.export(ctx, number)
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise click.ClickException(f"cannot write {output}: {exc.strerror}") from None
    click.echo(f"wrote {output}", err=True)


@roster.command("diff")
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
    from shiftswitch.operations import rosters  # noqa: PLC0415

    compared = rosters.compare(ctx, read_text(file), file, hours)
    click.echo(f"{file} against {compared.against}: {compared.diff.summary()}")
    for line in compared.diff.lines():
        click.echo(f"  {line}")
    added, removed = compared.added, compared.removed
    click.echo(f"transitions in the next {hours:g} h: {len(added)} added, {len(removed)} removed")
    rows = sorted([("+", t) for t in added] + [("-", t) for t in removed], key=lambda r: r[1].at)
    _transition_rows(rows)
    for s in compared.left_on:
        click.echo(rosters.left_on_warning(s), err=True)


@roster.command("versions")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
def roster_versions(ctx: Context, as_json: bool) -> None:
    """List the roster's versions: number, when, by whom, from what, what changed."""
    from shiftswitch.operations import rosters  # noqa: PLC0415

    versions = rosters.versions(ctx)
    if as_json:
        click.echo(json.dumps(versions, indent=2))
        return
    if not versions:
        click.echo("no roster versions yet ('shiftswitch roster import FILE' stores one)", err=True)
        return
    table(
        ("", "VERSION", "WHEN (UTC)", "BY", "SOURCE", "WHAT CHANGED"),
        [
            (
                "*" if v["stored"] else "",
                str(v["number"]),
                v["at"].replace("T", " ").removesuffix("Z")[:19],
                v["by"],
                v["source"],
                v["summary"],
            )
            for v in versions
        ],
    )
    stored = next((v["number"] for v in versions if v["stored"]), None)
    if stored is not None:
        click.echo(f"* the roster stored in the database (version {stored})", err=True)


@roster.command("rollback")
@click.argument("number", type=VERSION, metavar="N")
@by_option
@pass_context
def roster_rollback(ctx: Context, number: int, by: str | None) -> None:
    """Store version N again, as a new version (validated again, as any import)."""
    from shiftswitch.operations import rosters  # noqa: PLC0415
    from shiftswitch.sources.store import who  # noqa: PLC0415

    written = rosters.rollback(ctx, number, by=who(by))
    report_write(ctx.roster_store(), written, f"version {number}")


FIRST_SHOWN = 20  # switches an import lists


@roster.command("import-shifts")
@click.argument("file")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "ics"]),
    help="The file's format (default: ics for .ics files, else csv).",
)
@click.option(
    "--mapping",
    metavar="MAPPING.yaml",
    help="How to read a WFM tool's CSV: a mapping file (its columns, time format, delimiter, "
    "agent matching, and which activities are working time and breaks), or the name of one "
    f"shipped: {', '.join(shipped())}.",
)
@click.option("--agent", metavar="A", help="The agent of a calendar's events; for a CSV, import "
              "this agent's rows only.")  # fmt: skip
@click.option(
    "--into",
    metavar="FILE",
    help="Put the shifts into this roster file (default: the roster stored in the database).",
)
@click.option(
    "--days",
    type=click.IntRange(1, 366),
    default=DAYS,
    show_default=True,
    help="How far ahead a calendar's recurrences are expanded.",
)
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@by_option
@pass_context
def roster_import_shifts(
    ctx: Context,
    file: str,
    fmt: str | None,
    mapping: str | None,
    agent: str | None,
    into: str | None,
    days: int,
    dry_run: bool,
    as_json: bool,
    by: str | None,
) -> None:
    """Put the dated shifts of FILE (a WFM export as CSV, or a calendar as ICS) into the roster.

    Every assignment of FILE's agents that starts inside the span FILE covers (its first start
    to its last end) is replaced; all else is kept. Rows of one agent that touch make one
    assignment, and break rows inside it OFF time. A problem in FILE refuses the whole import,
    naming each bad row as FILE:LINE: column NAME: why. Prints what changes per agent and the
    switches it changes in its first day (from now, if it began before).
    """
    from shiftswitch.operations import imports  # noqa: PLC0415
    from shiftswitch.sources.store import who  # noqa: PLC0415

    layout = None
    if mapping is not None:
        layout = shipped_mapping(mapping) or (decode(read_bytes(mapping), mapping), mapping)
    req = imports.Request(
        data=read_bytes(file),
        name=file,
        format=fmt,  # type: ignore[arg-type]
        mapping=layout,
        agent=agent,
        into=into,
        days=days,
        dry_run=dry_run,
        by=who(by),
    )
    done = imports.import_shifts(ctx, req)
    for line in (*done.notes, *done.warnings):
        click.echo(line, err=True)
    if as_json:
        click.echo(json.dumps(done.as_json(), indent=2))
        return
    click.echo(
        f"{file}: {count(done.rows, 'row')}, {count(done.assignments, 'assignment')} for "
        f"{count(len(done.agents), 'agent')}, {done.start:%Y-%m-%d %H:%M}Z to "
        f"{done.end:%Y-%m-%d %H:%M}Z; {done.replaced} replaced"
    )
    click.echo(f"into {done.target}: {done.diff.summary()}")
    table(
        ("AGENT", "ADDED", "REMOVED", "CHANGED"),
        [(a.agent, str(a.added), str(a.removed), str(a.changed)) for a in done.agents],
    )
    click.echo(
        f"transitions from {done.compared[0]:%Y-%m-%d %H:%M}Z to "
        f"{done.compared[1]:%Y-%m-%d %H:%M}Z: {done.added_count} added, "
        f"{done.removed_count} removed" + ("; the first:" if done.added or done.removed else "")
    )
    rows = [("+", t) for t in done.added] + [("-", t) for t in done.removed]
    _transition_rows(sorted(rows, key=lambda r: r[1].at)[:FIRST_SHOWN])
    if dry_run:
        click.echo("dry run: nothing changed")
    elif done.unchanged and done.version is None:
        click.echo(f"{into}: the same shifts already; unchanged")
    elif done.unchanged:
        click.echo(f"the same as {done.target}; unchanged")
    elif done.version is not None:
        click.echo(f"stored roster version {done.version}")
    else:
        click.echo(f"wrote {into}")


def report_write(store: RosterStore, written: Written, what: str) -> None:
    """Say what a write of the stored roster did: its warnings, the version it made and what
    changed, and each device it stops naming that stays ON."""
    for warning in written.warnings:
        click.echo(warning.render(), err=True)
    if written.unchanged:
        click.echo(f"{what}: the same as the stored roster (version {written.number}); unchanged")
        return
    click.echo(f"stored roster version {written.number} from {what}: {written.diff.summary()}")
    _warn_left_on(store, written.before, written.roster)


def _warn_left_on(store: RosterStore, before: Roster | None, after: Roster) -> None:
    from shiftswitch.operations import rosters  # noqa: PLC0415

    for s in rosters.devices_left_on(store, before, after):
        click.echo(rosters.left_on_warning(s), err=True)


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
