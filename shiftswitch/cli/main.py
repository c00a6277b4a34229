"""The ``shiftswitch`` command line (README: Commands): the group, its commands (a module per
command group beside this one) and the entry point.

Every command reads its settings once, here, and passes them down. A user's mistake ends in one
line on stderr naming the place and the fix, and a non-zero exit; never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import click
from redis.exceptions import RedisError
from sqlalchemy.exc import OperationalError, ProgrammingError

from shiftswitch import __version__
from shiftswitch.access import AccessError
from shiftswitch.cli import (
    access,
    api,
    audit,
    calendar,
    db,
    devices,
    notify,
    overrides,
    plan,
    processes,
    report,
    reports,
    roster,
)
from shiftswitch.cli.context import EXIT_PROBLEMS, EXIT_USAGE, Context
from shiftswitch.clock import SystemClock
from shiftswitch.operations import Refused
from shiftswitch.problems import RosterError, count
from shiftswitch.settings import ConfigError, Settings
from shiftswitch.sources.store import NoRoster
from shiftswitch.wfm.files import BadFile


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


for command in (
    roster.roster,
    overrides.override,
    plan.plan,
    db.db,
    processes.scheduler,
    processes.worker,
    processes.sandbox,
    processes.demo,
    processes.check,
    api.api,
    api.api,
    devices.device,
    devices.pause,
    devices.resume,
    reports.reconcile,
    reports.status,
    reports.history,
    access.users,
    access.tokens,
    calendar.calendar,
    notify.notify,
    audit.audit,
    report.report,
):
    cli.add_command(command)


class _CommandContext(click.Context):
    """A command's context that says an operation's refusal as click says a usage error (one
    line, with the command's help to see) or a failure (exit 1)."""

    def invoke(self, callback: Any, /, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().invoke(callback, *args, **kwargs)
        except Refused as exc:
            if not exc.usage:
                raise click.ClickException(exc.message) from None
            if exc.place:
                raise click.BadParameter(
                    exc.message, ctx=self, param_hint=f"--{exc.place}"
                ) from None
            raise click.UsageError(exc.message, ctx=self) from None


def _refusals_said_by_click(command: click.Command) -> None:
    command.context_class = _CommandContext
    for sub in getattr(command, "commands", {}).values():
        _refusals_said_by_click(sub)


_refusals_said_by_click(cli)


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
    except BadFile as exc:
        for line in exc.lines():
            click.echo(line, err=True)
        file = exc.problems[0].file if exc.problems else "file"
        _fail(f"{file}: {count(len(exc.problems), 'problem')}; import refused", EXIT_PROBLEMS)
    except (AccessError, ConfigError, NoRoster) as exc:
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
