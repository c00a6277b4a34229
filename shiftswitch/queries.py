"""The reads that several views share (status, the console, `check`, the scheduler), each
written once and named: what "recent" means, the failures of the last day, what is under way,
the last check of every device, the pauses and outages in force."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Connection, func, select
from sqlalchemy.orm import Session

from shiftswitch.models import (
    OPEN_STATUSES,
    Action,
    CheckKind,
    ExotelOutage,
    Pause,
    RemoteCheck,
    Status,
)

RECENT = timedelta(hours=24)  # failures and findings shown: those of the last day
UNSUCCESSFUL = (Status.FAILED, Status.BLOCKED)  # the final statuses that want a person's eye


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
