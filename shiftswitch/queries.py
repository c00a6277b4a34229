"""The reads of the results tables that status, the console, `check` and the scheduler make,
each written once and named, so that the views only reshape what they are given: what "recent"
means, who is ON, the failures of the last day, what is under way, the checks of Exotel, the
holds, pauses and outages in force."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Connection, Row, and_, case, func, select
from sqlalchemy.orm import Session

from shiftswitch.models import (
    OPEN_STATUSES,
    UNSENT_STATUSES,
    Action,
    ActionKind,
    Attempt,
    CheckKind,
    DeviceState,
    ExotelOutage,
    Hold,
    Pause,
    ReadBack,
    RemoteCheck,
    Source,
    Status,
)
from shiftswitch.roster_tables import RosterVersion

RECENT = timedelta(hours=24)  # failures and findings shown: those of the last day
UNSUCCESSFUL = (Status.FAILED, Status.BLOCKED)  # the final statuses that want a person's eye
if TYPE_CHECKING:  # SQLAlchemy 2.1's row types (2.0's take one tuple): for the checker only
    # A device ON: account, agent, device, user id, device id, confirmed at, by which action.
    OnRow = Row[str, str | None, str | None, str, str, datetime, int | None]


def unsuccessful() -> ColumnElement[bool]:
    """SQL: an action failed or was blocked."""
    return Action.status.in_(UNSUCCESSFUL)


def recent_failures(session: Session, now: datetime, limit: int) -> list[Action]:
    """The failed and blocked actions due in the last :data:`RECENT`, newest first."""
    return list(
        session.scalars(
            select(Action)
            .where(unsuccessful(), Action.due_at >= now - RECENT)
            .order_by(Action.due_at.desc(), Action.id.desc())
            .limit(limit)
        )
    )


def open_counts(conn: Connection | Session) -> dict[str, int]:
    """How many actions are pending, queued and running (by ``ix_actions_status``, no scan)."""
    rows = conn.execute(
        select(Action.status, func.count())
        .where(Action.status.in_(sorted(OPEN_STATUSES)))
        .group_by(Action.status)
    )
    return {str(status): n for status, n in rows}


def open_outages(session: Session) -> list[ExotelOutage]:
    """The outages of Exotel not ended, oldest first."""
    return list(
        session.scalars(
            select(ExotelOutage)
            .where(ExotelOutage.ended_at.is_(None))
            .order_by(ExotelOutage.started_at, ExotelOutage.id)
        )
    )


def pauses_in_force(session: Session) -> list[Pause]:
    """The pauses not resumed, oldest first."""
    return list(
        session.scalars(
            select(Pause).where(Pause.resumed_at.is_(None)).order_by(Pause.paused_at, Pause.id)
        )
    )


def last_full_check(session: Session) -> RemoteCheck | None:
    """The last read of every managed device: a drift check, or ``reconcile --remote``."""
    return session.scalars(
        select(RemoteCheck)
        .where(RemoteCheck.kind.in_([CheckKind.DRIFT, CheckKind.REMOTE]))
        .order_by(RemoteCheck.id.desc())
        .limit(1)
    ).first()


def unsent_roster_switches(session: Session) -> list[Row[int, str | None, str | None, bool]]:
    """(id, agent, device, wants ON) of the switches not yet sent (pending, queued, or waiting
    for a retry) that the roster or a reconcile made: manual actions are not among them."""
    return list(
        session.execute(
            select(Action.id, Action.agent, Action.device, Action.wants_on).where(
                Action.status.in_(UNSENT_STATUSES),
                Action.source.in_([Source.SCHEDULE, Source.RECONCILE]),
                Action.kind == ActionKind.SWITCH,
                Action.agent.is_not(None),
            )
        )
    )


def last_version(session: Session) -> RosterVersion | None:
    """The roster version recorded last."""
    return session.scalars(
        select(RosterVersion).order_by(RosterVersion.number.desc()).limit(1)
    ).first()


def read_backs_due(session: Session, now: datetime) -> list[ReadBack]:
    """The read-backs due by ``now``: devices whose request went unanswered, to be read."""
    return list(session.scalars(select(ReadBack).where(ReadBack.due_at <= now)))


# A device confirmed ON: ``WHERE available``, the form ix_device_states_on's predicate matches
# ("available IS true" matches no index).
CONFIRMED_ON: ColumnElement[bool] = DeviceState.__table__.c.available


def devices_on(
    conn: Connection | Session, limit: int | None = None, offset: int = 0
) -> list[OnRow]:
    """Every device Exotel last confirmed ON (or a page of them: ``limit`` from ``offset``), as
    plain rows (account, agent, device, user_id, device_id, confirmed_at, action_id), by
    account, agent and device: with thousands ON, ORM objects would cost most of an answer's
    time."""
    stmt = (
        select(
            DeviceState.account,
            DeviceState.agent,
            DeviceState.device,
            DeviceState.user_id,
            DeviceState.device_id,
            DeviceState.confirmed_at,
            DeviceState.action_id,
        )
        .where(CONFIRMED_ON)
        # The key last: pages never repeat or skip a device whose agent or name ties.
        .order_by(
            DeviceState.account,
            DeviceState.agent,
            DeviceState.device,
            DeviceState.user_id,
            DeviceState.device_id,
        )
    )
    if limit is not None:
        stmt = stmt.limit(limit).offset(offset)
    return list(conn.execute(stmt))


def on_by_account(conn: Connection | Session) -> dict[str, int]:
    """How many devices Exotel last confirmed ON, per account."""
    rows = conn.execute(
        select(DeviceState.account, func.count())
        .where(CONFIRMED_ON)
        .group_by(DeviceState.account)
        .order_by(DeviceState.account)
    )
    return {str(account): int(n) for account, n in rows}


def who_is_on(conn: Connection | Session) -> list[Row[str | None, str | None]]:
    """(agent, device) of every device confirmed ON: only what decides who is ON (turning
    10,000 instants into datetimes would cost more than the rest of a page)."""
    return list(conn.execute(select(DeviceState.agent, DeviceState.device).where(CONFIRMED_ON)))


def under_way(session: Session, limit: int) -> list[Action]:
    """The first actions not yet final, by due time."""
    return list(
        session.scalars(
            select(Action)
            .where(Action.status.in_(OPEN_STATUSES))
            .order_by(Action.due_at, Action.id)
            .limit(limit)
        )
    )


def recent_findings(session: Session, now: datetime, limit: int) -> list[RemoteCheck]:
    """The reads of unknown devices (read-backs, first reads) of the last :data:`RECENT` that
    found a device not as wanted, newest first."""
    return list(
        session.scalars(
            select(RemoteCheck)
            .where(
                RemoteCheck.kind.in_([CheckKind.READ_BACK, CheckKind.FIRST_READ]),
                RemoteCheck.at >= now - RECENT,
                RemoteCheck.drifted > 0,
            )
            .order_by(RemoteCheck.id.desc())
            .limit(limit)
        )
    )


def unknown_devices(session: Session) -> int:
    """How many devices wait for a read-back (a request to them went unanswered)."""
    return session.scalar(select(func.count()).select_from(ReadBack)) or 0


def holds_not_over(session: Session, now: datetime, agent: str | None = None) -> list[Hold]:
    """The holds in force or ahead (of ``agent``, when given), by when they end."""
    stmt = select(Hold).where(Hold.until > now).order_by(Hold.until, Hold.id)
    if agent is not None:
        stmt = stmt.where(Hold.agent == agent)
    return list(session.scalars(stmt))


def holds_in_force(session: Session, now: datetime) -> list[Hold]:
    """The holds in force at ``now``."""
    return list(session.scalars(select(Hold).where(Hold.until > now, Hold.starts_at <= now)))


def newest_actions(
    session: Session,
    limit: int,
    *,
    agent: str | None = None,
    device: str | None = None,
    status: str | None = None,
    source: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    offset: int = 0,
) -> list[Action]:
    """The latest actions, newest first (by due time); of one agent, device, status or source
    when given, due in [since, until) when given; ``offset`` skips the newest."""
    stmt = (
        select(Action).order_by(Action.due_at.desc(), Action.id.desc()).limit(limit).offset(offset)
    )
    for column, value in (
        (Action.agent, agent),
        (Action.device, device),
        (Action.status, status),
        (Action.source, source),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if since is not None:
        stmt = stmt.where(Action.due_at >= since)
    if until is not None:
        stmt = stmt.where(Action.due_at < until)
    return list(session.scalars(stmt))


def attempts_of(session: Session, action_ids: Sequence[int]) -> dict[int, list[Attempt]]:
    """The HTTP exchanges made for each of these actions, in order."""
    out: dict[int, list[Attempt]] = {}
    if action_ids:
        for t in session.scalars(
            select(Attempt).where(Attempt.action_id.in_(action_ids)).order_by(Attempt.number)
        ):
            out.setdefault(t.action_id, []).append(t)
    return out


def states_of(session: Session, agent: str) -> dict[str | None, DeviceState]:
    """What Exotel last confirmed of each of ``agent``'s devices, by device."""
    return {
        s.device: s for s in session.scalars(select(DeviceState).where(DeviceState.agent == agent))
    }


# -- the Now page ---------------------------------------------------------------------------


def latest_open_switches(conn: Connection, limit: int) -> list[Any]:
    """(id, agent, device, status, wants_on, reason, last_http_code) of the latest switches not
    yet final, newest first."""
    return _latest_switches(conn, Action.status.in_(OPEN_STATUSES), limit)


def latest_unsuccessful_switches(conn: Connection, since: datetime, limit: int) -> list[Any]:
    """The same of the latest switches due since ``since`` that failed or were blocked."""
    return _latest_switches(conn, and_(unsuccessful(), Action.due_at >= since), limit)


def _latest_switches(conn: Connection, which: ColumnElement[bool], limit: int) -> list[Any]:
    return list(
        conn.execute(
            select(
                Action.id,
                Action.agent,
                Action.device,
                Action.status,
                Action.wants_on,
                Action.reason,
                Action.last_http_code,
            )
            .where(which, Action.kind == ActionKind.SWITCH)
            .order_by(Action.id.desc())
            .limit(limit)
        )
    )


def confirmed_of(conn: Connection, agents: Collection[str]) -> list[Any]:
    """(agent, device, confirmed_at, action_id) of every device of ``agents`` Exotel confirmed."""
    return list(
        conn.execute(
            select(
                DeviceState.agent,
                DeviceState.device,
                DeviceState.confirmed_at,
                DeviceState.action_id,
            ).where(DeviceState.agent.in_(agents))
        )
    )


def unknown_since(session: Session, before: datetime) -> list[ReadBack]:
    """Devices unknown (a request to them unanswered) since before ``before``, oldest first."""
    return list(
        session.scalars(select(ReadBack).where(ReadBack.since < before).order_by(ReadBack.since))
    )


RECENT_ATTEMPTS = 20_000  # the latest attempts looked at for a share of 429s (by the key)


def refusals_by_account(session: Session, since: datetime) -> dict[str, tuple[int, int]]:
    """Per account, (requests, of them answered 429) among the latest attempts since
    ``since`` (at most :data:`RECENT_ATTEMPTS`, by the key's index: no scan of the table)."""
    recent = (
        select(Attempt.action_id, Attempt.http_code, Attempt.at)
        .order_by(Attempt.id.desc())
        .limit(RECENT_ATTEMPTS)
        .subquery()
    )
    rows = session.execute(
        select(
            Action.account,
            func.count(),
            func.sum(case((recent.c.http_code == 429, 1), else_=0)),
        )
        .join(recent, Action.id == recent.c.action_id)
        .where(recent.c.at >= since)
        .group_by(Action.account)
    )
    return {account: (int(n), int(refused or 0)) for account, n, refused in rows}


def confirmed_states(session: Session) -> list[Any]:
    """(agent, device, available) of every device Exotel last confirmed, as plain rows."""
    return list(
        session.execute(
            select(DeviceState.agent, DeviceState.device, DeviceState.available).where(
                DeviceState.agent.is_not(None), DeviceState.available.is_not(None)
            )
        )
    )


def open_switches(session: Session) -> set[tuple[str | None, str | None]]:
    """(agent, device) of the switches not yet final."""
    rows = session.execute(
        select(Action.agent, Action.device).where(Action.status.in_(OPEN_STATUSES))
    )
    return {(agent, device) for agent, device in rows}
