"""The boundaries' reads (README: Boundaries): an account's switches at one instant counted
by outcome, their lateness, one boundary's switches, and a ramp under way's ONs sent so far.
A ramped ON counts under the shift start it serves (``boundary_at``), not at its own earlier
instant. :mod:`shiftswitch.boundaries` makes boundaries of these counts."""

from __future__ import annotations

from datetime import datetime
from statistics import median

from sqlalchemy import ColumnElement, Connection, func, select
from sqlalchemy.orm import Session

from shiftswitch.models import Action, ActionKind, Source, Status, UtcDateTime


def boundary_counts(
    conn: Connection | Session, since: datetime, until: datetime
) -> list[tuple[datetime, str, bool, str, int]]:
    """(boundary, account, ON?, status, how many) of the roster's switches due by ``until``
    serving a boundary from ``since`` on: the boundaries recorded (:mod:`shiftswitch.boundaries`).
    A ramped ON counts under the shift start it serves, not at its own earlier instant, and is
    there as soon as it is due (a ramp under way shows before its start)."""
    at = _served()
    rows = conn.execute(
        select(at, Action.account, Action.wants_on, Action.status, func.count())
        .where(*_serving(at, since, until))
        .group_by(at, Action.account, Action.wants_on, Action.status)
    )
    return [tuple(row) for row in rows]  # type: ignore[misc]


def boundary_lateness(
    conn: Connection | Session, since: datetime, until: datetime
) -> list[tuple[datetime, str, float, float]]:
    """(boundary, account, median and worst seconds from it to the confirmation) of the
    switches of :func:`boundary_counts` that succeeded (a ramped ON confirmed before its
    boundary is early: a negative figure). PostgreSQL sums them (a
    boundary of 20,000 switches is one row); SQLite's rows are summed here."""
    at = _served()
    confirmed = (
        *_serving(at, since, until),
        Action.status == Status.SUCCEEDED,
        Action.finished_at.is_not(None),
    )
    dialect = conn.get_bind().dialect if isinstance(conn, Session) else conn.dialect
    if dialect.name == "postgresql":
        rows = conn.execute(
            select(
                at,
                Action.account,
                func.percentile_disc(0.5).within_group(Action.finished_at),
                func.max(Action.finished_at),
            )
            .where(*confirmed)
            .group_by(at, Action.account)
        )
        return [
            (due, account, (p50 - due).total_seconds(), (worst - due).total_seconds())
            for due, account, p50, worst in rows
        ]
    found: dict[tuple[datetime, str], list[float]] = {}
    for due, account, finished in conn.execute(
        select(at, Action.account, Action.finished_at).where(*confirmed)
    ):
        if finished is not None:
            found.setdefault((due, account), []).append((finished - due).total_seconds())
    return [(due, account, median(s), max(s)) for (due, account), s in found.items()]


def ramp_keys(conn: Connection | Session, now: datetime) -> set[str]:
    """The keys of the roster's switches recorded by ``now`` for boundaries after it: a ramp
    under way's ONs sent so far (a few hundred at most)."""
    return set(
        conn.execute(
            select(Action.key).where(
                Action.source == Source.SCHEDULE,
                Action.boundary_at > now,
                Action.due_at <= now,
            )
        ).scalars()
    )


def _served() -> ColumnElement[datetime]:
    """The boundary an action serves: the shift start of a ramped ON, else its due instant."""
    return func.coalesce(Action.boundary_at, Action.due_at, type_=UtcDateTime()).label("at")


def _serving(
    at: ColumnElement[datetime], since: datetime, until: datetime
) -> tuple[ColumnElement[bool], ...]:
    """The roster's switches due by ``until`` serving a boundary from ``since`` on: those of a
    ramp under way are there before its boundary comes."""
    return (
        Action.source == Source.SCHEDULE,
        Action.kind == ActionKind.SWITCH,
        Action.due_at <= until,
        at >= since,
    )


def boundary_actions(session: Session, at: datetime, account: str) -> list[Action]:
    """The roster's switches of ``account`` serving the boundary ``at``, by agent."""
    return list(
        session.scalars(
            select(Action)
            .where(
                Action.source == Source.SCHEDULE,
                Action.kind == ActionKind.SWITCH,
                _served() == at,
                Action.account == account,
            )
            .order_by(Action.agent, Action.device, Action.id)
        )
    )
