"""What was told, and what waits (``notify list``, the console's page): the recent messages
and their delivery, and the events not in a message yet."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from shiftswitch.notify.config import NotifyConfig
from shiftswitch.notify.send import send
from shiftswitch.notify.tables import Notification, NotificationDelivery


def recent(engine: Engine, limit: int = 50) -> list[dict[str, Any]]:
    """The latest messages, newest first, as ``notify list --json`` gives them."""
    with Session(engine) as session:
        rows = session.scalars(
            select(NotificationDelivery).order_by(NotificationDelivery.id.desc()).limit(limit)
        )
        return [
            {
                "id": d.id,
                "created_at": _z(d.created_at),
                "channel": d.channel,
                "kind": d.kind,
                "events": d.events,
                "attempts": d.attempts,
                "state": "sent" if d.sent_at else "failing" if d.last_error else "waiting",
                "sent_at": _z(d.sent_at),
                "next_try_at": None if d.sent_at else _z(d.next_try_at),
                "last_error": d.last_error,
                "key": f"ssw-{d.kind}-{d.id}",
            }
            for d in rows
        ]


def last_failures(engine: Engine) -> dict[str, str]:
    """Per channel whose latest message is failing (not sent, an error said): that error."""
    with Session(engine) as session:
        latest = (
            select(NotificationDelivery.channel, func.max(NotificationDelivery.id).label("id"))
            .group_by(NotificationDelivery.channel)
            .subquery()
        )
        rows = session.execute(
            select(NotificationDelivery.channel, NotificationDelivery.last_error)
            .join(latest, NotificationDelivery.id == latest.c.id)
            .where(
                NotificationDelivery.sent_at.is_(None), NotificationDelivery.last_error.is_not(None)
            )
        )
        return {c: str(e) for c, e in rows}


def waiting(engine: Engine) -> list[dict[str, Any]]:
    """Events not in a message yet, by channel and kind."""
    with Session(engine) as session:
        rows = session.execute(
            select(Notification.channel, Notification.kind, func.count(),
                   func.min(Notification.created_at))
            .where(Notification.delivery_id.is_(None))
            .group_by(Notification.channel, Notification.kind)
        )  # fmt: skip
        return [
            {"channel": c, "kind": k, "events": n, "since": _z(since)} for c, k, n, since in rows
        ]


def send_test(engine: Engine, config: NotifyConfig, channel: str, now: datetime) -> str | None:
    """Send a test message to ``channel`` now, and record it; None when it went, else why
    not."""
    if channel not in config.channels:
        known = ", ".join(config.channels) or "none"
        return f"unknown channel {channel!r}; the channels are {known}"
    url = config.url(channel)
    if url is None:
        error: str | None = f"channel {channel}: {config.channels[channel]} is not set"
    else:
        error = send(url, "shiftswitch: test message",
                     "A test message from shiftswitch: this channel works.")  # fmt: skip
    with Session(engine) as session, session.begin():
        session.add(
            NotificationDelivery(
                channel=channel, kind="test", recipient=None, created_at=now, events=1,
                attempts=1, next_try_at=now, sent_at=None if error else now, last_error=error,
            )
        )  # fmt: skip
    return error


def _z(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat().replace("+00:00", "Z")
