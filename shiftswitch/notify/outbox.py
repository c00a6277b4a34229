"""Events into the outbox (README: Notifications), in the caller's transaction: where a
failure, a late boundary or a missing worker is noticed, the event is written with what
noticed it, so that it is told if and only if that is recorded.

Conditions (no worker, no scheduler, an account's Exotel down, ...) are opened once, whoever
notices them first, and their clearing is a ``recovered`` event to the channels the alert went
to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.orm import Session

from shiftswitch.db import upsert
from shiftswitch.notify.config import NotifyConfig
from shiftswitch.notify.tables import Notification, NotifyCondition


def record(
    session: Session | Connection,
    config: NotifyConfig,
    kind: str,
    key: str,
    now: datetime,
    detail: Mapping[str, Any],
    *,
    recipient: str | None = None,
    channels: Sequence[str] | None = None,
) -> None:
    """Write event ``kind`` (its identity ``key``) for each channel a rule sends it to (or
    ``channels``); an event already written for a channel is not written again; nothing when
    no rule names it."""
    targets = config.channels_for(kind) if channels is None else tuple(channels)
    if not targets:
        return
    bind = session.get_bind() if isinstance(session, Session) else session
    statement = upsert(bind, Notification.__table__).on_conflict_do_nothing()
    session.execute(
        statement,
        [
            {
                "channel": c,
                "kind": kind,
                "key": key,
                "created_at": now,
                "detail": dict(detail),
                "recipient": recipient,
            }
            for c in targets
        ],
    )


def open_condition(
    session: Session,
    config: NotifyConfig,
    kind: str,
    subject: str,
    now: datetime,
    detail: Mapping[str, Any],
) -> bool:
    """Open the condition ``kind`` of ``subject`` and write its event, unless it is open
    already (noticed by another process first); whether this call opened it."""
    if not config.channels_for(kind):
        return False
    found = session.get(NotifyCondition, (kind, subject), with_for_update=True)
    if found is not None and found.closed_at is None:
        return False
    if found is None:
        inserted = session.execute(
            upsert(session.get_bind(), NotifyCondition.__table__)
            .values(kind=kind, subject=subject, opened_at=now, closed_at=None)
            .on_conflict_do_nothing()
        )
        if not inserted.rowcount:  # type: ignore[attr-defined]
            return False  # another process opened it this very moment
    else:
        reopened = session.execute(
            update(NotifyCondition)
            .where(
                NotifyCondition.kind == kind,
                NotifyCondition.subject == subject,
                NotifyCondition.closed_at.is_not(None),
            )
            .values(opened_at=now, closed_at=None)
        )
        if not reopened.rowcount:  # type: ignore[attr-defined]
            return False
    record(session, config, kind, f"{kind}/{subject}/{now.isoformat()}", now,
           {**detail, "subject": subject})  # fmt: skip
    return True


def close_condition(
    session: Session,
    config: NotifyConfig,
    kind: str,
    subject: str,
    now: datetime,
    detail: Mapping[str, Any] | None = None,
) -> bool:
    """Close the condition ``kind`` of ``subject`` if open, and write ``recovered`` to the
    channels its alert went to; whether this call closed it."""
    closed = session.execute(
        update(NotifyCondition)
        .where(
            NotifyCondition.kind == kind,
            NotifyCondition.subject == subject,
            NotifyCondition.closed_at.is_(None),
        )
        .values(closed_at=now)
        .returning(NotifyCondition.opened_at)
    ).first()
    if closed is None:
        return False
    opened = closed[0]
    record(
        session, config, "recovered", f"recovered/{kind}/{subject}/{opened.isoformat()}", now,
        {**(detail or {}), "of": kind, "subject": subject, "since": opened.isoformat()},
        channels=config.channels_for(kind),
    )  # fmt: skip
    return True


def open_conditions(session: Session, kind: str) -> list[str]:
    """The subjects of ``kind`` whose condition is open."""
    return list(
        session.scalars(
            select(NotifyCondition.subject).where(
                NotifyCondition.kind == kind, NotifyCondition.closed_at.is_(None)
            )
        )
    )


def switch_failed(
    conn: Session | Connection,
    config: NotifyConfig,
    action: Any,
    status: str,
    reason: str,
    now: datetime,
) -> None:
    """A switch failed for good or was blocked: its event, in the caller's transaction."""
    record(
        conn, config, "switch_failed", f"action/{action.id}", now,
        {"agent": action.agent, "device": action.device, "account": action.account,
         "on": action.wants_on, "status": str(status), "why": reason[:300]},
    )  # fmt: skip


def boundary_late(
    conn: Session | Connection,
    config: NotifyConfig,
    action: Any,
    late: timedelta,
    now: datetime,
) -> None:
    """A boundary's switch succeeded more than ``SHIFTSWITCH_LATE_AFTER`` after its instant
    (for a ramped ON, the shift start it serves): the boundary is late (told once per boundary
    and account, by its first late switch)."""
    due = action.serves.isoformat()
    record(
        conn, config, "boundary_late", f"late/{action.account}/{due}", now,
        {"agent": action.agent, "device": action.device, "account": action.account,
         "why": f"the boundary at {due} ran {late.total_seconds():.0f} s late"},
    )  # fmt: skip
