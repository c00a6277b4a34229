"""The roster as rows of the roster tables, and back (the roster format's model, row by row).

:func:`read_roster` builds the :class:`~shiftswitch.roster.model.Roster` the tables hold;
:func:`write_roster` makes them hold another (already validated). Overrides and assignments that
stay keep their rows, and so their ids. Versions, locking and validation are
:mod:`shiftswitch.sources.store`'s.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from shiftswitch.db import CHUNK, chunks
from shiftswitch.pacing import RateLimit, parse_rate
from shiftswitch.roster.model import (
    Account,
    Agent,
    Assignment,
    Device,
    Member,
    Override,
    Roster,
    Shift,
    classify_device,
)
from shiftswitch.roster_tables import (
    RosterAccount,
    RosterAgent,
    RosterAssignment,
    RosterDevice,
    RosterOverride,
    RosterSettings,
    RosterShift,
    RosterShiftMember,
    RosterSkipDate,
)

# The order overrides are listed in (``override list``) and numbered in (:attr:`Override.index`).
OVERRIDE_ORDER = (RosterOverride.starts_at, RosterOverride.agent, RosterOverride.id)
ASSIGNMENT_ORDER = (RosterAssignment.starts_at, RosterAssignment.agent, RosterAssignment.id)


def read_roster(session: Session) -> tuple[int, Roster] | None:
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
        a.name: Agent(
            a.name, a.account, a.user_id, MappingProxyType(devices.get(a.name, {})), a.contact
        )
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
            reason=o.reason,
        )
        for i, o in enumerate(session.scalars(select(RosterOverride).order_by(*OVERRIDE_ORDER)))
    )
    assignments = _assignments(session, zone)
    roster = Roster(
        version=1,
        zone=zone,
        accounts=MappingProxyType(accounts),
        agents=MappingProxyType(agents),
        shifts=shifts,
        overrides=overrides,
        assignments=assignments,
    )
    return settings.version, roster


def _assignments(session: Session, zone: ZoneInfo) -> tuple[Assignment, ...]:
    """The stored assignments, by start: read as plain rows (a month of 10,000 agents is
    250,000 of them), each zone made once."""
    zones: dict[str, ZoneInfo] = {}
    rows = session.execute(
        select(
            RosterAssignment.id, RosterAssignment.agent, RosterAssignment.device,
            RosterAssignment.starts_at, RosterAssignment.ends_at, RosterAssignment.timezone,
            RosterAssignment.off, RosterAssignment.shift, RosterAssignment.activity,
        ).order_by(*ASSIGNMENT_ORDER)
    )  # fmt: skip
    out = []
    for i, (id_, agent, device, start, end, own, off, shift, activity) in enumerate(rows):
        where = zone if own is None else zones.get(own) or zones.setdefault(own, ZoneInfo(own))
        out.append(Assignment(i, agent, device, start, end, where, off, shift, activity,
                              name=f"assignment {id_}"))  # fmt: skip
    return tuple(out)


OverrideKey = tuple[str, str | None, datetime, datetime, str | None]


def override_key(o: Override | RosterOverride) -> OverrideKey:
    """What makes an override itself: a new reason is a new override (its row written anew)."""
    if isinstance(o, Override):
        return o.agent, o.device, o.start, o.end, o.reason
    return o.agent, o.device, o.starts_at, o.ends_at, o.reason


AssignmentKey = tuple[str, str | None, datetime, datetime, bool, str | None, str | None, str | None]


def assignment_key(a: Assignment, zone: str) -> AssignmentKey:
    own = None if a.zone.key == zone else a.zone.key
    return a.agent, a.device, a.start, a.end, a.off, a.shift, a.activity, own


def write_roster(session: Session, roster: Roster, version: int) -> None:
    """Make the tables hold ``roster`` (already validated), as version ``version``."""
    for table in (RosterShiftMember, RosterSkipDate, RosterShift, RosterDevice, RosterAgent):
        session.execute(delete(table))
    # Overrides and assignments that stay keep their rows (and ids); the rest go, the new come.
    wanted = {override_key(o): o for o in roster.overrides}
    for row in session.scalars(select(RosterOverride)):
        if wanted.pop(override_key(row), None) is None:
            session.delete(row)
    zone = roster.zone.key
    dated = {assignment_key(a, zone): a for a in roster.assignments}
    gone: list[int] = []
    for stored in session.execute(
        select(
            RosterAssignment.id, RosterAssignment.agent, RosterAssignment.device,
            RosterAssignment.starts_at, RosterAssignment.ends_at, RosterAssignment.off,
            RosterAssignment.shift, RosterAssignment.activity, RosterAssignment.timezone,
        )
    ):  # fmt: skip
        id_, *key = stored
        if dated.pop(tuple(key), None) is None:  # type: ignore[arg-type]
            gone.append(id_)
    for ids in chunks(gone, CHUNK):
        session.execute(delete(RosterAssignment).where(RosterAssignment.id.in_(ids)))
    session.flush()
    session.execute(delete(RosterAccount))
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
            {"name": a.name, "account": a.account, "user_id": a.user_id, "contact": a.contact}
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
                "reason": o.reason,
            }
            for o in wanted.values()
        ),
    )
    _insert(
        session,
        RosterAssignment,
        (
            {
                "agent": a.agent,
                "device": a.device,
                "starts_at": a.start,
                "ends_at": a.end,
                "off": a.off,
                "shift": a.shift,
                "activity": a.activity,
                "timezone": None if a.zone.key == zone else a.zone.key,
            }
            for a in dated.values()
        ),
    )


COPY_FROM = 1000  # rows from which PostgreSQL is sent them by COPY


def _insert(session: Session, model: type, rows: Iterable[dict[str, object]]) -> None:
    """Insert ``rows`` as plain rows: by COPY on PostgreSQL when they are many (a month of
    assignments: 250,000 rows in about a second), else by Core's executemany."""
    batch = list(rows)
    if not batch:
        return
    table = model.__table__  # type: ignore[attr-defined]
    connection = session.connection()
    if connection.dialect.name == "postgresql" and len(batch) >= COPY_FROM:
        columns = list(batch[0])
        driver = connection.connection.driver_connection
        assert driver is not None
        names = ", ".join(f'"{c}"' for c in columns)
        with (
            driver.cursor() as cursor,
            cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy,
        ):
            for row in batch:
                copy.write_row([row[c] for c in columns])
        return
    session.execute(insert(table), batch)


def _rate(text: str) -> RateLimit:
    rate = parse_rate(text)
    assert rate is not None, f"stored rate limit {text!r} is not a rate"
    return rate


def _seconds(value: int | None) -> timedelta | None:
    return None if value is None else timedelta(seconds=value)


def _whole(value: timedelta | None) -> int | None:
    return None if value is None else int(value.total_seconds())
