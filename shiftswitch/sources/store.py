"""The roster in the database (README: Roster format): the roster tables, written whole and
versioned.

Every write (an import, a rollback, an override added or removed) goes the same way, in one
transaction: take the roster's write lock (its row in ``changes``), read the roster the tables
hold, build the new roster's text from it, validate that text as ``roster validate`` would,
replace the rows, and record a version with its content, who made it and a summary of what
changed. An invalid roster raises :class:`~shiftswitch.problems.RosterError` and changes
nothing; two writes at once run one after the other, each on the roster the other left.

Overrides keep their ids across writes that leave them as they are: the id is how ``override
list`` names one and ``override remove`` takes it. The rows themselves are
:mod:`shiftswitch.sources.tables`'s; the numbering of versions is here (:func:`add_version`), for
every writer of ``roster_versions``, the scheduler's record of a roster file included.
"""

from __future__ import annotations

import getpass
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from types import MappingProxyType
from typing import NotRequired, TypedDict, Unpack

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from shiftswitch import audit
from shiftswitch.holds import bump
from shiftswitch.models import DeviceState
from shiftswitch.notify.changes import tell_changes
from shiftswitch.notify.config import NONE, NotifyConfig
from shiftswitch.planning.diff import RosterDiff
from shiftswitch.planning.validation import validate_built, validate_text
from shiftswitch.problems import Problem, RosterError
from shiftswitch.roster.dump import dump
from shiftswitch.roster.model import Roster
from shiftswitch.roster_tables import RosterDevice, RosterOverride, RosterSettings, RosterVersion
from shiftswitch.sources.tables import OVERRIDE_ORDER, read_roster, write_roster

DATABASE = "roster (database)"  # how problems of a stored roster name their source

# The roster in the tables (None: empty) -> the new roster: its text, or (for a roster of many
# dated assignments, which are not written and read as YAML) the roster itself.
Build = Callable[[Roster | None], str | Roster]


class Change(TypedDict):
    """What a roster write says of itself, for its version."""

    source: str  # what made it: "import FILE", "rollback to 3", "override add asha", ...
    by: str  # who made it (:func:`who`)
    now: datetime
    # The text's origin (a file's path), whose lines problems then point into; None for text
    # built here, whose problems are reported without lines.
    origin: NotRequired[str | None]


@dataclass(frozen=True, slots=True)
class Written:
    """A roster write that went through: the version it made and what changed."""

    number: int
    roster: Roster
    diff: RosterDiff
    warnings: tuple[Problem, ...]
    unchanged: bool = False  # the same roster as the one stored: no version recorded
    before: Roster | None = None  # the roster it replaced (None: the tables held none)


class NoRoster(LookupError):
    """The roster tables are empty: nothing was imported yet."""

    def __str__(self) -> str:
        return "no roster in the database; store one with 'shiftswitch roster import FILE'"


def who(by: str | None = None, *, process: str | None = None) -> str:
    """Who made a change (a roster version, a hold, a pause): ``--by`` when given, else the OS
    user; for a change a ``process`` makes on its own, that process and the OS user, such as
    ``scheduler (asha)``."""
    if by and by.strip():
        return by.strip()
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        return process or "unknown"
    return f"{process} ({user})" if process else user


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class RosterStore:
    def __init__(self, engine: Engine, notify: NotifyConfig = NONE) -> None:
        """``notify``: who is told of a write (an agent whose starts it changes)."""
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)
        self.notify = notify

    # -- reading ------------------------------------------------------------------------------

    def validated(self, now: datetime) -> tuple[int, Roster]:
        """:meth:`current`, checked again as ``roster validate`` would (conflicts are looked
        for from ``now``); raises :class:`RosterError` when it no longer passes."""
        number, stored = self.current()
        report = validate_built(stored, now)
        if not report.ok:
            raise RosterError((replace(p, line=None) for p in report.errors), DATABASE)
        assert report.roster is not None
        # The text names overrides by their place; the tables by their ids.
        named = tuple(
            replace(o, name=kept.name)
            for o, kept in zip(report.roster.overrides, stored.overrides, strict=True)
        )
        return number, replace(report.roster, overrides=named)

    def current(self) -> tuple[int, Roster]:
        """The version the tables hold and its roster, as stored (raises :class:`NoRoster`)."""
        with self.sessions() as session:
            found = read_roster(session)
        if found is None:
            raise NoRoster()
        return found

    def current_version(self) -> int | None:
        """The version the tables hold (None when they hold none), without reading the roster."""
        with self.sessions() as session:
            return session.scalar(select(RosterSettings.version).where(RosterSettings.id == 1))

    def last_version(self) -> int | None:
        """The newest version recorded (for a roster file: the last the scheduler put in force)."""
        with self.sessions() as session:
            return session.scalar(select(func.max(RosterVersion.number)))

    def versions(self) -> list[RosterVersion]:
        with self.sessions() as session:
            return list(session.scalars(select(RosterVersion).order_by(RosterVersion.number)))

    def version(self, number: int) -> RosterVersion | None:
        with self.sessions() as session:
            return session.get(RosterVersion, number)

    def version_from(self, source: str) -> RosterVersion | None:
        """The last version recorded from ``source``."""
        with self.sessions() as session:
            return session.scalars(
                select(RosterVersion)
                .where(RosterVersion.source == source)
                .order_by(RosterVersion.number.desc())
                .limit(1)
            ).first()

    def overrides(self) -> list[RosterOverride]:
        with self.sessions() as session:
            return list(session.scalars(select(RosterOverride).order_by(*OVERRIDE_ORDER)))

    # -- writing ------------------------------------------------------------------------------

    def write(self, build: Build, **change: Unpack[Change]) -> Written:
        """Replace the stored roster with the one ``build`` makes of it; record a version."""
        with self.sessions.begin() as session:
            written = write_in(session, build, notify=self.notify, **change)
            if written.unchanged:
                session.rollback()
        return written


def write_in(
    session: Session, build: Build, *, notify: NotifyConfig = NONE, **change: Unpack[Change]
) -> Written:
    """:meth:`RosterStore.write` in the caller's transaction, which commits it. An unchanged
    roster records nothing (the write lock stays taken until the caller's transaction ends).
    ``notify``: agents whose starts the write changes are told (``shift_changed``) in it."""
    bump(session, "roster")  # the write lock: waits for any other write to commit
    found = read_roster(session)
    before = found[1] if found else None
    built = build(before)
    if isinstance(built, Roster):
        report = validate_built(built, change["now"])
    else:
        report = validate_text(built, change["now"])
    if not report.ok:
        origin = change.get("origin")
        errors = report.errors
        if origin is None:
            errors = tuple(replace(p, line=None) for p in errors)
        raise RosterError(errors, origin or DATABASE)
    assert report.roster is not None
    after = report.roster
    diff = RosterDiff.between(before, after)
    if found is not None and not diff:
        return Written(found[0], found[1], diff, report.warnings, unchanged=True, before=before)
    number = add_version(
        session,
        dump(after),
        source=change["source"],
        by=change["by"],
        now=change["now"],
        summary=diff.summary(),
    )
    write_roster(session, after, number)
    audit.record(
        session, who=change["by"], what=audited(change["source"]), at=change["now"],
        target=change["source"], before=f"version {found[0]}" if found else None,
        after=f"version {number}: {diff.summary()}",
    )  # fmt: skip
    tell_changes(session, notify, before, after, number, change["now"])
    return Written(number, after, diff, report.warnings, before=before)


def audited(source: str) -> str:
    """What a roster write is, for the audit: from its ``source`` (``import FILE``, ``rollback
    to 3``, ``override add asha`` ...)."""
    for prefix, what in (
        ("import-shifts", "roster import-shifts"), ("rollback", "roster rollback"),
        ("override add", "override add"), ("override remove", "override remove"),
        ("device set-number", "device set-number"),
    ):  # fmt: skip
        if source.startswith(prefix):
            return what
    return "roster import"


def add_version(
    session: Session, content: str, *, source: str, by: str, now: datetime, summary: str
) -> int:
    """Record ``content`` as the next roster version, numbered one past the last, in the
    caller's transaction; return its number. The number is the table's key: of two writers
    that take the same one, the second fails to commit (the roster's writes take the write
    lock first; the scheduler, recording a file, takes it as a sign the other recorded it)."""
    number = (session.scalar(select(func.max(RosterVersion.number))) or 0) + 1
    session.add(
        RosterVersion(
            number=number,
            digest=digest(content),
            source=source,
            created_at=now,
            created_by=by,
            summary=summary,
            content=content,
        )
    )
    return number


def left_on(session: Session, before: Roster | None, after: Roster) -> list[DeviceState]:
    """The devices ``before`` names and ``after`` does not that Exotel last confirmed ON.

    shiftswitch never touches a device the roster does not name (README: Roster format), so each
    of these stays ON until someone turns it OFF: the commands and the scheduler say so.
    """
    if before is None:
        return []
    gone = {(a.name, d) for a in before.agents.values() for d in a.devices} - {
        (a.name, d) for a in after.agents.values() for d in a.devices
    }
    if not gone:
        return []
    states = session.scalars(
        select(DeviceState)
        .where(DeviceState.available.is_(True), DeviceState.agent.in_({a for a, _ in gone}))
        .order_by(DeviceState.agent, DeviceState.device)
    )
    return [s for s in states if (s.agent, s.device) in gone]


def renumber(
    session: Session,
    *,
    agent: str,
    device: str,
    old: str,
    new: str,
    **change: Unpack[Change],
) -> Written | None:
    """Give the stored roster's ``agent`` ``device`` the number ``new`` in place of ``old``,
    as a new version, in the caller's transaction. None, and nothing written, when the tables
    do not give that device as ``old`` (no roster stored, or one edited since)."""
    # A plain read (no object kept in the session), so that the write below reads the rows as
    # they are once it holds the lock.
    stored = session.scalar(
        select(RosterDevice.ref).where(RosterDevice.agent == agent, RosterDevice.name == device)
    )
    if stored != old:
        return None
    written = write_in(
        session,
        lambda before: renumbered(before, agent, device, old, new),
        **change,
    )
    return None if written.unchanged else written


def renumbered(roster: Roster | None, agent: str, device: str, old: str, new: str) -> Roster:
    """``roster`` with ``agent`` ``device`` given as ``new``; as it is when it does not give
    that device as ``old``."""
    if roster is None:
        raise NoRoster()
    found = roster.agents.get(agent)
    if found is None or getattr(found.devices.get(device), "ref", None) != old:
        return roster
    devices = {
        name: replace(d, ref=new, kind="tel") if name == device else d
        for name, d in found.devices.items()
    }
    agents = {**roster.agents, agent: replace(found, devices=MappingProxyType(devices))}
    return replace(roster, agents=MappingProxyType(agents), warnings=())
