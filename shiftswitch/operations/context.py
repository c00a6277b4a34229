"""The settings, clock and stores an operation needs, built once by its shell."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from functools import cached_property

from sqlalchemy import Engine

from shiftswitch.actions import ActionStore
from shiftswitch.broker import CeleryDispatcher, make_celery
from shiftswitch.clock import Clock
from shiftswitch.db import make_engine
from shiftswitch.holds import Controls
from shiftswitch.planner import Planner, Transition
from shiftswitch.roster import source as source_module
from shiftswitch.roster.model import Roster
from shiftswitch.roster.source import RosterSource
from shiftswitch.roster.store import RosterStore
from shiftswitch.settings import Settings


class Operations:
    """What every operation needs: settings and clock, and the stores made from them on first
    use (one database engine, one Celery app, for the life of the shell)."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.settings.database_url)

    @cached_property
    def _dispatcher(self) -> CeleryDispatcher:
        return CeleryDispatcher(make_celery(self.settings))

    def action_store(self) -> ActionStore:
        return ActionStore(self.engine)

    def dispatcher(self) -> CeleryDispatcher:
        return self._dispatcher

    def roster_store(self) -> RosterStore:
        return RosterStore(self.engine)

    def controls(self) -> Controls:
        return Controls(self.engine)

    def reads_stored(self, roster_path: str | None = None) -> bool:
        """Whether the roster acted on is the one in the database (see :mod:`..roster.source`)."""
        return source_module.reads_stored(self.settings, roster_path)

    def roster_source(self, roster_path: str | None, source: str | None = None) -> RosterSource:
        """The roster a long-running command polls: a file given with --roster, else --source
        (or SHIFTSWITCH_ROSTER_SOURCE): the file at SHIFTSWITCH_ROSTER, or the roster tables."""
        return source_module.open_source(self.settings, self.engine, roster_path, source)

    def current_roster(self, roster_path: str | None, now: datetime) -> Roster:
        """The roster acted on: the file given, else the configured source's."""
        return source_module.current_roster(self.settings, self.engine, roster_path, now)


class LiveRoster:
    """The roster in force, for a shell that lives long and answers often (the HTTP API): read
    and validated once, then looked at again at most once a second, as the scheduler does
    (a file's size and time, or the database's edit counter), so that a request costs no
    validation. An invalid edit is refused and the last good roster stays, as in the scheduler.
    """

    POLL_EVERY = 1.0  # seconds
    PLANNED = timedelta(hours=25)  # the transitions kept: a day ahead, for an hour

    def __init__(self, ops: Operations) -> None:
        self.ops = ops
        self._source: RosterSource | None = None
        self._polled = 0.0
        self._lock = threading.Lock()
        self._planned: tuple[Roster, datetime, list[Transition]] | None = None

    def upcoming(self, now: datetime, hours: float = 24) -> list[Transition]:
        """The roster's transitions in [now, now + hours) (at most 24), as
        ``Planner(roster).transitions`` gives them; planned once an hour, not each time."""
        roster = self.get(now)
        end = now + timedelta(hours=hours)
        with self._lock:
            planned = self._planned
            if (
                planned is None
                or planned[0] is not roster
                or not (planned[1] <= now and end <= planned[1] + self.PLANNED)
            ):
                planned = (roster, now, Planner(roster).transitions(now, now + self.PLANNED))
                self._planned = planned
        return [t for t in planned[2] if now <= t.at < end]

    def get(self, now: datetime) -> Roster:
        with self._lock:
            if self._source is None or self._source.roster is None:
                source = self.ops.roster_source(None)
                source.load(now)  # RosterError, NoRoster: the caller says why
                self._source, self._polled = source, time.monotonic()
            elif time.monotonic() - self._polled >= self.POLL_EVERY:
                self._source.poll(now, self.ops.controls().serials())
                self._polled = time.monotonic()
            assert self._source.roster is not None
            return self._source.roster

    def changed(self) -> None:
        """A change was just made here: look at the roster again at the next :meth:`get`, so
        that the caller who made it sees it at once."""
        with self._lock:
            self._polled = 0.0
