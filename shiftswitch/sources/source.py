"""Where the roster in force comes from, decided in one place (README: Roster format; How
switching works).

``SHIFTSWITCH_ROSTER_SOURCE`` names it: ``yaml`` (the file ``SHIFTSWITCH_ROSTER``, the default)
or ``db`` (the roster tables). A command given a file (``--roster FILE``) reads that file
whatever the setting. The scheduler keeps a :data:`RosterSource` and polls it each tick; every
command and the health check ask :func:`reads_stored`, :func:`open_source` or
:func:`current_roster` here, so they all agree.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from sqlalchemy import Engine

from shiftswitch.hosts import AllowedHosts
from shiftswitch.logs import event
from shiftswitch.planning.validation import Report, validate_text, validated_roster
from shiftswitch.problems import Problem, RosterError
from shiftswitch.roster.loader import read_text
from shiftswitch.roster.model import Roster
from shiftswitch.settings import ROSTER_SOURCES, Settings
from shiftswitch.sources.store import DATABASE, NoRoster, RosterStore, digest

log = logging.getLogger("shiftswitch.scheduler")

YAML, DB = ROSTER_SOURCES


def reads_stored(
    settings: Settings, roster_path: str | None = None, source: str | None = None
) -> bool:
    """Whether the roster is the one in the database: no file given, and the database is the
    source asked for (``source``) or configured."""
    return roster_path is None and (source or settings.roster_source) == DB


def open_source(
    settings: Settings, engine: Engine, roster_path: str | None = None, source: str | None = None
) -> RosterSource:
    """The roster source a long-running process polls (the scheduler, ``reconcile``)."""
    if reads_stored(settings, roster_path, source):
        return RosterTables(RosterStore(engine))
    return RosterFile(roster_path or settings.roster_path)


def current_roster(
    settings: Settings, engine: Engine, roster_path: str | None, now: datetime
) -> Roster:
    """The valid roster a command acts on: the file given, else the configured source's
    (raises :class:`RosterError`, or :class:`NoRoster` for empty tables)."""
    if reads_stored(settings, roster_path):
        return RosterStore(engine).validated(now)[1]
    return validated_roster(roster_path or settings.roster_path, now)


class RosterFile:
    """The YAML roster, read again when the file changes; an invalid edit is refused."""

    def __init__(self, path: str, hosts: AllowedHosts | None = None) -> None:
        """``hosts``: where its accounts' ``base_url`` may point (default: the environment's,
        :class:`~shiftswitch.hosts.AllowedHosts`)."""
        self.path = path
        self.hosts = hosts
        self.roster: Roster | None = None
        self.digest = ""
        self.text = ""
        self._stamp: tuple[int, int] | None = None
        self._refused = ""
        # Told of each edit refused (its identity, its first problem): the scheduler tells
        # people (README: Notifications).
        self.on_refused: Callable[[str, str], None] | None = None

    def load(self, now: datetime) -> Roster:
        """The roster now in the file, which must be valid (raises :class:`RosterError`)."""
        text, stamp = self._read()
        report = _validate(text, now, self.hosts)
        if not report.ok:
            raise RosterError(report.errors, self.path)
        assert report.roster is not None
        self.roster, self.digest, self._stamp = report.roster, digest(text), stamp
        self.text = text
        return report.roster

    def poll(self, now: datetime, serials: Mapping[str, int] | None = None) -> Roster | None:
        """A new valid roster if the file changed since the last look, else None."""
        try:
            st = os.stat(self.path)
        except OSError as exc:
            if self._refused != "missing":
                log.error("roster=%s unreadable: %s; keeping the last good roster", self.path, exc)
                self._refused = "missing"
            return None
        if (st.st_mtime_ns, st.st_size) == self._stamp:
            return None
        try:
            text, stamp = self._read()
        except RosterError as exc:  # looked at again next tick; said once
            if self._refused != str(exc):
                self._refused = str(exc)
                self._log_refused(exc.problems)
            return None
        self._stamp = stamp
        new = digest(text)
        if new in (self.digest, self._refused):
            return None
        report = _validate(text, now, self.hosts)
        if not report.ok:
            self._refused = new
            self._log_refused(report.errors)
            return None
        assert report.roster is not None
        self.roster, self.digest, self._refused = report.roster, new, ""
        self.text = text
        return report.roster

    def _log_refused(self, problems: Sequence[Problem]) -> None:
        first = problems[0].render(self.path) if problems else ""
        event(
            log,
            logging.ERROR,
            "roster_refused",
            roster=self.path,
            problems=len(problems),
            first=first,
            kept="the last good roster stays in force",
        )
        if self.on_refused is not None:
            self.on_refused(f"{self.path}/{self._refused}", first)

    def _read(self) -> tuple[str, tuple[int, int]]:
        try:
            st = os.stat(self.path)
        except OSError:
            st = None
        text = read_text(self.path)
        return text, (st.st_mtime_ns, st.st_size) if st else (0, 0)


def _validate(text: str, now: datetime, hosts: AllowedHosts | None = None) -> Report:
    """:func:`validate_text`, and a roster that exhausts memory or the stack while being read
    or checked is refused like any other, so that a running scheduler keeps its last good one
    (the limits on a document should leave no such roster)."""
    try:
        return validate_text(text, now, hosts)
    except (MemoryError, RecursionError) as exc:
        what = "memory" if isinstance(exc, MemoryError) else "the stack"
        problem = Problem((), f"reading the roster ran out of {what}; is it the right file?")
        return Report(None, (problem,), ())


class RosterTables:
    """The roster in the database: a new version (an import, a rollback, an override added or
    removed) is picked up at the next tick; one that no longer validates is refused."""

    path = DATABASE

    def __init__(self, store: RosterStore) -> None:
        self.store = store
        self.roster: Roster | None = None
        self.version: int | None = None
        self.digest = ""
        self.text = ""
        self._serial: int | None = None
        self._refused: int | None = None
        self.on_refused: Callable[[str, str], None] | None = None  # see RosterFile

    def load(self, now: datetime) -> Roster:
        """The stored roster, which must be valid (raises :class:`RosterError`, or
        :class:`NoRoster` when nothing was imported)."""
        self.version, self.roster = self.store.validated(now)
        return self.roster

    def poll(self, now: datetime, serials: Mapping[str, int] | None = None) -> Roster | None:
        """The stored roster if a new version was stored since the last look, else None."""
        serial = (serials or {}).get("roster")
        if serial is not None and serial == self._serial:
            return None
        number = self.store.current_version()  # a database error: looked at again next tick
        if number is None or number in (self.version, self._refused):
            self._serial = serial
            return None
        try:
            number, roster = self.store.validated(now)
        except RosterError as exc:
            self._serial, self._refused = serial, number
            first = exc.problems[0].render() if exc.problems else ""
            event(
                log,
                logging.ERROR,
                "roster_refused",
                roster=f"{DATABASE} version {number}",
                problems=len(exc.problems),
                first=first,
                kept="the last good roster stays in force",
            )
            if self.on_refused is not None:
                self.on_refused(f"{DATABASE}/{number}", first)
            return None
        except NoRoster:
            return None
        self._serial, self.version, self.roster = serial, number, roster
        event(log, logging.INFO, "roster", roster=DATABASE, version=number)
        return roster


RosterSource = RosterFile | RosterTables
