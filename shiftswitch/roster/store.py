"""The roster in the database (SPEC §2): the roster tables, written whole and versioned.

Every write (an import, a rollback, an override added or removed) goes the same way, in one
transaction: take the roster's write lock (its row in ``changes``), read the roster the tables
hold, build the new roster's text from it, validate that text as ``roster validate`` would,
replace the rows, and record a version with its content, who made it and a summary of what
changed. An invalid roster raises :class:`~shiftswitch.problems.RosterError` and changes
nothing; two writes at once run one after the other, each on the roster the other left.

Overrides keep their ids across writes that leave them as they are: the id is how ``override
list`` names one and ``override remove`` takes it.
"""

from __future__ import annotations

import getpass
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, delete, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from shiftswitch.holds import bump
from shiftswitch.models import (
    DeviceState,
    RosterAccount,
    RosterAgent,
    RosterDevice,
    RosterOverride,
    RosterSettings,
    RosterShift,
    RosterShiftMember,
    RosterSkipDate,
    RosterVersion,
)
from shiftswitch.problems import Problem, RosterError
from shiftswitch.roster.diff import RosterDiff
from shiftswitch.roster.dump import dump
from shiftswitch.roster.model import (
    Account,
    Agent,
    Device,
    Member,
    Override,
    RateLimit,
    Roster,
    Shift,
    classify_device,
    parse_rate,
)
from shiftswitch.roster.validation import validate_text

DATABASE = "roster (database)"  # how problems of a stored roster name their source

Build = Callable[[Roster | None], str]  # the roster in the tables (None: empty) -> new text


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


def who(by: str | None = None) -> str:
    """Who made a change: ``--by`` when given, else the OS user."""
    if by and by.strip():
        return by.strip()
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class RosterStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)

    # -- reading ------------------------------------------------------------------------------

    def validated(self, now: datetime) -> tuple[int, Roster]:
        """:meth:`current`, checked again as ``roster validate`` would (conflicts are looked
        for from ``now``); raises :class:`RosterError` when it no longer passes."""
        number, stored = self.current()
        report = validate_text(dump(stored), now)
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
            found = load(session)
        if found is None:
            raise NoRoster()
        return found

    def current_version(self) -> int | None:
        """The version the tables hold (None when they hold none), without reading the roster."""
        with self.sessions() as session:
            return session.scalar(select(RosterSettings.version).where(RosterSettings.id == 1))

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
            return list(
                session.scalars(
                    select(RosterOverride).order_by(
                        RosterOverride.starts_at, RosterOverride.agent, RosterOverride.id
                    )
                )
            )

    # -- writing ------------------------------------------------------------------------------

    def write(
        self,
        build: Build,
        *,
        source: str,
        by: str,
        now: datetime,
        origin: str | None = None,
    ) -> Written:
        """Replace the stored roster with the one ``build`` makes of it; record a version.

        ``origin`` names the text in problems (a file's path, whose lines then point into it);
        None for text built here, whose problems are reported without lines.
        """
        with self.sessions.begin() as session:
            written = write_in(session, build, source=source, by=by, now=now, origin=origin)
            if written.unchanged:
                session.rollback()
        return written


def write_in(
    session: Session,
    build: Build,
    *,
    source: str,
    by: str,
    now: datetime,
    origin: str | None = None,
) -> Written:
    """:meth:`RosterStore.write` in the caller's transaction, which commits it. An unchanged
    roster records nothing (the write lock stays taken until the caller's transaction ends)."""
    bump(session, "roster")  # the write lock: waits for any other write to commit
    found = load(session)
    before = found[1] if found else None
    text = build(before)
    report = validate_text(text, now)
    if not report.ok:
        errors = report.errors
        if origin is None:
            errors = tuple(replace(p, line=None) for p in errors)
        raise RosterError(errors, origin or DATABASE)
    assert report.roster is not None
    after = report.roster
    diff = RosterDiff.between(before, after)
    if found is not None and not diff:
        return Written(found[0], found[1], diff, report.warnings, unchanged=True, before=before)
    content = dump(after)
    number = (session.scalar(select(func.max(RosterVersion.number))) or 0) + 1
    _store(session, after, number)
    session.add(
        RosterVersion(
            number=number,
            digest=digest(content),
            source=source,
            created_at=now,
            created_by=by,
            summary=diff.summary(),
            content=content,
        )
    )
    return Written(number, after, diff, report.warnings, before=before)


def left_on(session: Session, before: Roster | None, after: Roster) -> list[DeviceState]:
    """The devices ``before`` names and ``after`` does not that Exotel last confirmed ON.

    shiftswitch never touches a device the roster does not name (SPEC §2), so each of these
    stays ON until someone turns it OFF: the commands and the scheduler say so.
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
    source: str,
    by: str,
    now: datetime,
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
        source=source,
        by=by,
        now=now,
    )
    return None if written.unchanged else written


def renumbered(roster: Roster | None, agent: str, device: str, old: str, new: str) -> str:
    """``roster``'s text with ``agent`` ``device`` given as ``new``; as it is when it does not
    give that device as ``old``."""
    if roster is None:
        raise NoRoster()
    found = roster.agents.get(agent)
    if found is None or getattr(found.devices.get(device), "ref", None) != old:
        return dump(roster)
    devices = {
        name: replace(d, ref=new, kind="tel") if name == device else d
        for name, d in found.devices.items()
    }
    agents = {**roster.agents, agent: replace(found, devices=MappingProxyType(devices))}
    return dump(replace(roster, agents=MappingProxyType(agents), warnings=()))


# -- rows <-> roster ----------------------------------------------------------------------------


def load(session: Session) -> tuple[int, Roster] | None:
    """The roster the tables hold, with its version; None when they hold none."""
    settings = session.get(RosterSettings, 1)
    if settings is None:
        return None
    zone = ZoneInfo(settings.timezone)
    accounts = {
        a.name: Account(
            a.name,
            a.sid,
            a.base_url,
            a.region,
            _rate(a.rate_limit),
            _seconds(a.ramp_seconds),
        )
        for a in session.scalars(select(RosterAccount))
    }
    devices: dict[str, dict[str, Device]] = {}
    for d in session.scalars(
        select(RosterDevice).order_by(RosterDevice.agent, RosterDevice.position)
    ):
        kind = classify_device(d.ref)
        assert kind is not None, f"stored device {d.agent}:{d.name} has a bad ref"
        devices.setdefault(d.agent, {})[d.name] = Device(d.name, d.ref, kind)
    agents = {
        a.name: Agent(a.name, a.account, a.user_id, MappingProxyType(devices.get(a.name, {})))
        for a in session.scalars(select(RosterAgent).order_by(RosterAgent.name))
    }
    members: dict[str, list[Member]] = {}
    for m in session.scalars(
        select(RosterShiftMember).order_by(RosterShiftMember.shift, RosterShiftMember.position)
    ):
        members.setdefault(m.shift, []).append(Member(m.agent, m.device))
    skips: dict[str, set[date]] = {}
    for s in session.scalars(select(RosterSkipDate)):
        skips.setdefault(s.shift, set()).add(s.day)
    shifts = tuple(
        Shift(
            index=i,
            name=s.name,
            start=s.start,
            duration=_seconds(s.duration_seconds),
            end=s.end_cron,
            zone=ZoneInfo(s.timezone) if s.timezone else zone,
            skip_dates=frozenset(skips.get(s.name, ())),
            members=tuple(members.get(s.name, ())),
            ramp=_seconds(s.ramp_seconds),
        )
        for i, s in enumerate(session.scalars(select(RosterShift).order_by(RosterShift.position)))
    )
    overrides = tuple(
        Override(
            i,
            o.agent,
            o.device,
            o.starts_at,
            o.ends_at,
            ZoneInfo(o.timezone) if o.timezone else zone,
            name=f"override {o.id}",
        )
        for i, o in enumerate(
            session.scalars(
                select(RosterOverride).order_by(
                    RosterOverride.starts_at, RosterOverride.agent, RosterOverride.id
                )
            )
        )
    )
    roster = Roster(
        version=1,
        zone=zone,
        accounts=MappingProxyType(accounts),
        agents=MappingProxyType(agents),
        shifts=shifts,
        overrides=overrides,
    )
    return settings.version, roster


def override_key(o: Override | RosterOverride) -> tuple[str, str | None, datetime, datetime]:
    if isinstance(o, Override):
        return o.agent, o.device, o.start, o.end
    return o.agent, o.device, o.starts_at, o.ends_at


def _store(session: Session, roster: Roster, version: int) -> None:
    """Make the tables hold ``roster`` (already validated), as version ``version``."""
    for table in (RosterShiftMember, RosterSkipDate, RosterShift, RosterDevice, RosterAgent):
        session.execute(delete(table))
    # Overrides that stay keep their rows (and ids); the rest go, the new ones come.
    wanted = {override_key(o): o for o in roster.overrides}
    for row in session.scalars(select(RosterOverride)):
        if wanted.pop(override_key(row), None) is None:
            session.delete(row)
    session.flush()
    session.execute(delete(RosterAccount))
    zone = roster.zone.key
    settings = session.get(RosterSettings, 1)
    if settings is None:
        session.add(RosterSettings(id=1, timezone=zone, version=version))
    else:
        settings.timezone, settings.version = zone, version
    _insert(
        session,
        RosterAccount,
        (
            {
                "name": a.name,
                "sid": a.sid,
                "region": a.region,
                "base_url": a.base_url,
                "rate_limit": str(a.rate_limit),
                "ramp_seconds": _whole(a.ramp),
            }
            for a in roster.accounts.values()
        ),
    )
    _insert(
        session,
        RosterAgent,
        (
            {"name": a.name, "account": a.account, "user_id": a.user_id}
            for a in roster.agents.values()
        ),
    )
    _insert(
        session,
        RosterDevice,
        (
            {"agent": a.name, "name": d.name, "position": i, "ref": d.ref}
            for a in roster.agents.values()
            for i, d in enumerate(a.devices.values())
        ),
    )
    _insert(
        session,
        RosterShift,
        (
            {
                "name": s.name,
                "position": i,
                "start": s.start,
                "duration_seconds": _whole(s.duration),
                "end_cron": s.end,
                "timezone": None if s.zone.key == zone else s.zone.key,
                "ramp_seconds": _whole(s.ramp),
            }
            for i, s in enumerate(roster.shifts)
        ),
    )
    _insert(
        session,
        RosterShiftMember,
        (
            {"shift": s.name, "position": i, "agent": m.agent, "device": m.device}
            for s in roster.shifts
            for i, m in enumerate(s.members)
        ),
    )
    _insert(
        session,
        RosterSkipDate,
        ({"shift": s.name, "day": d} for s in roster.shifts for d in sorted(s.skip_dates)),
    )
    _insert(
        session,
        RosterOverride,
        (
            {
                "agent": o.agent,
                "device": o.device,
                "starts_at": o.start,
                "ends_at": o.end,
                "timezone": None if o.zone.key == zone else o.zone.key,
            }
            for o in wanted.values()
        ),
    )


def _insert(session: Session, model: type, rows: Iterable[dict[str, object]]) -> None:
    batch = list(rows)
    if batch:
        session.execute(insert(model), batch)


def _rate(text: str) -> RateLimit:
    rate = parse_rate(text)
    assert rate is not None, f"stored rate limit {text!r} is not a rate"
    return rate


def _seconds(value: int | None) -> timedelta | None:
    return None if value is None else timedelta(seconds=value)


def _whole(value: timedelta | None) -> int | None:
    return None if value is None else int(value.total_seconds())
