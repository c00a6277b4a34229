"""The timeline's reads (README: Web console): what happened to some agents' devices in a
window of time: the switches that succeeded, the state before it, the failures, holds and
drift found. Written once and named here, as :mod:`shiftswitch.queries` does for the other
pages; :mod:`shiftswitch.web.lanes` only reshapes them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, select

from shiftswitch.models import Action, ActionKind, CheckKind, DeviceState, Hold, RemoteCheck, Status
from shiftswitch.queries import unsuccessful

_SWITCH_COLUMNS = (
    Action.agent,
    Action.device,
    Action.wants_on,
    Action.finished_at,
    Action.source,
    Action.id,
)


def _succeeded_switches(agents: Sequence[str]) -> tuple[ColumnElement[bool], ...]:
    return (
        Action.agent.in_(agents),
        Action.kind == ActionKind.SWITCH,
        Action.status == Status.SUCCEEDED,
    )


def switches_finished(
    conn: Connection, agents: Sequence[str], start: datetime, end: datetime, *, due_from: datetime
) -> list[Any]:
    """(agent, device, wants_on, finished_at, source, id) of the switches of ``agents`` that
    succeeded in [start, end), due from ``due_from`` (the index's bound), in order."""
    return list(
        conn.execute(
            select(*_SWITCH_COLUMNS)
            .where(
                *_succeeded_switches(agents),
                Action.due_at >= due_from,
                Action.due_at < end,
                Action.finished_at >= start,
                Action.finished_at < end,
            )
            .order_by(Action.finished_at, Action.id)
        )
    )


def last_switches_before(conn: Connection, agents: Sequence[str], start: datetime) -> list[Any]:
    """The last switch of each device of ``agents`` that succeeded before ``start``, as
    :func:`switches_finished` gives them."""
    last = (
        select(func.max(Action.id))
        .where(*_succeeded_switches(agents), Action.finished_at < start)
        .group_by(Action.agent, Action.device)
    )
    return list(conn.execute(select(*_SWITCH_COLUMNS).where(Action.id.in_(last))))


def on_since(conn: Connection, agents: Sequence[str]) -> list[Any]:
    """(agent, device, confirmed_at) of the devices of ``agents`` confirmed ON."""
    return list(
        conn.execute(
            select(DeviceState.agent, DeviceState.device, DeviceState.confirmed_at).where(
                DeviceState.agent.in_(agents), DeviceState.available.is_(True)
            )
        )
    )


def unsuccessful_due(
    conn: Connection, agents: Sequence[str], start: datetime, end: datetime
) -> list[Any]:
    """(id, agent, device, status, wants_on, due_at, reason, last_http_code,
    error_description) of the actions of ``agents`` due in [start, end) that failed or were
    blocked."""
    return list(
        conn.execute(
            select(
                Action.id,
                Action.agent,
                Action.device,
                Action.status,
                Action.wants_on,
                Action.due_at,
                Action.reason,
                Action.last_http_code,
                Action.error_description,
            ).where(
                Action.agent.in_(agents),
                unsuccessful(),
                Action.due_at >= start,
                Action.due_at < end,
            )
        )
    )


def holds_overlapping(
    conn: Connection, agents: Sequence[str], start: datetime, end: datetime
) -> list[Any]:
    """(agent, device, available, starts_at, until, created_by) of the holds of ``agents``
    in force at some time in [start, end)."""
    return list(
        conn.execute(
            select(
                Hold.agent, Hold.device, Hold.available, Hold.starts_at, Hold.until, Hold.created_by
            ).where(Hold.agent.in_(agents), Hold.starts_at < end, Hold.until > start)
        )
    )


def findings_between(conn: Connection, start: datetime, end: datetime) -> list[Any]:
    """(at, findings) of the reads of Exotel in [start, end) that found a device not as
    wanted (of every kind)."""
    return list(
        conn.execute(
            select(RemoteCheck.at, RemoteCheck.findings).where(
                RemoteCheck.at >= start,
                RemoteCheck.at < end,
                RemoteCheck.drifted > 0,
                RemoteCheck.kind.in_(list(CheckKind)),
            )
        )
    )
