"""The ``shiftswitch`` command line (SPEC §7).

Every command reads its settings once, here, and passes them down. A user's mistake ends in one
line on stderr naming the place and the fix, and a non-zero exit; never a traceback.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import NoReturn

import click
from redis.exceptions import RedisError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, ProgrammingError

from shiftswitch import __version__
from shiftswitch.cli import devices, processes, reports
from shiftswitch.cli import roster as cli_roster
from shiftswitch.cli.context import EXIT_PROBLEMS, EXIT_USAGE, Context, count, pass_context, table
from shiftswitch.clock import SystemClock, local_to_utc
from shiftswitch.db import upgrade
from shiftswitch.planner import Planner, Transition
from shiftswitch.problems import RosterError, quote
from shiftswitch.roster.loader import read_text
from shiftswitch.roster.model import Roster
from shiftswitch.roster.store import DATABASE, NoRoster
from shiftswitch.roster.validation import validate_text
from shiftswitch.settings import ConfigError, Settings

MIN_YEAR, MAX_YEAR = 1971, 9000  # instants shiftswitch plans for; far from datetime's limits


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="shiftswitch")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Switch call-centre agents' Exotel devices ON and OFF at shift boundaries.

    Configuration comes from the environment: DATABASE_URL, REDIS_URL, SHIFTSWITCH_ROSTER
    (default schedules.yaml) and EXOTEL_<ACCOUNT>_API_KEY / EXOTEL_<ACCOUNT>_API_TOKEN.
    """
    if ctx.obj is None:
        ctx.obj = Context(Settings.from_env(), SystemClock())


# -- roster -----------------------------------------------------------------------------------


@cli.group()
def roster() -> None:
    """Check the roster; store it in the database, version it, roll it back."""


@roster.command("validate")
@click.argument("file", required=False)
@pass_context
def roster_validate(ctx: Context, file: str | None) -> None:
    """Check FILE (default: $SHIFTSWITCH_ROSTER or schedules.yaml).

    Exit 0 when valid; otherwise every problem with its place, and exit 1. Conflicts (an agent
    ON on two devices at once) are looked for in the next 28 days.
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
    click.echo(f"{path}: valid: {_summary(report.roster)}")


def _summary(r: Roster) -> str:
    devices = sum(len(a.devices) for a in r.agents.values())
    parts = [
        count(len(r.accounts), "account"),
        f"{count(len(r.agents), 'agent')} ({count(devices, 'device')})",
        count(len(r.shifts), "shift"),
        count(len(r.overrides), "override"),
    ]
    return ", ".join(parts)


# -- plan -------------------------------------------------------------------------------------
def _finite(_ctx: click.Context, _param: click.Parameter, value: float) -> float:
    if not math.isfinite(value):
        raise click.BadParameter("must be a number of hours, such as 24 or 1.5")
    return value


@cli.command()
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
@click.option(
    "--roster",
    "roster_path",
    metavar="FILE",
    help="Roster file (default: $SHIFTSWITCH_ROSTER or schedules.yaml).",
)
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


# -- db ---------------------------------------------------------------------------------------


@cli.group()
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


for command in (
    processes.scheduler,
    processes.worker,
    processes.sandbox,
    processes.demo,
    processes.check,
    devices.device,
    devices.pause,
    devices.resume,
    reports.reconcile,
    reports.status,
    reports.history,
):
    cli.add_command(command)
cli_roster.register(roster, cli)


# -- entry point --------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None, obj: Context | None = None) -> NoReturn:
    """Console entry point: run a command; a user's mistake becomes one line and an exit code."""
    try:
        cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="shiftswitch",
            standalone_mode=False,
            obj=obj,
        )
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
        sys.exit(EXIT_USAGE)
    except click.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        _fail(f"{exc.format_message()}{hint}", EXIT_USAGE)
    except click.ClickException as exc:
        _fail(exc.format_message(), exc.exit_code or EXIT_PROBLEMS)
    except RosterError as exc:
        source = exc.source or "roster"
        if len(exc.problems) == 1 and not exc.problems[0].path:
            _fail(f"{source}: {exc.problems[0].message}", EXIT_PROBLEMS)  # unreadable, not YAML
        for problem in exc.problems:
            click.echo(problem.render(exc.source), err=True)
        _fail(f"{source}: {count(len(exc.problems), 'problem')}; roster refused", EXIT_PROBLEMS)
    except (ConfigError, NoRoster) as exc:
        _fail(str(exc), EXIT_PROBLEMS)
    except (OperationalError, ProgrammingError) as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "unreachable"
        if "no such table" in reason or "does not exist" in reason:
            _fail(f"database: {reason}: run 'shiftswitch db upgrade' first", EXIT_PROBLEMS)
        _fail(f"database: {reason} (check DATABASE_URL)", EXIT_PROBLEMS)
    except RedisError as exc:
        _fail(f"redis: {exc} (check REDIS_URL; is Redis running?)", EXIT_PROBLEMS)
    except click.exceptions.Abort:
        _fail("aborted", 130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    sys.exit(0)


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"shiftswitch: error: {message}", err=True)
    sys.exit(code)
