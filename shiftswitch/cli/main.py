"""The ``shiftswitch`` command line (README: Commands): the group, its commands (a module per
command group beside this one) and the entry point.

Every command reads its settings once, here, and passes them down. A user's mistake ends in one
line on stderr naming the place and the fix, and a non-zero exit; never a traceback.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator, MutableMapping, Sequence
from typing import Any, NoReturn

import click

from shiftswitch import __version__
from shiftswitch.cli.context import EXIT_PROBLEMS, EXIT_USAGE, Context
from shiftswitch.clock import SystemClock
from shiftswitch.problems import Refused, RosterError, count
from shiftswitch.settings import ConfigError, Settings
from shiftswitch.wfm.files import BadFile

# Each command, and where it is defined: its module is imported when the command runs (or its
# help is shown), so that a command waits only for what it uses (``roster validate`` reads a
# file; it needs no database driver, no Celery, no web framework).
COMMANDS = {
    "roster": "roster:roster",
    "override": "overrides:override",
    "plan": "plan:plan",
    "db": "db:db",
    "scheduler": "processes:scheduler",
    "worker": "processes:worker",
    "sandbox": "processes:sandbox",
    "demo": "processes:demo",
    "check": "processes:check",
    "api": "api:api",
    "device": "devices:device",
    "pause": "devices:pause",
    "resume": "devices:resume",
    "reconcile": "reports:reconcile",
    "status": "reports:status",
    "history": "reports:history",
    "users": "access:users",
    "tokens": "access:tokens",
    "calendar": "calendar:calendar",
    "notify": "notify:notify",
    "audit": "audit:audit",
    "report": "report:report",
}


class _Commands(MutableMapping[str, click.Command]):
    """The group's commands by name (click takes any mapping), each imported from its module
    in :data:`COMMANDS` when first asked for; listing them, or suggesting one for a mistyped
    name, imports nothing."""

    def __init__(self, where: dict[str, str]) -> None:
        self._where = dict(where)
        self._loaded: dict[str, click.Command] = {}

    def __getitem__(self, name: str) -> click.Command:
        if name not in self._loaded:
            module, attr = self._where[name].split(":")
            command = getattr(importlib.import_module(f"shiftswitch.cli.{module}"), attr)
            _refusals_said_by_click(command)
            self._loaded[name] = command
        return self._loaded[name]

    def __contains__(self, name: object) -> bool:
        return name in self._where or name in self._loaded

    def get(self, name: str, default: Any = None) -> Any:
        # Not Mapping's: that takes any KeyError for an unknown name, one raised while
        # importing a command's module too, and would say "No such command" for a fault.
        return self[name] if name in self else default  # noqa: SIM401 (this is get)

    def __setitem__(self, name: str, command: click.Command) -> None:
        _refusals_said_by_click(command)
        self._where.pop(name, None)
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        if self._where.pop(name, None) is None:
            del self._loaded[name]
        else:
            self._loaded.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter({**self._where, **self._loaded})

    def __len__(self) -> int:
        return len(self._where.keys() | self._loaded.keys())


@click.group(
    commands=_Commands(COMMANDS),
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="shiftswitch")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Switch call-centre agents' Exotel devices ON and OFF at shift boundaries.

    Configuration comes from the environment: DATABASE_URL, REDIS_URL, SHIFTSWITCH_ROSTER
    (default schedules.yaml) and EXOTEL_<ACCOUNT>_API_KEY / EXOTEL_<ACCOUNT>_API_TOKEN.
    """
    if ctx.obj is None:
        ctx.obj = Context(Settings.from_env(), SystemClock())


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


cli.context_class = _CommandContext


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
    except ConfigError as exc:
        _fail(str(exc), EXIT_PROBLEMS)
    except click.exceptions.Abort:
        _fail("aborted", 130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:
        _fail(_said(exc), EXIT_PROBLEMS)
    sys.exit(0)


def _said(exc: Exception) -> str:
    """A failure of the database, Redis or access as one line; anything else raised again (a
    fault, not a user's mistake). Their modules are imported here, on the way out: a command
    that never opened the database has not imported SQLAlchemy."""
    from kombu.exceptions import OperationalError as BrokerError  # noqa: PLC0415
    from redis.exceptions import RedisError  # noqa: PLC0415
    from sqlalchemy.exc import OperationalError, ProgrammingError  # noqa: PLC0415

    from shiftswitch.access import AccessError  # noqa: PLC0415
    from shiftswitch.db import BadDatabaseUrl  # noqa: PLC0415
    from shiftswitch.sources.store import NoRoster  # noqa: PLC0415

    if isinstance(exc, AccessError | NoRoster | BadDatabaseUrl):
        return str(exc)
    if isinstance(exc, OperationalError | ProgrammingError):
        return f"database: {_database_reason(exc)}"
    if isinstance(exc, RedisError | BrokerError):
        return f"redis: {exc} (check REDIS_URL; is Redis running?)"
    raise exc


def _database_reason(exc: Any) -> str:
    """Why the database refused, and what to do: a table or column missing (a database not
    migrated, or one release behind) is for 'db upgrade'; a server, role or database not
    there is for DATABASE_URL."""
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "unreachable"
    schema = ("no such table", "no such column", "relation ", "column ")
    if any(s in reason for s in schema) and "connection" not in reason:
        return f"{reason}: run 'shiftswitch db upgrade' first"
    return f"{reason} (check DATABASE_URL)"


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"shiftswitch: error: {message}", err=True)
    sys.exit(code)
