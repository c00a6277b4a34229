"""The settings, clock and stores an operation needs, built once by its shell.

The stores' modules (SQLAlchemy, Celery, redis-py) are imported when a store is first asked
for, not with this module: every command of the command line builds an :class:`Operations`,
and one that only reads a file (``roster validate``) should not wait for them.
"""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING

from shiftswitch.clock import Clock
from shiftswitch.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from shiftswitch.actions import ActionStore
    from shiftswitch.broker import CeleryDispatcher
    from shiftswitch.holds import Controls
    from shiftswitch.roster.model import Roster
    from shiftswitch.sources.source import RosterSource
    from shiftswitch.sources.store import RosterStore


class Operations:
    """What every operation needs: settings and clock, and the stores made from them on first
    use (one database engine, one Celery app, for the life of the shell)."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock

    @cached_property
    def engine(self) -> Engine:
        return self._make_engine()

    def _make_engine(self) -> Engine:
        from shiftswitch.db import make_engine  # noqa: PLC0415

        return make_engine(self.settings.database_url)

    @cached_property
    def _dispatcher(self) -> CeleryDispatcher:
        from shiftswitch.broker import CeleryDispatcher, make_celery  # noqa: PLC0415

        return CeleryDispatcher(make_celery(self.settings))

    def action_store(self) -> ActionStore:
        from shiftswitch.actions import ActionStore  # noqa: PLC0415

        return ActionStore(self.engine)

    def dispatcher(self) -> CeleryDispatcher:
        return self._dispatcher

    def roster_store(self) -> RosterStore:
        from shiftswitch.notify.service import configured  # noqa: PLC0415
        from shiftswitch.sources.store import RosterStore  # noqa: PLC0415

        return RosterStore(self.engine, configured(self.settings.notify_path))

    def controls(self) -> Controls:
        from shiftswitch.holds import Controls  # noqa: PLC0415

        return Controls(self.engine)

    def reads_stored(self, roster_path: str | None = None) -> bool:
        """Whether the roster acted on is the one in the database (see :mod:`..roster.source`)."""
        from shiftswitch.sources import source  # noqa: PLC0415

        return source.reads_stored(self.settings, roster_path)

    def roster_source(self, roster_path: str | None, source: str | None = None) -> RosterSource:
        """The roster a long-running command polls: a file given with --roster, else --source
        (or SHIFTSWITCH_ROSTER_SOURCE): the file at SHIFTSWITCH_ROSTER, or the roster tables."""
        from shiftswitch.sources import source as source_module  # noqa: PLC0415

        return source_module.open_source(self.settings, self.engine, roster_path, source)

    def current_roster(self, roster_path: str | None, now: datetime) -> Roster:
        """The roster acted on: the file given, else the configured source's."""
        from shiftswitch.sources import source  # noqa: PLC0415

        return source.current_roster(self.settings, self.engine, roster_path, now)
