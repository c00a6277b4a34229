"""Audit (admins): who changed what, newest first, filtered by who and since when
(README: Audit)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from shiftswitch import audit
from shiftswitch.roster.model import parse_duration
from shiftswitch.web.render import page
from shiftswitch.web.routes.base import roster_or_notice
from shiftswitch.web.session import Denied, Svc, Who

router = APIRouter()
SHOWN = 500


@router.get("/audit", response_class=HTMLResponse)
async def audit_page(
    request: Request,
    svc: Svc,
    who: Who,
    who_part: Annotated[str, Query(alias="who", max_length=200)] = "",
    since: Annotated[str, Query(max_length=40)] = "7d",
) -> HTMLResponse:
    if not who.may("admin"):
        raise Denied(f"{who.name} has the role {who.role}; the audit needs admin")
    now = svc.now()
    back = parse_duration(since) if since else None
    refusal = ""
    start: datetime | None = None
    if back is not None:
        start = now - back
    elif since:
        try:
            parsed = datetime.fromisoformat(since)
            start = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except ValueError:
            refusal = f"since: {since!r} is not a duration (7d, 2h) or a date-time"
            start = now - timedelta(days=7)

    def read() -> list[dict[str, object]]:
        with Session(svc.ops.engine) as session:
            return audit.events(session, since=start, who=who_part or None, limit=SHOWN)

    rows = await run_in_threadpool(read)
    roster, _notice = roster_or_notice(svc)
    return page(
        request, "audit.html", who, now=now, zone=roster.zone if roster else None, rows=rows,
        who_part=who_part, since=since, refusal=refusal, shown=SHOWN, active="audit",
    )  # fmt: skip
