"""What every command of the CLI shares: settings and clock, built once in ``main``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cached_property

import click
from sqlalchemy import Engine

from shiftswitch.actions import ActionStore
from shiftswitch.broker import CeleryDispatcher, make_celery
from shiftswitch.clock import Clock
from shiftswitch.db import make_engine
from shiftswitch.roster import source as source_module
from shiftswitch.roster.model import Roster
from shiftswitch.roster.source import RosterSource
from shiftswitch.roster.store import RosterStore
from shiftswitch.settings import Settings

EXIT_PROBLEMS = 1
EXIT_USAGE = 2


class Context:
    """What every command needs, built once in :func:`shiftswitch.cli.main`."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock

    @cached_property
    def engine(self) -> Engine:
        """One database engine for the whole command, made on first use."""
        return make_engine(self.settings.database_url)

    def action_store(self) -> ActionStore:
        return ActionStore(self.engine)

    def dispatcher(self) -> CeleryDispatcher:
        return CeleryDispatcher(make_celery(self.settings))

    def roster_store(self) -> RosterStore:
        return RosterStore(self.engine)

    def reads_stored(self, roster_path: str | None) -> bool:
        """Whether the command reads the roster in the database (see :mod:`..roster.source`)."""
        return source_module.reads_stored(self.settings, roster_path)

    def roster_source(self, roster_path: str | None, source: str | None = None) -> RosterSource:
        """The roster a long-running command polls: a file given with --roster, else --source
        (or SHIFTSWITCH_ROSTER_SOURCE): the file at SHIFTSWITCH_ROSTER, or the roster tables."""
        return source_module.open_source(self.settings, self.engine, roster_path, source)

    def current_roster(self, roster_path: str | None, now: datetime) -> Roster:
        """The roster the command acts on: the file given, else the configured source's."""
        return source_module.current_roster(self.settings, self.engine, roster_path, now)


pass_context = click.make_pass_decorator(Context)


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print rows under a header, in columns as wide as their widest cell."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    for row in (header, *rows):
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
