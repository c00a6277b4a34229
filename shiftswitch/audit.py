"""Who changed what (README: Audit): one ``audit_events`` row per change by a person or a
process, written in the transaction of the change; rows are only ever added.

``who`` is as the change records it (``--by``, the OS user, ``token NAME (api)``, ``NAME (api)``
for a console or API session, ``scheduler (host user)``); :func:`via_of` tells the shell from it.
Nothing secret is written: a password, a token or a key is never a ``before`` or an ``after``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select
from sqlalchemy.orm import Session

from shiftswitch.models import AuditEvent

SHORT = 300  # characters of a before or after kept


def via_of(who: str) -> str:
    """The shell a change came through, from how its ``who`` reads."""
    if who.startswith("token ") and who.endswith("(api)"):
        return "api"
    if who.endswith("(api)"):
        return "console"
    if who.startswith("scheduler"):
        return "scheduler"
    if who.startswith("worker") or "shiftswitch worker" in who:
        return "worker"
    return "cli"


def record(
    conn: Session | Connection,
    *,
    who: str,
    what: str,
    at: datetime,
    target: str | None = None,
    before: str | None = None,
    after: str | None = None,
    via: str | None = None,
) -> None:
    """Append one change, in the caller's transaction."""
    conn.execute(
        insert(AuditEvent.__table__),  # type: ignore[arg-type]
        {
            "at": at, "who": who[:200], "via": via or via_of(who), "what": what,
            "target": target, "before": _short(before), "after": _short(after),
        },
    )  # fmt: skip


def events(
    session: Session, *, since: datetime | None = None, who: str | None = None, limit: int = 500
) -> list[dict[str, Any]]:
    """The latest changes, newest first, as ``audit --json`` gives them."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    if who:
        query = query.where(AuditEvent.who.contains(who, autoescape=True))
    return [
        {
            "id": e.id, "at": e.at.isoformat().replace("+00:00", "Z"), "who": e.who,
            "via": e.via, "what": e.what, "target": e.target, "before": e.before,
            "after": e.after,
        }
        for e in session.scalars(query)
    ]  # fmt: skip


def _short(text: str | None) -> str | None:
    return None if text is None else text[:SHORT]
